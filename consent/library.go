package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// The documents part: reading a citizen's documents from the state systems
// and signing them for whoever receives them. Pull (Fetcher), push
// (Outbox) and shares (Shares) all go through a Library, so a document
// reads and signs the same whichever way it leaves the gateway.

// Signer signs payloads as compact JWS with a key in the published JWKS.
type Signer interface {
	Sign(payload []byte, typ string) (string, error)
}

// JWS types of what the gateway signs.
const (
	TypeDocument = "kelisim-document+jwt"
	TypeDelivery = "kelisim-delivery+jwt"
)

// LibraryConfig is what a Library is built from.
type LibraryConfig struct {
	Issuer      string        // iss of everything signed
	DocumentTTL time.Duration // exp of a signed document (5 min)
	Registry    Registry      // who represents whom
	Source      DocumentSource
	// Issuers verifies each document's issuer signature, on every read.
	Issuers IssuerCheck
	Signer  Signer
	// Encrypt wraps a JWS in a JWE to a partner's key; nil when no
	// partner may register one.
	Encrypt func(jws string, jwk []byte) (string, error)
	// Pairwise is the subject a partner knows a citizen by.
	Pairwise func(clientID, citizen string) string
	Now      func() time.Time
	Log      *slog.Logger // documents refused for their signature
}

// Library reads documents and signs them.
type Library struct{ cfg LibraryConfig }

// NewLibrary checks cfg and returns the library.
func NewLibrary(cfg LibraryConfig) (*Library, error) {
	if err := required(map[string]bool{
		"Issuer": cfg.Issuer == "", "Registry": cfg.Registry == nil, "Source": cfg.Source == nil,
		"Signer": cfg.Signer == nil, "Pairwise": cfg.Pairwise == nil, "Now": cfg.Now == nil,
		"Issuers": cfg.Issuers == nil, "Log": cfg.Log == nil,
	}); err != nil {
		return nil, fmt.Errorf("consent.NewLibrary: %w", err)
	}
	if cfg.DocumentTTL <= 0 {
		return nil, errors.New("consent.NewLibrary: DocumentTTL must be positive")
	}
	return &Library{cfg: cfg}, nil
}

