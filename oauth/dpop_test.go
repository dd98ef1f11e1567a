package oauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

const issuer = "https://kelisim.test"

// dpopServer is an OAuth server on the memory store with two verifiers
// (client_credentials, secret "s3cret"): "airport", and "border", which
// registered dpop_bound_access_tokens.
func dpopServer(t testing.TB, nonce bool) *oauth.Server { return dpopServerAt(t, nonce, time.Now) }

// dpopServerAt is dpopServer on the clock now.
func dpopServerAt(t testing.TB, nonce bool, now func() time.Time) *oauth.Server {
	t.Helper()
	var ps []partners.Partner
	for _, id := range []string{"airport", "border"} {
		ps = append(ps, partners.Partner{ID: id, Registration: partners.Registration{ClientName: id, TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope: "verify", Verifier: true, Delivery: partners.DeliveryPull, DPoPBoundAccessTokens: id == "border"}})
	}
	return newTestServer(t, memory.New(), oauth.Config{Issuer: issuer, DPoPNonce: nonce, Consent: oauth.Unavailable{}, Now: now}, ps...)
}

// prover signs DPoP proofs with one P-256 key.
type prover struct{ key *ecdsa.PrivateKey }

func newProver(t *testing.T) prover {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return prover{k}
}

func (p prover) jwk() josev4.JSONWebKey {
	return josev4.JSONWebKey{Key: p.key.Public(), Algorithm: "ES256"}
}

func (p prover) thumbprint(t *testing.T) string {
	k := p.jwk()
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// sign makes a compact ES256 JWS of header and claims by hand, so a test
// can make any header at all.
func (p prover) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// proof is a valid proof for method and url (and token, when set).
func (p prover) proof(t *testing.T, method, url, token string) string {
	return p.sign(t, p.header(), p.claims(method, url, token))
}

func (p prover) header() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": p.jwk()}
}

func (p prover) claims(method, url, token string) map[string]any {
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return c
}

