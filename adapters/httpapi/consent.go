package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// The consent pages: the citizen sees what a partner asks, types IIN and
// phone, gets a code, and approves or refuses. Each handler parses the
// form, calls consent's request rules and Service, and renders.

// Authorizations is what the consent pages need of the OAuth server.
type Authorizations interface {
	// PendingRequest returns an authorization request still waiting for
	// the citizen, or an error when it is unknown or expired, or — read
	// from the store — answered. carried is what the browser carries of
	// it (oauth.Pending.Carried): then the store is not read, and an
	// answered request is found answered only by Finish.
	PendingRequest(ctx context.Context, id, carried string) (oauth.Pending, error)
	// Finish answers the partner with decide's decision, made inside the
	// transaction that issues the code (so no grant exists without one).
	// When decide fails it returns decide's error and writes nothing.
	Finish(w http.ResponseWriter, r *http.Request, p oauth.Pending, decide func(ctx context.Context) (oauth.Decision, error)) error
}

// deny is the citizen's refusal.
func deny(context.Context) (oauth.Decision, error) { return oauth.Decision{}, nil }

// Consents is what the pages need of the consent service.
type Consents interface {
	Start(ctx context.Context, r consent.StartRequest) (consent.Challenge, error)
	Challenge(ctx context.Context, id, session string) (consent.Challenge, error)
	CarryChallenge(c consent.Challenge) string
	CarriedChallenge(carried, id, session string) (consent.Challenge, bool)
	Resend(ctx context.Context, id, session, partnerName string, docs []consent.DocumentType, days int, clientIP string) (consent.Challenge, time.Duration, error)
	Approve(ctx context.Context, r consent.ApproveRequest) (consent.Grant, error)
	Holders(ctx context.Context, challengeID, session string, asked []string) ([]consent.HolderChoice, error)
	Grant(ctx context.Context, id string) (consent.Grant, error)
	Config() consent.OTPConfig
	SignaturesOffered() bool
	StartSigned(ctx context.Context, r consent.StartRequest) (consent.Challenge, error)
	VerifySignature(ctx context.Context, id, session string, signed []byte, docs []consent.DocumentType, days int) (consent.Challenge, error)
}

// ConsentRedirect is the oauth.Consent of the gateway: it sends the
// citizen's browser to the consent pages, which finish the request later.
type ConsentRedirect struct {
	Secure bool // cookies only over https
}

// Prompt implements oauth.Consent. The browser carries the request to
// its pages in a cookie of their own path (see oauth.Pending.Carried).
func (cr ConsentRedirect) Prompt(w http.ResponseWriter, r *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	if p.Carried != "" {
		http.SetCookie(w, carrierCookie(p, p.Carried, cr.Secure))
	}
	http.Redirect(w, r, "/consent/"+url.PathEscape(p.ID), http.StatusSeeOther)
	return oauth.Decision{}, false
}

const (
	sessionCookie = "kelisim_consent"
	// requestCookie carries a pending request between its pages.
	requestCookie = "kelisim_request"
)

// carrierCookie carries value for request p's pages, until p expires;
// an empty value ends it.
func carrierCookie(p oauth.Pending, value string, secure bool) *http.Cookie {
	c := &http.Cookie{Name: requestCookie, Value: value, Path: "/consent/" + url.PathEscape(p.ID), HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: -1}
	if value != "" {
		c.MaxAge = max(1, int(time.Until(p.ExpiresAt).Seconds()))
	}
	return c
}

type consentPages struct {
	*pages
	auth     Authorizations
	consents Consents
	policy   consent.RequestPolicy
	partners Directory
}

// request is one pending authorization as the pages see it.
type request struct {
	consent.Request
	pending   oauth.Pending
	uiLocales string
	partner   partners.Partner
}

// errRequestGone: the authorization request is unknown, expired or
// answered, or its partner is gone.
var errRequestGone = consent.NewError(consent.KindNotFound, "err_request_gone", "no such authorization request")

