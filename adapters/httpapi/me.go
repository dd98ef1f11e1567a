package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The citizen's settings as a JSON API for the operator's mobile app, a
// first-party client whose tokens carry the "me" scope.

type meAPI struct {
	settings Settings
	shares   Shares
	partners Directory
	messages *consent.Messages
	log      *slog.Logger
}

const citizenKey = "kelisim.citizen"

func (a *meAPI) report(c *gin.Context) {
	var req struct {
		Document    consent.DocumentType `json:"document"`
		Description string               `json:"description"`
	}
	if !decodeStrict(c, &req) {
		return
	}
	rep, err := a.settings.Report(c.Request.Context(), citizen(c), req.Document, req.Description)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, rep)
}

func (a *meAPI) reports(c *gin.Context) {
	reps, err := a.settings.Reports(c.Request.Context(), citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	if reps == nil {
		reps = []consent.ErrorReport{}
	}
	c.JSON(http.StatusOK, gin.H{"reports": reps})
}

// citizen is the citizen the request acts for: the logged-in one on the
// pages, the token's on the API.
func citizen(c *gin.Context) consent.IIN {
	if iin, ok := c.Get(citizenKey); ok {
		return iin.(consent.IIN)
	}
	return consent.IIN(access(c).Citizen)
}

type grantJSON struct {
	ID           string                 `json:"grant_id"`
	Partner      partnerJSON            `json:"partner"`
	Documents    []consent.DocumentType `json:"documents"`
	Holders      []holderJSON           `json:"holders"`
	Purpose      string                 `json:"purpose,omitempty"`
	Since        time.Time              `json:"since"`
	Until        time.Time              `json:"until"`
	Status       string                 `json:"status"`
	LastUsed     *time.Time             `json:"last_used,omitempty"`
	RevokedAt    *time.Time             `json:"revoked_at,omitempty"`
	RevokedBy    string                 `json:"revoked_by,omitempty"`
	PartnerAck   *time.Time             `json:"partner_acknowledged_at,omitempty"`
	TermsVersion string                 `json:"terms_version"`
}

// holderJSON is whose documents a grant covers, for the citizen's app.
type holderJSON struct {
	Name     string `json:"name"`
	Relation string `json:"relation"`
}

type partnerJSON struct {
	ID      string            `json:"client_id"`
	Name    string            `json:"name"`
	Names   map[string]string `json:"names,omitempty"`
	LogoURI string            `json:"logo_uri,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *meAPI) grants(c *gin.Context) {
	ctx := c.Request.Context()
	views, err := a.settings.Grants(ctx, citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	out := make([]grantJSON, 0, len(views))
	for _, g := range views {
		pj := partnerJSON{ID: g.PartnerID, Name: g.PartnerID}
		if p, err := a.partners.GetPartner(ctx, g.PartnerID); err == nil {
			pj = partnerJSON{ID: p.ID, Name: p.ClientName, LogoURI: p.LogoURI,
				Names: map[string]string{"kk": p.DisplayName("kk"), "ru": p.DisplayName("ru"), "en": p.DisplayName("en")}}
		}
		status := string(g.Status)
		if g.Expired {
			status = string(consent.GrantExpired)
		}
		j := grantJSON{ID: g.ID, Partner: pj, Documents: g.Documents, Purpose: g.Purpose, Since: g.CreatedAt, Until: g.ExpiresAt,
			Status: status, LastUsed: optTime(g.LastUsed), PartnerAck: optTime(g.RevocationAckedAt), TermsVersion: g.TermsVersion}
		if g.Status == consent.GrantRevoked {
			j.RevokedAt, j.RevokedBy = optTime(g.StatusChangedAt), g.StatusBy
		}
		if j.Documents == nil {
			j.Documents = []consent.DocumentType{}
		}
		j.Holders = []holderJSON{}
		for _, h := range g.HolderNames {
			j.Holders = append(j.Holders, holderJSON{Name: h.Name, Relation: h.Relation})
		}
		out = append(out, j)
	}
	c.JSON(http.StatusOK, gin.H{"grants": out})
}

func (a *meAPI) revoke(c *gin.Context) {
	var r consent.Revocation
	switch {
	case strings.HasPrefix(c.FullPath(), "/api/v1/me/grants/"):
		r.GrantID = c.Param("id")
	case strings.HasPrefix(c.FullPath(), "/api/v1/me/partners/"):
		r.PartnerID = c.Param("id")
	default:
		r.All = true
	}
	r.Reason = c.Query("reason")
	n, err := a.settings.Revoke(c.Request.Context(), citizen(c), r, "citizen")
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"revoked": n})
}

// history answers a page of the citizen's history, newest first: limit
// entries (100 unless asked, at most 500) before the cursor before, and
// the link to the next page while there is one.
func (a *meAPI) history(c *gin.Context) {
	limit, err := strconv.Atoi(c.DefaultQuery("limit", "100"))
	if err != nil || limit < 1 || limit > 500 {
		renderError(c, a.log, &consent.InputError{Field: "limit", Err: errors.New("must be a number from 1 to 500")})
		return
	}
	var before consent.HistoryCursor
	if s := c.Query("before"); s != "" {
		if before, err = consent.ParseHistoryCursor(s); err != nil {
			renderError(c, a.log, err)
			return
		}
	}
	events, next, err := a.settings.HistoryPage(c.Request.Context(), citizen(c), before, limit)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	type eventJSON struct {
		At       time.Time            `json:"at"`
		Kind     string               `json:"kind"`
		Partner  string               `json:"client_id"`
		GrantID  string               `json:"grant_id"`
		Document consent.DocumentType `json:"document,omitempty"`
		By       string               `json:"by,omitempty"`
	}
	out := make([]eventJSON, len(events))
	for i, e := range events {
		out[i] = eventJSON{At: e.At, Kind: e.Kind, Partner: e.PartnerID, GrantID: e.GrantID, Document: e.Document, By: e.By}
	}
	page := gin.H{"events": out}
	if !next.IsZero() {
		page["next"] = fmt.Sprintf("%s?before=%s&limit=%d", c.Request.URL.Path, next, limit)
	}
	c.JSON(http.StatusOK, page)
}

func (a *meAPI) erase(c *gin.Context) {
	report, err := a.settings.Erase(c.Request.Context(), citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"revoked": report.Revoked, "deleted": report.Deleted,
		"kept": gin.H{"what": report.Kept, "why": "the law requires an audit trail of who saw which document; it is kept without the IIN"},
	})
}

// notificationsJSON is how the citizen wants to be told, in the me API.
type notificationsJSON struct {
	Channels  []string `json:"channels"`
	Lang      string   `json:"lang,omitempty"`
	Available []string `json:"available,omitempty"`
}

func (a *meAPI) notifications(c *gin.Context) {
	p, err := a.settings.NotificationPrefs(c.Request.Context(), citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, notificationsJSON{Channels: append([]string{}, p.Channels...), Lang: p.Lang, Available: a.settings.Channels()})
}

func (a *meAPI) setNotifications(c *gin.Context) {
	var body struct {
		Channels *[]string `json:"channels"`
		Lang     string    `json:"lang"`
	}
	if !decodeStrict(c, &body) {
		return
	}
	if body.Channels == nil {
		problem(c, http.StatusBadRequest, "Invalid request", `"channels" is required: the channels to be told by, [] for none`)
		return
	}
	if err := a.settings.SetNotificationChannels(c.Request.Context(), citizen(c), *body.Channels, body.Lang); err != nil {
		renderError(c, a.log, err)
		return
	}
	a.notifications(c)
}
