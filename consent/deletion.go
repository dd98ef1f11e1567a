package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deletion receipts: when a grant ends, its partner confirms it deleted
// what it received — or says what the law makes it keep, and why — in a
// statement signed with its own key. The citizen sees it; the operator
// sees who is late.

// TypeDeletion is the JWS typ of a partner's deletion confirmation.
const TypeDeletion = "kelisim-deletion+jwt"

// Deletion is a partner's confirmation, as the gateway keeps it.
type Deletion struct {
	At       time.Time      `json:"deleted_at"`
	Deleted  []DocumentType `json:"deleted"`
	Retained []Retained     `json:"retained,omitempty"`
	Signed   string         `json:"confirmation"` // the partner's JWS, as it signed it
}

// Retained is something the partner must keep by law.
type Retained struct {
	Document   DocumentType `json:"document"`
	Reason     string       `json:"reason"`
	LegalBasis string       `json:"legal_basis"`
	Until      string       `json:"until,omitempty"` // YYYY-MM-DD
}

// deletionClaims are the claims of a deletion confirmation.
type deletionClaims struct {
	Iss       string         `json:"iss"`
	Aud       string         `json:"aud"`
	Iat       int64          `json:"iat"`
	Jti       string         `json:"jti"`
	GrantID   string         `json:"grant_id"`
	DeletedAt string         `json:"deleted_at"`
	Deleted   []DocumentType `json:"deleted"`
	Retained  []Retained     `json:"retained"`
}

// Deletion errors.
var (
	ErrGrantStillActive  = newError(KindConflict, "", "the grant is still active: deletion is confirmed once it ends")
	ErrDeletionConfirmed = newError(KindConflict, "", "the partner has already confirmed deletion for this grant")
	ErrDeletionStatement = newError(KindInvalid, "", "the deletion confirmation is not valid")
)

// DeletionStore keeps confirmations.
type DeletionStore interface {
	// ConfirmDeletion stores d for ended grant id, and a history event
	// of kind deletion, once; ErrDeletionConfirmed when it has one.
	ConfirmDeletion(ctx context.Context, id string, d Deletion) error
	// OverdueDeletions returns up to limit grants that ended before
	// before without a confirmation, oldest first.
	OverdueDeletions(ctx context.Context, before time.Time, limit int) ([]Grant, error)
}

// ConfirmDeletion takes partner's signed confirmation (payload, as its
// signature verified) that it deleted what it received under grant id.
// It must name the grant, the gateway (aud) and the partner (iss), be
// fresh, list documents of the grant, and give a reason and legal basis
// for each it keeps.
func (p *PartnerGrants) ConfirmDeletion(ctx context.Context, partner, id string, payload []byte, signed string) (HeldGrant, error) {
	g, err := p.grant(ctx, partner, id)
	if err != nil {
		return HeldGrant{}, err
	}
	if g.Status == GrantActive {
		return HeldGrant{}, ErrGrantStillActive
	}
	var c deletionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return HeldGrant{}, fmt.Errorf("%w: its claims are not JSON", ErrDeletionStatement)
	}
	now := p.cfg.Now()
	at, terr := time.Parse(time.RFC3339, c.DeletedAt)
	switch {
	case c.Iss != partner || c.Aud != p.cfg.Issuer || c.GrantID != id:
		return HeldGrant{}, fmt.Errorf("%w: iss, aud and grant_id must be the partner, the gateway and the grant", ErrDeletionStatement)
	case c.Jti == "" || c.Iat < now.Add(-10*time.Minute).Unix() || c.Iat > now.Add(time.Minute).Unix():
		return HeldGrant{}, fmt.Errorf("%w: it needs a jti and an iat within the last ten minutes", ErrDeletionStatement)
	case terr != nil || at.After(now.Add(time.Minute)):
		return HeldGrant{}, fmt.Errorf("%w: deleted_at must be a past RFC 3339 time", ErrDeletionStatement)
	}
	for _, d := range c.Deleted {
		if !slices.Contains(g.Documents, d) {
			return HeldGrant{}, fmt.Errorf("%w: %q is not a document of the grant", ErrDeletionStatement, d)
		}
	}
	for _, r := range c.Retained {
		if !slices.Contains(g.Documents, r.Document) || strings.TrimSpace(r.Reason) == "" || strings.TrimSpace(r.LegalBasis) == "" {
			return HeldGrant{}, fmt.Errorf("%w: what is kept must be a document of the grant, with a reason and a legal basis", ErrDeletionStatement)
		}
	}
	if err := p.cfg.Deletions.ConfirmDeletion(ctx, id, Deletion{At: at.UTC(), Deleted: c.Deleted, Retained: c.Retained, Signed: signed}); err != nil {
		return HeldGrant{}, err
	}
	return p.Get(ctx, partner, id)
}