func (p *consentPages) load(c *gin.Context) (*request, *consent.Localizer, bool) {
	ctx := c.Request.Context()
	carried, _ := c.Cookie(requestCookie)
	pend, err := p.auth.PendingRequest(ctx, c.Param("id"), carried)
	l := p.localizer(c, pend.UILocales)
	var partner partners.Partner
	if err == nil {
		partner, err = p.partners.GetPartner(ctx, pend.ClientID)
	}
	if err != nil {
		if !consent.StoreFailed(ctx, err) {
			err = errRequestGone
		}
		p.fail(c, l, err)
		return nil, l, false
	}
	req := p.policy.Prepare(consent.AuthRequest{ID: pend.ID, ClientID: pend.ClientID, Scopes: pend.Scopes,
		GrantDays: pend.Params.Get("grant_days"), Purpose: pend.Params.Get("purpose"), LoginHint: pend.LoginHint, ExpiresAt: pend.ExpiresAt,
		AuthorizationDetails: pend.Params.Get("authorization_details"),
		GrantID:              pend.Params.Get("grant_id"), GrantAction: pend.Params.Get("grant_management_action")})
	if req.Action != consent.GrantCreate {
		// The grant the request changes, as it stands: what the pages show
		// stays and what changes. One that has ended meanwhile is refused
		// when the citizen answers.
		g, err := p.consents.Grant(ctx, req.Change)
		if err != nil && !errors.Is(err, consent.ErrGrantNotFound) {
			p.fail(c, l, err)
			return nil, l, false
		}
		if err == nil && g.Status == consent.GrantActive {
			req.Changing(g)
		}
	}
	return &request{Request: req, pending: pend, uiLocales: pend.UILocales, partner: partner}, l, true
}

// finish answers req with decide's decision (see Authorizations.Finish).
// Once it is answered, the browser stops carrying it; while it is not
// (decide failed, or the store could not be reached), it carries on.
func (p *consentPages) finish(c *gin.Context, req *request, decide func(ctx context.Context) (oauth.Decision, error)) error {
	if req.pending.Carried != "" {
		http.SetCookie(c.Writer, carrierCookie(req.pending, "", p.cfg.Secure))
	}
	err := p.auth.Finish(c.Writer, c.Request, req.pending, decide)
	if err != nil && req.pending.Carried != "" {
		http.SetCookie(c.Writer, carrierCookie(req.pending, req.pending.Carried, p.cfg.Secure))
	}
	return err
}

// grantGone answers the partner that the grant its request changes is no
// longer there to change (FAPI Grant Management's invalid_grant_id): the
// browser goes back to it.
func (p *consentPages) grantGone(c *gin.Context, req *request, l *consent.Localizer) {
	err := p.finish(c, req, func(context.Context) (oauth.Decision, error) {
		return oauth.Decision{Err: oauth.ErrInvalidGrantID}, nil
	})
	if err != nil {
		p.fail(c, l, err)
	}
}

// session returns the browser's consent session, making one if needed.
func (p *consentPages) session(c *gin.Context) string {
	if s, err := c.Cookie(sessionCookie); err == nil && len(s) >= 32 {
		return s
	}
	s := randomToken()
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: s, Path: "/consent", HttpOnly: true,
		Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	return s
}

// protect refuses a POST that is cross-origin or lacks the form's token.
func (p *consentPages) protect(c *gin.Context) {
	session, _ := c.Cookie(sessionCookie)
	if !p.checkForm(c, session, c.Param("id")) {
		p.refuse(c)
		return
	}
	c.Next()
}

