package registry

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/consent"
)

// Issuer signatures. A document is signed by the authority that issued
// it, as a compact JWS:
//
//	header  {"alg": "ES256", "kid": "<authority key>", "typ": "issued-document+jwt"}
//	payload {"iss": "<authority id>", "iat": …, "document": {"type", "number",
//	         "issued", "expires", "authority", "holder": {"name", "iin"}, "fields", "status"}}
//
// The gateway trusts an authority's keys from a trust list (one JWKS per
// authority), verifies the signature of every document it reads, and
// delivers the authority's JWS inside its own (document.issued_document).

// TypeIssued is the JWS type of an authority's signed document.
const TypeIssued = "issued-document+jwt"

// issuedAlgs are the algorithms an authority may sign with.
var issuedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.PS256, jose.RS256}

// issuedClaims is the payload of an authority's signed document.
type issuedClaims struct {
	Issuer   string           `json:"iss"`
	IssuedAt int64            `json:"iat"`
	Document consent.Document `json:"document"`
}

// authority is one issuing authority of a trust list.
type authority struct {
	ID   string             `json:"id"`
	Name string             `json:"name"`
	JWKS jose.JSONWebKeySet `json:"jwks"`
}

// trustFile is the format of a trust list (and of the demo authorities,
// whose keys are private).
type trustFile struct {
	Authorities []authority `json:"authorities"`
}

//go:embed authorities.json
var demoAuthorities []byte

// TrustList verifies documents against the authorities it trusts. Read
// from a file, it reloads it when it changes (Reload), so an authority's
// new key is trusted, and a withdrawn one no longer, without a restart.
// Safe for concurrent use.
type TrustList struct {
	path string

	mu       sync.RWMutex
	modTime  time.Time
	byKey    map[string]authority // by kid
	byID     map[string]authority
	verified map[[32]byte]verifiedDoc // JWS already verified, under this list
}

type verifiedDoc struct {
	doc consent.Document
	sig consent.SignatureState
}

// maxVerified bounds the memo of verified documents.
const maxVerified = 100_000

var _ consent.IssuerCheck = (*TrustList)(nil)

// NewTrustList reads the trust list at path.
func NewTrustList(path string) (*TrustList, error) {
	t := &TrustList{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// DemoTrustList trusts the demo authorities' keys.
func DemoTrustList() (*TrustList, error) {
	t := &TrustList{}
	if err := t.load(demoAuthorities); err != nil {
		return nil, fmt.Errorf("demo authorities: %w", err)
	}
	return t, nil
}

// Reload reads the file again when it changed since it was read.
func (t *TrustList) Reload() error {
	if t.path == "" {
		return nil
	}
	st, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("trust list: %w", err)
	}
	t.mu.RLock()
	same := st.ModTime().Equal(t.modTime)
	t.mu.RUnlock()
	if same {
		return nil
	}
	raw, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("trust list: %w", err)
	}
	if err := t.load(raw); err != nil {
		return fmt.Errorf("trust list %s: %w", t.path, err)
	}
	t.mu.Lock()
	t.modTime = st.ModTime()
	t.mu.Unlock()
	return nil
}

func (t *TrustList) load(raw []byte) error {
	var f trustFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return err
	}
	if len(f.Authorities) == 0 {
		return errors.New("no authorities")
	}
	byKey, byID := map[string]authority{}, map[string]authority{}
	for i, a := range f.Authorities {
		if a.ID == "" || a.Name == "" || len(a.JWKS.Keys) == 0 {
			return fmt.Errorf("authorities[%d]: id, name and at least one key are needed", i)
		}
		if _, dup := byID[a.ID]; dup {
			return fmt.Errorf("authority %s is listed twice", a.ID)
		}
		pub := authority{ID: a.ID, Name: a.Name}
		for _, k := range a.JWKS.Keys {
			if k.KeyID == "" || !k.Valid() {
				return fmt.Errorf("authority %s: a key without a kid, or not a valid key", a.ID)
			}
			if _, dup := byKey[k.KeyID]; dup {
				return fmt.Errorf("key %s is listed twice", k.KeyID)
			}
			pub.JWKS.Keys = append(pub.JWKS.Keys, k.Public())
		}
		byID[a.ID] = pub
		for _, k := range pub.JWKS.Keys {
			byKey[k.KeyID] = pub
		}
	}
	t.mu.Lock()
	t.byKey, t.byID, t.verified = byKey, byID, map[[32]byte]verifiedDoc{}
	t.mu.Unlock()
	return nil
}

