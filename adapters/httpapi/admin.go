package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Partners is what the admin API needs of the partner registry.
type Partners interface {
	Onboard(ctx context.Context, actor string, reg partners.Registration) (partners.Partner, string, error)
	Get(ctx context.Context, id string) (partners.Partner, error)
	List(ctx context.Context) ([]partners.Partner, error)
	Update(ctx context.Context, actor, id string, patch []byte) (partners.Partner, error)
	RotateSecret(ctx context.Context, actor, id string, grace time.Duration) (partners.Partner, string, error)
	Suspend(ctx context.Context, actor, id string) (partners.Partner, error)
	Resume(ctx context.Context, actor, id string) (partners.Partner, error)
	Audit(ctx context.Context, id string, limit int) ([]partners.AuditEntry, error)
	// Audited runs an action on no partner and records it in the audit
	// trail, in one transaction.
	Audited(ctx context.Context, actor, action string, do func(ctx context.Context, e *partners.AuditEntry) error) error
}

// Directory reads one partner; partners.ErrNotFound for an unknown id.
type Directory interface {
	GetPartner(ctx context.Context, id string) (partners.Partner, error)
}

// Deliveries is the operator's view of push delivery, and the hook state
// systems call when a document changes.
type Deliveries interface {
	Deliveries(ctx context.Context, status consent.OutboxStatus, limit int) ([]consent.OutboxEntry, error)
	Replay(ctx context.Context, id string) (consent.OutboxEntry, error)
	DocumentChanged(ctx context.Context, citizen consent.IIN, t consent.DocumentType) (int, error)
}

// Keys rotates the gateway's signing keys.
type Keys interface {
	Rotate(ctx context.Context) (string, error)
	Reload(ctx context.Context) error
}

// Reports lets a state body answer error reports.
type Reports interface {
	Answer(ctx context.Context, id string, status consent.ReportStatus, note string) (consent.ErrorReport, error)
}

// admin is the operator's API: partners, their audit trail, deliveries,
// keys, and the hooks state systems call.
type admin struct {
	partners   Partners
	deliveries Deliveries
	keys       Keys
	reports    Reports
	deletions  OverdueDeletions
	types      *consent.Catalogue
	log        *slog.Logger
}

// OverdueDeletions lists the grants whose partner is late to confirm it
// deleted what it received.
type OverdueDeletions interface {
	Overdue(ctx context.Context) ([]consent.Grant, error)
}

// overdueDeletions answers GET /admin/v1/deletions/overdue.
func (a *admin) overdueDeletions(c *gin.Context) {
	grants, err := a.deletions.Overdue(c.Request.Context())
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	type row struct {
		GrantID   string    `json:"grant_id"`
		PartnerID string    `json:"partner_id"`
		Status    string    `json:"status"`
		EndedAt   time.Time `json:"ended_at"`
		EndedBy   string    `json:"ended_by"`
	}
	out := make([]row, len(grants))
	for i, g := range grants {
		out[i] = row{GrantID: g.ID, PartnerID: g.PartnerID, Status: string(g.Status), EndedAt: g.StatusChangedAt, EndedBy: g.StatusBy}
	}
	c.JSON(http.StatusOK, gin.H{"overdue": out})
}

