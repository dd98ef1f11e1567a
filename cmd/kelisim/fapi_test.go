package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/kelisim/kelisim/oauth"
)

// A bank's mobile app receives the code at a private-use scheme in
// reverse-domain form (RFC 8252), matched exactly.
func TestNativeAppRedirect(t *testing.T) {
	g := start(t)
	const app = "kz.examplebank.app:/oauth/callback"
	if resp, body := g.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "App", "redirect_uris": []string{"javascript:alert(1)"},
		"documents": []string{"id_card"}, "admission": testAdmission}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "redirect_uris[0]") {
		t.Errorf("a javascript: redirect: %d %v", resp.StatusCode, body)
	}
	p := g.onboard(t, map[string]any{"redirect_uris": []string{app}})
	_, challenge := pkce()
	loc := g.authorize(t, authQuery(p, docScope, challenge))
	if !strings.HasPrefix(loc.String(), app+"?") || loc.Query().Get("code") == "" || loc.Query().Get("iss") == "" {
		t.Fatalf("redirect to the app: %s", loc)
	}
	tok := g.tokens(t, p, docScope)
	if tok["access_token"] == nil {
		t.Fatalf("the app's token: %v", tok)
	}
	q := authQuery(p, docScope, challenge)
	q.Set("redirect_uri", "kz.examplebank.app:/oauth/other")
	resp, _ := g.do(t, "GET", oauth.PathAuthorize+"?"+q.Encode(), nil, nil)
	if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "kz.examplebank.app:/oauth/other") {
		t.Errorf("a redirect URI that is not registered was followed")
	}
}

// A partner on the FAPI 2.0 profile uses PAR, private_key_jwt and DPoP, or
// gets nothing.
func TestFAPI2Profile(t *testing.T) {
	g := startWith(t, options{db: pgtestURL(t), consent: approve{citizen: citizenIIN}, env: map[string]string{"KELISIM_ISSUER": sharedIssuer}})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bank-1", Algorithm: "ES256", Use: "sig"}}}
	if resp, body := g.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "Bank", "profile": "fapi2",
		"token_endpoint_auth_method": "client_secret_basic", "redirect_uris": []string{"https://bank.example/cb"}, "documents": []string{"id_card"},
		"admission": testAdmission}); resp.StatusCode != http.StatusBadRequest || strings.Contains(fmt.Sprint(body), "admission") {
		t.Errorf("fapi2 with a client secret: %d %v", resp.StatusCode, body)
	}
	p := g.onboard(t, map[string]any{"profile": "fapi2", "jwks": jwks})
	_, reg := g.adminDo(t, "GET", "/admin/v1/partners/"+p.id, nil)
	if reg["require_pushed_authorization_requests"] != true || reg["dpop_bound_access_tokens"] != true || reg["token_endpoint_auth_method"] != "private_key_jwt" {
		t.Fatalf("a fapi2 partner: %v", reg)
	}
	auth := func() url.Values {
		return url.Values{"client_id": {p.id}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {clientAssertion(t, key, "bank-1", p.id, sharedIssuer, randomJTI())}}
	}
	verifier, challenge := pkce()
	if loc := g.authorize(t, authQuery(p, docScope, challenge)); loc.Query().Get("error") != "invalid_request" {
		t.Errorf("authorize without PAR: %s", loc)
	}
	dk := newDPoPKey(t)
	par := auth()
	for k, v := range authQuery(p, docScope, challenge) {
		par[k] = v
	}
	par.Set("dpop_jkt", dk.thumbprint())
	resp, body := g.do(t, "POST", oauth.PathPAR, strings.NewReader(par.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR: %d %v", resp.StatusCode, body)
	}
	loc := g.authorize(t, url.Values{"client_id": {p.id}, "request_uri": {body["request_uri"].(string)}})
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("iss") != sharedIssuer {
		t.Fatalf("authorize with PAR: %s", loc)
	}
	exchange := auth()
	for k, v := range (url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {p.redirect}, "code_verifier": {verifier}}) {
		exchange[k] = v
	}
	if resp, body := g.form(t, oauth.PathToken, partner{}, exchange); resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("the code without a proof: %d %v", resp.StatusCode, body)
	}
	var tok map[string]any
	for try := 0; try < 2; try++ {
		exchange.Set("client_assertion", clientAssertion(t, key, "bank-1", p.id, sharedIssuer, randomJTI()))
		resp, tok = g.do(t, "POST", oauth.PathToken, strings.NewReader(exchange.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "DPoP": {dk.proof("POST", sharedIssuer+oauth.PathToken, "")}})
		dk.remember(resp)
		if tok["error"] != "use_dpop_nonce" {
			break
		}
	}
	if resp.StatusCode != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("the code with its proof: %d %v", resp.StatusCode, tok)
	}
}
