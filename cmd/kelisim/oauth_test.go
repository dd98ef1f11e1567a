package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/oauth"
)

const docScope = "openid offline_access documents:id_card"

func TestPKCERules(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)

	t.Run("missing", func(t *testing.T) {
		loc := g.authorize(t, authQuery(p, docScope, ""))
		assertErrorRedirect(t, g, loc, "invalid_request")
	})
	t.Run("plain", func(t *testing.T) {
		q := authQuery(p, docScope, "")
		q.Set("code_challenge", strings.Repeat("p", 50))
		q.Set("code_challenge_method", "plain")
		loc := g.authorize(t, q)
		assertErrorRedirect(t, g, loc, "invalid_request")
	})
	t.Run("wrong verifier", func(t *testing.T) {
		_, challenge := pkce()
		loc := g.authorize(t, authQuery(p, docScope, challenge))
		resp, body := g.form(t, oauth.PathToken, p, url.Values{
			"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {p.redirect}, "code_verifier": {strings.Repeat("w", 50)},
		})
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("wrong verifier: %d %v, want 400 invalid_grant", resp.StatusCode, body)
		}
	})
}

// assertErrorRedirect checks an error redirect to the partner: the error
// code, the state, and the RFC 9207 issuer.
func assertErrorRedirect(t *testing.T, g *gw, loc *url.URL, wantErr string) {
	t.Helper()
	q := loc.Query()
	if q.Get("error") != wantErr || q.Get("code") != "" {
		t.Errorf("redirect %s: want error=%s and no code", loc, wantErr)
	}
	if q.Get("iss") != g.base {
		t.Errorf("redirect %s: iss = %q, want %q", loc, q.Get("iss"), g.base)
	}
	if q.Get("state") != "state-1234567890" {
		t.Errorf("redirect %s: state lost", loc)
	}
}

func TestCodeSuccessRedirect(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	loc := g.authorize(t, authQuery(p, docScope, challenge))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != p.redirect {
		t.Errorf("redirected to %s, want %s", got, p.redirect)
	}
	if loc.Query().Get("code") == "" || loc.Query().Get("state") != "state-1234567890" || loc.Query().Get("iss") != g.base {
		t.Errorf("success redirect %s: want code, state and iss", loc)
	}
}

func TestCodeSingleUseAndReplay(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	verifier, challenge := pkce()
	loc := g.authorize(t, authQuery(p, docScope, challenge))
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}}
	resp, first := g.form(t, oauth.PathToken, p, exchange)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first exchange: %d %v", resp.StatusCode, first)
	}
	access, refresh := first["access_token"].(string), first["refresh_token"].(string)
	if g.introspect(t, p, access)["active"] != true {
		t.Fatal("fresh access token inactive")
	}
	resp, second := g.form(t, oauth.PathToken, p, exchange)
	if resp.StatusCode != http.StatusBadRequest || second["error"] != "invalid_grant" {
		t.Fatalf("replayed code: %d %v, want 400 invalid_grant", resp.StatusCode, second)
	}
	// The replay revoked what the code had issued.
	if g.introspect(t, p, access)["active"] != false || g.introspect(t, p, refresh)["active"] != false {
		t.Error("tokens issued from a replayed code are still active")
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	first := g.tokens(t, p, docScope)
	refresh := func(rt string) (int, map[string]any) {
		resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return resp.StatusCode, body
	}
	status, second := refresh(first["refresh_token"].(string))
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, second)
	}
	if second["refresh_token"] == first["refresh_token"] || second["access_token"] == first["access_token"] {
		t.Fatal("refresh did not rotate the tokens")
	}
	if g.introspect(t, p, first["access_token"].(string))["active"] != false {
		t.Error("the access token before rotation is still active")
	}
	if g.introspect(t, p, second["access_token"].(string))["active"] != true {
		t.Fatal("the rotated access token is inactive")
	}
	// Reusing the old refresh token is theft: the whole family goes.
	status, body := refresh(first["refresh_token"].(string))
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v, want 400 invalid_grant", status, body)
	}
	if g.introspect(t, p, second["access_token"].(string))["active"] != false ||
		g.introspect(t, p, second["refresh_token"].(string))["active"] != false {
		t.Error("reuse did not revoke the family")
	}
	if status, _ := refresh(second["refresh_token"].(string)); status == http.StatusOK {
		t.Error("the newest refresh token still works after reuse was detected")
	}
}

