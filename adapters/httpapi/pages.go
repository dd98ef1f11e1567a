package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// What every page shares: templates, the language, CSRF tokens and the
// one way a page answers an error.

//go:embed templates/*.html static/*
var assets embed.FS

// Kazakhstan keeps one time zone, UTC+5.
var almaty = time.FixedZone("UTC+5", 5*60*60)

const langCookie = "kelisim_lang"

// PageConfig tunes the pages.
type PageConfig struct {
	CSRFKey []byte // key of the forms' CSRF tokens
	Secure  bool   // cookies only over https
}

// pages renders the citizen's pages in their language.
type pages struct {
	messages *consent.Messages
	cfg      PageConfig
	tmpl     *template.Template
	log      *slog.Logger
	cop      *http.CrossOriginProtection
	terms    string
	forms    forms // the document types' display forms
}

func newPages(messages *consent.Messages, cfg PageConfig, terms string, log *slog.Logger) *pages {
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
	f, err := compileForms(messages.Types())
	if err != nil {
		panic(err) // checked with the configuration (CheckForms)
	}
	return &pages{messages: messages, cfg: cfg, tmpl: t, log: log, cop: http.NewCrossOriginProtection(), terms: terms, forms: f}
}

// static serves the pages' stylesheet and images.
func static() gin.HandlerFunc {
	files := http.FileServerFS(assets)
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(c.Writer, c.Request)
	}
}

// pageHeaders: a page is never framed, cached or given scripts.
func pageHeaders(c *gin.Context) {
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
	Intro      string // what the partner asks, in a sentence naming it
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
	// Carried is the challenge sealed for the code page's form to post
	// back (consent.Service.CarryChallenge).
	Carried   string
	CanResend bool
	CanAnswer bool
	// Holders, once the code was right and the citizen represents minors:
	// whose documents to share.
	Holders []holderOption
	// Signatures: the citizen may sign instead of an SMS code; ToSign is
	// the text to sign, SignAction where the log-in by signature starts.
	Signatures bool
	ToSign     string
	SignAction string
	// DocumentsLegend heads the documents offered; Change, when the
	// request merges into or replaces a grant, says what stays and what
	// changes.
	DocumentsLegend string
	Change          *changeView
}

// changeView is what a page says of the grant a request changes.
type changeView struct {
	Text   string   // what the partner sees now, until when, and how it changes
	Shared []string // the documents it sees now
	After  string   // what follows, if anything
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

// localizer picks the language: the page's switch (remembered in a
// cookie), then ui_locales of the request, then Accept-Language, then Kazakh.
func (p *pages) localizer(c *gin.Context, uiLocales string) *consent.Localizer {
	lang := c.Query("lang")
	if lang != "" && slices.Contains(consent.Languages, lang) {
		c.SetCookie(langCookie, lang, 365*24*3600, "/", "", p.cfg.Secure, true)
	} else {
		lang, _ = c.Cookie(langCookie)
	}
	return p.messages.For(lang, strings.ReplaceAll(uiLocales, " ", ","), c.GetHeader("Accept-Language"))
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

// csrf binds a form to the browser session and what the form is for.
func (p *pages) csrf(session, purpose string) string {
	m := hmac.New(sha256.New, p.cfg.CSRFKey)
	m.Write([]byte(session + "|" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm reports whether a POST is same-origin and carries the form's
// token for session and purpose.
func (p *pages) checkForm(c *gin.Context, session, purpose string) bool {
	return session != "" && p.cop.Check(c.Request) == nil && safeEqual(c.PostForm("csrf"), p.csrf(session, purpose))
}

// refuse answers a forged or stale form.
func (p *pages) refuse(c *gin.Context) {
	p.fail(c, p.localizer(c, ""), errForm)
}

// errForm: a POST without the form's token, or from another origin.
var errForm = consent.NewError(consent.KindForbidden, "err_forbidden", "the form is not valid")

// fail renders the page that explains err, with the status the error map
// gives it.
func (p *pages) fail(c *gin.Context, l *consent.Localizer, err error) {
	p.errorPage(c, l, p.failure(c, err))
}

// failure classifies err for a page, logs what needs logging (the cause of
// a failure the citizen cannot fix) and sets the headers of its answer.
func (p *pages) failure(c *gin.Context, err error) failure {
	ctx := c.Request.Context()
	f := classify(ctx, err)
	switch f.kind {
	case consent.KindInternal:
		p.log.ErrorContext(ctx, "page failed", "route", c.FullPath(), "err", err)
	case consent.KindUnavailable:
		p.log.WarnContext(ctx, "store unavailable", "route", c.FullPath(), "err", err)
	case consent.KindUpstream:
		p.log.WarnContext(ctx, "registry unavailable", "route", c.FullPath(), "err", err)
	}
	if f.retryAfter != "" {
		c.Header("Retry-After", f.retryAfter)
	}
	return f
}

func (p *pages) errorPage(c *gin.Context, l *consent.Localizer, f failure) {
	title := "error_title"
	if f.kind == consent.KindRateLimited {
		title = "too_many_title"
	}
	p.render(c, f.status, "error.html", view{L: l, Lang: l.Lang, Title: l.T(title, nil), Error: f.message(l)})
}

// formError shows err on the form of template name when the citizen can
// act on it there (an invalid entry, a wrong code, a resend asked too
// soon): v is the form's view, data (v or what embeds it) what the
// template gets. Else it renders the error page.
func (p *pages) formError(c *gin.Context, l *consent.Localizer, name string, v *view, data any, err error) {
	f := p.failure(c, err)
	onForm := f.kind == consent.KindInvalid || (f.kind == consent.KindRateLimited && errors.Is(err, consent.ErrResendTooSoon))
	if !onForm {
		p.errorPage(c, l, f)
		return
	}
	v.Error = f.message(l)
	p.render(c, f.status, name, data)
}

// A page is rendered whole before any of it is sent: it goes out in one
// write, with its length, and a template that fails halfway sends an
// error rather than half a page.
func (p *pages) render(c *gin.Context, status int, name string, v any) {
	defer c.Abort()
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	buf.Reset()
	if err := p.tmpl.ExecuteTemplate(buf, name, v); err != nil {
		p.log.ErrorContext(c.Request.Context(), "render", "template", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(http.StatusText(http.StatusInternalServerError)))
		return
	}
	c.Header("Content-Length", strconv.Itoa(buf.Len()))
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putPageBuffer keeps a buffer for the next page unless an unusually long
// page grew it.
func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() <= 256<<10 {
		pageBuffers.Put(b)
	}
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeEqual compares secrets in constant time.
func safeEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// Logos fetches partners' logos.
type Logos interface {
	// Fetch returns the logo at url and its media type; an error when it
	// is not a small raster image or cannot be fetched.
	Fetch(ctx context.Context, url string) (string, []byte, error)
}

// logoProxy serves a partner's logo from the gateway itself, so a page
// loads nothing from third parties.
type logoProxy struct {
	partners Directory
	logos    Logos
}

func (h *logoProxy) serve(c *gin.Context) {
	partner, err := h.partners.GetPartner(c.Request.Context(), c.Param("client"))
	if err != nil || partner.LogoURI == "" {
		c.Status(http.StatusNotFound)
		return
	}
	ct, body, err := h.logos.Fetch(c.Request.Context(), partner.LogoURI)
	if err != nil {
		c.Status(http.StatusBadGateway) // the partner's server, not the gateway, failed
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ct, body)
}