// Authorities returns the public keys of every trusted authority, as
// published for partners and verifiers: id, name and JWKS.
func (t *TrustList) Authorities() []consent.Authority {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]consent.Authority, 0, len(t.byID))
	for _, a := range t.byID {
		jwks, _ := json.Marshal(a.JWKS)
		out = append(out, consent.Authority{ID: a.ID, Name: a.Name, JWKS: jwks})
	}
	return out
}

// Verify implements consent.IssuerCheck.
func (t *TrustList) Verify(signed string) (consent.Document, consent.SignatureState, error) {
	if signed == "" {
		return consent.Document{}, consent.SignatureState{Problem: "unsigned"}, fmt.Errorf("%w: the document carries no signature", consent.ErrIssuerSignature)
	}
	sum := sha256.Sum256([]byte(signed))
	t.mu.RLock()
	v, ok := t.verified[sum]
	t.mu.RUnlock()
	if ok {
		return v.doc, v.sig, nil
	}
	doc, sig, err := t.verify(signed)
	if err != nil {
		return consent.Document{}, sig, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		t.verified = map[[32]byte]verifiedDoc{}
	}
	t.verified[sum] = verifiedDoc{doc, sig}
	t.mu.Unlock()
	return doc, sig, nil
}

func (t *TrustList) verify(signed string) (consent.Document, consent.SignatureState, error) {
	fail := func(sig consent.SignatureState, format string, args ...any) (consent.Document, consent.SignatureState, error) {
		sig.Problem = fmt.Sprintf(format, args...)
		return consent.Document{}, sig, fmt.Errorf("%w: %s", consent.ErrIssuerSignature, sig.Problem)
	}
	jws, err := jose.ParseSignedCompact(signed, issuedAlgs)
	if err != nil {
		return fail(consent.SignatureState{}, "not a JWS the gateway accepts: %v", err)
	}
	h := jws.Signatures[0].Header
	sig := consent.SignatureState{KeyID: h.KeyID}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TypeIssued {
		return fail(sig, "typ %q, want %s", typ, TypeIssued)
	}
	t.mu.RLock()
	a, ok := t.byKey[h.KeyID]
	t.mu.RUnlock()
	if !ok {
		return fail(sig, "key %q is not in the trust list", h.KeyID)
	}
	sig.Authority = a.Name
	var key jose.JSONWebKey
	for _, k := range a.JWKS.Keys {
		if k.KeyID == h.KeyID {
			key = k
		}
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return fail(sig, "signature of %s does not verify", a.ID)
	}
	var c issuedClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return fail(sig, "payload: %v", err)
	}
	if c.Issuer != a.ID {
		return fail(sig, "signed by %s's key for %q", a.ID, c.Issuer)
	}
	if !c.Document.Type.Valid() || c.Document.Number == "" || c.Document.Holder.IIN == "" {
		return fail(sig, "the signed document lacks its type, number or holder")
	}
	sig.Verified = true
	c.Document.Signed = signed
	return c.Document, sig, nil
}

// signer signs documents as one authority, with its newest key.
type signer struct {
	id  string
	sig jose.Signer
}

// demoSigners are the demo authorities' signers, by authority name.
func demoSigners() (map[string]signer, error) {
	var f trustFile
	if err := json.Unmarshal(demoAuthorities, &f); err != nil {
		return nil, err
	}
	out := map[string]signer{}
	for _, a := range f.Authorities {
		k := a.JWKS.Keys[len(a.JWKS.Keys)-1]
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k},
			(&jose.SignerOptions{}).WithType(TypeIssued))
		if err != nil {
			return nil, fmt.Errorf("authority %s: %w", a.ID, err)
		}
		out[a.Name] = signer{id: a.ID, sig: s}
	}
	return out, nil
}

// sign is d as its authority signs it.
func (s signer) sign(d consent.Document, at time.Time) (string, error) {
	d.Signed, d.Relation = "", ""
	if d.Status != consent.StatusRevoked {
		d.Status = "" // the gateway says valid or expired on the day it delivers
	}
	payload, err := json.Marshal(issuedClaims{Issuer: s.id, IssuedAt: at.Unix(), Document: d})
	if err != nil {
		return "", err
	}
	jws, err := s.sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Run re-reads the trust list's file every interval until ctx ends; a
// file that no longer reads keeps the list as it was, and is logged.
func (t *TrustList) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	if t.path == "" {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Reload(); err != nil {
				log.ErrorContext(ctx, "trust list not reloaded; the previous one stays", "err", err)
			}
		}
	}
}
