package httpapi_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// formSession opens page path and returns its cookies and CSRF token.
func (g *gateway) formSession(t *testing.T, path string) (http.Header, string) {
	t.Helper()
	resp, body := g.do(t, "GET", path, nil, http.Header{"Accept-Language": {"en"}})
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET %s: %d, no form", path, resp.StatusCode)
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept-Language": {"en"}}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	return h, html.UnescapeString(m[1])
}

// A page's form is refused without its token, with another form's token,
// or from another site; with its own it reaches the domain.
func TestFormsNeedTheirToken(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/my/")
	post := func(path string, form url.Values, h http.Header) int {
		resp, _ := g.do(t, "POST", path, strings.NewReader(form.Encode()), h)
		return resp.StatusCode
	}
	login := url.Values{"iin": {"850315300128"}, "phone": {"+77011234567"}}
	if code := post("/my/login", login, h); code != http.StatusForbidden || g.called("start-login") {
		t.Errorf("no token: %d", code)
	}
	login.Set("csrf", "forged")
	if code := post("/my/login", login, h); code != http.StatusForbidden {
		t.Errorf("a forged token: %d", code)
	}
	login.Set("csrf", token)
	cross := h.Clone()
	cross.Set("Sec-Fetch-Site", "cross-site")
	if code := post("/my/login", login, cross); code != http.StatusForbidden || g.called("start-login") {
		t.Errorf("from another site: %d", code)
	}
	if code := post("/my/login", login, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); code != http.StatusForbidden {
		t.Errorf("the token without the browser's cookie: %d", code)
	}
	if code := post("/my/login", login, h); code != http.StatusSeeOther || !g.called("start-login") {
		t.Errorf("the form's own token: %d", code)
	}
	// The consent form's token is bound to its request: /my/'s does not do.
	ch, ctoken := g.formSession(t, "/consent/req1")
	consentForm := url.Values{"csrf": {token}, "iin": {"850315300128"}, "phone": {"+77011234567"}, "doc": {"id_card"}, "days": {"30"}}
	if code := post("/consent/req1", consentForm, ch); code != http.StatusForbidden || g.called("start") {
		t.Errorf("another form's token on consent: %d", code)
	}
	consentForm.Set("csrf", ctoken)
	if code := post("/consent/req1", consentForm, ch); code != http.StatusSeeOther || !g.called("start") {
		t.Errorf("consent with its token: %d", code)
	}
}

// The citizen may untick and shorten, never add: a tampered form is
// refused before the domain is asked to send a code.
func TestConsentFormStaysWithinTheRequest(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/consent/req1")
	for _, form := range []url.Values{
		{"doc": {"id_card", "driver_license"}, "days": {"30"}},
		{"doc": {"id_card"}, "days": {"31"}},
		{"doc": {"id_card"}, "days": {"0"}},
	} {
		form.Set("csrf", token)
		form.Set("iin", "850315300128")
		form.Set("phone", "+77011234567")
		resp, body := g.do(t, "POST", "/consent/req1", strings.NewReader(form.Encode()), h)
		if resp.StatusCode != http.StatusBadRequest || g.called("start") || !strings.Contains(body, html.EscapeString(g.text("err_forbidden"))) {
			t.Errorf("%v: %d", form, resp.StatusCode)
		}
	}
	// The day options stop at the partner's ask.
	_, body := g.do(t, "GET", "/consent/req1", nil, http.Header{"Accept-Language": {"en"}})
	if strings.Contains(body, `value="90"`) || !strings.Contains(body, `value="30"`) {
		t.Error("a duration past the partner's 30 days is offered")
	}
	// A wrong code shows on the code page, with the tries left.
	g.fail(&consent.WrongCodeError{AttemptsLeft: 2})
	form := url.Values{"csrf": {token}, "challenge": {"ch1"}, "otp": {"000000"}, "doc": {"id_card"}, "days": {"30"}}
	resp, body := g.do(t, "POST", "/consent/req1/otp", strings.NewReader(form.Encode()), h)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, html.EscapeString(g.text("err_wrong_code", 2))) || !strings.Contains(body, `name="otp"`) {
		t.Errorf("a wrong code: %d", resp.StatusCode)
	}
	g.fail(nil)
	resp, _ = g.do(t, "POST", "/consent/req1/otp", strings.NewReader(form.Encode()), h)
	if resp.StatusCode != http.StatusSeeOther || !g.called("finish:allow") {
		t.Errorf("the right code: %d", resp.StatusCode)
	}
}

