package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Shares is open access for third parties (QR and short code).
type Shares interface {
	Open(ctx context.Context, citizen, holder consent.IIN, t consent.DocumentType) (consent.Share, error)
	Get(ctx context.Context, citizen consent.IIN, id string) (consent.Share, error)
	Extend(ctx context.Context, citizen consent.IIN, id string) (consent.Share, error)
	Close(ctx context.Context, citizen consent.IIN, id string) (consent.Share, error)
	Sharable(ctx context.Context, citizen consent.IIN) ([]consent.Sharable, error)
	Active(sh consent.Share) bool
	Left(sh consent.Share) time.Duration
	Code(id string) string
	URL(id string) string
	Verify(ctx context.Context, verifier, code, token string) (string, consent.Share, error)
	Views(ctx context.Context, verifier string) ([]consent.AccessEvent, error)
}

// qrPNG is the QR code of a share's URL.
func qrPNG(c *gin.Context, shares Shares, sh consent.Share) {
	png, err := qrcode.Encode(shares.URL(sh.ID), qrcode.Medium, 320)
	if err != nil {
		problem(c, http.StatusInternalServerError, "Internal error", "")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/png", png)
}

// shareJSON is a share as its citizen sees it.
func shareJSON(shares Shares, sh consent.Share) gin.H {
	return gin.H{
		"id": sh.ID, "document": sh.Document, "short_code": shares.Code(sh.ID), "qr_url": shares.URL(sh.ID),
		"qr_png": "/api/v1/me/shares/" + sh.ID + "/qr.png", "active": shares.Active(sh), "status": sh.Status,
		"opened_at": sh.CreatedAt, "expires_at": sh.ExpiresAt, "max_expires_at": sh.CreatedAt.Add(consent.MaxShareLife),
	}
}

// Citizen's API: /api/v1/me/shares.

func (a *meAPI) shareRoutes(g *gin.RouterGroup) {
	g.POST("/shares", a.openShare)
	g.GET("/shares/:id", a.getShare)
	g.GET("/shares/:id/qr.png", a.shareQR)
	g.POST("/shares/:id/extend", a.extendShare)
	g.POST("/shares/:id/close", a.closeShare)
}

func (a *meAPI) openShare(c *gin.Context) {
	var req struct {
		Document consent.DocumentType `json:"document"`
		Holder   string               `json:"holder,omitempty"` // a represented minor's IIN
	}
	if !decodeStrict(c, &req) {
		return
	}
	sh, err := a.d.Shares.Open(c.Request.Context(), citizen(c), consent.IIN(req.Holder), req.Document)
	if a.shareError(c, err) {
		return
	}
	c.JSON(http.StatusCreated, shareJSON(a.d.Shares, sh))
}

func (a *meAPI) getShare(c *gin.Context) {
	sh, err := a.d.Shares.Get(c.Request.Context(), citizen(c), c.Param("id"))
	if a.shareError(c, err) {
		return
	}
	c.JSON(http.StatusOK, shareJSON(a.d.Shares, sh))
}

func (a *meAPI) shareQR(c *gin.Context) {
	sh, err := a.d.Shares.Get(c.Request.Context(), citizen(c), c.Param("id"))
	if a.shareError(c, err) {
		return
	}
	qrPNG(c, a.d.Shares, sh)
}

func (a *meAPI) extendShare(c *gin.Context) {
	sh, err := a.d.Shares.Extend(c.Request.Context(), citizen(c), c.Param("id"))
	if a.shareError(c, err) {
		return
	}
	c.JSON(http.StatusOK, shareJSON(a.d.Shares, sh))
}

func (a *meAPI) closeShare(c *gin.Context) {
	sh, err := a.d.Shares.Close(c.Request.Context(), citizen(c), c.Param("id"))
	if a.shareError(c, err) {
		return
	}
	c.JSON(http.StatusOK, shareJSON(a.d.Shares, sh))
}

// shareError answers a share error, if any, and reports whether it did.
func (a *meAPI) shareError(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, consent.ErrShareNotFound):
		problem(c, http.StatusNotFound, "Not found", "No such open share.")
	case errors.Is(err, consent.ErrNoDocument):
		problem(c, http.StatusNotFound, "Not found", "No such valid document to share.")
	case errors.Is(err, consent.ErrShareMaxed):
		problem(c, http.StatusConflict, "Cannot extend", "A share lasts at most 30 minutes from opening.")
	case errors.Is(err, consent.ErrSourceUnavailable):
		c.Header("Retry-After", "30")
		problem(c, http.StatusServiceUnavailable, "Document source unavailable", "Try again later.")
	default:
		renderError(c, a.d.Log, err)
	}
	return true
}

// Verifiers: POST /api/v1/verify and GET /api/v1/verify/history.

type verifyAPI struct {
	d Deps
}

func (v *verifyAPI) routes(r *gin.Engine) {
	g := r.Group("/api/v1/verify", requireToken(v.d.Tokens, v.d.Log, partners.ScopeVerify, "a verifier's", func(oauth.AccessInfo) bool { return true }))
	g.POST("", v.verify)
	g.GET("/history", v.history)
	r.GET("/v/:token", v.landing)
}