func (p *consentPages) base(c *gin.Context, req *request, l *consent.Localizer, session string) view {
	v := view{L: l, Lang: l.Lang, Title: l.T("page_title", nil), Terms: p.terms,
		Partner: req.partner.DisplayName(l.Lang), CSRF: p.csrf(session, req.ID), Purpose: req.ShownPurpose(),
		Expires: l.T("expires_at", map[string]any{"Time": req.ExpiresAt.In(almaty).Format("15:04")})}
	if req.partner.LogoURI != "" {
		v.LogoURL = "/partner-logo/" + url.PathEscape(req.partner.ID)
	}
	if v.Purpose == "" {
		v.Purpose = l.T("purpose_none", nil)
	}
	v.Intro = l.T("consent_intro", map[string]any{"Partner": v.Partner})
	v.LangLinks = langLinks(c, l)
	v.DocumentsLegend = l.T("documents_legend", nil)
	if g := req.Changes; g != nil {
		args := map[string]any{"Partner": v.Partner, "Until": g.ExpiresAt.In(almaty).Format("2006-01-02")}
		v.Change = &changeView{Text: l.T("change_"+string(req.Action), args)}
		for _, d := range g.Documents {
			v.Change.Shared = append(v.Change.Shared, l.Document(d))
		}
		switch req.Action {
		case consent.GrantReplace:
			v.Change.After = l.T("change_replace_after", args)
		case consent.GrantMerge:
			v.DocumentsLegend = l.T("documents_legend_merge", nil)
			if len(req.Documents) == 0 {
				v.Change.After = l.T("merge_nothing_new", nil)
			}
		}
	}
	return v
}

func options(req *request, l *consent.Localizer, chosen []consent.DocumentType, days int) ([]docOption, []dayOption) {
	docs := make([]docOption, len(req.Documents))
	for i, d := range req.Documents {
		docs[i] = docOption{Type: d, Name: l.Document(d), Checked: chosen == nil || slices.Contains(chosen, d)}
	}
	if days == 0 {
		days = req.MaxDays
	}
	var dayOpts []dayOption
	for _, n := range req.DayOptions() {
		dayOpts = append(dayOpts, dayOption{Days: n, Label: l.T("days", nil, n), Selected: n == days})
	}
	return docs, dayOpts
}

func (p *consentPages) showConsent(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	v := p.base(c, req, l, p.session(c))
	v.Action = "/consent/" + url.PathEscape(req.ID)
	v.Documents, v.Days = options(req, l, nil, 0)
	v.IIN = string(req.LoginHint)
	v.Signatures = p.consents.SignaturesOffered()
	p.render(c, http.StatusOK, "consent.html", v)
}

func (p *consentPages) start(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	if c.PostForm("decision") == "deny" {
		if err := p.finish(c, req, deny); err != nil {
			p.fail(c, l, err)
		}
		return
	}
	v := p.base(c, req, l, session)
	v.Action = "/consent/" + url.PathEscape(req.ID)
	v.IIN, v.Phone = c.PostForm("iin"), c.PostForm("phone")
	docs, days, err := req.Select(c.PostFormArray("doc"), c.PostForm("days"))
	if err != nil {
		v.Documents, v.Days = options(req, l, nil, 0)
		p.formError(c, l, "consent.html", &v, &v, err)
		return
	}
	v.Documents, v.Days = options(req, l, docs, days)
	v.Signatures = p.consents.SignaturesOffered()
	start := p.consents.Start
	if c.PostForm("decision") == "sign" {
		start = p.consents.StartSigned
	}
	ch, err := start(c.Request.Context(), consent.StartRequest{
		PendingID: req.ID, PartnerID: req.partner.ID, PartnerName: req.partner.DisplayName(l.Lang),
		Session: session, IIN: v.IIN, Phone: v.Phone, Documents: docs, Days: days, Lang: l.Lang, ClientIP: c.ClientIP(),
		NoDocuments: req.NoDocuments(), Changes: req.Change,
	})
	if errors.Is(err, consent.ErrGrantGone) {
		p.grantGone(c, req, l)
		return
	}
	if err != nil {
		p.formError(c, l, "consent.html", &v, &v, err)
		return
	}
	if ch.Method == consent.MethodSignature {
		c.Redirect(http.StatusSeeOther, "/consent/"+url.PathEscape(req.ID)+"/sign?"+url.Values{"challenge": {ch.ID}}.Encode())
		return
	}
	phone, _ := consent.ParsePhone(v.Phone)
	q := url.Values{"challenge": {ch.ID}, "to": {phone.Masked()}, "c": {p.consents.CarryChallenge(ch)}}
	c.Redirect(http.StatusSeeOther, "/consent/"+url.PathEscape(req.ID)+"/otp?"+q.Encode())
}