// Covered returns the documents grant g lets its partner see, of type t
// (all covered types when t is empty): those of the holders the grant
// names, the citizen's own and those of minors the registry says the
// citizen still represents.
func (l *Library) Covered(ctx context.Context, g Grant, t DocumentType) ([]Document, error) {
	citizen, err := l.cfg.Registry.Citizen(ctx, g.Citizen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	var out []Document
	now := l.cfg.Now()
	for i, holder := range append([]IIN{g.Citizen}, minorsAt(citizen.Represents, now)...) {
		if !g.Covers(holder) {
			continue // not named in the grant, or no longer represented
		}
		docs, err := l.read(ctx, holder)
		if err != nil {
			return nil, err
		}
		for _, r := range docs {
			doc := r.Document
			if !slices.Contains(g.Documents, doc.Type) || (t != "" && doc.Type != t) {
				continue
			}
			if r.Err != nil {
				return nil, r.Err // never delivered
			}
			doc.Status = doc.statusOn(now)
			doc.Relation = RelationSelf
			if i > 0 {
				doc.Relation = RelationRepresented
			}
			out = append(out, doc)
		}
	}
	return out, nil
}

// Current returns document t of holder (the citizen, or a minor the
// citizen represents) as the source has it now, with its issuer
// signature's state. Returns ErrNoDocument when there is none, it is no
// longer valid, or the citizen no longer represents holder, and
// ErrIssuerSignature when its signature does not verify.
func (l *Library) Current(ctx context.Context, citizen, holder IIN, t DocumentType) (ReadDocument, error) {
	if holder != citizen {
		c, err := l.cfg.Registry.Citizen(ctx, citizen)
		if err != nil {
			return ReadDocument{}, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
		}
		if !slices.Contains(minorsAt(c.Represents, l.cfg.Now()), holder) {
			return ReadDocument{}, ErrNoDocument // not represented, or come of age
		}
	}
	docs, err := l.read(ctx, holder)
	if err != nil {
		return ReadDocument{}, err
	}
	for _, r := range docs {
		if r.Type != t {
			continue
		}
		if r.Err != nil {
			return ReadDocument{}, r.Err
		}
		r.Status, r.Relation = r.statusOn(l.cfg.Now()), RelationSelf
		if holder != citizen {
			r.Relation = RelationRepresented
		}
		if r.Status != StatusValid {
			return ReadDocument{}, ErrNoDocument
		}
		return r, nil
	}
	return ReadDocument{}, ErrNoDocument
}

// ReadDocument is a document as the gateway read it: as its issuer signed
// it, or, when the signature does not verify (Err), the state system's
// unsigned copy, which may be shown to its holder as such and is never
// delivered.
type ReadDocument struct {
	Document
	Signature SignatureState
	Err       error
}

// read returns holder's documents, each checked against its issuer's
// signature. A document signed for somebody else does not verify either.
// Each refusal is logged, without the holder.
func (l *Library) read(ctx context.Context, holder IIN) ([]ReadDocument, error) {
	docs, err := l.cfg.Source.Documents(ctx, holder)
	if err != nil {
		return nil, err
	}
	out := make([]ReadDocument, len(docs))
	for i, d := range docs {
		signed, sig, err := l.cfg.Issuers.Verify(d.Signed)
		if err == nil && (signed.Holder.IIN != holder || signed.Type != d.Type) {
			sig.Verified, sig.Problem = false, "signed for another holder or type"
			err = fmt.Errorf("%w: %s", ErrIssuerSignature, sig.Problem)
		}
		if err != nil {
			l.cfg.Log.WarnContext(ctx, "document refused: its issuer signature does not verify", "type", d.Type,
				"authority", sig.Authority, "kid", sig.KeyID, "problem", sig.Problem)
			out[i] = ReadDocument{Document: d, Signature: sig, Err: err}
			continue
		}
		out[i] = ReadDocument{Document: signed, Signature: sig}
	}
	return out, nil
}

// Own returns the citizen's documents and those of the minors they
// represent, each with its status on the day and the state of its issuer
// signature: what the citizen's own pages show.
func (l *Library) Own(ctx context.Context, citizen IIN) ([]ReadDocument, error) {
	c, err := l.cfg.Registry.Citizen(ctx, citizen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	now := l.cfg.Now()
	var out []ReadDocument
	for i, holder := range append([]IIN{citizen}, minorsAt(c.Represents, now)...) {
		docs, err := l.read(ctx, holder)
		if err != nil {
			return nil, err
		}
		for _, r := range docs {
			r.Status, r.Relation = r.statusOn(now), RelationSelf
			if i > 0 {
				r.Relation = RelationRepresented
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Sharable is a document the citizen may open access to.
type Sharable struct {
	Holder   IIN
	Name     string // the holder's name
	Document DocumentType
	Relation string
}

// Sharable lists the citizen's valid documents and those of the minors
// they represent.
func (l *Library) Sharable(ctx context.Context, citizen IIN) ([]Sharable, error) {
	c, err := l.cfg.Registry.Citizen(ctx, citizen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	var out []Sharable
	for i, holder := range append([]IIN{citizen}, minorsAt(c.Represents, l.cfg.Now())...) {
		docs, err := l.read(ctx, holder)
		if err != nil {
			return nil, err
		}
		for _, r := range docs {
			d := r.Document
			if r.Err != nil || d.statusOn(l.cfg.Now()) != StatusValid {
				continue // only what verifies may be shared
			}
			rel := RelationSelf
			if i > 0 {
				rel = RelationRepresented
			}
			out = append(out, Sharable{Holder: holder, Name: d.Holder.Name, Document: d.Type, Relation: rel})
		}
	}
	return out, nil
}

// Subject is how the partner or verifier aud knows the person iin.
func (l *Library) Subject(aud string, iin IIN) string { return l.cfg.Pairwise(aud, string(iin)) }

// Claims are the claims every signed document starts from: issuer,
// audience, the subject as aud knows it, issue and expiry times, a fresh
// jti.
func (l *Library) Claims(aud string, sub IIN) map[string]any {
	c := l.claims(aud, sub)
	return map[string]any{"iss": c.Iss, "aud": c.Aud, "sub": c.Sub, "iat": c.Iat, "exp": c.Exp, "jti": c.Jti}
}

// claims are Claims as a document's payload starts (see documentClaims).
func (l *Library) claims(aud string, sub IIN) documentClaims {
	now := l.cfg.Now()
	return documentClaims{Iss: l.cfg.Issuer, Aud: aud, Sub: l.Subject(aud, sub),
		Iat: now.Unix(), Exp: now.Add(l.cfg.DocumentTTL).Unix(), Jti: newID()}
}

// Issuer is the iss of everything the library signs.
func (l *Library) Issuer() string { return l.cfg.Issuer }

// Sign signs claims as a JWS of type typ.
func (l *Library) Sign(claims map[string]any, typ string) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return l.cfg.Signer.Sign(payload, typ)
}

// Seal wraps jws in a JWE when the partner registered an encryption key.
func (l *Library) Seal(p PartnerInfo, jws string) (string, error) {
	if len(p.EncryptionJWK) == 0 {
		return jws, nil
	}
	if l.cfg.Encrypt == nil {
		return "", errors.New("no encryption configured for a partner with an encryption key")
	}
	return l.cfg.Encrypt(jws, p.EncryptionJWK)
}

// SignDocument is one document as a partner receives it under grant g: a
// JWS, wrapped in a JWE when the partner registered an encryption key.
func (l *Library) SignDocument(p PartnerInfo, g Grant, doc Document) (string, error) {
	jws, err := l.DocumentJWS(p.ID, g, doc)
	if err != nil {
		return "", err
	}
	return l.Seal(p, jws)
}

// DocumentJWS is doc signed for partner aud under grant g: the claims of
// Claims, with grant_id and document, in a payload written by hand (see
// documentClaims).
func (l *Library) DocumentJWS(aud string, g Grant, doc Document) (string, error) {
	c := l.claims(aud, g.Citizen)
	c.GrantID, c.Document = g.ID, doc
	return l.cfg.Signer.Sign(c.appendJSON(make([]byte, 0, 1024)), TypeDocument)
}
