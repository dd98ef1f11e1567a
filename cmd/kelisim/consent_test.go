package main

// Over 400 lines because the consent journey end to end (PAR, the pages, the code, the grant, tokens): nine
// tests over real HTTP and PostgreSQL sharing its set-up, kept together so the journey reads in one
// place; the rules themselves are tested in consent and adapters/httpapi.

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// Demo citizens of adapters/registry/citizens.json.
const (
	aidarIIN    = "850315300128"
	aidarPhone  = "+77011234567"
	aigerimIIN  = "900101400559"
	aigerimTel  = "+77029876543"
	consentDocs = "openid offline_access documents:id_card documents:driver_license"
)

// startConsent runs a gateway whose authorization endpoint asks citizens
// through the real consent pages.
func startConsent(t *testing.T) *gw {
	return startOn(t, pgtest.URL(t), httpapi.ConsentRedirect{})
}

// browser is a citizen's browser: it keeps cookies and stops at redirects.
type browser struct {
	t      *testing.T
	g      *gw
	client *http.Client
	lang   string // Accept-Language
	from   string // the client address a trusted proxy reports, if set
}

func newBrowser(t *testing.T, g *gw) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, g: g, client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an HTML answer.
type page struct {
	status   int
	url      *url.URL
	location string
	header   http.Header
	body     string
}

func (b *browser) do(method, rawURL string, form url.Values) page {
	b.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		b.t.Fatal(err)
	}
	if !u.IsAbs() {
		u, _ = url.Parse(b.g.base + rawURL)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u.String(), body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	if b.from != "" {
		req.Header.Set("X-Forwarded-For", b.from)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: u, location: resp.Header.Get("Location"), header: resp.Header, body: string(raw)}
}

func (b *browser) get(rawURL string) page { return b.do("GET", rawURL, nil) }

// follow goes through redirects inside the gateway and stops at one that
// leaves it (to the partner).
func (b *browser) follow(p page) page {
	b.t.Helper()
	for p.status == http.StatusSeeOther || p.status == http.StatusFound {
		if strings.HasPrefix(p.location, "http") && !strings.HasPrefix(p.location, b.g.base) {
			return p
		}
		p = b.get(p.location)
	}
	return p
}

var (
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	checkRE  = regexp.MustCompile(`name="doc" value="([a-z_]+)"( checked)?`)
	daysRE   = regexp.MustCompile(`<option value="([0-9]+)"( selected)?>`)
)

// submit posts the page's form with its hidden fields, its checked
// documents and selected duration, and the given fields on top.
func (b *browser) submit(p page, fields url.Values) page {
	b.t.Helper()
	m := actionRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no form on the page (%d):\n%s", p.status, p.body)
	}
	form := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	for _, c := range checkRE.FindAllStringSubmatch(p.body, -1) {
		if c[2] != "" {
			form.Add("doc", c[1])
		}
	}
	for _, d := range daysRE.FindAllStringSubmatch(p.body, -1) {
		if d[2] != "" {
			form.Set("days", d[1])
		}
	}
	for k, v := range fields {
		form[k] = v
	}
	return b.do("POST", html.UnescapeString(m[1]), form)
}

// code reads the six digits from an SMS.
func code(t *testing.T, sms smsMessage) string {
	t.Helper()
	m := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(sms.Text)
	if m == "" {
		t.Fatalf("no code in SMS %q", sms.Text)
	}
	return m
}

