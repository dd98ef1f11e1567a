package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/kelisim/kelisim/consent"
	"github.com/ory/fosite"
)

// DPoP (RFC 9449): a partner proves, with every token request and every
// use of a token, that it holds a private key; tokens issued with a proof
// are bound to that key's thumbprint, so a stolen token is useless without
// the key. Proofs are checked with go-jose v4; fosite knows nothing of
// them.

// DPoPAlgs are the proof signature algorithms accepted.
var DPoPAlgs = []josev4.SignatureAlgorithm{josev4.ES256, josev4.PS256, josev4.EdDSA}

// DPoPAlgValues is DPoPAlgs as discovery and WWW-Authenticate name them.
const DPoPAlgValues = "ES256 PS256 EdDSA"

// Proof windows: a proof is fresh from DPoPMaxAge before now until
// dpopMaxSkew after it (clocks of partners run a little apart). Its jti is
// remembered, in the store, for as long as it is fresh.
const (
	DPoPMaxAge  = 60 * time.Second
	dpopMaxSkew = 5 * time.Second
	dpopMaxSize = 8 << 10
)

// KindDPoP records a DPoP proof's jti, kept to refuse its replay.
const KindDPoP Kind = "dpop"

// ErrUseNonce: the proof lacks the server's current nonce; the partner
// retries with the one in the DPoP-Nonce header (RFC 9449 §8).
var ErrUseNonce = errors.New("the DPoP proof must carry the server's nonce")

// ErrInvalidProof: a DPoP proof is missing where one is needed, malformed,
// badly signed, for another request, key or token, stale, or replayed.
var ErrInvalidProof = errors.New("invalid DPoP proof")

// proofError says what is wrong with a proof; it is ErrInvalidProof.
type proofError struct{ why string }

func (e *proofError) Error() string { return "invalid DPoP proof: " + e.why }
func (e *proofError) Unwrap() error { return ErrInvalidProof }

func badProof(format string, args ...any) error {
	return &proofError{why: fmt.Sprintf(format, args...)}
}

var thumbprintRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// validThumbprint reports whether s can be a base64url SHA-256 JWK
// thumbprint (dpop_jkt, cnf.jkt).
func validThumbprint(s string) bool { return thumbprintRE.MatchString(s) }

type proofClaims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	ATH   string      `json:"ath"`
	Nonce string      `json:"nonce"`
}

// CheckProof checks the DPoP proof of request r, sent to the gateway's
// path (its public URL is the issuer and the path), and returns the
// thumbprint of the key that signed it. token, when set, is the access
// token the proof must be bound to (ath); jkt, when set, the key it must
// be signed with. The proof's jti is then spent: the same proof is refused
// on every replica for as long as it is fresh.
func (s *Server) CheckProof(ctx context.Context, r *http.Request, token, jkt string) (string, error) {
	values := r.Header.Values("DPoP")
	if len(values) == 0 {
		return "", badProof("no DPoP header")
	}
	if len(values) > 1 {
		return "", badProof("more than one DPoP header")
	}
	p, err := s.verifyProof(values[0], r.Method, s.cfg.Issuer+r.URL.Path, token)
	if err != nil {
		return "", err
	}
	got := p.jkt
	if s.cfg.DPoPNonce && !s.nonces.valid(p.nonce) {
		return "", ErrUseNonce // the jti is not spent: the retry makes a new proof anyway
	}
	if jkt != "" && got != jkt {
		return "", badProof("signed with another key than the token is bound to")
	}
	// Remembered under the key and the jti, until the proof is stale. A
	// request decided again (see Server.settle) meets its own proof.
	sum := sha256.Sum256([]byte(got + "|" + p.jti))
	sig := base64.RawURLEncoding.EncodeToString(sum[:])
	cache := cacheOf(ctx)
	if cache.ownJTI("dpop:" + sig) {
		return got, nil
	}
	rec := Record{Kind: KindDPoP, Signature: sig, Active: true, ExpiresAt: p.iat.Add(DPoPMaxAge + dpopMaxSkew)}
	switch err := s.storage.store.CreateRecord(ctx, rec); {
	case errors.Is(err, ErrConflict):
		return "", badProof("replayed")
	case err != nil:
		return "", err
	}
	cache.storedJTI("dpop:" + sig)
	return got, nil
}

// checkedProof is what a proof that verified says.
type checkedProof struct {
	jkt   string // the thumbprint of the key that signed it
	jti   string
	iat   time.Time
	nonce string // the server nonce it carries, if any
}

// verifyProof checks one proof for method and url (and for token, when
// set): its form, its signature by the key in its header, and its claims.
func (s *Server) verifyProof(proof, method, url, token string) (checkedProof, error) {
	if len(proof) > dpopMaxSize || strings.Count(proof, ".") != 2 {
		return checkedProof{}, badProof("not a compact JWS")
	}
	jws, err := josev4.ParseSignedCompact(proof, DPoPAlgs)
	if err != nil {
		return checkedProof{}, badProof("not a JWS signed with %s", DPoPAlgValues)
	}
	if len(jws.Signatures) != 1 {
		return checkedProof{}, badProof("not one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[josev4.HeaderType].(string); typ != "dpop+jwt" {
		return checkedProof{}, badProof("typ is not dpop+jwt")
	}
	key := h.JSONWebKey
	if key == nil || !key.Valid() || !key.IsPublic() {
		return checkedProof{}, badProof("the jwk header is not a public key")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return checkedProof{}, badProof("the signature does not verify with its jwk")
	}
	var c proofClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return checkedProof{}, badProof("the claims are not a JSON object with string jti, htm, htu, ath and nonce")
	}
	if c.JTI == "" || len(c.JTI) > 256 {
		return checkedProof{}, badProof("no jti")
	}
	if c.HTM != method {
		return checkedProof{}, badProof("htm is not %s", method)
	}
	if c.HTU != url {
		return checkedProof{}, badProof("htu is not %s", url)
	}
	secs, err := c.IAT.Int64()
	if err != nil {
		return checkedProof{}, badProof("no iat")
	}
	iat, now := time.Unix(secs, 0), s.now()
	if iat.Before(now.Add(-DPoPMaxAge)) || iat.After(now.Add(dpopMaxSkew)) {
		return checkedProof{}, badProof("iat is outside the accepted window")
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		if c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return checkedProof{}, badProof("ath is not the hash of the access token")
		}
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return checkedProof{}, badProof("no thumbprint")
	}
	return checkedProof{jkt: base64.RawURLEncoding.EncodeToString(tp), jti: c.JTI, iat: iat, nonce: c.Nonce}, nil
}