// tokenRequest asks for a client_credentials token, with proof when set.
func tokenRequest(t *testing.T, srv *oauth.Server, client, proof string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
	req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, "s3cret")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	rec := httptest.NewRecorder()
	srv.Token(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func resource(method, path, scheme, token, proof string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

// A token issued with a proof is bound to the proof's key: introspection
// shows cnf.jkt, and the token works only under the DPoP scheme with a
// fresh proof of that key for that request.
func TestDPoPBindsTokens(t *testing.T) {
	srv := dpopServer(t, false)
	key, other := newProver(t), newProver(t)
	code, body := tokenRequest(t, srv, "airport", key.proof(t, "POST", issuer+oauth.PathToken, ""))
	if code != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("token with a proof: %d %v", code, body)
	}
	tok := body["access_token"].(string)

	intro := httptest.NewRequest("POST", oauth.PathIntrospect, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	intro.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	intro.SetBasicAuth("airport", "s3cret")
	rec := httptest.NewRecorder()
	srv.Introspect(rec, intro)
	var in map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &in)
	if cnf, _ := in["cnf"].(map[string]any); in["token_type"] != "DPoP" || cnf["jkt"] != key.thumbprint(t) {
		t.Errorf("introspection: %v", in)
	}

	const path = "/api/v1/verify/history"
	info, err := srv.Access(resource("GET", path, "DPoP", tok, key.proof(t, "GET", issuer+path, tok)))
	if err != nil || info.JKT != key.thumbprint(t) || info.ClientID != "airport" {
		t.Fatalf("a bound token with its proof: %+v %v", info, err)
	}
	replayed := key.proof(t, "GET", issuer+path, tok)
	if _, err := srv.Access(resource("GET", path, "DPoP", tok, replayed)); err != nil {
		t.Fatal(err)
	}
	noATH := key.sign(t, key.header(), key.claims("GET", issuer+path, ""))
	for name, r := range map[string]*http.Request{
		"as Bearer":            resource("GET", path, "Bearer", tok, ""),
		"as Bearer with proof": resource("GET", path, "Bearer", tok, key.proof(t, "GET", issuer+path, tok)),
		"without a proof":      resource("GET", path, "DPoP", tok, ""),
		"with another key":     resource("GET", path, "DPoP", tok, other.proof(t, "GET", issuer+path, tok)),
		"for another method":   resource("GET", path, "DPoP", tok, key.proof(t, "POST", issuer+path, tok)),
		"for another URL":      resource("GET", path, "DPoP", tok, key.proof(t, "GET", issuer+"/api/v1/documents", tok)),
		"with a query in htu":  resource("GET", path, "DPoP", tok, key.proof(t, "GET", issuer+path+"?x=1", tok)),
		"for another token":    resource("GET", path, "DPoP", tok, key.proof(t, "GET", issuer+path, tok+"x")),
		"without ath":          resource("GET", path, "DPoP", tok, noATH),
		"replayed":             resource("GET", path, "DPoP", tok, replayed),
		"with two DPoP headers": func() *http.Request {
			r := resource("GET", path, "DPoP", tok, key.proof(t, "GET", issuer+path, tok))
			r.Header.Add("DPoP", replayed)
			return r
		}(),
	} {
		_, err := srv.Access(r)
		var refused *oauth.ResourceError
		if !errors.As(err, &refused) || !strings.HasPrefix(refused.Challenge, "DPoP ") || !strings.Contains(refused.Challenge, `algs="ES256 PS256 EdDSA"`) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A bearer token stays a bearer token.
	_, body = tokenRequest(t, srv, "airport", "")
	if body["token_type"] != "bearer" && body["token_type"] != "Bearer" {
		t.Fatalf("without a proof: %v", body)
	}
	plain := body["access_token"].(string)
	if _, err := srv.Access(resource("GET", path, "Bearer", plain, "")); err != nil {
		t.Errorf("a bearer token as Bearer: %v", err)
	}
	if _, err := srv.Access(resource("GET", path, "DPoP", plain, key.proof(t, "GET", issuer+path, plain))); err == nil {
		t.Error("a bearer token under the DPoP scheme was accepted")
	}
}

// The token endpoint refuses every malformed proof with invalid_dpop_proof,
// and a partner registered with dpop_bound_access_tokens gets no token
// without a proof.
func TestDPoPProofsAreChecked(t *testing.T) {
	srv := dpopServer(t, false)
	key := newProver(t)
	url := issuer + oauth.PathToken
	with := func(change func(h, c map[string]any)) string {
		h, c := key.header(), key.claims("POST", url, "")
		change(h, c)
		return key.sign(t, h, c)
	}
	private := josev4.JSONWebKey{Key: key.key, Algorithm: "ES256"}
	replayed := key.proof(t, "POST", url, "")
	if code, _ := tokenRequest(t, srv, "airport", replayed); code != 200 {
		t.Fatalf("a good proof: %d", code)
	}
	for name, proof := range map[string]string{
		"replayed":              replayed,
		"typ jwt":               with(func(h, _ map[string]any) { h["typ"] = "JWT" }),
		"no jwk":                with(func(h, _ map[string]any) { delete(h, "jwk") }),
		"a private jwk":         with(func(h, _ map[string]any) { h["jwk"] = private }),
		"alg none":              with(func(h, _ map[string]any) { h["alg"] = "none" }),
		"alg HS256":             with(func(h, _ map[string]any) { h["alg"] = "HS256" }),
		"no jti":                with(func(_, c map[string]any) { delete(c, "jti") }),
		"htm GET":               with(func(_, c map[string]any) { c["htm"] = "GET" }),
		"htu of another server": with(func(_, c map[string]any) { c["htu"] = "https://elsewhere.test" + oauth.PathToken }),
		"iat two minutes old":   with(func(_, c map[string]any) { c["iat"] = time.Now().Add(-2 * time.Minute).Unix() }),
		"iat in the future":     with(func(_, c map[string]any) { c["iat"] = time.Now().Add(time.Minute).Unix() }),
		"no iat":                with(func(_, c map[string]any) { delete(c, "iat") }),
		"not a JWS":             "a.b",
		"a bad signature":       replayed[:len(replayed)-4] + "AAAA",
	} {
		code, body := tokenRequest(t, srv, "airport", proof)
		if code != 400 || body["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	if code, body := tokenRequest(t, srv, "border", ""); code != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("a dpop_bound_access_tokens partner without a proof: %d %v", code, body)
	}
	if code, body := tokenRequest(t, srv, "border", key.proof(t, "POST", url, "")); code != 200 || body["token_type"] != "DPoP" {
		t.Errorf("a dpop_bound_access_tokens partner with a proof: %d %v", code, body)
	}
}

// With nonces on, a proof without the server's nonce is answered
// use_dpop_nonce with the nonce to use; the nonce works on every replica
// (same secret, no store), rotates, and an old one is refused.
func TestDPoPNonces(t *testing.T) {
	srv := dpopServer(t, true)
	key := newProver(t)
	tokenURL := issuer + oauth.PathToken
	post := func(proof string) *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
		req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("airport", "s3cret")
		req.Header.Set("DPoP", proof)
		rec := httptest.NewRecorder()
		srv.Token(rec, req)
		return rec
	}
	rec := post(key.proof(t, "POST", tokenURL, ""))
	nonce := rec.Header().Get("DPoP-Nonce")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"use_dpop_nonce"`) || nonce == "" {
		t.Fatalf("a proof without a nonce: %d %s, nonce %q", rec.Code, rec.Body, nonce)
	}
	withNonce := func(n string) string {
		c := key.claims("POST", tokenURL, "")
		c["nonce"] = n
		return key.sign(t, key.header(), c)
	}
	if rec := post(withNonce(nonce)); rec.Code != 200 {
		t.Fatalf("a proof with the nonce: %d %s", rec.Code, rec.Body)
	}
	for name, n := range map[string]string{
		"a made-up nonce":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"a forged nonce":       nonce[:len(nonce)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(nonce, "AAA")],
		"a nonce not a string": "",
	} {
		proof := withNonce(n)
		if n == "" {
			c := key.claims("POST", tokenURL, "")
			c["nonce"] = 42
			proof = key.sign(t, key.header(), c)
		}
		if rec := post(proof); rec.Code != 400 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// Another replica, sharing the secret and not the memory, takes it.
	other := dpopServer(t, true)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
	req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("airport", "s3cret")
	req.Header.Set("DPoP", withNonce(nonce))
	rec = httptest.NewRecorder()
	other.Token(rec, req)
	if rec.Code != 200 {
		t.Errorf("the nonce on another replica: %d %s", rec.Code, rec.Body)
	}
}

// A nonce lasts its window and the next, then it is stale.
func TestDPoPNonceRotates(t *testing.T) {
	key := newProver(t)
	tokenURL := issuer + oauth.PathToken
	ask := func(srv *oauth.Server, nonce string, at time.Time) *httptest.ResponseRecorder {
		c := key.claims("POST", tokenURL, "")
		c["iat"] = at.Unix()
		if nonce != "" {
			c["nonce"] = nonce
		}
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
		req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("airport", "s3cret")
		req.Header.Set("DPoP", key.sign(t, key.header(), c))
		rec := httptest.NewRecorder()
		srv.Token(rec, req)
		return rec
	}
	now := time.Now()
	nonce := ask(dpopServer(t, true), "", now).Header().Get("DPoP-Nonce")
	later := now.Add(oauth.DPoPNonceEvery)
	if rec := ask(dpopServerAt(t, true, func() time.Time { return later }), nonce, later); rec.Code != 200 {
		t.Errorf("the nonce one window on: %d %s", rec.Code, rec.Body)
	}
	stale := now.Add(2*oauth.DPoPNonceEvery + time.Second)
	rec := ask(dpopServerAt(t, true, func() time.Time { return stale }), nonce, stale)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "use_dpop_nonce") || rec.Header().Get("DPoP-Nonce") == nonce {
		t.Errorf("the nonce two windows on: %d %s, new nonce %q", rec.Code, rec.Body, rec.Header().Get("DPoP-Nonce"))
	}
}

// A DPoP header, whatever it holds, is refused or yields a thumbprint; it
// never panics.
func FuzzDPoPProof(f *testing.F) {
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.e30.AAAA")
	f.Add("a.b.c")
	f.Add("")
	srv := dpopServer(f, false)
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest("GET", "/userinfo", nil)
		r.Header.Set("DPoP", proof)
		jkt, err := srv.CheckProof(context.Background(), r, "", "")
		if err == nil && len(jkt) != 43 {
			t.Fatalf("accepted %q with thumbprint %q", proof, jkt)
		}
	})
}

// downForProofs is the memory store whose proof memory is unreachable.
type downForProofs struct {
	*memory.Store
	down *atomic.Bool
}

func (d downForProofs) CreateRecord(ctx context.Context, r oauth.Record) error {
	if r.Kind == oauth.KindDPoP && d.down.Load() {
		consent.NoteUnavailable(ctx)
		return fmt.Errorf("insert: %w", consent.ErrUnavailable)
	}
	return d.Store.CreateRecord(ctx, r)
}

// When the store cannot remember a proof, nothing is decided: the token
// endpoint answers 503 temporarily_unavailable, and a resource gets an
// unavailable error, never a refusal of the partner's credentials.
func TestDPoPWithTheStoreDown(t *testing.T) {
	st := downForProofs{Store: memory.New(), down: new(atomic.Bool)}
	srv := newTestServer(t, st, oauth.Config{Issuer: issuer, Consent: oauth.Unavailable{}}, partners.Partner{ID: "airport",
		Registration: partners.Registration{ClientName: "airport", TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope: "verify", Verifier: true, Delivery: partners.DeliveryPull}})
	key := newProver(t)
	_, bound := tokenRequest(t, srv, "airport", key.proof(t, "POST", issuer+oauth.PathToken, ""))
	st.down.Store(true)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
	req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("airport", "s3cret")
	req.Header.Set("DPoP", key.proof(t, "POST", issuer+oauth.PathToken, ""))
	req = req.WithContext(consent.WatchStore(req.Context()))
	rec := httptest.NewRecorder()
	srv.Token(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "temporarily_unavailable") {
		t.Errorf("token with the proof memory down: %d %s", rec.Code, rec.Body)
	}
	tok := bound["access_token"].(string)
	r := resource("GET", "/api/v1/verify/history", "DPoP", tok, key.proof(t, "GET", issuer+"/api/v1/verify/history", tok))
	_, err := srv.Access(r.WithContext(consent.WatchStore(r.Context())))
	var refused *oauth.ResourceError
	if err == nil || errors.As(err, &refused) || !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("a bound token's proof with the store down: %v, want an unavailable error", err)
	}
}