func (v *verifyAPI) verify(c *gin.Context) {
	var req struct {
		Code  string `json:"code,omitempty"`
		Token string `json:"token,omitempty"` // from the QR code's URL, /v/{token}
	}
	if !decodeStrict(c, &req) {
		return
	}
	if t, ok := strings.CutPrefix(req.Token, v.d.Issuer+"/v/"); ok {
		req.Token = t // the whole scanned URL is accepted too
	}
	jws, _, err := v.d.Shares.Verify(c.Request.Context(), access(c).ClientID, strings.TrimSpace(req.Code), req.Token)
	var limited *consent.RateLimitError
	switch {
	case errors.As(err, &limited):
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
		problem(c, http.StatusTooManyRequests, "Too many wrong codes", "Wait before trying again.")
	case errors.Is(err, consent.ErrShareNotFound):
		problem(c, http.StatusNotFound, "Not found", "No open share has this code.")
	case errors.Is(err, consent.ErrSourceUnavailable):
		c.Header("Retry-After", "30")
		problem(c, http.StatusServiceUnavailable, "Document source unavailable", "Try again later.")
	case err != nil:
		renderError(c, v.d.Log, err)
	default:
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusOK, "application/jose", []byte(jws))
	}
}

func (v *verifyAPI) history(c *gin.Context) {
	views, err := v.d.Shares.Views(c.Request.Context(), access(c).ClientID)
	if err != nil {
		renderError(c, v.d.Log, err)
		return
	}
	out := make([]gin.H, len(views))
	for i, e := range views {
		out[i] = gin.H{"at": e.At, "document": e.Document, "share_id": e.GrantID}
	}
	c.JSON(http.StatusOK, gin.H{"views": out})
}

// landing is what a phone camera opens from the QR code: it says to use a
// verifier's app; the document is never shown to an anonymous browser.
func (v *verifyAPI) landing(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.String(http.StatusOK, "<!doctype html><title>Kelisim</title><p>Scan this code with an authorised verifier's app. · Бұл кодты уәкілетті тексерушінің қосымшасымен сканерлеңіз. · Отсканируйте код приложением уполномоченного проверяющего.</p>")
}

// Citizen's web pages: /my/share.

type shareRow struct {
	Value, Label string
}

type shareView struct {
	ID, Code, Document, Until, Left string
	Active, CanExtend               bool
}

func (p *myPages) shareRoutes(g *gin.RouterGroup) {
	g.POST("/share", p.protectMy, p.loggedIn, p.openShare)
	g.GET("/share/:id", p.loggedIn, p.showShare)
	g.GET("/share/:id/qr.png", p.shareQR)
	g.POST("/share/:id/extend", p.protectMy, p.loggedIn, p.extendShare)
	g.POST("/share/:id/close", p.protectMy, p.loggedIn, p.closeShare)
}

func (p *myPages) openShare(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	holder, doc, _ := strings.Cut(c.PostForm("document"), "/")
	sh, err := p.shares.Open(c.Request.Context(), iin, consent.IIN(holder), consent.DocumentType(doc))
	if err != nil {
		if errors.Is(err, consent.ErrNoDocument) {
			p.gone(c, l, err)
			return
		}
		p.failure(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/share/"+url.PathEscape(sh.ID))
}

func (p *myPages) showShare(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	sh, err := p.shares.Get(c.Request.Context(), iin, c.Param("id"))
	if err != nil {
		p.gone(c, l, err)
		return
	}
	v := p.myBase(c, l)
	left := p.shares.Left(sh)
	v.Share = &shareView{ID: sh.ID, Code: p.shares.Code(sh.ID), Document: l.Document(sh.Document),
		Until: sh.ExpiresAt.In(almaty).Format("15:04:05"), Active: p.shares.Active(sh),
		CanExtend: p.shares.Active(sh) && sh.ExpiresAt.Before(sh.CreatedAt.Add(consent.MaxShareLife)),
		Left:      l.T("share_left", nil, int(math.Ceil(left.Minutes())))}
	c.Header("Refresh", "30") // the remaining time stays current without scripts
	p.render(c, http.StatusOK, "myshare.html", v)
}

func (p *myPages) shareQR(c *gin.Context) {
	iin, ok := p.citizen(c)
	if !ok {
		return
	}
	sh, err := p.shares.Get(c.Request.Context(), iin, c.Param("id"))
	if err != nil && consent.StoreFailed(c.Request.Context(), err) {
		c.Header("Retry-After", oauth.RetryAfterUnavailable)
		c.Status(http.StatusServiceUnavailable)
		return
	}
	if iin == "" || err != nil || !p.shares.Active(sh) {
		c.Status(http.StatusNotFound)
		return
	}
	qrPNG(c, p.shares, sh)
}

func (p *myPages) extendShare(c *gin.Context) { p.changeShare(c, p.shares.Extend) }
func (p *myPages) closeShare(c *gin.Context)  { p.changeShare(c, p.shares.Close) }

func (p *myPages) changeShare(c *gin.Context, change func(context.Context, consent.IIN, string) (consent.Share, error)) {
	iin := citizen(c)
	if _, err := change(c.Request.Context(), iin, c.Param("id")); err != nil && !errors.Is(err, consent.ErrShareMaxed) {
		p.gone(c, p.localizer(c, ""), err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/share/"+url.PathEscape(c.Param("id")))
}
