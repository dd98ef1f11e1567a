package httpapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// Log-in to the settings by digital signature, beside the SMS code: the
// citizen gives their IIN, signs the text the next page shows with their
// signing app, and pastes or uploads the signature. The page works without
// scripts.

// loginForms sets the log-in page's forms, each coming back to next (a
// share's page) afterwards.
func (p *myPages) loginForms(v *myView, next string) {
	v.Action, v.SignAction = "/my/login", "/my/login/signature"
	if next = safeNext(next); next != "/my/" {
		q := "?" + url.Values{"next": {next}}.Encode()
		v.Action, v.SignAction = v.Action+q, v.SignAction+q
	}
	v.Signatures = p.signatures
}

// withNext is path with the browser's next, when it is a share's page.
func withNext(c *gin.Context, path string, q url.Values) string {
	if next := safeNext(c.Query("next")); next != "/my/" {
		q.Set("next", next)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func (p *myPages) startSignatureLogin(c *gin.Context) {
	l := p.localizer(c, "")
	ch, err := p.settings.StartSignatureLogin(c.Request.Context(), p.preSession(c), c.PostForm("iin"), l.Lang, c.ClientIP())
	if err != nil {
		v := p.myBase(c, l)
		p.loginForms(&v, c.Query("next"))
		p.formError(c, l, "mylogin.html", &v.view, &v, err)
		return
	}
	c.Redirect(http.StatusSeeOther, withNext(c, "/my/login/sign", url.Values{"challenge": {ch.ID}}))
}

// signLoginView is the page that asks for the signature of a log-in.
func (p *myPages) signLoginView(c *gin.Context, l *consent.Localizer, challenge string, text []byte) myView {
	v := p.myBase(c, l)
	v.Action = withNext(c, "/my/login/sign", url.Values{})
	v.Challenge, v.CanAnswer, v.ToSign = challenge, true, string(text)
	v.Title = l.T("sign_login_title", nil)
	return v
}

func (p *myPages) showSignatureLogin(c *gin.Context) {
	l := p.localizer(c, "")
	ch, err := p.signingChallenge(c, c.Query("challenge"))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	p.render(c, http.StatusOK, "sign.html", p.signLoginView(c, l, ch.ID, consent.SignedText(ch)))
}

func (p *myPages) signatureLogin(c *gin.Context) {
	l := p.localizer(c, "")
	ch, err := p.signingChallenge(c, c.PostForm("challenge"))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	token, _, err := p.settings.LogInBySignature(c.Request.Context(), ch.ID, p.preSession(c), signedForm(c))
	if err != nil {
		v := p.signLoginView(c, l, ch.ID, consent.SignedText(ch))
		if errors.Is(err, consent.ErrCodeUsed) || errors.Is(err, consent.ErrCodeExpired) {
			v.CanAnswer = false
		}
		p.formError(c, l, "sign.html", &v.view, &v, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: mySessionCookie, Value: token, Path: "/my", HttpOnly: true,
		Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(consent.SessionAbsolute.Seconds())})
	c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
}

// signingChallenge is this browser's log-in challenge to sign.
func (p *myPages) signingChallenge(c *gin.Context, id string) (consent.Challenge, error) {
	ch, err := p.codes.Challenge(c.Request.Context(), id, p.preSession(c))
	if err == nil && (ch.Method != consent.MethodSignature || ch.PartnerID != consent.LoginPartner) {
		err = consent.ErrUnknownChallenge
	}
	return ch, err
}
