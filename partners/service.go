package partners

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/kelisim/kelisim/consent"
)

// Store keeps partners and the operator's audit trail. Every change to a
// partner is written together with its audit entry, atomically.
type Store interface {
	// CreatePartner stores a new partner. Returns ErrConflict when the id is taken.
	CreatePartner(ctx context.Context, p Partner, e AuditEntry) error
	// GetPartner returns ErrNotFound when no partner has that id.
	GetPartner(ctx context.Context, id string) (Partner, error)
	// ListPartners returns every partner, oldest first.
	ListPartners(ctx context.Context) ([]Partner, error)
	// UpdatePartner replaces the partner whose Version is p.Version and
	// stores it with Version+1. Returns ErrNotFound for an unknown id and
	// ErrConflict when the stored version moved on.
	UpdatePartner(ctx context.Context, p Partner, e AuditEntry) error
	// ListAudit returns the audit entries of one partner, or of all when
	// partnerID is empty, newest first, at most limit of them.
	ListAudit(ctx context.Context, partnerID string, limit int) ([]AuditEntry, error)
	// AppendAudit records an action of the operator that is not a change
	// of a partner.
	AppendAudit(ctx context.Context, e AuditEntry) error
}

// Transactor runs work in one transaction, which travels in the context
// it returns: the store's methods called with that context take part.
type Transactor interface {
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// TokenRevoker ends every token issued to a partner.
type TokenRevoker interface {
	RevokeClientTokens(ctx context.Context, clientID string) error
}

// SecretHasher turns a client secret into what is stored.
type SecretHasher interface {
	HashSecret(secret []byte) []byte
}

// AuditEntry records one action of the operator: who, what, when, on
// what, and the partner (or the result) before and after. It never holds
// a secret or a full IIN.
type AuditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	PartnerID string    `json:"client_id,omitempty"`
	// Subject names what an action on no partner acted on: "key:<kid>",
	// "delivery:<id>", "report:<tracking number>", "document:<masked
	// IIN>/<type>".
	Subject string          `json:"subject,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// Service onboards and manages partners, and keeps the audit trail of
// every action of the operator.
type Service struct {
	store          Store
	hasher         SecretHasher
	revoker        TokenRevoker
	tx             Transactor
	now            func() time.Time
	allowLoopback  bool
	defaultProfile string
	types          *consent.Catalogue
}

// Config is what a partner registry is built from.
type Config struct {
	Store   Store
	Hasher  SecretHasher // hashes client secrets
	Revoker TokenRevoker // ends a suspended partner's tokens
	Tx      Transactor   // runs an action and its audit entry together
	Now     func() time.Time
	// AllowLoopback admits plain-http loopback URIs, for a development
	// gateway only.
	AllowLoopback bool
	// DefaultProfile is the profile of a partner onboarded without one:
	// "" (the baseline) or ProfileFAPI2.
	DefaultProfile string
	// Types are the document types a partner may be allowed.
	Types *consent.Catalogue
}

// NewService checks cfg and returns a partner registry.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Hasher == nil || cfg.Revoker == nil || cfg.Tx == nil || cfg.Now == nil || cfg.Types == nil {
		return nil, errors.New("partners.NewService: Store, Hasher, Revoker, Tx, Now and Types are needed")
	}
	if cfg.DefaultProfile != "" && cfg.DefaultProfile != ProfileFAPI2 && cfg.DefaultProfile != ProfileBaseline {
		return nil, fmt.Errorf("partners.NewService: unknown default profile %q", cfg.DefaultProfile)
	}
	return &Service{store: cfg.Store, hasher: cfg.Hasher, revoker: cfg.Revoker, tx: cfg.Tx, now: cfg.Now,
		allowLoopback: cfg.AllowLoopback, defaultProfile: cfg.DefaultProfile, types: cfg.Types}, nil
}

// Audited runs an action of the operator that changes no partner (a key
// rotation, a delivery replayed, …) and records it with its actor, in the
// same transaction: the action and its entry stand or fall together. do
// says in e what it acted on (Subject or PartnerID) and what came of it
// (SetAfter).
func (s *Service) Audited(ctx context.Context, actor, action string, do func(ctx context.Context, e *AuditEntry) error) error {
	tx, err := s.tx.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = s.tx.Rollback(tx) }() // after Commit it does nothing
	e := AuditEntry{Actor: actor, Action: action}
	if err := do(tx, &e); err != nil {
		return err
	}
	e.At = s.now().UTC()
	if err := s.store.AppendAudit(tx, e); err != nil {
		return err
	}
	return s.tx.Commit(tx)
}

// SetAfter records what an action came to.
func (e *AuditEntry) SetAfter(v any) { e.After = mustJSON(v) }

// MaxSecretGrace bounds how long a rotated-out secret keeps working.
const MaxSecretGrace = 7 * 24 * time.Hour

// Onboard admits a new partner. It returns the partner and, for
// client_secret_basic, its client secret: the only time the secret is shown.
// Returns *InvalidError for a bad registration.
func (s *Service) Onboard(ctx context.Context, actor string, reg Registration) (Partner, string, error) {
	if reg.Profile == "" {
		reg.Profile = s.defaultProfile
	}
	reg.normalize()
	errs := reg.validate(s.allowLoopback, s.types)
	if reg.Admission == nil {
		errs = append(errs, FieldError{Field: "admission", Message: "is required: the decision or legal basis the partner is admitted under, shown in the public register"})
	}
	if len(errs) > 0 {
		return Partner{}, "", &InvalidError{Problems: errs}
	}
	now := s.now().UTC()
	p := Partner{ID: newClientID(), Registration: reg, Status: StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
	var secret string
	if reg.TokenEndpointAuthMethod == AuthSecretBasic {
		secret = newSecret()
		p.SecretHash = s.hasher.HashSecret([]byte(secret))
	}
	if err := s.store.CreatePartner(ctx, p, s.audit(actor, "partner.create", nil, &p)); err != nil {
		return Partner{}, "", err
	}
	return p, secret, nil
}

// Get returns ErrNotFound for an unknown id.
func (s *Service) Get(ctx context.Context, id string) (Partner, error) {
	return s.store.GetPartner(ctx, id)
}

// List returns every partner.
func (s *Service) List(ctx context.Context) ([]Partner, error) {
	return s.store.ListPartners(ctx)
}

// Audit returns the newest audit entries, of one partner when id is set.
func (s *Service) Audit(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	return s.store.ListAudit(ctx, id, limit)
}

// Update applies a JSON merge patch (RFC 7386) to a partner's registration.
// The authentication method cannot change: a partner that changes how it
// authenticates is onboarded anew. Returns *InvalidError for a bad result.
func (s *Service) Update(ctx context.Context, actor, id string, patch []byte) (Partner, error) {
	return s.change(ctx, actor, id, "partner.update", func(p *Partner) error {
		doc, err := json.Marshal(p.Registration)
		if err != nil {
			return err
		}
		merged, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return &InvalidError{Problems: []FieldError{{Field: "", Message: "the body is not a JSON merge patch: " + err.Error()}}}
		}
		var reg Registration
		dec := json.NewDecoder(bytes.NewReader(merged))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&reg); err != nil {
			return &InvalidError{Problems: []FieldError{{Field: "", Message: err.Error()}}}
		}
		if reg.TokenEndpointAuthMethod != p.TokenEndpointAuthMethod {
			return &InvalidError{Problems: []FieldError{{Field: "token_endpoint_auth_method", Message: "cannot change; onboard the partner anew"}}}
		}
		if _, ok := patchKeys(patch)["scope"]; !ok && !bytes.Equal(mustJSON(reg.Documents), mustJSON(p.Documents)) {
			reg.Scope = "" // documents changed and scope was not given: derive it again
		}
		reg.normalize()
		if errs := reg.validate(s.allowLoopback, s.types); len(errs) > 0 {
			return &InvalidError{Problems: errs}
		}
		p.Registration = reg
		return nil
	})
}

// RotateSecret issues a new client secret and returns it, shown this once.
// The old secret keeps working for grace (at most MaxSecretGrace), so a
// partner can roll it out; with no grace it stops at once.
func (s *Service) RotateSecret(ctx context.Context, actor, id string, grace time.Duration) (Partner, string, error) {
	if grace < 0 || grace > MaxSecretGrace {
		return Partner{}, "", &InvalidError{Problems: []FieldError{{Field: "grace_seconds", Message: fmt.Sprintf("must be between 0 and %d", int(MaxSecretGrace.Seconds()))}}}
	}
	secret := newSecret()
	p, err := s.change(ctx, actor, id, "partner.rotate_secret", func(p *Partner) error {
		if p.TokenEndpointAuthMethod != AuthSecretBasic {
			return &InvalidError{Problems: []FieldError{{Field: "token_endpoint_auth_method", Message: "the partner authenticates with private_key_jwt and has no secret"}}}
		}
		p.PreviousSecretHash, p.PreviousSecretExpiresAt = nil, time.Time{}
		if grace > 0 {
			p.PreviousSecretHash, p.PreviousSecretExpiresAt = p.SecretHash, s.now().UTC().Add(grace)
		}
		p.SecretHash = s.hasher.HashSecret([]byte(secret))
		return nil
	})
	if err != nil {
		return Partner{}, "", err
	}
	return p, secret, nil
}

// Suspend stops a partner: it can no longer authenticate and every token it
// holds fails from the next request on. Suspending twice is harmless.
func (s *Service) Suspend(ctx context.Context, actor, id string) (Partner, error) {
	p, err := s.change(ctx, actor, id, "partner.suspend", func(p *Partner) error {
		if p.Status != StatusSuspended {
			p.Status = StatusSuspended
			p.Epoch++
		}
		return nil
	})
	if err != nil {
		return Partner{}, err
	}
	// The status change alone already stops the tokens (a token's client must
	// be active); revoking them makes sure resuming does not revive them.
	if err := s.revoker.RevokeClientTokens(ctx, id); err != nil {
		return Partner{}, fmt.Errorf("revoke tokens of %s: %w", id, err)
	}
	return p, nil
}

// Resume lets a suspended partner authenticate again.
func (s *Service) Resume(ctx context.Context, actor, id string) (Partner, error) {
	return s.change(ctx, actor, id, "partner.resume", func(p *Partner) error {
		p.Status = StatusActive
		return nil
	})
}

// change reads a partner, applies fn and writes it with an audit entry,
// retrying when another writer got there first.
func (s *Service) change(ctx context.Context, actor, id, action string, fn func(*Partner) error) (Partner, error) {
	for attempt := 0; ; attempt++ {
		p, err := s.store.GetPartner(ctx, id)
		if err != nil {
			return Partner{}, err
		}
		before := p
		if err := fn(&p); err != nil {
			return Partner{}, err
		}
		p.UpdatedAt = s.now().UTC()
		err = s.store.UpdatePartner(ctx, p, s.audit(actor, action, &before, &p))
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Partner{}, err
		}
		p.Version++
		return p, nil
	}
}

func (s *Service) audit(actor, action string, before, after *Partner) AuditEntry {
	e := AuditEntry{At: s.now().UTC(), Actor: actor, Action: action}
	if before != nil {
		e.PartnerID, e.Before = before.ID, mustJSON(before)
	}
	if after != nil {
		e.PartnerID, e.After = after.ID, mustJSON(after)
	}
	return e
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled here
	}
	return b
}

func patchKeys(patch []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(patch, &m)
	return m
}

func newClientID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
