package httpapi

import (
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// Verification by a person (Rules §18–19): a citizen logged in to the
// settings enters a short code, or opens a share's QR link, and sees the
// document's display form with who issued it and who shared it until when.
// The QR link /v/{token} leads to /my/v/{token}, where the settings'
// session cookie is sent: a person not logged in is asked to log in and
// comes back. Nothing is read before the person confirms with a POST, so a
// link's preview or prefetch records no view.

// verifiedView is what myverify.html reads.
type verifiedView struct {
	Token  string        // the QR token to confirm with, before the view
	Form   template.HTML // the document, once viewed
	Signed string        // "signature verified: issued by …"
	Shared string        // "shared by … until …"
}

// qrToken is the form of a share's QR token (256 bits, base64url).
var qrToken = regexp.MustCompile(`^[A-Za-z0-9_-]{32,128}$`)

// safeNext is where a log-in may send the browser afterwards: only back
// to a share's page, never elsewhere.
func safeNext(next string) string {
	if rest, ok := strings.CutPrefix(next, "/my/v/"); ok && qrToken.MatchString(rest) {
		return next
	}
	return "/my/"
}

// qrLanding sends a share's QR link to the settings' path.
func (p *myPages) qrLanding(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/my/v/"+url.PathEscape(c.Param("token")))
}

// showQR asks a person who is not logged in to log in, and one who is to
// confirm the check.
func (p *myPages) showQR(c *gin.Context) {
	l := p.localizer(c, "")
	iin, ok := p.citizen(c)
	if !ok {
		return
	}
	token := c.Param("token")
	if !qrToken.MatchString(token) {
		p.fail(c, l, consent.ErrShareNotFound)
		return
	}
	v := p.myBase(c, l)
	if iin == "" {
		p.loginForms(&v, "/my/v/"+token)
		v.Notice = l.T("verify_login", nil)
		p.render(c, http.StatusOK, "mylogin.html", v)
		return
	}
	v.Title = l.T("verify_title", nil)
	v.Verified = &verifiedView{Token: token}
	p.render(c, http.StatusOK, "myverify.html", v)
}

// verify shows the shared document a short code or QR token names.
func (p *myPages) verify(c *gin.Context) {
	l := p.localizer(c, "")
	code, token := c.PostForm("code"), c.PostForm("token")
	pv, err := p.shares.ViewAsPerson(c.Request.Context(), citizen(c), code, token)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	form, err := p.forms.render(pv.Document, pv.Signature, l)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	v := p.myBase(c, l)
	v.Title = l.T("verify_title", nil)
	v.Verified = &verifiedView{Form: form,
		Signed: l.T("verify_signed", map[string]any{"Authority": pv.Signature.Authority}),
		Shared: l.T("verify_shared", map[string]any{"By": pv.SharedBy, "Until": pv.Share.ExpiresAt.In(almaty).Format("2006-01-02 15:04")})}
	p.render(c, http.StatusOK, "myverify.html", v)
}
