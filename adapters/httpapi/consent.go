package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Authorizations is what the consent pages need of the OAuth server.
type Authorizations interface {
	// PendingRequest returns an authorization request still waiting for
	// the citizen, or an error when it is unknown, expired or answered.
	PendingRequest(ctx context.Context, id string) (oauth.Pending, error)
	// Finish answers the partner with decide's decision, made inside the
	// transaction that issues the code (so no grant exists without one).
	// When decide fails it returns decide's error and writes nothing.
	Finish(w http.ResponseWriter, r *http.Request, id string, decide func(ctx context.Context) (oauth.Decision, error)) error
}

// deny is the citizen's refusal.
func deny(context.Context) (oauth.Decision, error) { return oauth.Decision{}, nil }

// Consents is what the pages need of the consent service.
type Consents interface {
	Start(ctx context.Context, r consent.StartRequest) (consent.Challenge, error)
	Challenge(ctx context.Context, id, session string) (consent.Challenge, error)
	Resend(ctx context.Context, id, session, partnerName string, docs []consent.DocumentType, days int, clientIP string) (consent.Challenge, time.Duration, error)
	Approve(ctx context.Context, r consent.ApproveRequest) (consent.Grant, error)
	Holders(ctx context.Context, challengeID, session string) ([]consent.HolderChoice, error)
	TermsVersion() string
	Config() consent.OTPConfig
}

// ConsentConfig tunes the consent pages.
type ConsentConfig struct {
	DefaultDays int    // grant duration when the partner asks none
	MaxDays     int    // the operator's cap on any grant
	CSRFKey     []byte // key of the forms' CSRF tokens
	Secure      bool   // cookies only over https
}

// ConsentRedirect is the oauth.Consent of the gateway: it sends the
// citizen's browser to the consent pages, which finish the request later.
type ConsentRedirect struct{}

// Prompt implements oauth.Consent.
func (ConsentRedirect) Prompt(w http.ResponseWriter, r *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	http.Redirect(w, r, "/consent/"+url.PathEscape(p.ID), http.StatusSeeOther)
	return oauth.Decision{}, false
}

type consentPages struct {
	auth     Authorizations
	consents Consents
	partners Directory
	messages *consent.Messages
	cfg      ConsentConfig
	tmpl     *template.Template
	log      *slog.Logger
	cop      *http.CrossOriginProtection
	logos    *http.Client
}

// Kazakhstan keeps one time zone, UTC+5.
var almaty = time.FixedZone("UTC+5", 5*60*60)

const (
	sessionCookie = "kelisim_consent"
	langCookie    = "kelisim_lang"
)

func newConsentPages(d Deps) *consentPages {
	t := template.Must(template.New("").Funcs(template.FuncMap{
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"initial": func(s string) string {
			for _, r := range s {
				return string(r)
			}
			return "?"
		},
	}).ParseFS(assets, "templates/*.html"))
	return &consentPages{
		auth: d.Authorizations, consents: d.Consents, partners: d.Directory, messages: d.Messages,
		cfg: d.Consent, tmpl: t, log: d.Log, cop: http.NewCrossOriginProtection(),
		logos: &http.Client{Timeout: 3 * time.Second},
	}
}

func (p *consentPages) routes(r *gin.Engine) {
	static := http.FileServerFS(assets)
	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(c.Writer, c.Request)
	})
	g := r.Group("/consent", p.pageHeaders)
	g.GET("/:id", p.showConsent)
	g.POST("/:id", p.protect, p.start)
	g.GET("/:id/otp", p.showOTP)
	g.POST("/:id/otp", p.protect, p.answer)
	r.GET("/partner-logo/:client", p.logo)
}