func TestIntrospectionIsolation(t *testing.T) {
	g := start(t)
	a := g.onboard(t, nil)
	b := g.onboard(t, map[string]any{"client_name": "Other Bank"})
	tok := g.tokens(t, a, docScope)["access_token"].(string)

	own := g.introspect(t, a, tok)
	if own["active"] != true || own["client_id"] != a.id || own["scope"] != docScope || own["token_type"] != "Bearer" {
		t.Errorf("own token: %v", own)
	}
	if sub, _ := own["sub"].(string); sub == "" || strings.Contains(sub, citizenIIN) {
		t.Errorf("sub %q: want a pairwise subject, never the IIN", sub)
	}
	if other := g.introspect(t, b, tok); len(other) != 1 || other["active"] != false {
		t.Errorf("another partner's token: %v, want only active=false", other)
	}
	resp, body := g.form(t, oauth.PathIntrospect, partner{id: a.id, secret: "wrong"}, url.Values{"token": {tok}})
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("bad credentials: %d %v", resp.StatusCode, body)
	}
}

func TestRevocation(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	other := g.onboard(t, nil)

	tok := g.tokens(t, p, docScope)
	// Another partner cannot revoke it, whatever it is answered.
	g.form(t, oauth.PathRevoke, other, url.Values{"token": {tok["access_token"].(string)}})
	if g.introspect(t, p, tok["access_token"].(string))["active"] != true {
		t.Fatal("another partner revoked the token")
	}
	resp, _ := g.form(t, oauth.PathRevoke, p, url.Values{"token": {tok["access_token"].(string)}, "token_type_hint": {"access_token"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if g.introspect(t, p, tok["access_token"].(string))["active"] != false {
		t.Error("revoked access token still active")
	}
	if status, _ := g.userinfo(t, tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a revoked token: %d", status)
	}

	tok = g.tokens(t, p, docScope)
	if resp, _ := g.form(t, oauth.PathRevoke, p, url.Values{"token": {tok["refresh_token"].(string)}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke refresh: %d", resp.StatusCode)
	}
	if g.introspect(t, p, tok["refresh_token"].(string))["active"] != false || g.introspect(t, p, tok["access_token"].(string))["active"] != false {
		t.Error("revoking a refresh token leaves its family active")
	}
}

func TestRedirectURIMismatch(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	for _, redirect := range []string{"http://127.0.0.1:7777/elsewhere", "http://127.0.0.1:7778/callback", "https://evil.example/callback"} {
		q := authQuery(p, docScope, challenge)
		q.Set("redirect_uri", redirect)
		resp, body := g.do(t, "GET", oauth.PathAuthorize+"?"+q.Encode(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || body["error"] != "invalid_request" {
			t.Errorf("redirect_uri %s: %d location=%q %v; want 400 in place", redirect, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}

func TestScopeOutsideAllowance(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	loc := g.authorize(t, authQuery(p, "openid documents:diploma", challenge))
	assertErrorRedirect(t, g, loc, "invalid_scope")
}

func TestClientCredentials(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}})
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, body)
	}
	if in := g.introspect(t, p, body["access_token"].(string)); in["active"] != true || in["sub"] != nil {
		t.Errorf("machine token introspection: %v (want active, no subject)", in)
	}
	for _, scope := range []string{"documents:id_card", "openid", "offline_access"} {
		resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("client_credentials with %s: %d %v, want invalid_scope", scope, resp.StatusCode, body)
		}
	}
}

func TestPARRequired(t *testing.T) {
	g := start(t)
	p := g.onboard(t, map[string]any{"require_pushed_authorization_requests": true})
	verifier, challenge := pkce()

	loc := g.authorize(t, authQuery(p, docScope, challenge))
	assertErrorRedirect(t, g, loc, "invalid_request")

	resp, body := g.form(t, oauth.PathPAR, p, authQuery(p, docScope, challenge))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR: %d %v", resp.StatusCode, body)
	}
	requestURI, _ := body["request_uri"].(string)
	loc = g.authorize(t, url.Values{"client_id": {p.id}, "request_uri": {requestURI}})
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("iss") != g.base || loc.Query().Get("state") != "state-1234567890" {
		t.Fatalf("authorize through PAR redirected to %s", loc)
	}
	resp, body = g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token after PAR: %d %v", resp.StatusCode, body)
	}
	// A request_uri is single-use.
	resp, _ = g.do(t, "GET", oauth.PathAuthorize+"?"+url.Values{"client_id": {p.id}, "request_uri": {requestURI}}.Encode(), nil, nil)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "code=") {
		t.Error("a used request_uri gave a second code")
	}
}