// consentTo opens the authorization URL and returns the consent page.
func (b *browser) consentTo(authURL string) page {
	b.t.Helper()
	p := b.follow(b.get(authURL))
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="iin"`) {
		b.t.Fatalf("consent page: %d\n%s", p.status, p.body)
	}
	return p
}

// The whole path, driven by golang.org/x/oauth2: authorize → consent page →
// SMS → code → tokens, under a grant.
func TestConsentFlowEndToEnd(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"client_name#kk": "Демо Банк", "client_name#ru": "Демо Банк RU"})
	cfg := oauth2.Config{ClientID: p.id, ClientSecret: p.secret, RedirectURL: p.redirect,
		Endpoint: oauth2.Endpoint{AuthURL: g.base + oauth.PathAuthorize, TokenURL: g.base + oauth.PathToken, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   strings.Fields(consentDocs)}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-1234567890", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("purpose", "Loan application"), oauth2.SetAuthURLParam("grant_days", "30"))

	b := newBrowser(t, g)
	consentPage := b.consentTo(authURL)
	for _, want := range []string{`lang="kk"`, "Демо Банк", "Жеке куәлік", "Жүргізуші куәлігі", "Loan application", "2026-11-01", `name="phone"`, "30 күн"} {
		if !strings.Contains(consentPage.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(consentPage.body, `value="60"`) || strings.Contains(consentPage.body, `value="90"`) {
		t.Error("the page offers longer than the partner asked")
	}
	otpPage := b.follow(b.submit(consentPage, url.Values{"iin": {aidarIIN}, "phone": {"8 701 123 45 67"}, "decision": {"start"}}))
	if otpPage.status != http.StatusOK || !strings.Contains(otpPage.body, `name="otp"`) || !strings.Contains(html.UnescapeString(otpPage.body), "+7********67") {
		t.Fatalf("OTP page: %d\n%s", otpPage.status, otpPage.body)
	}
	sms := g.sms.next(t, aidarPhone)
	for _, want := range []string{"Демо Банк", "Жеке куәлік", "ешкімге"} {
		if !strings.Contains(sms.Text, want) {
			t.Errorf("SMS %q lacks %q", sms.Text, want)
		}
	}
	if sms.Auth != "Bearer sms-provider-token" || sms.ID == "" {
		t.Errorf("SMS provider call: auth %q id %q", sms.Auth, sms.ID)
	}
	back := b.submit(otpPage, url.Values{"otp": {code(t, sms)}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	if back.status != http.StatusSeeOther || loc.Query().Get("code") == "" || loc.Query().Get("state") != "state-1234567890" || loc.Query().Get("iss") != g.base {
		t.Fatalf("after allow: %d %s\n%s", back.status, back.location, back.body)
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("scope"); got != consentDocs {
		t.Errorf("granted scope %q, want %q", got, consentDocs)
	}
	in := g.introspect(t, p, tok.AccessToken)
	grantID, _ := in["grant_id"].(string)
	if in["active"] != true || grantID == "" {
		t.Fatalf("introspection: %v", in)
	}
	// The code cannot be used again.
	again := b.submit(otpPage, url.Values{"otp": {code(t, sms)}, "decision": {"allow"}})
	if again.status == http.StatusSeeOther {
		t.Errorf("a used code approved again: %s", again.location)
	}

	// A new consent by the same citizen makes a new grant.
	authURL2 := cfg.AuthCodeURL("state-1234567890", oauth2.S256ChallengeOption(verifier))
	p2 := b.consentTo(authURL2)
	otp2 := b.follow(b.submit(p2, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back2 := b.submit(otp2, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc2, _ := url.Parse(back2.location)
	tok2, err := cfg.Exchange(context.Background(), loc2.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if g2 := g.introspect(t, p, tok2.AccessToken)["grant_id"]; g2 == grantID || g2 == nil {
		t.Errorf("second consent reused grant %v", g2)
	}
}

// The citizen unticks a document: the grant, the token and the code's SMS
// cover only what remains.
func TestConsentUncheckShrinksScopes(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	verifier, challenge := pkce()
	b := newBrowser(t, g)
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, consentDocs, challenge).Encode())
	page.body = strings.Replace(page.body, `value="driver_license" checked`, `value="driver_license"`, 1)
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	sms := g.sms.next(t, aidarPhone)
	if strings.Contains(sms.Text, "Жүргізуші") {
		t.Errorf("SMS names an unticked document: %q", sms.Text)
	}
	back := b.submit(otp, url.Values{"otp": {code(t, sms)}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK || tok["scope"] != "openid offline_access documents:id_card" {
		t.Errorf("token: %d scope %v", resp.StatusCode, tok["scope"])
	}
}

// A document the partner did not ask for cannot be added.
func TestConsentCannotAddDocument(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"documents": []string{"id_card", "diploma"}})
	b := newBrowser(t, g)
	page := b.open(p, "openid documents:id_card")
	res := b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}, "doc": {"id_card", "diploma"}})
	if res.status != http.StatusBadRequest {
		t.Errorf("adding a document: %d, want 400", res.status)
	}
}

func TestConsentDeny(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	b := newBrowser(t, g)
	// On the code page.
	page := b.open(p, consentDocs)
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	res := b.submit(otp, url.Values{"decision": {"deny"}})
	loc, _ := url.Parse(res.location)
	assertErrorRedirect(t, g, loc, "access_denied")
	// On the first page.
	page = b.open(p, consentDocs)
	res = b.submit(page, url.Values{"decision": {"deny"}})
	loc, _ = url.Parse(res.location)
	assertErrorRedirect(t, g, loc, "access_denied")
}

// A wrong IIN/phone pair gets the same page as a right one, and no SMS.
func TestConsentNoEnumeration(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	answer := func(iin, phone string) page {
		b := newBrowser(t, g)
		page := b.open(p, consentDocs)
		return b.follow(b.submit(page, url.Values{"iin": {iin}, "phone": {phone}, "decision": {"start"}}))
	}
	// Tokens, ids and the challenge carried (sealed) differ from page to
	// page; their lengths must not.
	lengthOnly := func(re, prefix string) func(string) string {
		r := regexp.MustCompile(re)
		return func(s string) string {
			return r.ReplaceAllStringFunc(s, func(m string) string { return fmt.Sprintf("%s%d", prefix, len(m)) })
		}
	}
	normalize := func(s string) string {
		s = lengthOnly(`value="[A-Za-z0-9_-]{20,}"`, "value=")(s)
		s = lengthOnly(`challenge=[0-9a-f]+`, "challenge=")(s)
		s = lengthOnly(`\bc=[A-Za-z0-9_-]+`, "c=")(s)
		return lengthOnly(`/consent/[0-9a-f]+`, "/consent/")(s)
	}
	// Aigerim's phone with Aidar's IIN, an unregistered valid IIN, and the right pair.
	wrongPair := answer(aidarIIN, "+77029999967")
	unknown := answer("150612601232", "+77011111167")
	right := answer(aidarIIN, "+77011234567")
	if wrongPair.status != right.status || normalize(wrongPair.body) != normalize(right.body) || normalize(unknown.body) != normalize(right.body) {
		t.Errorf("answers differ:\nwrong pair %d\n%s\nunknown %d\n%s\nright %d\n%s", wrongPair.status, normalize(wrongPair.body), unknown.status, normalize(unknown.body), right.status, normalize(right.body))
	}
	// Everyone, matched or not, is told what to do when no SMS arrives.
	if !strings.Contains(right.body, `id="no-sms"`) || !strings.Contains(right.body, "мобильді азаматтар базасында") {
		t.Errorf("the code page does not say what to do without an SMS:\n%s", right.body)
	}
	g.sms.next(t, aidarPhone) // the right pair's SMS arrives
	if n := g.sms.count(); n != 0 {
		t.Errorf("%d SMS sent for pairs that did not match", n)
	}
	// A malformed IIN is a field error, which reveals nothing about anyone.
	bad := answer("850315300127", aidarPhone)
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "ЖСН дұрыс емес") {
		t.Errorf("bad check digit: %d", bad.status)
	}
}

// A form posted without its CSRF token, or from another origin, is refused.
func TestConsentCSRF(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	b := newBrowser(t, g)
	page := b.open(p, consentDocs)
	action := html.UnescapeString(actionRE.FindStringSubmatch(page.body)[1])
	res := b.do("POST", action, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "doc": {"id_card"}, "days": {"90"}})
	if res.status != http.StatusForbidden {
		t.Errorf("POST without a token: %d, want 403", res.status)
	}
	req, _ := http.NewRequest("POST", g.base+action, strings.NewReader(url.Values{"csrf": {hiddenRE.FindStringSubmatch(page.body)[2]},
		"iin": {aidarIIN}, "phone": {aidarPhone}, "doc": {"id_card"}, "days": {"90"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	if g.sms.count() != 0 {
		t.Error("a refused POST sent an SMS")
	}
	// The page forbids framing and scripts.
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	if page.header.Get("X-Frame-Options") != "DENY" {
		t.Error("no X-Frame-Options: DENY")
	}
	fresh := newBrowser(t, g).get(page.url.String())
	if sc := fresh.header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Errorf("session cookie %q", sc)
	}
}

// Tokens never outlive their grant: when it expires (or is revoked), the
// access token is inactive and the refresh token refused, on the next use.
func TestTokensEndWithGrant(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, consentDocs)
	grantID := g.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)

	conn := dbConn(t, g)
	var citizen, terms, status string
	var docs []string
	if err := conn.QueryRow(context.Background(), `SELECT citizen, terms_version, status, documents FROM grants WHERE id = $1`, grantID).
		Scan(&citizen, &terms, &status, &docs); err != nil {
		t.Fatal(err)
	}
	if citizen != aidarIIN || terms != "2026-11-01" || status != "active" || strings.Join(docs, ",") != "id_card,driver_license" {
		t.Errorf("grant row: %s %s %s %v", citizen, terms, status, docs)
	}
	if _, err := conn.Exec(context.Background(), `UPDATE grants SET expires_at = now() - interval '1 second' WHERE id = $1`, grantID); err != nil {
		t.Fatal(err)
	}
	if in := g.introspect(t, p, tok["access_token"].(string)); in["active"] != false {
		t.Errorf("access token of an expired grant: %v", in)
	}
	resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh under an expired grant: %d %v", resp.StatusCode, body)
	}
}

// The authorization endpoint sends the browser to the consent page without
// an iss parameter: iss goes only on redirects to the partner.
func TestConsentRedirectHasNoIss(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	loc := g.authorize(t, authQuery(p, consentDocs, challenge))
	if !strings.HasPrefix(loc.Path, "/consent/") || loc.Query().Has("iss") {
		t.Errorf("redirect to %s", loc)
	}
}

// The partner's logo is served by the gateway, never linked from elsewhere,
// and only as a small raster image.
func TestConsentPartnerLogo(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n fake but typed")
	logos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logo.svg" {
			w.Header().Set("Content-Type", "image/svg+xml")
			_, _ = w.Write([]byte("<svg/>"))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	t.Cleanup(logos.Close)
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"logo_uri": logos.URL + "/logo.png"})
	svg := g.onboard(t, map[string]any{"logo_uri": logos.URL + "/logo.svg"})
	_, challenge := pkce()
	page := newBrowser(t, g).consentTo(oauth.PathAuthorize + "?" + authQuery(p, consentDocs, challenge).Encode())
	if !strings.Contains(page.body, `src="/partner-logo/`+p.id+`"`) || strings.Contains(page.body, logos.URL) {
		t.Error("the page does not take the logo from the gateway")
	}
	resp, err := http.Get(g.base + "/partner-logo/" + p.id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || string(body) != string(png) {
		t.Errorf("logo: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, err := http.Get(g.base + "/partner-logo/" + svg.id); err != nil || resp.StatusCode == http.StatusOK {
		t.Errorf("an SVG logo was passed through: %v", resp.StatusCode)
	}
}

// open starts a fresh authorization request of partner p for scope, with
// PKCE, and returns the consent page.
func (b *browser) open(p partner, scope string) page {
	b.t.Helper()
	_, challenge := pkce()
	return b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, scope, challenge).Encode())
}