// The browser carries its pending request to the consent pages in a
// cookie of their own path, only over https from an https issuer, and
// hands it back on each page. It stops carrying it once the request is
// answered; while a wrong code keeps it open, it carries on.
func TestConsentRequestCarriedByTheBrowser(t *testing.T) {
	rec := httptest.NewRecorder()
	p := oauth.Pending{ID: "req1", Carried: "sealed-request", ExpiresAt: time.Now().Add(10 * time.Minute)}
	httpapi.ConsentRedirect{Secure: true}.Prompt(rec, httptest.NewRequest("GET", "/oauth2/auth", nil), p)
	c := carrier(rec.Result().Cookies())
	if c == nil || c.Value != "sealed-request" || c.Path != "/consent/req1" || !c.HttpOnly || !c.Secure ||
		c.SameSite != http.SameSiteLaxMode || c.MaxAge < 590 || c.MaxAge > 600 {
		t.Errorf("the carrier: %+v", c)
	}
	if loc := rec.Header().Get("Location"); loc != "/consent/req1" {
		t.Errorf("sent to %q", loc)
	}
	rec = httptest.NewRecorder()
	p.Carried = ""
	httpapi.ConsentRedirect{}.Prompt(rec, httptest.NewRequest("GET", "/oauth2/auth", nil), p)
	if c := carrier(rec.Result().Cookies()); c != nil {
		t.Errorf("a request too long to carry is carried: %+v", c)
	}

	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/consent/req1")
	h.Add("Cookie", "kelisim_request=sealed-request")
	form := url.Values{"csrf": {token}, "challenge": {"ch1"}, "otp": {"000000"}, "doc": {"id_card"}, "days": {"30"}}
	g.fail(&consent.WrongCodeError{AttemptsLeft: 2})
	resp, _ := g.do(t, "POST", "/consent/req1/otp", strings.NewReader(form.Encode()), h)
	if !g.called("carried:sealed-request") {
		t.Error("the page did not hand back what the browser carries")
	}
	if c := carrier(resp.Cookies()); resp.StatusCode != http.StatusBadRequest || (c != nil && c.Value != "sealed-request") {
		t.Errorf("after a wrong code: %d, carrier %+v", resp.StatusCode, c)
	}
	g.fail(nil)
	resp, _ = g.do(t, "POST", "/consent/req1/otp", strings.NewReader(form.Encode()), h)
	if c := carrier(resp.Cookies()); resp.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 || c.Path != "/consent/req1" {
		t.Errorf("after the answer: %d, carrier %+v", resp.StatusCode, c)
	}
}

// carrier is the last cookie named kelisim_request, as a browser keeps it.
func carrier(cookies []*http.Cookie) *http.Cookie {
	var out *http.Cookie
	for _, c := range cookies {
		if c.Name == "kelisim_request" {
			out = c
		}
	}
	return out
}

// Every answer carries the security headers; pages a stricter policy and
// no-store; an https issuer HSTS.
func TestSecurityHeaders(t *testing.T) {
	for _, issuer := range []string{"https://kelisim.test", "http://127.0.0.1:8080"} {
		g := newGateway(t, issuer)
		for _, path := range []string{"/healthz", "/my/", "/consent/req1", "/nowhere", "/api/v1/documents"} {
			resp, _ := g.do(t, "GET", path, nil, nil)
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Request-Id") == "" {
				t.Errorf("%s %s: headers %v", issuer, path, h)
			}
			if hsts := h.Get("Strict-Transport-Security"); (hsts != "") != strings.HasPrefix(issuer, "https://") {
				t.Errorf("%s %s: HSTS %q", issuer, path, hsts)
			}
			if strings.HasPrefix(path, "/my/") || strings.HasPrefix(path, "/consent/") {
				if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'; style-src 'self'") {
					t.Errorf("%s: page headers %v", path, h)
				}
			}
		}
	}
}

