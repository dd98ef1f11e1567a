package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/oauth"
)

// A request the partner got wrong goes back to the partner before the
// citizen sees a consent page: every check made when the code is issued
// (PKCE, nonce, …) runs first, and nothing waits for the citizen.
func TestRequestCheckedBeforeTheCitizenIsAsked(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	for name, q := range map[string]url.Values{
		"no code_challenge": authQuery(p, consentDocs, ""),
		"plain PKCE": func() url.Values {
			q := authQuery(p, consentDocs, "")
			q.Set("code_challenge", strings.Repeat("p", 50))
			q.Set("code_challenge_method", "plain")
			return q
		}(),
		"a nonce too short to be random": func() url.Values {
			q := authQuery(p, consentDocs, challenge)
			q.Set("nonce", "abc")
			return q
		}(),
	} {
		resp, _ := g.do(t, "GET", oauth.PathAuthorize+"?"+q.Encode(), nil, nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || strings.HasPrefix(loc.Path, "/consent/") || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("%s: %d to %q, want the partner told invalid_request", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	var waiting int
	if err := dbConn(t, g).QueryRow(t.Context(), `SELECT count(*) FROM oauth_records WHERE kind = 'pending'`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 {
		t.Errorf("%d refused requests wait for a citizen", waiting)
	}
}