// answering reads what an answer to a challenge posts — the request, the
// browser's session and its challenge — and finishes a refusal itself; ok
// is false when it answered.
func (p *consentPages) answering(c *gin.Context) (req *request, l *consent.Localizer, session string, ch consent.Challenge, ok bool) {
	req, l, ok = p.load(c)
	if !ok {
		return nil, nil, "", consent.Challenge{}, false
	}
	session, _ = c.Cookie(sessionCookie)
	ch, err := p.challenge(c, req, c.PostForm("challenge"), session)
	if err != nil {
		p.fail(c, l, err)
		return nil, nil, "", consent.Challenge{}, false
	}
	if c.PostForm("decision") == "deny" {
		if err := p.finish(c, req, deny); err != nil {
			p.fail(c, l, err)
		}
		return nil, nil, "", consent.Challenge{}, false
	}
	return req, l, session, ch, true
}

// signView is the page that asks for the signature of challenge ch.
func (p *consentPages) signView(c *gin.Context, req *request, l *consent.Localizer, session string, ch consent.Challenge) view {
	v := p.base(c, req, l, session)
	v.Action = "/consent/" + url.PathEscape(req.ID) + "/sign"
	v.Challenge, v.CanAnswer = ch.ID, true
	v.Documents, v.Days = options(req, l, ch.Documents, ch.Days)
	v.ToSign = string(consent.SignedText(ch))
	return v
}

func (p *consentPages) showSign(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	ch, err := p.challenge(c, req, c.Query("challenge"), session)
	if err == nil && ch.Method != consent.MethodSignature {
		err = consent.ErrUnknownChallenge
	}
	if err != nil {
		p.fail(c, l, err)
		return
	}
	p.render(c, http.StatusOK, "sign.html", p.signView(c, req, l, session, ch))
}

// signedForm reads the signature the citizen pasted or uploaded.
func signedForm(c *gin.Context) []byte {
	if fh, err := c.FormFile("signature_file"); err == nil && fh.Size > 0 {
		if f, err := fh.Open(); err == nil {
			defer f.Close()
			b, _ := io.ReadAll(io.LimitReader(f, 256<<10))
			return b
		}
	}
	return []byte(c.PostForm("signature"))
}

// sign takes the citizen's signature instead of a code: once it verifies,
// the consent goes on as after the right code.
func (p *consentPages) sign(c *gin.Context) {
	req, l, session, ch, ok := p.answering(c)
	if !ok {
		return
	}
	v := p.signView(c, req, l, session, ch)
	docs, days, err := req.Select(c.PostFormArray("doc"), c.PostForm("days"))
	if err != nil {
		p.formError(c, l, "sign.html", &v, &v, err)
		return
	}
	v.Documents, v.Days = options(req, l, docs, days)
	verified, err := p.consents.VerifySignature(c.Request.Context(), ch.ID, session, signedForm(c), docs, days)
	if err != nil {
		if errors.Is(err, consent.ErrCodeUsed) || errors.Is(err, consent.ErrCodeExpired) || errors.Is(err, consent.ErrCodeDead) {
			v.CanAnswer = false
		}
		p.formError(c, l, "sign.html", &v, &v, err)
		return
	}
	shown := p.otpView(c, req, l, session, ch)
	p.approve(c, answered{p: p, c: c, req: req, l: l, session: session, id: ch.ID, read: &verified, shown: &shown}, "", docs, days, nil)
}

func (p *consentPages) otpView(c *gin.Context, req *request, l *consent.Localizer, session string, ch consent.Challenge) view {
	v := p.base(c, req, l, session)
	v.Action = "/consent/" + url.PathEscape(req.ID) + "/otp?" + url.Values{"to": {maskedPhone(c.Query("to"))}}.Encode()
	v.Challenge, v.Carried = ch.ID, p.consents.CarryChallenge(ch)
	v.Documents, v.Days = options(req, l, ch.Documents, ch.Days)
	v.CanAnswer, v.CanResend = true, ch.Resends < p.consents.Config().MaxResends
	return v
}

