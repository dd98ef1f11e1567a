package httpapi

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The citizen's settings pages under /my/: log-in by IIN, phone and SMS
// code, the grants with their revoke forms, the history, and erasure.

const (
	myPreCookie     = "kelisim_my_pre" // the browser before log-in (CSRF, challenge)
	mySessionCookie = "kelisim_my"     // the logged-in session
)

type myPages struct {
	*pages
	signatures bool // log-in by digital signature is offered
	termsTexts TermsTexts
	codes      interface {
		Challenge(ctx context.Context, id, session string) (consent.Challenge, error)
	}
	settings Settings
	shares   Shares
	partners Directory
	receipts Receipts
	ledger   Ledger
}

// loggedIn admits requests of a logged-in citizen and sends others to log
// in.
func (p *myPages) loggedIn(c *gin.Context) {
	iin, ok := p.citizen(c)
	if !ok {
		return
	}
	if iin == "" {
		c.Redirect(http.StatusSeeOther, "/my/")
		c.Abort()
		return
	}
	c.Set(citizenKey, iin)
	c.Next()
}

// myView is what the settings templates get.
type myView struct {
	view
	Grants   []grantRow
	History  []historyRow
	Erasure  *erasureView
	Reports  []reportRow
	DocTypes []docOption
	Sharable []shareRow
	Share    *shareView
	Channels []channelOption
	Saved    string    // the notification choice was kept
	Docs     *docsView // the citizen's documents
	Verified *verifiedView
	NewTerms *termsView // what changed in the terms
	// OldTerms is how many of the citizen's grants are under older terms.
	OldTerms  string
	TermsDone string      // the citizen declined new terms
	Reasons   []docOption // revocation reasons: code and words
}

// channelOption is one notification channel on the settings page.
type channelOption struct {
	Name, Label string
	On          bool
}

type reportRow struct{ ID, Document, Status, Date string }

type grantRow struct {
	ID, Partner, PartnerID, LogoURL string
	Documents, Holders              []string
	Since, Until, LastUsed          string
	Status, StatusLabel             string
	Active                          bool
	Ack                             string
	Deletion                        string   // whether the partner confirmed it deleted what it received
	Kept                            []string // what it keeps by law, and why
}

type historyRow struct{ When, Text string }

type erasureView struct {
	Revoked string
	Deleted []string
	Kept    string
}