// Bearer tokens and the admin token are checked before any handler runs.
func TestCredentialsAreChecked(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	for _, tt := range []struct {
		path, method string
		header       http.Header
		status       int
		challenge    string
	}{
		{"/api/v1/documents", "GET", nil, 401, `Bearer realm="kelisim"`},
		{"/api/v1/documents", "GET", http.Header{"Authorization": {"Bearer nonsense"}}, 401, `error="invalid_token"`},
		{"/api/v1/documents", "GET", http.Header{"Authorization": {"Bearer verifier-token"}}, 401, `error="invalid_token"`},
		{"/api/v1/verify/history", "GET", citizenToken, 403, `error="insufficient_scope"`},
		{"/api/v1/me/grants", "GET", http.Header{"Authorization": {"Bearer verifier-token"}}, 401, `error="invalid_token"`},
		{"/admin/v1/partners", "GET", nil, 401, `Bearer realm="kelisim-admin"`},
		{"/admin/v1/partners", "GET", http.Header{"Authorization": {"Bearer admin-tokeN"}}, 401, `Bearer realm="kelisim-admin"`},
		{"/admin/v1/partners", "GET", http.Header{"Authorization": {"Bearer admin-token"}}, 200, ""},
		{"/api/v1/documents", "GET", citizenToken, 200, ""},
	} {
		resp, _ := g.do(t, tt.method, tt.path, nil, tt.header)
		if resp.StatusCode != tt.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.challenge) {
			t.Errorf("%s %v: %d %q", tt.path, tt.header, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if g.called("fetch") || g.called("views") {
		t.Error("a handler ran without the credentials it needs")
	}
}

// A request that merges into a grant shows what the partner sees now and
// offers only the rest; when the grant has ended by the time the citizen
// answers, the browser goes back to the partner with invalid_grant_id.
func TestConsentThatChangesAGrant(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/consent/merge1")
	_, body := g.do(t, "GET", "/consent/merge1", nil, http.Header{"Accept-Language": {"en"}})
	if !strings.Contains(body, `class="change"`) || !strings.Contains(body, html.EscapeString(g.text("documents_legend_merge"))) ||
		strings.Contains(body, `value="id_card"`) || !strings.Contains(body, `value="diploma"`) {
		t.Errorf("the merge's page does not keep the id card and offer the diploma:\n%s", body)
	}
	g.fail(consent.ErrGrantGone)
	form := url.Values{"csrf": {token}, "iin": {"850315300128"}, "phone": {"+77011234567"}, "doc": {"diploma"}, "days": {"30"}}
	resp, _ := g.do(t, "POST", "/consent/merge1", strings.NewReader(form.Encode()), h)
	if resp.StatusCode != http.StatusSeeOther || !g.called("finish:invalid_grant_id") {
		t.Errorf("a grant ended before the code: %d, calls %v", resp.StatusCode, g.calls)
	}
}

// The citizen's notification channels: chosen on the settings page (in the
// page's language) and through the me API; an unknown channel is refused
// with a page in the citizen's language or a problem.
func TestNotificationChoice(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/my/")
	h.Add("Cookie", "kelisim_my=session-token")
	h.Set("Accept-Language", "ru")
	form := url.Values{"csrf": {token}, "channel": {"app", "sms"}}
	resp, _ := g.do(t, "POST", "/my/notifications", strings.NewReader(form.Encode()), h)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "notifications=saved") ||
		len(g.prefs.Channels) != 2 || g.prefs.Lang != "ru" {
		t.Fatalf("save: %d %s, kept %+v", resp.StatusCode, loc, g.prefs)
	}
	_, page := g.do(t, "GET", "/my/?notifications=saved", nil, h)
	if !strings.Contains(page, `name="channel" value="app" checked`) || !strings.Contains(page, "Настройки уведомлений сохранены") {
		t.Errorf("the page does not show the choice: %s", page)
	}
	form.Set("channel", "pigeon")
	resp, page = g.do(t, "POST", "/my/notifications", strings.NewReader(form.Encode()), h)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Такого способа уведомления нет") {
		t.Errorf("an unknown channel: %d %s", resp.StatusCode, page)
	}

	api := citizenToken.Clone()
	api.Set("Content-Type", "application/json")
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"channels": ["app"], "lang": "en"}`, http.StatusOK},
		{`{"lang": "en"}`, http.StatusBadRequest},
		{`{"channels": ["fax"]}`, http.StatusBadRequest},
		{`{"channels": ["sms"], "extra": 1}`, http.StatusBadRequest},
		{`{"channels": []}`, http.StatusOK},
	} {
		resp, got := g.do(t, "PUT", "/api/v1/me/notifications", strings.NewReader(tt.body), api)
		if resp.StatusCode != tt.want {
			t.Errorf("PUT %s: %d %s, want %d", tt.body, resp.StatusCode, got, tt.want)
		}
	}
	if resp, got := g.do(t, "GET", "/api/v1/me/notifications", nil, citizenToken); resp.StatusCode != 200 || !strings.Contains(got, `"channels":[]`) {
		t.Errorf("GET: %d %s", resp.StatusCode, got)
	}
}

// The citizen's documents: a list, and each document's own display form in
// the page's language with the state of its issuer's signature; the me API
// returns the same facts.
func TestMyDocuments(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h := http.Header{"Cookie": {"kelisim_my=session-token"}, "Accept-Language": {"ru"}}
	resp, page := g.do(t, "GET", "/my/documents", nil, h)
	if strings.Contains(page, "/my/documents/850315300128") {
		t.Errorf("a link names the holder's IIN: %s", page)
	}
	if resp.StatusCode != 200 || !strings.Contains(page, `href="/my/documents/0/driver_license"`) ||
		!strings.Contains(page, "Водительское удостоверение") || !strings.Contains(page, "подпись не подтверждена") {
		t.Fatalf("list: %d %s", resp.StatusCode, page)
	}
	resp, page = g.do(t, "GET", "/my/documents/0/driver_license", nil, h)
	for _, want := range []string{`class="form form-card form-driver_license"`, "Категории", "B, C", "KZ AB 123456", "Действителен",
		"Подпись проверена: выдан органом Ministry of Internal Affairs", "form-photo"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("display form lacks %q", want)
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("form: %d", resp.StatusCode)
	}
	_, page = g.do(t, "GET", "/my/documents/0/diploma", nil, h)
	if !strings.Contains(page, `form-certificate form-diploma`) || !strings.Contains(page, "sig-bad") {
		t.Errorf("an unverified diploma's form: %s", page)
	}
	if resp, _ := g.do(t, "GET", "/my/documents/0/kandas_card", nil, h); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a document the citizen does not have: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "GET", "/my/documents", nil, http.Header{"Accept-Language": {"ru"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("nobody logged in: %d", resp.StatusCode)
	}
	resp, body := g.do(t, "GET", "/api/v1/me/documents?lang=en", nil, citizenToken)
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"Driving licence"`) || !strings.Contains(body, `"verified":true`) ||
		!strings.Contains(body, `"categories":"B, C"`) {
		t.Errorf("me API: %d %s", resp.StatusCode, body)
	}
}

