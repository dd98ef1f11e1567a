package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/kelisim/kelisim/oauth"
)

// A relying party written by others — golang.org/x/oauth2 with
// github.com/coreos/go-oidc/v3 — works against the gateway unchanged.
func TestStandardClients(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	other := g.onboard(t, map[string]any{"client_name": "Other Bank"})
	ctx := oidc.ClientContext(context.Background(), g.http)

	provider, err := oidc.NewProvider(ctx, g.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := oauth2.Config{
		ClientID: p.id, ClientSecret: p.secret, RedirectURL: p.redirect, Endpoint: provider.Endpoint(),
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "documents:id_card"},
	}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-1234567890", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1234567890"))

	resp, err := g.http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize redirected to %q", resp.Header.Get("Location"))
	}
	if loc.Query().Get("iss") != g.base {
		t.Errorf("iss %q", loc.Query().Get("iss"))
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idv := provider.Verifier(&oidc.Config{ClientID: p.id, SupportedSigningAlgs: []string{oidc.ES256}})
	id, err := idv.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if id.Nonce != "nonce-1234567890" || id.Subject == "" || strings.Contains(id.Subject, citizenIIN) {
		t.Errorf("ID token nonce %q subject %q", id.Nonce, id.Subject)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil && id.AccessTokenHash != "" {
		t.Errorf("at_hash: %v", err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != id.Subject {
		t.Fatalf("userinfo: %v %+v", err, info)
	}

	// Refresh through the library: an expired token makes it rotate.
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Error("refresh did not rotate")
	}
	if id2, err := idv.Verify(ctx, fresh.Extra("id_token").(string)); err != nil || id2.Subject != id.Subject {
		t.Errorf("refreshed ID token: %v", err)
	}

	// The same citizen is someone else to another partner.
	otherTok := g.tokens(t, other, "openid")
	if _, body := g.userinfo(t, otherTok["access_token"].(string)); body["sub"] == id.Subject {
		t.Error("two partners see the same subject: sub is not pairwise")
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	g := start(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bank-1", Algorithm: "ES256", Use: "sig"}}}
	p := g.onboard(t, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	if p.secret != "" {
		t.Fatal("a private_key_jwt partner was given a secret")
	}
	assertion := func(aud, jti string) string { return clientAssertion(t, key, "bank-1", p.id, aud, jti) }
	token := func(aud, jti string) (int, map[string]any) {
		resp, body := g.form(t, oauth.PathToken, partner{}, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {p.id},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion(aud, jti)},
		})
		return resp.StatusCode, body
	}
	for _, aud := range []string{g.base, g.base + oauth.PathToken} {
		if status, body := token(aud, randomJTI()); status != http.StatusOK {
			t.Errorf("aud %s: %d %v", aud, status, body)
		}
	}
	if status, body := token("https://elsewhere.example", randomJTI()); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("foreign aud: %d %v, want 401 invalid_client", status, body)
	}
	jti := randomJTI()
	if status, _ := token(g.base, jti); status != http.StatusOK {
		t.Fatal("first use of a jti refused")
	}
	if status, body := token(g.base, jti); status == http.StatusOK {
		t.Errorf("a replayed client assertion was accepted: %v", body)
	}
	// Introspection accepts the same authentication.
	_, tb := token(g.base, randomJTI())
	resp, in := g.form(t, oauth.PathIntrospect, partner{}, url.Values{
		"token": {tb["access_token"].(string)}, "client_id": {p.id},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion(g.base, randomJTI())},
	})
	if resp.StatusCode != http.StatusOK || in["active"] != true {
		t.Errorf("introspection with private_key_jwt: %d %v", resp.StatusCode, in)
	}
}

// clientAssertion is a private_key_jwt client assertion (RFC 7523).
func clientAssertion(t *testing.T, key *ecdsa.PrivateKey, kid, clientID, aud, jti string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestDiscoveryDocument(t *testing.T) {
	g := start(t)
	_, d := g.do(t, "GET", oauth.PathDiscovery, nil, nil)
	want := map[string]any{
		"issuer":                           g.base,
		"token_endpoint":                   g.base + oauth.PathToken,
		"subject_types_supported":          []any{"pairwise"},
		"code_challenge_methods_supported": []any{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"pushed_authorization_request_endpoint":          g.base + oauth.PathPAR,
	}
	for k, v := range want {
		got, _ := json.Marshal(d[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
	scopes, _ := json.Marshal(d["scopes_supported"])
	if !strings.Contains(string(scopes), "documents:socid") {
		t.Errorf("scopes_supported lacks the document scopes: %s", scopes)
	}
}

// A partner may publish its keys at a jwks_uri instead of inline.
func TestPrivateKeyJWTByURI(t *testing.T) {
	g := start(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "uri-1", Algorithm: "ES256", Use: "sig"}}}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(keys.Close)
	p := g.onboard(t, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.URL})
	assertion := clientAssertion(t, key, "uri-1", p.id, g.base, randomJTI())
	resp, body := g.form(t, oauth.PathToken, partner{}, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {p.id},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks_uri client: %d %v", resp.StatusCode, body)
	}
}
