package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
)

// dpop makes the tool's partners bind their tokens to a key (RFC 9449):
// every token request and every document fetch carries a fresh proof,
// signed here (ES256), with the nonce the gateway last handed out.
type dpop struct {
	signer josev4.Signer
	nonce  atomic.Pointer[string]
}

func newDPoP() (*dpop, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := josev4.NewSigner(josev4.SigningKey{Algorithm: josev4.ES256, Key: k}, (&josev4.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	return &dpop{signer: s}, nil
}

// proof is a proof for method on url (and for token, when set).
func (d *dpop) proof(method, url, token string) string {
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if n := d.nonce.Load(); n != nil {
		c["nonce"] = *n
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, _ := json.Marshal(c)
	jws, err := d.signer.Sign(payload)
	if err != nil {
		panic(err) // an ECDSA signature does not fail
	}
	out, _ := jws.CompactSerialize()
	return out
}

// remember keeps the nonce an answer hands out.
func (d *dpop) remember(h http.Header) {
	if n := h.Get("DPoP-Nonce"); n != "" {
		d.nonce.Store(&n)
	}
}

// rawGetDPoP is a GET with a DPoP-bound token and its proof.
func rawGetDPoP(host, path, token, proof string) []byte {
	return []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: DPoP %s\r\nDPoP: %s\r\n\r\n", path, host, token, proof))
}
