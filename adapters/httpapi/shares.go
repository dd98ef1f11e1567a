package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/kelisim/kelisim/consent"
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
	ViewAsPerson(ctx context.Context, viewer consent.IIN, code, token string) (consent.PersonView, error)
}

// qrPNG is the QR code of a share's URL.
func qrPNG(c *gin.Context, log *slog.Logger, shares Shares, sh consent.Share) {
	png, err := qrcode.Encode(shares.URL(sh.ID), qrcode.Medium, 320)
	if err != nil {
		renderError(c, log, err)
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

func (a *meAPI) openShare(c *gin.Context) {
	var req struct {
		Document consent.DocumentType `json:"document"`
		Holder   string               `json:"holder,omitempty"` // a represented minor's IIN
	}
	if !decodeStrict(c, &req) {
		return
	}
	sh, err := a.shares.Open(c.Request.Context(), citizen(c), consent.IIN(req.Holder), req.Document)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusCreated, shareJSON(a.shares, sh))
}

func (a *meAPI) getShare(c *gin.Context) {
	sh, err := a.shares.Get(c.Request.Context(), citizen(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, shareJSON(a.shares, sh))
}

func (a *meAPI) shareQR(c *gin.Context) {
	sh, err := a.shares.Get(c.Request.Context(), citizen(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	qrPNG(c, a.log, a.shares, sh)
}

func (a *meAPI) extendShare(c *gin.Context) { a.changeShare(c, a.shares.Extend) }
func (a *meAPI) closeShare(c *gin.Context)  { a.changeShare(c, a.shares.Close) }

func (a *meAPI) changeShare(c *gin.Context, change func(context.Context, consent.IIN, string) (consent.Share, error)) {
	sh, err := change(c.Request.Context(), citizen(c), c.Param("id"))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, shareJSON(a.shares, sh))
}

// Verifiers: POST /api/v1/verify and GET /api/v1/verify/history.

type verifyAPI struct {
	shares Shares
	issuer string
	log    *slog.Logger
}

func (v *verifyAPI) verify(c *gin.Context) {
	var req struct {
		Code  string `json:"code,omitempty"`
		Token string `json:"token,omitempty"` // from the QR code's URL, /v/{token}
	}
	if !decodeStrict(c, &req) {
		return
	}
	if t, ok := strings.CutPrefix(req.Token, v.issuer+"/v/"); ok {
		req.Token = t // the whole scanned URL is accepted too
	}
	jws, _, err := v.shares.Verify(c.Request.Context(), access(c).ClientID, strings.TrimSpace(req.Code), req.Token)
	if err != nil {
		renderError(c, v.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/jose", []byte(jws))
}

func (v *verifyAPI) history(c *gin.Context) {
	views, err := v.shares.Views(c.Request.Context(), access(c).ClientID)
	if err != nil {
		renderError(c, v.log, err)
		return
	}
	out := make([]gin.H, len(views))
	for i, e := range views {
		out[i] = gin.H{"at": e.At, "document": e.Document, "share_id": e.GrantID}
	}
	c.JSON(http.StatusOK, gin.H{"views": out})
}

// Citizen's web pages: /my/share.

type shareRow struct {
	Value, Label string
}

type shareView struct {
	ID, Code, Document, Until, Left string
	Active, CanExtend               bool
}

func (p *myPages) openShare(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	holder, doc, _ := strings.Cut(c.PostForm("document"), "/")
	sh, err := p.shares.Open(c.Request.Context(), iin, consent.IIN(holder), consent.DocumentType(doc))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/share/"+url.PathEscape(sh.ID))
}

func (p *myPages) showShare(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	sh, err := p.shares.Get(c.Request.Context(), iin, c.Param("id"))
	if err != nil {
		p.fail(c, l, err)
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
	var sh consent.Share
	var err error = consent.ErrShareNotFound // nobody logged in: no share
	if iin != "" {
		sh, err = p.shares.Get(c.Request.Context(), iin, c.Param("id"))
	}
	if err == nil && !p.shares.Active(sh) {
		err = consent.ErrShareNotFound
	}
	if err != nil {
		f := p.failure(c, err) // an image: the status says it all
		c.Status(f.status)
		return
	}
	qrPNG(c, p.log, p.shares, sh)
}

func (p *myPages) extendShare(c *gin.Context) { p.changeShare(c, p.shares.Extend) }
func (p *myPages) closeShare(c *gin.Context)  { p.changeShare(c, p.shares.Close) }

func (p *myPages) changeShare(c *gin.Context, change func(context.Context, consent.IIN, string) (consent.Share, error)) {
	iin := citizen(c)
	if _, err := change(c.Request.Context(), iin, c.Param("id")); err != nil && !errors.Is(err, consent.ErrShareMaxed) {
		p.fail(c, p.localizer(c, ""), err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/share/"+url.PathEscape(c.Param("id")))
}