// preSession is the browser's cookie before log-in, made when missing.
func (p *myPages) preSession(c *gin.Context) string {
	if s, err := c.Cookie(myPreCookie); err == nil && len(s) >= 32 {
		return s
	}
	s := randomToken()
	http.SetCookie(c.Writer, &http.Cookie{Name: myPreCookie, Value: s, Path: "/my", HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	return s
}

// protectMy refuses a POST that is cross-origin or lacks the form's token.
func (p *myPages) protectMy(c *gin.Context) {
	pre, _ := c.Cookie(myPreCookie)
	if !p.checkForm(c, pre, "my") {
		p.refuse(c)
		return
	}
	c.Next()
}

func (p *myPages) myBase(c *gin.Context, l *consent.Localizer) myView {
	return myView{view: view{L: l, Lang: l.Lang, Title: l.T("my_title", nil), CSRF: p.csrf(p.preSession(c), "my"), LangLinks: langLinks(c, l)}}
}

// citizen returns the logged-in citizen, or "" when nobody is logged in.
// It answers the request itself and returns false when the session could
// not be looked up: a store that is down does not log anybody out.
func (p *myPages) citizen(c *gin.Context) (consent.IIN, bool) {
	token, _ := c.Cookie(mySessionCookie)
	iin, err := p.settings.Citizen(c.Request.Context(), token)
	switch {
	case errors.Is(err, consent.ErrNoSession):
		return "", true
	case err != nil:
		p.fail(c, p.localizer(c, ""), err)
		return "", false
	}
	return iin, true
}

func (p *myPages) home(c *gin.Context) {
	l := p.localizer(c, "")
	v := p.myBase(c, l)
	iin, ok := p.citizen(c)
	if !ok {
		return
	}
	if iin == "" {
		p.loginForms(&v, "")
		p.render(c, http.StatusOK, "mylogin.html", v)
		return
	}
	ctx := c.Request.Context()
	grants, err := p.settings.Grants(ctx, iin)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	names := map[string]string{}
	partner := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := id
		if pt, err := p.partners.GetPartner(ctx, id); err == nil {
			n = pt.DisplayName(l.Lang)
		}
		names[id] = n
		return n
	}
	day := func(t time.Time) string { return t.In(almaty).Format("2006-01-02") }
	stamp := func(t time.Time) string { return t.In(almaty).Format("2006-01-02 15:04") }
	for _, g := range grants {
		row := grantRow{ID: g.ID, PartnerID: g.PartnerID, Partner: partner(g.PartnerID), Since: day(g.CreatedAt), Until: day(g.ExpiresAt),
			LastUsed: l.T("never", nil), Status: string(g.Status)}
		if g.Expired {
			row.Status = string(consent.GrantExpired)
		}
		row.StatusLabel = l.T("status_"+row.Status, nil)
		row.Active = row.Status == string(consent.GrantActive)
		if !g.LastUsed.IsZero() {
			row.LastUsed = stamp(g.LastUsed)
		}
		notified := false // a partner without a webhook learns of a revocation on its next call
		if pt, err := p.partners.GetPartner(ctx, g.PartnerID); err == nil {
			if pt.LogoURI != "" {
				row.LogoURL = "/partner-logo/" + url.PathEscape(pt.ID)
			}
			notified = pt.WebhookURL != ""
		}
		for _, d := range g.Documents {
			row.Documents = append(row.Documents, l.Document(d))
		}
		for _, h := range g.HolderNames {
			msg := "holder_minor"
			if h.Relation == consent.RelationSelf {
				msg = "holder_self"
			}
			row.Holders = append(row.Holders, l.T(msg, map[string]any{"Name": h.Name}))
		}
		if !row.Active {
			row.Deletion = l.T("deletion_pending", map[string]any{"Partner": row.Partner})
			if d := g.Deletion; d != nil {
				row.Deletion = l.T("deletion_done", map[string]any{"Partner": row.Partner, "Time": stamp(d.At)})
				for _, r := range d.Retained {
					row.Kept = append(row.Kept, l.T("deletion_kept", map[string]any{"Document": l.Document(r.Document),
						"Reason": r.Reason, "Basis": r.LegalBasis, "Until": r.Until}))
				}
			}
		}
		if g.Status == consent.GrantRevoked && notified {
			row.Ack = l.T("ack_pending", nil)
			if !g.RevocationAckedAt.IsZero() {
				row.Ack = l.T("ack_done", map[string]any{"Time": stamp(g.RevocationAckedAt)})
			}
		}
		v.Grants = append(v.Grants, row)
	}
	events, err := p.settings.History(ctx, iin, 200)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	for _, e := range events {
		msg := "ev_" + e.Kind
		switch {
		case e.Kind == "revocation" && e.By == consent.EndedByPartner:
			msg = "ev_ended_by_partner"
		case e.Kind == "revocation" && e.By == consent.EndedByReplacement:
			msg = "ev_replaced"
		}
		who := partner(e.PartnerID)
		if e.PartnerID == consent.PersonViewer {
			who = e.By // a person who checked a shared document, by their shortened name
		}
		v.History = append(v.History, historyRow{When: stamp(e.At),
			Text: l.T(msg, map[string]any{"Partner": who, "Document": docName(l, e.Document)})})
	}
	reports, err := p.settings.Reports(ctx, iin)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	for _, r := range reports {
		v.Reports = append(v.Reports, reportRow{ID: r.ID, Document: l.Document(r.Document),
			Status: l.T("report_status_"+string(r.Status), nil), Date: day(r.UpdatedAt)})
	}
	for _, t := range p.messages.Types().Types() {
		v.DocTypes = append(v.DocTypes, docOption{Type: t, Name: l.Document(t)})
	}
	if sharable, err := p.shares.Sharable(ctx, iin); err == nil {
		for _, s := range sharable {
			v.Sharable = append(v.Sharable, shareRow{Value: string(s.Holder) + "/" + string(s.Document), Label: s.Name + " — " + l.Document(s.Document)})
		}
	}
	if id := c.Query("reported"); id != "" && strings.HasPrefix(id, "KL-") && len(id) == 13 {
		v.Notice = l.T("report_sent", map[string]any{"ID": id})
	}
	prefs, err := p.settings.NotificationPrefs(ctx, iin)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	for _, ch := range p.settings.Channels() {
		v.Channels = append(v.Channels, channelOption{Name: ch, Label: l.T("notify_channel_"+ch, nil), On: slices.Contains(prefs.Channels, ch)})
	}
	older := 0
	for _, g := range grants {
		if g.OlderTerms {
			older++
		}
	}
	if older > 0 {
		v.OldTerms = l.T("terms_banner", nil, older)
	}
	if n := c.Query("declined"); n != "" {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			v.TermsDone = l.T("terms_declined", nil, k)
		}
	}
	if c.Query("notifications") == "saved" {
		v.Saved = l.T("notify_saved", nil)
	}
	for _, code := range slices.Sorted(maps.Keys(consent.RevocationReasons)) {
		v.Reasons = append(v.Reasons, docOption{Type: consent.DocumentType(code), Name: l.T("reason_"+code, nil)})
	}
	p.render(c, http.StatusOK, "mysettings.html", v)
}