// challenge returns the challenge id of this browser and request.
func (p *consentPages) challenge(c *gin.Context, req *request, id, session string) (consent.Challenge, error) {
	ch, err := p.consents.Challenge(c.Request.Context(), id, session)
	if err == nil && ch.PendingID != req.ID {
		err = consent.ErrUnknownChallenge
	}
	return ch, err
}

func (p *consentPages) showOTP(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	// The challenge as the start sent the browser here with it; read from
	// the store when it carries none (or it has expired).
	ch, ok := p.consents.CarriedChallenge(c.Query("c"), c.Query("challenge"), session)
	if !ok || ch.PendingID != req.ID {
		var err error
		if ch, err = p.challenge(c, req, c.Query("challenge"), session); err != nil {
			p.fail(c, l, err)
			return
		}
	}
	v := p.otpView(c, req, l, session, ch)
	v.Notice = l.T("otp_sent", map[string]any{"Phone": maskedPhone(c.Query("to"))})
	p.render(c, http.StatusOK, "otp.html", v)
}

var maskedPhoneRE = regexp.MustCompile(`^\+7\*{8}[0-9]{2}$`)

// maskedPhone is the number the code went to, as the page may show it: only
// its last two digits, as the citizen typed them.
func maskedPhone(s string) string {
	if maskedPhoneRE.MatchString(s) {
		return s
	}
	return "+7**********"
}

// answer takes what the code page posts: a code (answerCode), or a
// refusal or a resend, which read the challenge first.
func (p *consentPages) answer(c *gin.Context) {
	if c.PostForm("decision") != "deny" && c.PostForm("action") != "resend" {
		p.answerCode(c)
		return
	}
	req, l, session, ch, ok := p.answering(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	v := p.otpView(c, req, l, session, ch)
	docs, days, err := req.Select(c.PostFormArray("doc"), c.PostForm("days"))
	if err != nil {
		p.formError(c, l, "otp.html", &v, &v, err)
		return
	}
	v.Documents, v.Days = options(req, l, docs, days)
	ch, _, err = p.consents.Resend(ctx, ch.ID, session, req.partner.DisplayName(l.Lang), docs, days, c.ClientIP())
	if err != nil {
		p.answerError(c, l, v, err)
		return
	}
	v = p.otpView(c, req, l, session, ch)
	v.Notice = l.T("otp_sent", map[string]any{"Phone": maskedPhone(c.Query("to"))})
	p.render(c, http.StatusOK, "otp.html", v)
}

// answerCode answers a code (or, for a legal representative, the choice
// of whose documents). A right code of the challenge the form carried
// back is approved without reading the challenge; else it is read once,
// by the approval, in the transaction that issues the code. A page to
// show again reads it then.
func (p *consentPages) answerCode(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	a := answered{p: p, c: c, req: req, l: l, session: session, id: c.PostForm("challenge")}
	if ch, ok := p.consents.CarriedChallenge(c.PostForm("carried"), a.id, session); ok {
		a.carried = &ch
	}
	docs, days, err := req.Select(c.PostFormArray("doc"), c.PostForm("days"))
	if err != nil {
		if v, ok := a.view(nil, 0); ok {
			p.formError(c, l, "otp.html", &v, &v, err)
		}
		return
	}
	holders, err := consent.Holders(c.PostForm("step") == "holders", c.PostFormArray("holder"))
	if err != nil {
		p.fail(c, l, err)
		return
	}
	p.approve(c, a, c.PostForm("otp"), docs, days, holders)
}

// answered is an answer to a challenge of the code page, whose page is
// made only when it is shown again.
type answered struct {
	p       *consentPages
	c       *gin.Context
	req     *request
	l       *consent.Localizer
	session string
	id      string
	// read and shown, when set, are the challenge as just read and the
	// page to show again.
	read  *consent.Challenge
	shown *view
	// carried, when set, is the challenge as the code page's form carried
	// it back.
	carried *consent.Challenge
}

// view is the code page to show again, with the selection posted (docs;
// the challenge's when nil). ok is false when the challenge is not this
// browser's and request: then the error page is shown.
func (a answered) view(docs []consent.DocumentType, days int) (view, bool) {
	if a.shown != nil {
		return *a.shown, true
	}
	ch, err := a.p.challenge(a.c, a.req, a.id, a.session)
	if err != nil {
		a.p.fail(a.c, a.l, err)
		return view{}, false
	}
	v := a.p.otpView(a.c, a.req, a.l, a.session, ch)
	if docs != nil {
		v.Documents, v.Days = options(a.req, a.l, docs, days)
	}
	return v, true
}

// approve records the grant of a challenge proved by its code (or by a
// signature, verified before), and finishes the authorization request.
func (p *consentPages) approve(c *gin.Context, a answered, code string, docs []consent.DocumentType, days int, holders []int) {
	req := a.req
	err := p.finish(c, req, func(ctx context.Context) (oauth.Decision, error) {
		grant, err := p.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: a.id, PendingID: req.ID, Session: a.session, Read: a.read,
			Carried: a.carried, Code: code, Documents: docs, Days: days, Purpose: req.Purpose, Holders: holders, Asked: req.AskedHolders(),
			Change: req.Change, Action: req.Action, Allowed: req.partner.Documents})
		if errors.Is(err, consent.ErrGrantGone) {
			return oauth.Decision{Err: oauth.ErrInvalidGrantID}, nil // ended since the page was shown
		}
		if err != nil {
			return oauth.Decision{}, err
		}
		var kept []string
		for _, d := range req.Kept {
			kept = append(kept, d.Scope())
		}
		return oauth.Decision{Allow: true, Citizen: string(grant.Citizen), Scopes: req.Scopes(grant), GrantID: grant.ID,
			AuthorizationDetails: req.Granted(grant), Kept: kept}, nil
	})
	if err == nil {
		return
	}
	if errors.Is(err, consent.ErrUnknownChallenge) || consent.StoreFailed(c.Request.Context(), err) {
		p.fail(c, a.l, err)
		return
	}
	v, ok := a.view(docs, days)
	if !ok {
		return
	}
	if errors.Is(err, consent.ErrChooseHolders) || errors.Is(err, consent.ErrNoHolder) {
		p.chooseHolders(c, a.l, v, a.session, a.id, req.AskedHolders(), holders, err)
		return
	}
	p.answerError(c, a.l, v, err)
}

