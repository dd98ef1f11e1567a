package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// With PostgreSQL gone or frozen, nothing is answered as if a credential
// were wrong: every endpoint answers 503 with Retry-After (OAuth endpoints
// temporarily_unavailable, APIs problem+json, pages a readable page)
// within the store's deadline, readiness drops, and when the database
// comes back the same tokens work again.
func TestDatabaseOutage(t *testing.T) {
	proxy, db := pgtest.NewProxy(t, pgtest.URL(t))
	g := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: map[string]string{"KELISIM_DB_TIMEOUT": "1s"}})
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid offline_access documents:id_card")
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	citizen := newBrowser(t, g)
	citizen.logIn(aidarIIN, aidarPhone)
	_, challenge := pkce()
	basic := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	basic.Set("Authorization", "Basic "+basicAuth(p))

	type probe struct {
		name string
		send func() (*http.Response, []byte)
		kind string // oauth, problem or page
	}
	raw := func(method, path string, body io.Reader, h http.Header) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, g.base+path, body)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := g.http.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	form := func(path string, f url.Values) func() (*http.Response, []byte) {
		return func() (*http.Response, []byte) { return raw("POST", path, strings.NewReader(f.Encode()), basic) }
	}
	bearer := http.Header{"Authorization": {"Bearer " + access}}
	probes := []probe{
		{"client_credentials", form(oauth.PathToken, url.Values{"grant_type": {"client_credentials"}}), "oauth"},
		{"refresh", form(oauth.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), "oauth"},
		{"introspection", form(oauth.PathIntrospect, url.Values{"token": {access}}), "oauth"},
		{"revocation", form(oauth.PathRevoke, url.Values{"token": {access}}), "oauth"},
		{"PAR", form(oauth.PathPAR, authQuery(p, "openid documents:id_card", challenge)), "oauth"},
		{"authorization", func() (*http.Response, []byte) {
			return raw("GET", oauth.PathAuthorize+"?"+authQuery(p, "openid documents:id_card", challenge).Encode(), nil, nil)
		}, "oauth"},
		{"userinfo", func() (*http.Response, []byte) { return raw("GET", oauth.PathUserinfo, nil, bearer) }, "oauth"},
		{"document", func() (*http.Response, []byte) { return raw("GET", "/api/v1/documents/id_card", nil, bearer) }, "problem"},
		{"admin", func() (*http.Response, []byte) {
			return raw("GET", "/admin/v1/partners", nil, http.Header{"Authorization": {"Bearer " + g.admin}})
		}, "problem"},
		{"settings page", func() (*http.Response, []byte) {
			pg := citizen.get("/my/")
			return &http.Response{StatusCode: pg.status, Header: pg.header}, []byte(pg.body)
		}, "page"},
		{"readiness", func() (*http.Response, []byte) { return raw("GET", "/readyz", nil, nil) }, "problem"},
	}
	for _, mode := range []struct {
		name string
		cut  func()
	}{{"down", proxy.Down}, {"frozen", proxy.Freeze}} {
		mode.cut()
		for _, pr := range probes {
			start := time.Now()
			resp, body := pr.send()
			took := time.Since(start)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s, %s: %d Retry-After %q, want 503 with Retry-After: %s", mode.name, pr.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if took > 5*time.Second {
				t.Errorf("%s, %s: answered after %v with a 1s store deadline", mode.name, pr.name, took)
			}
			switch pr.kind {
			case "oauth":
				var e struct{ Error string }
				_ = json.Unmarshal(body, &e)
				if e.Error != "temporarily_unavailable" && !strings.Contains(string(body), "temporarily unavailable") {
					t.Errorf("%s, %s: body %s, want error temporarily_unavailable", mode.name, pr.name, body)
				}
			case "problem":
				if ct := resp.Header.Get("Content-Type"); pr.name != "readiness" && ct != "application/problem+json" {
					t.Errorf("%s, %s: Content-Type %q", mode.name, pr.name, ct)
				}
			case "page":
				if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<html") {
					t.Errorf("%s, %s: not a page: %s", mode.name, pr.name, body)
				}
			}
		}
		proxy.Up()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, _ := raw("GET", "/readyz", nil, nil)
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s, readiness never came back", mode.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if resp, body := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
			t.Errorf("after %s, the access token no longer works: %d %s", mode.name, resp.StatusCode, body)
		}
		if in := g.introspect(t, p, access); in["active"] != true {
			t.Errorf("after %s, introspection: %v", mode.name, in)
		}
		if resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}}); resp.StatusCode != http.StatusOK {
			t.Errorf("after %s, client_credentials: %d %v", mode.name, resp.StatusCode, body)
		}
	}
}

func basicAuth(p partner) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(url.QueryEscape(p.id), url.QueryEscape(p.secret))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
