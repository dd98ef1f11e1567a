package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/oauth"
)

// Hostile text — NUL bytes, invalid UTF-8 — in form fields, paths, query
// strings, JSON and credentials is refused at the edge with a 400 of the
// endpoint's kind, on PostgreSQL (which refuses such text and used to
// surface as 500), and logs no error.
func TestHostileTextAnswersCleanly(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	admin := http.Header{"Authorization": {"Bearer " + g.admin}, "Content-Type": {"application/json"}}

	// A citizen's browser on the settings log-in and the code page.
	my := newBrowser(t, g)
	login := my.get("/my/")
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(login.body)[2])
	consentB := newBrowser(t, g)
	otpPage := consentB.codePage(p, aidarIIN, aidarPhone)

	type req struct {
		name, method, path string
		body               string
		header             http.Header
		do                 func() int // instead of method/path
	}
	formH := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	var reqs []req
	for name, bad := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "a\xff\xfeb"} {
		esc := url.QueryEscape(bad)
		reqs = append(reqs,
			req{name: name + " in the settings log-in challenge", do: func() int {
				return my.do("POST", "/my/login/otp", url.Values{"csrf": {csrf}, "challenge": {bad}, "otp": {"123456"}}).status
			}},
			req{name: name + " in the consent code page challenge", do: func() int {
				return consentB.submit(otpPage, url.Values{"challenge": {bad}, "otp": {"123456"}, "decision": {"allow"}}).status
			}},
			req{name: name + " in a consent path", method: "GET", path: "/consent/" + esc},
			req{name: name + " in an admin partner id", method: "GET", path: "/admin/v1/partners/" + esc, header: admin},
			req{name: name + " in the audit filter", method: "GET", path: "/admin/v1/audit?client_id=" + esc, header: admin},
			req{name: name + " in an authorization request", method: "GET", path: oauth.PathAuthorize + "?response_type=code&client_id=" + esc},
			req{name: name + " in a token request client_id", method: "POST", path: oauth.PathToken, header: formH,
				body: "grant_type=client_credentials&client_id=" + esc + "&client_secret=x"},
			req{name: name + " in basic credentials", method: "POST", path: oauth.PathToken,
				header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Basic " + basicAuth(partner{id: bad, secret: "x"})}},
				body:   "grant_type=client_credentials"},
		)
	}
	// A whole pushed request, but in a multipart body.
	multipartForm := func(field, value string) (string, http.Header) {
		var b strings.Builder
		w := multipart.NewWriter(&b)
		_, challenge := pkce()
		for k, v := range authQuery(p, "openid documents:id_card", challenge) {
			_ = w.WriteField(k, v[0])
		}
		_ = w.WriteField(field, value)
		_ = w.Close()
		return b.String(), http.Header{"Content-Type": {w.FormDataContentType()}, "Authorization": {"Basic " + basicAuth(p)}}
	}
	mpBody, mpHeader := multipartForm("purpose", "a\x00b")
	reqs = append(reqs,
		req{name: "NUL in a multipart pushed request", method: "POST", path: oauth.PathPAR, body: mpBody, header: mpHeader},
		req{name: "NUL escaped in JSON client_name", method: "POST", path: "/admin/v1/partners", header: admin,
			body: `{"client_name":"Bank\u0000","redirect_uris":["http://127.0.0.1:7777/cb"],"documents":["id_card"]}`},
		req{name: "NUL escaped in a JSON merge patch", method: "PATCH", path: "/admin/v1/partners/" + p.id, header: admin,
			body: `{"client_name":"Bank\u0000"}`},
		req{name: "invalid UTF-8 in a JSON body", method: "POST", path: "/admin/v1/partners", header: admin,
			body: "{\"client_name\":\"Bank\xff\",\"redirect_uris\":[\"http://127.0.0.1:7777/cb\"],\"documents\":[\"id_card\"]}"},
	)
	for _, r := range reqs {
		status := 0
		if r.do != nil {
			status = r.do()
		} else {
			resp, _ := g.do(t, r.method, r.path, strings.NewReader(r.body), r.header)
			status = resp.StatusCode
		}
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", r.name, status)
		}
	}
	if strings.Contains(g.logs.String(), `"level":"ERROR"`) {
		t.Errorf("hostile input logged errors:\n%s", g.logs)
	}
}

// A body over the gateway's bound (1 MiB) is refused with 413 of the
// endpoint's kind — form, multipart or JSON, OAuth, pages or admin — before
// anything reads it whole, logs no error, and the gateway serves on.
func TestHugeBodiesAnswerCleanly(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	huge := strings.Repeat("a", httpapi.MaxBodyBytes+1)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	var mp strings.Builder
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("purpose", huge)
	_ = w.Close()
	for _, r := range []struct {
		name, path, body string
		header           http.Header
	}{
		{"a token request", oauth.PathToken, "grant_type=client_credentials&scope=" + huge, form},
		{"an introspection", oauth.PathIntrospect, "token=" + huge, form},
		{"a multipart pushed request", oauth.PathPAR, mp.String(), http.Header{"Content-Type": {w.FormDataContentType()}}},
		{"the settings log-in", "/my/login", "iin=" + huge, form},
		{"a partner's registration", "/admin/v1/partners", `{"client_name":"` + huge + `"}`,
			http.Header{"Authorization": {"Bearer " + g.admin}, "Content-Type": {"application/json"}}},
	} {
		if resp, body := g.do(t, "POST", r.path, strings.NewReader(r.body), r.header); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s of %d bytes: %d %v, want 413", r.name, len(r.body), resp.StatusCode, body)
		}
	}
	if resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("after the huge bodies: %d %v", resp.StatusCode, body)
	}
	if strings.Contains(g.logs.String(), `"level":"ERROR"`) {
		t.Errorf("huge bodies logged errors:\n%s", g.logs)
	}
}

