package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// /userinfo takes an access token, only in the Authorization header: not a
// refresh token, not a token in the query or the body (RFC 6750 §2.2–2.3
// are not offered; FAPI forbids them).
func TestUserinfoTakesOnlyAnAccessTokenInTheHeader(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	tok := g.tokens(t, p, docScope)
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if status, _ := g.userinfo(t, access); status != http.StatusOK {
		t.Fatalf("access token in the header: %d", status)
	}
	if status, _ := g.userinfo(t, refresh); status != http.StatusUnauthorized {
		t.Errorf("refresh token as a bearer token: %d, want 401", status)
	}
	if resp, _ := g.do(t, "GET", oauth.PathUserinfo+"?access_token="+url.QueryEscape(access), nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token in the query: %d, want 401", resp.StatusCode)
	}
	if resp, _ := g.do(t, "POST", oauth.PathUserinfo, strings.NewReader("access_token="+url.QueryEscape(access)),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token in the body: %d, want 401", resp.StatusCode)
	}
}

// A request_uri presented by another client is refused without being used
// up: its own client still completes the authorization with it.
func TestPARRequestURIOnlyForItsClient(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	other := g.onboard(t, map[string]any{"client_name": "Other Bank"})
	_, challenge := pkce()
	resp, body := g.form(t, oauth.PathPAR, p, authQuery(p, docScope, challenge))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR: %d %v", resp.StatusCode, body)
	}
	requestURI := body["request_uri"].(string)
	resp, _ = g.do(t, "GET", oauth.PathAuthorize+"?"+url.Values{"client_id": {other.id}, "request_uri": {requestURI}}.Encode(), nil, nil)
	if strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatal("another client got a code with the request_uri")
	}
	loc := g.authorize(t, url.Values{"client_id": {p.id}, "request_uri": {requestURI}})
	if loc.Query().Get("code") == "" {
		t.Errorf("its own client, after another tried the request_uri: %s", loc)
	}
}

// An https issuer tells browsers to use https only.
func TestHSTSOnHTTPSIssuer(t *testing.T) {
	g := startWith(t, options{db: pgtest.URL(t), consent: approve{citizen: citizenIIN},
		env: map[string]string{"KELISIM_ISSUER": "https://kelisim.example.kz"}})
	for _, path := range []string{"/healthz", oauth.PathDiscovery, "/my/", "/nowhere"} {
		resp, _ := g.do(t, "GET", path, nil, nil)
		if h := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
			t.Errorf("%s: Strict-Transport-Security %q", path, h)
		}
	}
	plain := start(t)
	if resp, _ := plain.do(t, "GET", "/healthz", nil, nil); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("an http issuer sent HSTS")
	}
}

// Authorization requests need no credentials, yet each is stored until the
// citizen answers: one address can keep only a bounded number waiting.
// Past the bound, a valid request goes back to the partner with
// temporarily_unavailable and nothing is stored.
func TestPendingRequestsAreBounded(t *testing.T) {
	g := startWith(t, options{db: pgtest.URL(t), consent: pendingConsent{},
		env: map[string]string{"KELISIM_AUTHORIZE_IP_LIMIT": "5"}})
	p := g.onboard(t, nil)
	_, challenge := pkce()
	stored, refused := 0, 0
	for range 8 {
		loc := g.authorize(t, authQuery(p, docScope, challenge))
		switch {
		case strings.HasPrefix(loc.Path, "/pending/"):
			stored++
		case loc.Query().Get("error") == "temporarily_unavailable":
			refused++
		default:
			t.Fatalf("authorize redirected to %s", loc)
		}
	}
	if stored != 5 || refused != 3 {
		t.Errorf("%d stored and %d refused, want 5 and 3", stored, refused)
	}
	var n int
	if err := dbConn(t, g).QueryRow(t.Context(), `SELECT count(*) FROM oauth_records WHERE kind = 'pending'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d pending requests stored, want 5", n)
	}
}

// pendingConsent leaves every request waiting, as a citizen who never
// answers does.
type pendingConsent struct{}

func (pendingConsent) Prompt(w http.ResponseWriter, r *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	http.Redirect(w, r, "/pending/"+p.ID, http.StatusSeeOther)
	return oauth.Decision{}, false
}