func (p *myPages) report(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	rep, err := p.settings.Report(c.Request.Context(), iin, consent.DocumentType(c.PostForm("document")), c.PostForm("description"))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/?"+url.Values{"reported": {rep.ID}}.Encode())
}

func docName(l *consent.Localizer, t consent.DocumentType) string {
	if t == "" {
		return ""
	}
	return l.Document(t)
}

func (p *myPages) startLogin(c *gin.Context) {
	l := p.localizer(c, "")
	v := p.myBase(c, l)
	p.loginForms(&v, c.Query("next"))
	v.IIN, v.Phone = c.PostForm("iin"), c.PostForm("phone")
	ch, err := p.settings.StartLogin(c.Request.Context(), p.preSession(c), v.IIN, v.Phone, l.Lang, c.ClientIP())
	if err != nil {
		p.formError(c, l, "mylogin.html", &v.view, &v, err)
		return
	}
	phone, _ := consent.ParsePhone(v.Phone)
	q := url.Values{"challenge": {ch.ID}, "to": {phone.Masked()}}
	if next := safeNext(c.Query("next")); next != "/my/" {
		q.Set("next", next)
	}
	c.Redirect(http.StatusSeeOther, "/my/login/otp?"+q.Encode())
}

func (p *myPages) loginOTPView(c *gin.Context, l *consent.Localizer, challenge string) myView {
	v := p.myBase(c, l)
	q := url.Values{"to": {maskedPhone(c.Query("to"))}}
	if next := safeNext(c.Query("next")); next != "/my/" {
		q.Set("next", next)
	}
	v.Action = "/my/login/otp?" + q.Encode()
	v.Challenge, v.CanAnswer = challenge, true
	v.Notice = l.T("otp_sent", map[string]any{"Phone": maskedPhone(c.Query("to"))})
	return v
}

func (p *myPages) showLoginOTP(c *gin.Context) {
	l := p.localizer(c, "")
	p.render(c, http.StatusOK, "mylogin-otp.html", p.loginOTPView(c, l, c.Query("challenge")))
}

func (p *myPages) login(c *gin.Context) {
	l := p.localizer(c, "")
	token, _, err := p.settings.LogIn(c.Request.Context(), c.PostForm("challenge"), p.preSession(c), c.PostForm("otp"))
	if err != nil {
		v := p.loginOTPView(c, l, c.PostForm("challenge"))
		v.Notice = ""
		if errors.Is(err, consent.ErrCodeDead) || errors.Is(err, consent.ErrCodeUsed) {
			v.CanAnswer = false
		}
		p.formError(c, l, "mylogin-otp.html", &v.view, &v, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: mySessionCookie, Value: token, Path: "/my", HttpOnly: true,
		Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(consent.SessionAbsolute.Seconds())})
	c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
}

func (p *myPages) logout(c *gin.Context) {
	if token, err := c.Cookie(mySessionCookie); err == nil {
		if err := p.settings.LogOut(c.Request.Context(), token); err != nil {
			p.fail(c, p.localizer(c, ""), err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: mySessionCookie, Value: "", Path: "/my", MaxAge: -1, HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusSeeOther, "/my/")
}

func (p *myPages) revoke(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	r := consent.Revocation{GrantID: c.PostForm("grant_id"), PartnerID: c.PostForm("partner_id"), All: c.PostForm("all") == "true",
		Reason: c.PostForm("reason")}
	if _, err := p.settings.Revoke(c.Request.Context(), iin, r, "citizen"); err != nil {
		p.fail(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/")
}

// notifications keeps the citizen's choice of channels, in the language
// of the page they chose them on.
func (p *myPages) notifications(c *gin.Context) {
	l := p.localizer(c, "")
	if err := p.settings.SetNotificationChannels(c.Request.Context(), citizen(c), c.PostFormArray("channel"), l.Lang); err != nil {
		p.fail(c, l, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/my/?lang="+l.Lang+"&notifications=saved#notifications")
}

func (p *myPages) erase(c *gin.Context) {
	l := p.localizer(c, "")
	iin := citizen(c)
	report, err := p.settings.Erase(c.Request.Context(), iin)
	if err != nil {
		p.fail(c, l, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: mySessionCookie, Value: "", Path: "/my", MaxAge: -1, HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	v := p.myBase(c, l)
	v.Title = l.T("erased_title", nil)
	e := &erasureView{Revoked: l.T("erased_revoked", nil, report.Revoked), Kept: l.T("erased_kept", nil)}
	for _, kind := range []string{"sessions", "otp_records", "tokens"} {
		e.Deleted = append(e.Deleted, l.T("kind_"+kind, nil)+": "+strconv.Itoa(report.Deleted[kind]))
	}
	v.Erasure = e
	p.render(c, http.StatusOK, "myerased.html", v)
}
