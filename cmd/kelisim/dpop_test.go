package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/oauth"
)

// dpopKey is a partner's DPoP key: it signs proofs (RFC 9449 §4).
type dpopKey struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	signer josev4.Signer
	nonce  string // the server's, from the last DPoP-Nonce header seen
}

// remember keeps the nonce an answer hands out, as a client does.
func (k *dpopKey) remember(resp *http.Response) {
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		k.nonce = n
	}
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := josev4.NewSigner(josev4.SigningKey{Algorithm: josev4.ES256, Key: k}, (&josev4.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{t: t, key: k, signer: s}
}

func (k *dpopKey) thumbprint() string {
	jwk := josev4.JSONWebKey{Key: k.key.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		k.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proof is a fresh proof for a request to the gateway at base (and for
// token, when set).
func (k *dpopKey) proof(method, url, token string) string {
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if k.nonce != "" {
		c["nonce"] = k.nonce
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, _ := json.Marshal(c)
	jws, err := k.signer.Sign(payload)
	if err != nil {
		k.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// tokenWith posts a token request with a proof of key (none when nil),
// once more with the server's nonce when it asks for one, as a client
// following RFC 9449 §8 does.
func (g *gw) tokenWith(t *testing.T, p partner, key *dpopKey, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	for try := 0; ; try++ {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(p.id)+":"+url.QueryEscape(p.secret)))}}
		if key != nil {
			h.Set("DPoP", key.proof("POST", sharedIssuer+oauth.PathToken, ""))
		}
		resp, body := g.do(t, "POST", oauth.PathToken, strings.NewReader(form.Encode()), h)
		if key == nil || body["error"] != "use_dpop_nonce" || try > 0 {
			return resp, body
		}
		key.remember(resp)
	}
}

// sharedIssuer is the public URL both replicas of a test answer as, as
// behind one load balancer: a proof names it, whichever replica gets it.
const sharedIssuer = "http://127.0.0.1:9"

// A partner binds its tokens to a key: the code by dpop_jkt, the tokens
// by the proof, refreshes to the same key. A bound token works only with
// a fresh proof of that key, on any replica, and a proof is spent once
// across replicas.
func TestDPoPAcrossReplicas(t *testing.T) {
	db := pgtestURL(t)
	replica := func() *gw {
		return startWith(t, options{db: db, consent: approve{citizen: citizenIIN}, env: map[string]string{"KELISIM_ISSUER": sharedIssuer}})
	}
	a, b := replica(), replica()
	p := a.onboard(t, nil)
	key, other := newDPoPKey(t), newDPoPKey(t)

	verifier, challenge := pkce()
	q := authQuery(p, docScope, challenge)
	q.Set("dpop_jkt", key.thumbprint())
	code := a.authorize(t, q).Query().Get("code")
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {p.redirect}, "code_verifier": {verifier}}
	if resp, body := b.tokenWith(t, p, nil, exchange); resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("a code bound by dpop_jkt exchanged without a proof: %d %v", resp.StatusCode, body)
	}
	if resp, body := b.tokenWith(t, p, other, exchange); resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("a code bound by dpop_jkt exchanged with another key: %d %v", resp.StatusCode, body)
	}
	resp, tok := b.tokenWith(t, p, key, exchange)
	if resp.StatusCode != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("the code with its key: %d %v", resp.StatusCode, tok)
	}
	at := tok["access_token"].(string)
	if in := a.introspect(t, p, at); in["token_type"] != "DPoP" || in["cnf"].(map[string]any)["jkt"] != key.thumbprint() {
		t.Errorf("introspection: %v", in)
	}

	// userinfo is a resource endpoint like the others; the documents API
	// checks credentials the same way before anything else.
	call := func(g *gw, path, scheme, proof string) *http.Response {
		h := http.Header{"Authorization": {scheme + " " + at}}
		if proof != "" {
			h.Set("DPoP", proof)
		}
		resp, _ := g.do(t, "GET", path, nil, h)
		return resp
	}
	proof := key.proof("GET", sharedIssuer+oauth.PathUserinfo, at)
	if resp := call(a, oauth.PathUserinfo, "DPoP", proof); resp.StatusCode != 200 {
		t.Fatalf("userinfo with the token and its proof: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := call(b, oauth.PathUserinfo, "DPoP", proof); resp.StatusCode != 401 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `DPoP error="invalid_dpop_proof"`) {
		t.Errorf("the same proof on the other replica: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	stale := &dpopKey{t: t, key: key.key, signer: key.signer, nonce: "c3RhbGU"}
	if resp := call(b, oauth.PathUserinfo, "DPoP", stale.proof("GET", sharedIssuer+oauth.PathUserinfo, at)); resp.StatusCode != 401 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || resp.Header.Get("DPoP-Nonce") != key.nonce {
		t.Errorf("a proof with a stale nonce: %d %q, nonce %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("DPoP-Nonce"))
	}
	for _, path := range []string{oauth.PathUserinfo, "/api/v1/documents", "/api/v1/me/grants"} {
		if resp := call(b, path, "Bearer", ""); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("%s: the bound token as Bearer: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if resp := call(b, path, "DPoP", other.proof("GET", sharedIssuer+path, at)); resp.StatusCode != 401 {
			t.Errorf("%s: a proof of another key: %d", path, resp.StatusCode)
		}
		if resp := call(b, path, "DPoP", key.proof("POST", sharedIssuer+path, at)); resp.StatusCode != 401 {
			t.Errorf("%s: a proof for another method: %d", path, resp.StatusCode)
		}
	}

	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	if resp, body := a.tokenWith(t, p, nil, refresh); resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("a bound refresh token without a proof: %d %v", resp.StatusCode, body)
	}
	if resp, body := a.tokenWith(t, p, other, refresh); resp.StatusCode != 400 {
		t.Errorf("a bound refresh token with another key: %d %v", resp.StatusCode, body)
	}
	resp, again := a.tokenWith(t, p, key, refresh)
	if resp.StatusCode != 200 || again["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", resp.StatusCode, again)
	}
	if in := b.introspect(t, p, again["access_token"].(string)); in["cnf"].(map[string]any)["jkt"] != key.thumbprint() {
		t.Errorf("the refreshed token is not bound to the key: %v", in)
	}

	// A partner registered with dpop_bound_access_tokens gets no token
	// without a proof; discovery says which proofs are taken.
	bound := a.onboard(t, map[string]any{"dpop_bound_access_tokens": true})
	verifier, challenge = pkce()
	code = a.authorize(t, authQuery(bound, docScope, challenge)).Query().Get("code")
	exchange = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {bound.redirect}, "code_verifier": {verifier}}
	if resp, body := b.tokenWith(t, bound, nil, exchange); resp.StatusCode != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("dpop_bound_access_tokens without a proof: %d %v", resp.StatusCode, body)
	}
	if resp, body := b.tokenWith(t, bound, key, exchange); resp.StatusCode != 200 || body["token_type"] != "DPoP" {
		t.Errorf("dpop_bound_access_tokens with a proof: %d %v", resp.StatusCode, body)
	}
	_, disco := a.do(t, "GET", oauth.PathDiscovery, nil, nil)
	if algs, _ := disco["dpop_signing_alg_values_supported"].([]any); len(algs) != 3 {
		t.Errorf("discovery: %v", disco["dpop_signing_alg_values_supported"])
	}
}