// AuthorizationToken returns the access token of the Authorization header
// and whether it came under the DPoP scheme rather than Bearer (schemes
// are case-insensitive, RFC 7235 §2.1). Only there: a token in a query or a
// form body leaks into logs and histories.
func AuthorizationToken(r *http.Request) (token string, dpop, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || token == "" {
		return "", false, false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return token, false, true
	case strings.EqualFold(scheme, "DPoP"):
		return token, true, true
	}
	return "", false, false
}

// Challenge is the WWW-Authenticate value of a resource endpoint's 401:
// for a DPoP-bound token (or a DPoP presentation) the DPoP scheme with the
// accepted algorithms, else Bearer.
func Challenge(dpop bool, errCode string) string {
	if dpop {
		if errCode == "" {
			return `DPoP algs="` + DPoPAlgValues + `"`
		}
		return `DPoP error="` + errCode + `", algs="` + DPoPAlgValues + `"`
	}
	if errCode == "" {
		return `Bearer realm="kelisim"`
	}
	return `Bearer realm="kelisim", error="` + errCode + `"`
}

// errDPoP is a proof failure as the token endpoint answers it: the
// invalid_dpop_proof error of RFC 9449 §5; a store failure stays one.
func errDPoP(err error) error {
	if errors.Is(err, ErrUseNonce) {
		return &fosite.RFC6749Error{ErrorField: "use_dpop_nonce", DescriptionField: "The DPoP proof must carry the nonce of the DPoP-Nonce header.",
			CodeField: http.StatusBadRequest}
	}
	if !errors.Is(err, ErrInvalidProof) {
		return err
	}
	return &fosite.RFC6749Error{ErrorField: "invalid_dpop_proof", DescriptionField: "The DPoP proof is missing or invalid.",
		HintField: strings.TrimPrefix(err.Error(), "invalid DPoP proof: "), CodeField: http.StatusBadRequest}
}

// checkDPoPJKT refuses a dpop_jkt that cannot be a key's thumbprint.
func checkDPoPJKT(ar fosite.AuthorizeRequester) error {
	if j := ar.GetRequestForm().Get("dpop_jkt"); j != "" && !validThumbprint(j) {
		return fosite.ErrInvalidRequest.WithHint("dpop_jkt is not a base64url SHA-256 JWK thumbprint.")
	}
	return nil
}

// ResourceError is why a resource endpoint refuses a request's
// credentials: it answers 401 with Challenge as WWW-Authenticate.
type ResourceError struct {
	Challenge   string
	Description string
	Nonce       string // for the DPoP-Nonce header, when the proof needs one
}

func (e *ResourceError) Error() string { return e.Description }

// Access checks the credentials of a request to a resource endpoint: an
// access token in the Authorization header — under the DPoP scheme with a
// proof of its key when the token is bound to one, under Bearer when it is
// not. Returns *ResourceError for refused credentials, and an error that
// is consent.ErrUnavailable when the store could not be asked.
func (s *Server) Access(r *http.Request) (AccessInfo, error) {
	token, dpop, ok := AuthorizationToken(r)
	if !ok {
		return AccessInfo{}, &ResourceError{Challenge: Challenge(false, ""), Description: "An access token is required in the Authorization header."}
	}
	ctx := withRequestCache(r.Context())
	info, err := s.AccessToken(ctx, token)
	switch {
	case errors.Is(err, consent.ErrUnavailable):
		return AccessInfo{}, err
	case err != nil:
		return AccessInfo{}, &ResourceError{Challenge: Challenge(dpop, "invalid_token"), Description: "The access token is invalid, expired or revoked."}
	case info.JKT != "" && !dpop:
		return AccessInfo{}, &ResourceError{Challenge: Challenge(true, "invalid_token"),
			Description: "The access token is bound to a key: present it with the DPoP scheme and a proof."}
	case info.JKT == "" && dpop:
		return AccessInfo{}, &ResourceError{Challenge: Challenge(false, "invalid_token"), Description: "The access token is not bound to a key: present it as Bearer."}
	case dpop:
		if s.cfg.DPoPNonce {
			info.DPoPNonce = s.nonces.current()
		}
		if _, err := s.CheckProof(ctx, r, token, info.JKT); err != nil {
			if errors.Is(err, ErrUseNonce) {
				return AccessInfo{}, &ResourceError{Challenge(true, "use_dpop_nonce"), "The DPoP proof must carry the nonce of the DPoP-Nonce header.", info.DPoPNonce}
			}
			if !errors.Is(err, ErrInvalidProof) {
				return AccessInfo{}, fmt.Errorf("check DPoP proof: %w", err)
			}
			return AccessInfo{}, &ResourceError{Challenge(true, "invalid_dpop_proof"), "The DPoP proof is invalid: " + strings.TrimPrefix(err.Error(), "invalid DPoP proof: ") + ".", info.DPoPNonce}
		}
	}
	return info, nil
}