// chooseHolders asks a legal representative, whose code was right, whose
// documents the grant covers: each named, their own ticked, a child's only
// when they tick it.
func (p *consentPages) chooseHolders(c *gin.Context, l *consent.Localizer, v view, session, challenge string, asked []string, ticked []int, err error) {
	holders, herr := p.consents.Holders(c.Request.Context(), challenge, session, asked)
	if herr != nil {
		p.answerError(c, l, v, herr)
		return
	}
	for i, h := range holders {
		label := l.T("holder_minor", map[string]any{"Name": h.Name})
		if h.Relation == consent.RelationSelf {
			label = l.T("holder_self", map[string]any{"Name": h.Name})
		}
		checked := (ticked == nil && i == 0) || slices.Contains(ticked, h.Position)
		v.Holders = append(v.Holders, holderOption{Index: h.Position, Label: label, Checked: checked})
	}
	v.CanResend, v.Notice = false, ""
	if errors.Is(err, consent.ErrNoHolder) {
		p.formError(c, l, "otp.html", &v, &v, err)
		return
	}
	p.render(c, http.StatusOK, "otp.html", v)
}

// answerError shows an error of the code page: on the page while the
// citizen can still act there, without what no longer works.
func (p *consentPages) answerError(c *gin.Context, l *consent.Localizer, v view, err error) {
	switch {
	case errors.Is(err, consent.ErrCodeDead), errors.Is(err, consent.ErrCodeUsed):
		v.CanAnswer, v.CanResend = false, false
	case errors.Is(err, consent.ErrNoResendsLeft):
		v.CanResend = false
	}
	p.formError(c, l, "otp.html", &v, &v, err)
}