// A person checks a shared document: the QR link leads to the settings'
// path, asks a person who is not logged in to log in and brings them back,
// and shows the document only after a confirming POST; a short code works
// from the settings page. Log-in never sends the browser anywhere else.
func TestPersonVerification(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	token := strings.Repeat("T", 43)
	resp, _ := g.do(t, "GET", "/v/"+token, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my/v/"+token {
		t.Fatalf("QR landing: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := g.do(t, "GET", "/my/v/"+token, nil, http.Header{"Accept-Language": {"en"}})
	if resp.StatusCode != 200 || !strings.Contains(page, `action="/my/login?next=%2Fmy%2Fv%2F`+token+`"`) || !strings.Contains(page, "log in first") {
		t.Fatalf("not logged in: %d %s", resp.StatusCode, page)
	}
	if g.called("view-as-person") {
		t.Error("a page asking to log in looked the share up")
	}

	h, csrf := g.formSession(t, "/my/")
	h.Add("Cookie", "kelisim_my=session-token")
	resp, page = g.do(t, "GET", "/my/v/"+token, nil, h)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="token" value="`+token+`"`) || g.called("view-as-person") {
		t.Fatalf("logged in, before confirming: %d %s", resp.StatusCode, page)
	}
	for _, form := range []url.Values{{"csrf": {csrf}, "token": {token}}, {"csrf": {csrf}, "code": {"123456"}}} {
		resp, page = g.do(t, "POST", "/my/verify", strings.NewReader(form.Encode()), h)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%v: %d", form, resp.StatusCode)
		}
		for _, want := range []string{"Signature verified: issued by Ministry of Internal Affairs.", "Shared by Aidar Serikov, until 2026-11-30 15:05.",
			"form-id_card", "045123456"} {
			if !strings.Contains(html.UnescapeString(page), want) {
				t.Errorf("%v: the page lacks %q", form, want)
			}
		}
	}
	resp, page = g.do(t, "POST", "/my/verify", strings.NewReader(url.Values{"csrf": {csrf}, "code": {"654321"}}.Encode()), h)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "form-id_card") {
		t.Errorf("a wrong code: %d", resp.StatusCode)
	}
	if resp, _ := g.do(t, "POST", "/my/verify", strings.NewReader(url.Values{"code": {"123456"}}.Encode()), h); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the form's token: %d", resp.StatusCode)
	}

	// Log-in comes back to a share's page, and to nowhere else.
	for next, want := range map[string]string{"/my/v/" + token: "/my/v/" + token, "https://evil.example/": "/my/", "/my/v/../../admin": "/my/", "//evil.example": "/my/"} {
		resp, _ := g.do(t, "POST", "/my/login/otp?"+url.Values{"next": {next}}.Encode(),
			strings.NewReader(url.Values{"csrf": {csrf}, "challenge": {"ch1"}, "otp": {"123456"}}.Encode()), h)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("after log-in with next %q: %d %q, want %q", next, resp.StatusCode, loc, want)
		}
	}
}

// The me API's history comes in pages: a limit (100 unless asked, at most
// 500), a next link to the page before while there is one, and a problem
// for a limit or cursor out of range.
func TestMyHistoryPages(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	type page struct {
		Events []struct {
			Partner string `json:"client_id"`
		} `json:"events"`
		Next string `json:"next"`
	}
	read := func(path string) (int, page, string) {
		resp, body := g.do(t, "GET", path, nil, citizenToken)
		var p page
		_ = json.Unmarshal([]byte(body), &p)
		return resp.StatusCode, p, body
	}
	var seen []string
	path := "/api/v1/me/history"
	for pages := 0; path != ""; pages++ {
		status, p, body := read(path)
		if status != 200 || pages > 3 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		for _, e := range p.Events {
			seen = append(seen, e.Partner)
		}
		path = p.Next
	}
	if len(seen) != 250 || seen[0] != "250" || seen[99] != "151" || seen[100] != "150" || seen[249] != "1" {
		t.Errorf("the pages held %d entries: %v…", len(seen), seen[:min(len(seen), 3)])
	}
	if status, p, _ := read("/api/v1/me/history?limit=500"); status != 200 || len(p.Events) != 250 || p.Next != "" {
		t.Errorf("one page of 500: %d, %d entries, next %q", status, len(p.Events), p.Next)
	}
	if status, p, _ := read("/api/v1/me/history?before=" + fakeCursor(11).String() + "&limit=4"); status != 200 || len(p.Events) != 4 ||
		p.Events[0].Partner != "10" || p.Next != "/api/v1/me/history?before=7000000.7&limit=4" {
		t.Errorf("a page deep in the past: %d %+v", status, p)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "before=0", "before=-3", "before=abc", "before=11",
		"before=11000000.0", "before=0.11", "before=+11000000.11", "before=11000000.-11", "before=1.2.3", "before=999999999999999999.1"} {
		resp, body := g.do(t, "GET", "/api/v1/me/history?"+q, nil, citizenToken)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %s", q, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

// The start sends the browser to the code page with its challenge, and
// the page is shown from it without reading the challenge; a page whose
// browser carries none, or another challenge's, reads it.
func TestCodePageFromTheCarriedChallenge(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	h, token := g.formSession(t, "/consent/req1")
	form := url.Values{"csrf": {token}, "iin": {"850315300128"}, "phone": {"+77011234567"}, "doc": {"id_card"}, "days": {"30"}}
	resp, _ := g.do(t, "POST", "/consent/req1", strings.NewReader(form.Encode()), h)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != "/consent/req1/otp" ||
		loc.Query().Get("challenge") != "ch1" || loc.Query().Get("c") != "carried-ch1" {
		t.Fatalf("the start: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	page := func(q url.Values) (int, bool) {
		t.Helper()
		g.calls = nil
		resp, body := g.do(t, "GET", "/consent/req1/otp?"+q.Encode(), nil, h)
		if !strings.Contains(body, `name="otp"`) {
			t.Errorf("%v: no code form", q)
		}
		return resp.StatusCode, g.called("challenge:" + q.Get("challenge"))
	}
	if status, read := page(loc.Query()); status != 200 || read {
		t.Errorf("with the carried challenge: %d, read from the store: %v", status, read)
	}
	if status, read := page(url.Values{"challenge": {"ch1"}, "to": {"+7********67"}}); status != 200 || !read {
		t.Errorf("without it: %d, read from the store: %v", status, read)
	}
	if status, read := page(url.Values{"challenge": {"ch2"}, "c": {"carried-ch1"}}); status != 200 || !read {
		t.Errorf("with another challenge's: %d, read from the store: %v", status, read)
	}
}
