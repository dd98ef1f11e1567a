package consent

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The partner's side of grants (FAPI Grant Management): a partner reads
// the grants it holds and ends them; the citizen's history says it did.

// PartnerGrantStore is what partners' grant management needs of the store.
type PartnerGrantStore interface {
	GrantGetter
	// RevokeGrant moves an active grant to revoked (see SettingsStore).
	RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []OutboxEntry) (bool, error)
}

// Who ends a grant, besides the citizen, the operator and the system.
const (
	EndedByPartner     = "partner"  // the partner gave it up
	EndedByReplacement = "replaced" // a newer consent for the same partner and holder
)

// PartnerReceipts gives a partner its copy of a grant's latest receipt.
type PartnerReceipts interface {
	ForPartner(ctx context.Context, partner, id string) (string, error)
}

// PartnerGrantsConfig is what PartnerGrants are built from.
type PartnerGrantsConfig struct {
	Store     PartnerGrantStore
	Receipts  PartnerReceipts
	Deletions DeletionStore
	Issuer    string // the aud of a deletion confirmation
	// Pairwise is the subject a partner knows a citizen by.
	Pairwise func(clientID, citizen string) string
	Now      func() time.Time
}

// HeldGrant is a grant as its partner sees it: holders by the pairwise
// subjects the partner knows them by, never by IIN.
type HeldGrant struct {
	ID           string         `json:"grant_id"`
	Status       GrantStatus    `json:"status"`
	Documents    []DocumentType `json:"documents"`
	Holders      []HeldHolder   `json:"holders"`
	Purpose      string         `json:"purpose,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	ExpiresAt    time.Time      `json:"expires_at"`
	TermsVersion string         `json:"terms_version"`
	EndedAt      *time.Time     `json:"ended_at,omitempty"`
	EndedBy      string         `json:"ended_by,omitempty"`
	// Receipt is the partner's copy of the grant's latest consent receipt.
	Receipt string `json:"receipt"`
	// Deletion is the partner's confirmation that it deleted what it
	// received, once the grant ended and it confirmed.
	Deletion *Deletion `json:"deletion,omitempty"`
}

// HeldHolder is whose documents a grant covers.
type HeldHolder struct {
	Subject  string `json:"sub"`
	Relation string `json:"relation"`
}

// PartnerGrants lets a partner manage the grants it holds.
type PartnerGrants struct{ cfg PartnerGrantsConfig }

// NewPartnerGrants checks cfg and returns the service.
func NewPartnerGrants(cfg PartnerGrantsConfig) (*PartnerGrants, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Receipts": cfg.Receipts == nil, "Deletions": cfg.Deletions == nil, "Issuer": cfg.Issuer == "", "Pairwise": cfg.Pairwise == nil, "Now": cfg.Now == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewPartnerGrants: %w", err)
	}
	return &PartnerGrants{cfg: cfg}, nil
}

// ErrNotYourGrant is a grant another partner holds, or none: the partner
// learns nothing of it.
var ErrNotYourGrant = newError(KindNotFound, "", "the partner holds no grant with that id")

// Get returns grant id when partner holds it, as it stands now.
func (p *PartnerGrants) Get(ctx context.Context, partner, id string) (HeldGrant, error) {
	g, err := p.grant(ctx, partner, id)
	if err != nil {
		return HeldGrant{}, err
	}
	h := HeldGrant{ID: g.ID, Status: g.Status, Documents: g.Documents, Purpose: g.Purpose, CreatedAt: g.CreatedAt,
		ExpiresAt: g.ExpiresAt, TermsVersion: g.TermsVersion, Holders: []HeldHolder{}}
	if h.Documents == nil {
		h.Documents = []DocumentType{}
	}
	holders := g.Holders
	if len(holders) == 0 {
		holders = []IIN{g.Citizen}
	}
	for _, iin := range holders {
		rel := RelationRepresented
		if iin == g.Citizen {
			rel = RelationSelf
		}
		h.Holders = append(h.Holders, HeldHolder{Subject: p.cfg.Pairwise(partner, string(iin)), Relation: rel})
	}
	if g.Status == GrantRevoked {
		at := g.StatusChangedAt
		h.EndedAt, h.EndedBy = &at, g.StatusBy
	}
	h.Deletion = g.Deletion
	if h.Receipt, err = p.cfg.Receipts.ForPartner(ctx, partner, id); err != nil {
		return HeldGrant{}, err
	}
	return h, nil
}

// grant returns grant id when partner holds it, as it stands now (an
// active grant past its expiry reads as expired).
func (p *PartnerGrants) grant(ctx context.Context, partner, id string) (Grant, error) {
	g, err := p.cfg.Store.GetGrant(ctx, id)
	if errors.Is(err, ErrGrantNotFound) || (err == nil && g.PartnerID != partner) {
		return Grant{}, ErrNotYourGrant
	}
	if err != nil {
		return Grant{}, err
	}
	if g.Status == GrantActive && !p.cfg.Now().Before(g.ExpiresAt) {
		g.Status = GrantExpired
	}
	return g, nil
}

// End revokes grant id for its partner: every token issued under it stops
// working at once, on every replica. Ending an ended grant is harmless.
func (p *PartnerGrants) End(ctx context.Context, partner, id string) (HeldGrant, error) {
	if _, err := p.grant(ctx, partner, id); err != nil {
		return HeldGrant{}, err
	}
	if _, err := p.cfg.Store.RevokeGrant(ctx, id, EndedByPartner, "ended by the partner", p.cfg.Now(), nil); err != nil {
		return HeldGrant{}, err
	}
	return p.Get(ctx, partner, id)
}
