package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Tokens checks partners' bearer tokens.
type Tokens interface {
	AccessToken(ctx context.Context, token string) (oauth.AccessInfo, error)
}

// Documents serves documents to partners and runs their delivery.
type Documents interface {
	List(ctx context.Context, tok consent.Token) ([]consent.Summary, error)
	Fetch(ctx context.Context, tok consent.Token, t consent.DocumentType, holder string) (string, error)
	Deliveries(ctx context.Context, status consent.OutboxStatus, limit int) ([]consent.OutboxEntry, error)
	Replay(ctx context.Context, id string) (consent.OutboxEntry, error)
	DocumentChanged(ctx context.Context, citizen consent.IIN, t consent.DocumentType) (int, error)
}

// Keys rotates the gateway's signing keys.
type Keys interface {
	Rotate(ctx context.Context) (string, error)
	Reload(ctx context.Context) error
}

type documentsAPI struct {
	tokens Tokens
	docs   Documents
	d      Deps
}

const accessKey = "kelisim.access"

// requireToken admits requests with an active bearer access token (RFC
// 6750) that carries scope (when set) and that admit accepts: 401 for a
// missing or bad token, 403 for a missing scope. The token's facts go in
// the request under accessKey.
func requireToken(tokens Tokens, log *slog.Logger, scope, who string, admit func(oauth.AccessInfo) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := oauth.BearerToken(c.Request)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="kelisim"`)
			problem(c, http.StatusUnauthorized, "Unauthorized", "A bearer access token is required.")
			return
		}
		info, err := tokens.AccessToken(c.Request.Context(), raw)
		if err != nil && consent.StoreFailed(c.Request.Context(), err) {
			unavailable(c, log, err)
			return
		}
		if err != nil || !admit(info) {
			c.Header("WWW-Authenticate", `Bearer realm="kelisim", error="invalid_token"`)
			problem(c, http.StatusUnauthorized, "Unauthorized", "The access token is invalid, expired or revoked, or is not "+who+".")
			return
		}
		if scope != "" && !slices.Contains(info.Scopes, scope) {
			c.Header("WWW-Authenticate", `Bearer realm="kelisim", error="insufficient_scope", scope="`+scope+`"`)
			problem(c, http.StatusForbidden, "Forbidden", fmt.Sprintf("The token lacks the %q scope.", scope))
			return
		}
		c.Set(accessKey, info)
		c.Next()
	}
}

func access(c *gin.Context) oauth.AccessInfo { return c.MustGet(accessKey).(oauth.AccessInfo) }

// partnerToken is the partner's token as the delivery sees it.
func partnerToken(c *gin.Context) consent.Token {
	info := access(c)
	tok := consent.Token{ClientID: info.ClientID, Subject: info.Subject, Citizen: consent.IIN(info.Citizen),
		GrantID: info.GrantID, Scopes: info.Scopes, Grant: info.Grant}
	if info.Partner.ID != "" {
		p := info.Partner.DeliveryInfo()
		tok.Partner = &p
	}
	return tok
}

func (a *documentsAPI) list(c *gin.Context) {
	docs, err := a.docs.List(c.Request.Context(), partnerToken(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"documents": docs})
}

func (a *documentsAPI) fetch(c *gin.Context) {
	t := consent.DocumentType(c.Param("type"))
	if !t.Known() {
		problem(c, http.StatusNotFound, "Not found", "No such document type.")
		return
	}
	jose, err := a.docs.Fetch(c.Request.Context(), partnerToken(c), t, c.Query("holder"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/jose", []byte(jose))
}

func (a *documentsAPI) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, consent.ErrNotGranted):
		problem(c, http.StatusForbidden, "Forbidden", "The grant does not cover this document.")
	case errors.Is(err, consent.ErrNoDocument):
		problem(c, http.StatusNotFound, "Not found", "The citizen has no such document.")
	case errors.Is(err, consent.ErrGrantNotFound):
		c.Header("WWW-Authenticate", `Bearer realm="kelisim", error="invalid_token"`)
		problem(c, http.StatusUnauthorized, "Unauthorized", "The grant behind this token is no longer active.")
	case errors.Is(err, consent.ErrSourceUnavailable):
		a.d.Log.WarnContext(c.Request.Context(), "document source unavailable", "err", err)
		c.Header("Retry-After", "30")
		problem(c, http.StatusServiceUnavailable, "Document source unavailable",
			"The state system that holds this document does not answer; try again later.")
	default:
		renderError(c, a.d.Log, err)
	}
}

func (a *documentsAPI) deliveries(c *gin.Context) {
	status := consent.OutboxStatus(c.DefaultQuery("status", string(consent.OutboxDead)))
	switch status {
	case consent.OutboxPending, consent.OutboxDelivered, consent.OutboxDead:
	default:
		problem(c, http.StatusBadRequest, "Invalid request", "status is pending, delivered or dead.")
		return
	}
	limit, err := strconv.Atoi(c.DefaultQuery("limit", "100"))
	if err != nil || limit < 1 || limit > 1000 {
		problem(c, http.StatusBadRequest, "Invalid request", "limit is a whole number from 1 to 1000.")
		return
	}
	out, err := a.docs.Deliveries(c.Request.Context(), status, limit)
	if err != nil {
		renderError(c, a.d.Log, err)
		return
	}
	if out == nil {
		out = []consent.OutboxEntry{}
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": out})
}

func (a *documentsAPI) replay(c *gin.Context) {
	var e consent.OutboxEntry
	err := a.d.Partners.Audited(c.Request.Context(), actor(c), "delivery.replay", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		e, err = a.docs.Replay(ctx, c.Param("id"))
		ae.PartnerID, ae.Subject = e.PartnerID, "delivery:"+c.Param("id")
		ae.SetAfter(gin.H{"status": e.Status, "next_attempt_at": e.NextAttemptAt})
		return err
	})
	if errors.Is(err, consent.ErrDeliveryNotFound) {
		problem(c, http.StatusNotFound, "Not found", "No dead delivery with that id.")
		return
	}
	if err != nil {
		renderError(c, a.d.Log, err)
		return
	}
	c.JSON(http.StatusOK, e)
}

func (a *documentsAPI) rotateKeys(c *gin.Context) {
	var kid string
	err := a.d.Partners.Audited(c.Request.Context(), actor(c), "keys.rotate", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		kid, err = a.d.Keys.Rotate(ctx)
		ae.Subject = "key:" + kid
		return err
	})
	if err != nil {
		_ = a.d.Keys.Reload(c.Request.Context()) // forget a key that was not kept
		renderError(c, a.d.Log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"kid": kid, "status": "published; signs after the activation delay"})
}

// documentChanged is the hook a state system calls when it renews or
// changes a document: partners that take pushes get the new version.
func (a *documentsAPI) documentChanged(c *gin.Context) {
	var req struct {
		IIN  string               `json:"iin"`
		Type consent.DocumentType `json:"type"`
	}
	if !decodeStrict(c, &req) {
		return
	}
	iin, err := consent.ParseIIN(req.IIN)
	if err != nil || !req.Type.Known() {
		problem(c, http.StatusBadRequest, "Invalid request", "iin must be a valid IIN and type a known document type.")
		return
	}
	var n int
	err = a.d.Partners.Audited(c.Request.Context(), actor(c), "document.changed", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		n, err = a.docs.DocumentChanged(ctx, iin, req.Type)
		ae.Subject = "document:" + iin.Masked() + "/" + string(req.Type)
		ae.SetAfter(gin.H{"queued": n})
		return err
	})
	if err != nil {
		renderError(c, a.d.Log, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"queued": n})
}

// answerReport is how the responsible body answers an error report.
func (a *documentsAPI) answerReport(c *gin.Context) {
	var req struct {
		Status consent.ReportStatus `json:"status"`
		Note   string               `json:"note"`
	}
	if !decodeStrict(c, &req) {
		return
	}
	var rep consent.ErrorReport
	err := a.d.Partners.Audited(c.Request.Context(), actor(c), "report.answer", func(ctx context.Context, ae *partners.AuditEntry) error {
		var err error
		rep, err = a.d.Reports.Answer(ctx, c.Param("id"), req.Status, req.Note)
		ae.Subject = "report:" + c.Param("id")
		ae.SetAfter(gin.H{"status": rep.Status, "note": rep.Note})
		return err
	})
	switch {
	case errors.Is(err, consent.ErrReportNotFound):
		problem(c, http.StatusNotFound, "Not found", "No report with that tracking number.")
	case err != nil && (req.Status != consent.ReportResolved && req.Status != consent.ReportRejected):
		problem(c, http.StatusBadRequest, "Invalid request", "status is resolved or rejected.")
	case err != nil:
		renderError(c, a.d.Log, err)
	default:
		c.JSON(http.StatusOK, rep)
	}
}