// adminAuth admits requests bearing the admin token, compared in constant
// time (hashes first, so not even the length leaks).
func adminAuth(token string) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		got, ok := oauth.BearerToken(c.Request)
		sum := sha256.Sum256([]byte(got))
		if !ok || token == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="kelisim-admin"`)
			problem(c, http.StatusUnauthorized, "Unauthorized", "A valid admin bearer token is required.")
			return
		}
		c.Next()
	}
}

// actor names who acted, for the audit log.
func actor(c *gin.Context) string {
	return "admin-token@" + c.ClientIP()
}

// partnerView is a partner as the admin API shows it; the secret appears
// only right after it was made.
type partnerView struct {
	partners.Partner
	ClientSecret string `json:"client_secret,omitempty"`
}

func (a *admin) create(c *gin.Context) {
	var reg partners.Registration
	if !decodeStrict(c, &reg) {
		return
	}
	p, secret, err := a.partners.Onboard(c.Request.Context(), actor(c), reg)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Location", "/admin/v1/partners/"+p.ID)
	c.JSON(http.StatusCreated, partnerView{Partner: p, ClientSecret: secret})
}

func (a *admin) list(c *gin.Context) {
	ps, err := a.partners.List(c.Request.Context())
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"partners": ps})
}

func (a *admin) get(c *gin.Context) {
	p, err := a.partners.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *admin) update(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		problem(c, http.StatusRequestEntityTooLarge, "Body too large", "")
		return
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		renderError(c, a.log, &partners.InvalidError{Problems: []partners.FieldError{{Message: "the body must be a JSON merge patch object"}}})
		return
	}
	p, err := a.partners.Update(c.Request.Context(), actor(c), c.Param("id"), body)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *admin) rotateSecret(c *gin.Context) {
	var req struct {
		GraceSeconds int `json:"grace_seconds"`
	}
	if c.Request.ContentLength != 0 && !decodeStrict(c, &req) {
		return
	}
	p, secret, err := a.partners.RotateSecret(c.Request.Context(), actor(c), c.Param("id"), time.Duration(req.GraceSeconds)*time.Second)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, partnerView{Partner: p, ClientSecret: secret})
}

func (a *admin) suspend(c *gin.Context) {
	p, err := a.partners.Suspend(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *admin) resume(c *gin.Context) {
	p, err := a.partners.Resume(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *admin) audit(c *gin.Context) {
	limit := 100
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			renderError(c, a.log, errLimit)
			return
		}
		limit = n
	}
	entries, err := a.partners.Audit(c.Request.Context(), c.Query("client_id"), limit)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	if entries == nil {
		entries = []partners.AuditEntry{}
	}
	c.JSON(http.StatusOK, gin.H{"entries": entries})
}

func (a *admin) listDeliveries(c *gin.Context) {
	status := consent.OutboxStatus(c.DefaultQuery("status", string(consent.OutboxDead)))
	switch status {
	case consent.OutboxPending, consent.OutboxDelivered, consent.OutboxDead:
	default:
		renderError(c, a.log, &consent.InputError{Field: "status", Err: errors.New("must be pending, delivered or dead")})
		return
	}
	limit, err := strconv.Atoi(c.DefaultQuery("limit", "100"))
	if err != nil || limit < 1 || limit > 1000 {
		renderError(c, a.log, errLimit)
		return
	}
	out, err := a.deliveries.Deliveries(c.Request.Context(), status, limit)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	if out == nil {
		out = []consent.OutboxEntry{}
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": out})
}

func (a *admin) replay(c *gin.Context) {
	var e consent.OutboxEntry
	err := a.partners.Audited(c.Request.Context(), actor(c), "delivery.replay", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		e, err = a.deliveries.Replay(ctx, c.Param("id"))
		ae.PartnerID, ae.Subject = e.PartnerID, "delivery:"+c.Param("id")
		ae.SetAfter(gin.H{"status": e.Status, "next_attempt_at": e.NextAttemptAt})
		return err
	})
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

func (a *admin) rotateKeys(c *gin.Context) {
	var kid string
	err := a.partners.Audited(c.Request.Context(), actor(c), "keys.rotate", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		kid, err = a.keys.Rotate(ctx)
		ae.Subject = "key:" + kid
		return err
	})
	if err != nil {
		_ = a.keys.Reload(c.Request.Context()) // forget a key that was not kept
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"kid": kid, "status": "published; signs after the activation delay"})
}

// documentChanged is the hook a state system calls when it renews or
// changes a document: partners that take pushes get the new version.
func (a *admin) documentChanged(c *gin.Context) {
	var req struct {
		IIN  string               `json:"iin"`
		Type consent.DocumentType `json:"type"`
	}
	if !decodeStrict(c, &req) {
		return
	}
	iin, err := consent.ParseIIN(req.IIN)
	if err != nil {
		renderError(c, a.log, &consent.InputError{Field: "iin", Err: err})
		return
	}
	if !a.types.Known(req.Type) {
		renderError(c, a.log, &consent.InputError{Field: "type", Err: errors.New("must be a known document type")})
		return
	}
	var n int
	err = a.partners.Audited(c.Request.Context(), actor(c), "document.changed", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		n, err = a.deliveries.DocumentChanged(ctx, iin, req.Type)
		ae.Subject = "document:" + iin.Masked() + "/" + string(req.Type)
		ae.SetAfter(gin.H{"queued": n})
		return err
	})
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"queued": n})
}

// answerReport is how the responsible body answers an error report.
func (a *admin) answerReport(c *gin.Context) {
	var req struct {
		Status consent.ReportStatus `json:"status"`
		Note   string               `json:"note"`
	}
	if !decodeStrict(c, &req) {
		return
	}
	var rep consent.ErrorReport
	err := a.partners.Audited(c.Request.Context(), actor(c), "report.answer", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		rep, err = a.reports.Answer(ctx, c.Param("id"), req.Status, req.Note)
		ae.Subject = "report:" + c.Param("id")
		ae.SetAfter(gin.H{"status": rep.Status, "note": rep.Note})
		return err
	})
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

// errLimit: a limit query parameter out of range.
var errLimit = &consent.InputError{Field: "limit", Err: errors.New("must be a whole number from 1 to 1000")}

// decodeStrict reads one JSON object into v, refusing unknown fields, and
// answers 400 itself when it cannot.
func decodeStrict(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem(c, http.StatusRequestEntityTooLarge, "Body too large", "")
			return false
		}
		problem(c, http.StatusBadRequest, "Invalid request", "The body is not valid JSON for this endpoint: "+err.Error())
		return false
	}
	return true
}