func TestSuspensionKillsTokens(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	tok := g.tokens(t, p, docScope)
	if status, _ := g.userinfo(t, tok["access_token"].(string)); status != http.StatusOK {
		t.Fatalf("userinfo before suspension: %d", status)
	}
	if resp, body := g.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/suspend", nil); resp.StatusCode != http.StatusOK || body["status"] != "suspended" {
		t.Fatalf("suspend: %d %v", resp.StatusCode, body)
	}
	if status, _ := g.userinfo(t, tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("userinfo after suspension: %d, want 401", status)
	}
	resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}})
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("a suspended partner got a token: %d %v", resp.StatusCode, body)
	}
	// Resuming admits the partner again but does not revive old tokens.
	if resp, _ := g.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/resume", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	if in := g.introspect(t, p, tok["access_token"].(string)); in["active"] != false {
		t.Error("a token from before the suspension works again after resume")
	}
	if resp, _ := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); resp.StatusCode == http.StatusOK {
		t.Error("a refresh token from before the suspension works after resume")
	}
}

// Two gateways on one database are one service: tokens and revocations made
// on one hold on the other at once.
func TestTwoInstancesShareState(t *testing.T) {
	db := pgtestURL(t)
	a := startOn(t, db, approve{citizen: citizenIIN})
	b := startOn(t, db, approve{citizen: citizenIIN})
	p := a.onboard(t, nil)

	tok := a.tokens(t, p, docScope)
	if in := b.introspect(t, p, tok["access_token"].(string)); in["active"] != true {
		t.Fatalf("B does not see A's token: %v", in)
	}
	if status, _ := b.userinfo(t, tok["access_token"].(string)); status != http.StatusOK {
		t.Fatalf("userinfo on B with A's token: %d", status)
	}
	resp, _ := b.form(t, oauth.PathRevoke, p, url.Values{"token": {tok["access_token"].(string)}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on B: %d", resp.StatusCode)
	}
	if status, _ := a.userinfo(t, tok["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("A still accepts a token revoked on B: %d", status)
	}
	// Both publish the same signing key, made once.
	_, ja := a.do(t, "GET", oauth.PathJWKS, nil, nil)
	_, jb := b.do(t, "GET", oauth.PathJWKS, nil, nil)
	if len(ja["keys"].([]any)) != 1 || ja["keys"].([]any)[0].(map[string]any)["kid"] != jb["keys"].([]any)[0].(map[string]any)["kid"] {
		t.Errorf("JWKS differ: %v vs %v", ja, jb)
	}
}

func TestConsentUnavailableNeverApproves(t *testing.T) {
	g := startOn(t, pgtestURL(t), oauth.Unavailable{})
	p := g.onboard(t, nil)
	_, challenge := pkce()
	loc := g.authorize(t, authQuery(p, docScope, challenge))
	assertErrorRedirect(t, g, loc, "temporarily_unavailable")
}