// A client assertion outside its time window, or valid for far too long,
// is an invalid client (401), never a server error.
func TestClientAssertionTimes(t *testing.T) {
	g := start(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bank-1", Algorithm: "ES256", Use: "sig"}}}
	p := g.onboard(t, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	now := time.Now()
	for _, tt := range []struct {
		name           string
		iat, nbf, exp  time.Time
		wantStatus     int
		wantOAuthError string
	}{
		{"expired minutes ago", now.Add(-10 * time.Minute), time.Time{}, now.Add(-5 * time.Minute), 401, "invalid_client"},
		{"issued in the future", now.Add(5 * time.Minute), time.Time{}, now.Add(6 * time.Minute), 401, "invalid_client"},
		{"not valid before the future", now, now.Add(5 * time.Minute), now.Add(6 * time.Minute), 401, "invalid_client"},
		{"valid for a year", now, time.Time{}, now.Add(365 * 24 * time.Hour), 401, "invalid_client"},
		{"valid for a minute", now, time.Time{}, now.Add(time.Minute), 200, ""},
	} {
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "bank-1"}}, (&jose.SignerOptions{}).WithType("JWT"))
		claims := jwt.Claims{Issuer: p.id, Subject: p.id, Audience: jwt.Audience{g.base}, ID: randomJTI(),
			IssuedAt: jwt.NewNumericDate(tt.iat), Expiry: jwt.NewNumericDate(tt.exp)}
		if !tt.nbf.IsZero() {
			claims.NotBefore = jwt.NewNumericDate(tt.nbf)
		}
		assertion, _ := jwt.Signed(signer).Claims(claims).Serialize()
		resp, body := g.form(t, oauth.PathToken, partner{}, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {p.id},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
		})
		if resp.StatusCode != tt.wantStatus || (tt.wantOAuthError != "" && body["error"] != tt.wantOAuthError) {
			t.Errorf("%s: %d %v, want %d %s", tt.name, resp.StatusCode, body, tt.wantStatus, tt.wantOAuthError)
		}
	}
}

// Of concurrent exchanges of one code, one gets tokens and every other
// invalid_grant — never a server error.
func TestConcurrentCodeExchange(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	for round := range 3 {
		verifier, challenge := pkce()
		loc := g.authorize(t, authQuery(p, docScope, challenge))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {p.redirect}, "code_verifier": {verifier}}
		const n = 8
		statuses := make([]int, n)
		errs := make([]any, n)
		var issued string
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, body := g.form(t, oauth.PathToken, p, form)
				statuses[i], errs[i] = resp.StatusCode, body["error"]
				if resp.StatusCode == http.StatusOK {
					issued = body["access_token"].(string)
				}
			})
		}
		wg.Wait()
		ok := 0
		for i := range n {
			switch {
			case statuses[i] == http.StatusOK:
				ok++
			case statuses[i] != http.StatusBadRequest || errs[i] != "invalid_grant":
				t.Errorf("round %d: a loser got %d %v, want 400 invalid_grant", round, statuses[i], errs[i])
			}
		}
		if ok > 1 {
			t.Errorf("round %d: %d exchanges of one code succeeded", round, ok)
		}
		if ok != 1 {
			t.Errorf("round %d: %d exchanges succeeded, want one", round, ok)
		}
		// Presented again once the race is over, the code revokes what
		// it issued, as any reused code does.
		if resp, body := g.form(t, oauth.PathToken, p, form); resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("round %d: reuse after the race: %d %v", round, resp.StatusCode, body)
		}
		if g.introspect(t, p, issued)["active"] != false {
			t.Errorf("round %d: the token of a reused code is still active", round)
		}
	}
}

// A consent challenge posted to the settings log-in, even from a browser
// whose cookies make it look like the one that asked, is not a log-in and
// not a server error.
func TestConsentChallengeIsNoLogIn(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	b := newBrowser(t, g)
	otpPage := b.codePage(p, aidarIIN, aidarPhone)
	challenge := html.UnescapeString(hiddenValue(otpPage, "challenge"))
	sms := g.sms.next(t, aidarPhone)
	u, _ := url.Parse(g.base + "/consent/")
	var session string
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "kelisim_consent" {
			session = c.Value
		}
	}
	my, _ := url.Parse(g.base + "/my/")
	b.client.Jar.SetCookies(my, []*http.Cookie{{Name: "kelisim_my_pre", Value: session, Path: "/my"}})
	login := b.get("/my/")
	csrf := html.UnescapeString(hiddenValue(login, "csrf"))
	res := b.do("POST", "/my/login/otp", url.Values{"csrf": {csrf}, "challenge": {challenge}, "otp": {code(t, sms)}})
	if res.status >= 500 || res.status == http.StatusSeeOther {
		t.Errorf("a consent challenge on the log-in form: %d\n%s", res.status, res.body)
	}
}

// hiddenValue is the value of the page's hidden field name.
func hiddenValue(p page, name string) string {
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}