// pageHeaders: a consent page is never framed, cached or given scripts.
func (p *consentPages) pageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// view is what every template gets.
type view struct {
	L          *consent.Localizer
	Lang       string
	LangLinks  []langLink
	Title      string
	Action     string
	CSRF       string
	Partner    string
	LogoURL    string
	Documents  []docOption
	Purpose    string
	Days       []dayOption
	Terms      string
	IIN, Phone string
	Error      string
	Notice     string
	Expires    string
	Challenge  string
	CanResend  bool
	CanAnswer  bool
	// Holders, once the code was right and the citizen represents minors:
	// whose documents to share.
	Holders []holderOption
}

type holderOption struct {
	Index   int
	Label   string
	Checked bool
}

type langLink struct {
	Lang, Label, URL string
	Current          bool
}

type docOption struct {
	Type    consent.DocumentType
	Name    string
	Checked bool
}

type dayOption struct {
	Days     int
	Label    string
	Selected bool
}

// request is one pending authorization as the pages see it.
type request struct {
	pending   oauth.Pending
	partner   partners.Partner
	docs      []consent.DocumentType // asked for
	otherScps []string               // openid, offline_access: granted with any consent
	maxDays   int                    // the partner's request, capped by the operator
}

func (p *consentPages) load(c *gin.Context) (*request, *consent.Localizer, bool) {
	pend, err := p.auth.PendingRequest(c.Request.Context(), c.Param("id"))
	l := p.localizer(c, pend.UILocales)
	if err != nil {
		p.gone(c, l, err)
		return nil, l, false
	}
	partner, err := p.partners.GetPartner(c.Request.Context(), pend.ClientID)
	if err != nil {
		p.gone(c, l, err)
		return nil, l, false
	}
	req := &request{pending: pend, partner: partner, maxDays: p.cfg.DefaultDays}
	if n, err := strconv.Atoi(pend.Params.Get("grant_days")); err == nil && n > 0 {
		req.maxDays = n
	}
	req.maxDays = min(req.maxDays, p.cfg.MaxDays)
	for _, s := range pend.Scopes {
		if d, ok := strings.CutPrefix(s, consent.ScopePrefix); ok {
			req.docs = append(req.docs, consent.DocumentType(d))
		} else {
			req.otherScps = append(req.otherScps, s)
		}
	}
	return req, l, true
}

