package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// Fuzz targets for every parser of outside input: the consent and settings
// forms, admin JSON, client assertions and the Authorization header. Each
// drives the real router in process, on PostgreSQL when the tests have one
// (it is what refuses bad text) and else on the embedded store, and
// requires no 5xx and no panic. make test runs each for a few seconds;
// longer by hand:
//
//	go test ./cmd/kelisim -run '^$' -fuzz '^FuzzConsentForm$' -fuzztime 5m

// fuzzGateway is the router of a gateway set up for fuzzing: a partner, a
// waiting authorization request, a browser with its cookies and CSRF
// tokens for the consent and settings forms.
type fuzzGateway struct {
	h         http.Handler
	partner   partner
	pending   string
	cookies   []*http.Cookie
	csrf      string // the consent page's
	myCSRF    string // the settings pages'
	challenge string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func newFuzzGateway(f *testing.F) *fuzzGateway {
	f.Helper()
	env := map[string]string{"KELISIM_ADMIN_TOKEN": testAdminToken, "KELISIM_SECRET": testSecret, "KELISIM_LOG_LEVEL": "error"}
	if os.Getenv("KELISIM_TEST_DATABASE_URL") != "" || os.Getenv("CI") == "true" {
		env["KELISIM_DATABASE_URL"] = pgtest.URL(f)
		env["KELISIM_SMS"] = "console"
	}
	cfg, err := loadConfig(envOf(env))
	if err != nil {
		f.Fatal(err)
	}
	g, err := newGateway(context.Background(), &cfg, wiring{consent: httpapi.ConsentRedirect{}, now: time.Now, stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.close)
	fg := &fuzzGateway{h: httpapi.New(g.deps, httpapi.Parts{Public: true, Admin: true})}
	rec := fg.do(httptest.NewRequest("POST", "/admin/v1/partners", strings.NewReader(
		`{"client_name":"Fuzz Bank","redirect_uris":["http://127.0.0.1:7777/cb"],"documents":["id_card"],
		"admission":{"legal_name":"Fuzz Bank JSC","decision":"No. 1","date":"2026-11-01"}}`)), testAdminToken)
	var p map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	fg.partner = partner{id: p["client_id"].(string), secret: p["client_secret"].(string), redirect: "http://127.0.0.1:7777/cb"}
	_, challenge := pkce()
	rec = fg.do(httptest.NewRequest("GET", oauth.PathAuthorize+"?"+authQuery(fg.partner, "openid documents:id_card", challenge).Encode(), nil), "")
	fg.pending = strings.TrimPrefix(rec.Header().Get("Location"), "/consent/")
	rec = fg.do(httptest.NewRequest("GET", "/consent/"+fg.pending, nil), "")
	fg.cookies = rec.Result().Cookies()
	fg.csrf = htmlUnescape(csrfRE.FindStringSubmatch(rec.Body.String())[1])
	rec = fg.do(httptest.NewRequest("GET", "/my/", nil), "")
	fg.cookies = append(fg.cookies, rec.Result().Cookies()...)
	fg.myCSRF = htmlUnescape(csrfRE.FindStringSubmatch(rec.Body.String())[1])
	rec = fg.form("/consent/"+fg.pending, url.Values{"csrf": {fg.csrf}, "iin": {aidarIIN}, "phone": {aidarPhone}, "doc": {"id_card"}, "days": {"90"}, "decision": {"start"}})
	loc, _ := url.Parse(rec.Header().Get("Location"))
	fg.challenge = loc.Query().Get("challenge")
	if fg.pending == "" || fg.challenge == "" {
		f.Fatalf("fuzz gateway setup: pending %q challenge %q", fg.pending, fg.challenge)
	}
	// The forms' guards let the fuzzed forms through to what parses them.
	if rec := fg.form("/my/login", url.Values{"csrf": {fg.myCSRF}, "iin": {aidarIIN}, "phone": {aidarPhone}}); rec.Code != http.StatusSeeOther {
		f.Fatalf("settings log-in in the fuzz gateway: %d", rec.Code)
	}
	return fg
}

// do serves r with the browser's cookies, and the admin token when given.
func (fg *fuzzGateway) do(r *http.Request, admin string) *httptest.ResponseRecorder {
	for _, c := range fg.cookies {
		r.AddCookie(c)
	}
	if admin != "" {
		r.Header.Set("Authorization", "Bearer "+admin)
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Origin", "http://example.com") // same-origin for httptest's host
	r.Host = "example.com"
	rec := httptest.NewRecorder()
	fg.h.ServeHTTP(rec, r)
	return rec
}

func (fg *fuzzGateway) form(path string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fg.do(r, "")
}

func noServerError(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#x2b;", "+", "&amp;", "&").Replace(s)
}

// The consent pages' forms: identity, selection, code, holders.
func FuzzConsentForm(f *testing.F) {
	fg := newFuzzGateway(f)
	f.Add(aidarIIN, aidarPhone, "id_card", "90", "123456", "start", "")
	f.Add("8503 1530 0128", "8 701 123 45 67", "driver_license", "0", "", "deny", "1")
	f.Add("\x00", "\xff", "doc\x00", "-1", "99999999999999999999", "allow", "x")
	f.Fuzz(func(t *testing.T, iin, phone, doc, days, otp, decision, holder string) {
		noServerError(t, "start", fg.form("/consent/"+fg.pending, url.Values{"csrf": {fg.csrf}, "iin": {iin}, "phone": {phone},
			"doc": {doc}, "days": {days}, "decision": {decision}}))
		noServerError(t, "answer", fg.form("/consent/"+fg.pending+"/otp", url.Values{"csrf": {fg.csrf}, "challenge": {fg.challenge},
			"otp": {otp}, "doc": {doc}, "days": {days}, "decision": {decision}, "holder": {holder}, "step": {holder}}))
	})
}

// The settings log-in and its code.
func FuzzSettingsForm(f *testing.F) {
	fg := newFuzzGateway(f)
	f.Add(aidarIIN, aidarPhone, "challenge", "123456")
	f.Add("", "", "", "")
	f.Add("\x00", "\xc3\x28", "\x00", "\xff")
	f.Fuzz(func(t *testing.T, iin, phone, challenge, otp string) {
		noServerError(t, "log-in", fg.form("/my/login", url.Values{"csrf": {fg.myCSRF}, "iin": {iin}, "phone": {phone}}))
		noServerError(t, "log-in code", fg.form("/my/login/otp", url.Values{"csrf": {fg.myCSRF}, "challenge": {challenge}, "otp": {otp}}))
	})
}

// The admin API's JSON: onboarding, a merge patch, an audit filter.
func FuzzAdminJSON(f *testing.F) {
	fg := newFuzzGateway(f)
	f.Add(`{"client_name":"Bank","redirect_uris":["https://bank.example/cb"],"documents":["id_card"]}`, "client_id")
	f.Add(`{"client_name":"Bank\u0000","jwks":{"keys":[{"kty":"EC"}]}}`, "\x00")
	f.Add(`{"redirect_uris":null,"scope":7,"documents":["x","x"]}`, "%ff")
	f.Add(`[`, "")
	f.Fuzz(func(t *testing.T, body, query string) {
		noServerError(t, "onboard", fg.do(httptest.NewRequest("POST", "/admin/v1/partners", strings.NewReader(body)), testAdminToken))
		noServerError(t, "patch", fg.do(httptest.NewRequest("PATCH", "/admin/v1/partners/"+fg.partner.id, strings.NewReader(body)), testAdminToken))
		r := httptest.NewRequest("GET", "/admin/v1/audit", nil)
		r.URL.RawQuery = "client_id=" + url.QueryEscape(query)
		noServerError(t, "audit", fg.do(r, testAdminToken))
	})
}

// Client assertions at the token endpoint, whole or as their three parts.
func FuzzClientAssertion(f *testing.F) {
	fg := newFuzzGateway(f)
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"ES256","kid":"k"}`)), enc([]byte(`{"iss":"x","sub":"x","aud":"x","jti":"j","exp":4102444800}`)), "sig")
	f.Add(enc([]byte(`{"alg":"none"}`)), enc([]byte(`{"exp":-1,"iat":1e300}`)), "")
	f.Add(strings.Repeat(".", 100), "", "")
	f.Fuzz(func(t *testing.T, header, claims, sig string) {
		for _, assertion := range []string{header + "." + claims + "." + sig, header} {
			noServerError(t, "token", fg.form(oauth.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {fg.partner.id},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}))
		}
	})
}

// Whatever a partner puts in the Authorization header of the resource,
// userinfo and verify endpoints (a bearer token today, a proof-of-
// possession JWT to come).
func FuzzAuthorizationHeader(f *testing.F) {
	fg := newFuzzGateway(f)
	f.Add("Bearer ory_at_x.y")
	f.Add("DPoP eyJhbGciOiJFUzI1NiJ9.e30.sig")
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("\x00:\xff")))
	f.Add("bearer \x7f\x00")
	f.Fuzz(func(t *testing.T, auth string) {
		for _, path := range []string{"/api/v1/documents", "/api/v1/documents/id_card", oauth.PathUserinfo, "/api/v1/me/grants"} {
			r := httptest.NewRequest("GET", path, nil)
			r.Header["Authorization"] = []string{auth}
			noServerError(t, path, fg.do(r, ""))
		}
		r := httptest.NewRequest("POST", oauth.PathIntrospect, strings.NewReader("token=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header["Authorization"] = []string{auth}
		noServerError(t, "introspect", fg.do(r, ""))
	})
}