// localizer picks the language: the page's switch (remembered in a
// cookie), then ui_locales of the request, then Accept-Language, then Kazakh.
func (p *consentPages) localizer(c *gin.Context, uiLocales string) *consent.Localizer {
	lang := c.Query("lang")
	if lang != "" && slices.Contains(consent.Languages, lang) {
		c.SetCookie(langCookie, lang, 365*24*3600, "/", "", p.cfg.Secure, true)
	} else {
		lang, _ = c.Cookie(langCookie)
	}
	return p.messages.For(lang, strings.ReplaceAll(uiLocales, " ", ","), c.GetHeader("Accept-Language"))
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

// csrf binds a form to the browser session and the request.
func (p *consentPages) csrf(session, pendingID string) string {
	m := hmac.New(sha256.New, p.cfg.CSRFKey)
	m.Write([]byte(session + "|" + pendingID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// protect refuses a POST that is cross-origin or lacks the form's token.
func (p *consentPages) protect(c *gin.Context) {
	session, err := c.Cookie(sessionCookie)
	ok := err == nil && p.cop.Check(c.Request) == nil && safeEqual(c.PostForm("csrf"), p.csrf(session, c.Param("id")))
	if !ok {
		p.fail(c, p.localizer(c, ""), http.StatusForbidden, "err_forbidden")
		return
	}
	c.Next()
}

func (p *consentPages) base(c *gin.Context, req *request, l *consent.Localizer, session string) view {
	v := view{L: l, Lang: l.Lang, Title: l.T("page_title", nil), Terms: p.consents.TermsVersion(),
		Partner: req.partner.DisplayName(l.Lang), CSRF: p.csrf(session, req.pending.ID),
		Expires: l.T("expires_at", map[string]any{"Time": req.pending.ExpiresAt.In(almaty).Format("15:04")})}
	if req.partner.LogoURI != "" {
		v.LogoURL = "/partner-logo/" + url.PathEscape(req.partner.ID)
	}
	v.Purpose = strings.TrimSpace(req.pending.Params.Get("purpose"))
	if len([]rune(v.Purpose)) > 300 {
		v.Purpose = string([]rune(v.Purpose)[:300])
	}
	if v.Purpose == "" {
		v.Purpose = l.T("purpose_none", nil)
	}
	v.LangLinks = langLinks(c, l)
	return v
}

// langLinks are the page's language switch: the same URL in each language.
func langLinks(c *gin.Context, l *consent.Localizer) []langLink {
	q := c.Request.URL.Query()
	var out []langLink
	for _, lang := range consent.Languages {
		q.Set("lang", lang)
		out = append(out, langLink{Lang: lang, Label: l.T("lang_"+lang, nil),
			URL: c.Request.URL.Path + "?" + q.Encode(), Current: lang == l.Lang})
	}
	return out
}

func (p *consentPages) options(req *request, l *consent.Localizer, chosen []consent.DocumentType, days int) ([]docOption, []dayOption) {
	docs := make([]docOption, len(req.docs))
	for i, d := range req.docs {
		docs[i] = docOption{Type: d, Name: l.Document(d), Checked: chosen == nil || slices.Contains(chosen, d)}
	}
	var opts []int
	for _, n := range []int{1, 7, 30, 90, 180, 365} {
		if n < req.maxDays {
			opts = append(opts, n)
		}
	}
	opts = append(opts, req.maxDays)
	if days == 0 {
		days = req.maxDays
	}
	dayOpts := make([]dayOption, len(opts))
	for i, n := range opts {
		dayOpts[i] = dayOption{Days: n, Label: l.T("days", nil, n), Selected: n == days}
	}
	return docs, dayOpts
}

// selection reads the documents and duration a form posted. The citizen
// may uncheck documents and shorten the duration, never add or lengthen.
func (p *consentPages) selection(c *gin.Context, req *request) ([]consent.DocumentType, int, bool) {
	var docs []consent.DocumentType
	for _, d := range c.PostFormArray("doc") {
		t := consent.DocumentType(d)
		if !slices.Contains(req.docs, t) {
			return nil, 0, false
		}
		if !slices.Contains(docs, t) {
			docs = append(docs, t)
		}
	}
	days, err := strconv.Atoi(c.PostForm("days"))
	if err != nil || days < 1 || days > req.maxDays {
		return nil, 0, false
	}
	return docs, days, true
}

func (p *consentPages) showConsent(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	v := p.base(c, req, l, p.session(c))
	v.Action = "/consent/" + url.PathEscape(req.pending.ID)
	v.Documents, v.Days = p.options(req, l, nil, 0)
	if iin, err := consent.ParseIIN(req.pending.LoginHint); err == nil {
		v.IIN = string(iin)
	}
	p.render(c, http.StatusOK, "consent.html", v)
}

func (p *consentPages) start(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	if c.PostForm("decision") == "deny" {
		if err := p.auth.Finish(c.Writer, c.Request, req.pending.ID, deny); err != nil {
			p.failure(c, l, err)
		}
		return
	}
	docs, days, ok := p.selection(c, req)
	v := p.base(c, req, l, session)
	v.Action = "/consent/" + url.PathEscape(req.pending.ID)
	v.IIN, v.Phone = c.PostForm("iin"), c.PostForm("phone")
	if !ok {
		v.Documents, v.Days = p.options(req, l, nil, 0)
		v.Error = l.T("err_forbidden", nil)
		p.render(c, http.StatusBadRequest, "consent.html", v)
		return
	}
	v.Documents, v.Days = p.options(req, l, docs, days)
	ch, err := p.consents.Start(c.Request.Context(), consent.StartRequest{
		PendingID: req.pending.ID, PartnerID: req.partner.ID, PartnerName: req.partner.DisplayName(l.Lang),
		Session: session, IIN: v.IIN, Phone: v.Phone, Documents: docs, Days: days, Lang: l.Lang, ClientIP: c.ClientIP(),
		NoDocuments: len(req.docs) == 0 && slices.Contains(req.otherScps, partners.ScopeMe),
	})
	if err != nil {
		p.startError(c, l, v, err)
		return
	}
	phone, _ := consent.ParsePhone(v.Phone)
	q := url.Values{"challenge": {ch.ID}, "to": {phone.Masked()}}
	c.Redirect(http.StatusSeeOther, "/consent/"+url.PathEscape(req.pending.ID)+"/otp?"+q.Encode())
}

func (p *consentPages) startError(c *gin.Context, l *consent.Localizer, v view, err error) {
	var input *consent.InputError
	var limited *consent.RateLimitError
	switch {
	case errors.As(err, &input):
		v.Error = l.T(map[error]string{consent.ErrIINFormat: "err_iin_format", consent.ErrIINCheck: "err_iin_check", consent.ErrPhone: "err_phone"}[input.Err], nil)
		p.render(c, http.StatusBadRequest, "consent.html", v)
	case errors.Is(err, consent.ErrNoDocuments):
		v.Error = l.T("err_no_documents", nil)
		p.render(c, http.StatusBadRequest, "consent.html", v)
	case errors.As(err, &limited):
		p.tooMany(c, l, limited.RetryAfter)
	default:
		p.failure(c, l, err)
	}
}

func (p *consentPages) otpView(c *gin.Context, req *request, l *consent.Localizer, session string, ch consent.Challenge) view {
	v := p.base(c, req, l, session)
	v.Action = "/consent/" + url.PathEscape(req.pending.ID) + "/otp?" + url.Values{"to": {maskedPhone(c.Query("to"))}}.Encode()
	v.Challenge = ch.ID
	v.Documents, v.Days = p.options(req, l, ch.Documents, ch.Days)
	v.CanAnswer, v.CanResend = true, ch.Resends < p.consents.Config().MaxResends
	return v
}

func (p *consentPages) showOTP(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	session, _ := c.Cookie(sessionCookie)
	ch, err := p.consents.Challenge(c.Request.Context(), c.Query("challenge"), session)
	if err == nil && ch.PendingID != req.pending.ID {
		err = consent.ErrUnknownChallenge
	}
	if err != nil {
		p.gone(c, l, err)
		return
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

func (p *consentPages) answer(c *gin.Context) {
	req, l, ok := p.load(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	session, _ := c.Cookie(sessionCookie)
	ch, err := p.consents.Challenge(ctx, c.PostForm("challenge"), session)
	if err == nil && ch.PendingID != req.pending.ID {
		err = consent.ErrUnknownChallenge
	}
	if err != nil {
		p.gone(c, l, err)
		return
	}
	if c.PostForm("decision") == "deny" {
		if err := p.auth.Finish(c.Writer, c.Request, req.pending.ID, deny); err != nil {
			p.failure(c, l, err)
		}
		return
	}
	v := p.otpView(c, req, l, session, ch)
	docs, days, ok := p.selection(c, req)
	if !ok {
		v.Error = l.T("err_forbidden", nil)
		p.render(c, http.StatusBadRequest, "otp.html", v)
		return
	}
	v.Documents, v.Days = p.options(req, l, docs, days)
	if c.PostForm("action") == "resend" {
		ch, wait, err := p.consents.Resend(ctx, ch.ID, session, req.partner.DisplayName(l.Lang), docs, days, c.ClientIP())
		if err == nil {
			v = p.otpView(c, req, l, session, ch)
			v.Notice = l.T("otp_sent", map[string]any{"Phone": maskedPhone(c.Query("to"))})
			p.render(c, http.StatusOK, "otp.html", v)
			return
		}
		if errors.Is(err, consent.ErrResendTooSoon) {
			secs := int(math.Ceil(wait.Seconds()))
			c.Header("Retry-After", strconv.Itoa(secs))
			v.Error = l.T("err_resend_too_soon", nil, secs)
			p.render(c, http.StatusTooManyRequests, "otp.html", v)
			return
		}
		p.answerError(c, l, v, err)
		return
	}
	var holders []int
	if c.PostForm("step") == "holders" {
		holders = []int{}
		for _, h := range c.PostFormArray("holder") {
			i, err := strconv.Atoi(h)
			if err != nil {
				p.fail(c, l, http.StatusBadRequest, "err_forbidden")
				return
			}
			holders = append(holders, i)
		}
	}
	err = p.auth.Finish(c.Writer, c.Request, req.pending.ID, func(ctx context.Context) (oauth.Decision, error) {
		grant, err := p.consents.Approve(ctx, consent.ApproveRequest{
			ChallengeID: ch.ID, Session: session, Code: c.PostForm("otp"), Documents: docs, Days: days,
			Purpose: strings.TrimSpace(req.pending.Params.Get("purpose")), Holders: holders,
		})
		if err != nil {
			return oauth.Decision{}, err
		}
		scopes := slices.Clone(req.otherScps)
		for _, d := range grant.Documents {
			scopes = append(scopes, d.Scope())
		}
		return oauth.Decision{Allow: true, Citizen: string(grant.Citizen), Scopes: scopes, GrantID: grant.ID}, nil
	})
	if errors.Is(err, consent.ErrChooseHolders) || errors.Is(err, consent.ErrNoHolder) {
		p.chooseHolders(c, l, v, session, ch.ID, holders, err)
		return
	}
	if err != nil {
		p.answerError(c, l, v, err)
	}
}

// chooseHolders asks a legal representative, whose code was right, whose
// documents the grant covers: each named, their own ticked, a child's only
// when they tick it.
func (p *consentPages) chooseHolders(c *gin.Context, l *consent.Localizer, v view, session, challenge string, ticked []int, err error) {
	holders, herr := p.consents.Holders(c.Request.Context(), challenge, session)
	if herr != nil {
		p.answerError(c, l, v, herr)
		return
	}
	for i, h := range holders {
		label := l.T("holder_minor", map[string]any{"Name": h.Name})
		if h.Relation == consent.RelationSelf {
			label = l.T("holder_self", map[string]any{"Name": h.Name})
		}
		checked := (ticked == nil && i == 0) || slices.Contains(ticked, i)
		v.Holders = append(v.Holders, holderOption{Index: i, Label: label, Checked: checked})
	}
	v.CanResend, v.Notice = false, ""
	status := http.StatusOK
	if errors.Is(err, consent.ErrNoHolder) {
		v.Error, status = l.T("err_no_holder", nil), http.StatusBadRequest
	}
	p.render(c, status, "otp.html", v)
}

func (p *consentPages) answerError(c *gin.Context, l *consent.Localizer, v view, err error) {
	var wrong *consent.WrongCodeError
	var limited *consent.RateLimitError
	status := http.StatusBadRequest
	switch {
	case errors.As(err, &wrong):
		v.Error = l.T("err_wrong_code", nil, wrong.AttemptsLeft)
	case errors.Is(err, consent.ErrCodeDead):
		v.Error, v.CanAnswer, v.CanResend = l.T("err_code_dead", nil), false, false
	case errors.Is(err, consent.ErrCodeExpired):
		v.Error = l.T("err_code_expired", nil)
	case errors.Is(err, consent.ErrCodeUsed):
		v.Error, v.CanAnswer, v.CanResend = l.T("err_code_used", nil), false, false
	case errors.Is(err, consent.ErrSelectionChanged):
		v.Error = l.T("err_selection_changed", nil)
	case errors.Is(err, consent.ErrNoResendsLeft):
		v.Error, v.CanResend = l.T("err_no_resends", nil), false
	case errors.Is(err, consent.ErrNoDocuments):
		v.Error = l.T("err_no_documents", nil)
	case errors.As(err, &limited):
		p.tooMany(c, l, limited.RetryAfter)
		return
	case errors.Is(err, consent.ErrUnknownChallenge):
		p.gone(c, l, err)
		return
	default:
		p.failure(c, l, err)
		return
	}
	p.render(c, status, "otp.html", v)
}

// tooMany answers 429 with Retry-After and a page saying when to come back.
func (p *consentPages) tooMany(c *gin.Context, l *consent.Localizer, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	msg := l.T("err_rate_limited", map[string]any{
		"Time":    time.Now().Add(wait).In(almaty).Format("15:04"),
		"Minutes": int(math.Ceil(wait.Minutes())),
	})
	p.render(c, http.StatusTooManyRequests, "error.html", view{L: l, Lang: l.Lang, Title: l.T("too_many_title", nil), Error: msg})
}

// failure renders an error the citizen cannot fix: 503 with Retry-After
// when the store or the citizen registry cannot be reached, else 500.
func (p *consentPages) failure(c *gin.Context, l *consent.Localizer, err error) {
	ctx := c.Request.Context()
	switch {
	case consent.StoreFailed(ctx, err):
		p.log.WarnContext(ctx, "store unavailable", "route", c.FullPath(), "err", err)
		c.Header("Retry-After", oauth.RetryAfterUnavailable)
		p.fail(c, l, http.StatusServiceUnavailable, "err_unavailable")
	case errors.Is(err, consent.ErrRegistryUnavailable), errors.Is(err, consent.ErrSourceUnavailable):
		p.log.WarnContext(ctx, "registry unavailable", "route", c.FullPath(), "err", err)
		c.Header("Retry-After", "30")
		p.fail(c, l, http.StatusServiceUnavailable, "err_registry_down")
	default:
		p.log.ErrorContext(ctx, "page failed", "route", c.FullPath(), "err", err)
		p.fail(c, l, http.StatusInternalServerError, "err_internal")
	}
}

// gone renders "this request is gone" for what could not be found, unless
// it could not be looked for.
func (p *consentPages) gone(c *gin.Context, l *consent.Localizer, err error) {
	if consent.StoreFailed(c.Request.Context(), err) {
		p.failure(c, l, err)
		return
	}
	p.fail(c, l, http.StatusNotFound, "err_request_gone")
}

// fail renders a page that only explains.
func (p *consentPages) fail(c *gin.Context, l *consent.Localizer, status int, msgID string) {
	p.render(c, status, "error.html", view{L: l, Lang: l.Lang, Title: l.T("error_title", nil), Error: l.T(msgID, nil)})
}

func (p *consentPages) render(c *gin.Context, status int, name string, v any) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := p.tmpl.ExecuteTemplate(c.Writer, name, v); err != nil {
		p.log.ErrorContext(c.Request.Context(), "render", "template", name, "err", err)
	}
	c.Abort()
}

// logo serves a partner's logo from the gateway itself, so the consent page
// loads nothing from third parties. Only small raster images pass.
func (p *consentPages) logo(c *gin.Context) {
	partner, err := p.partners.GetPartner(c.Request.Context(), c.Param("client"))
	if err != nil || partner.LogoURI == "" {
		c.Status(http.StatusNotFound)
		return
	}
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, partner.LogoURI, nil)
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	resp, err := p.logos.Do(req)
	if err != nil {
		c.Status(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !slices.Contains([]string{"image/png", "image/jpeg", "image/gif", "image/webp"}, ct) {
		c.Status(http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10+1))
	if err != nil || len(body) > 256<<10 {
		c.Status(http.StatusBadGateway)
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ct, body)
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeEqual compares secrets in constant time.
func safeEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
