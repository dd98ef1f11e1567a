package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// New terms. When the operator publishes new terms, grants given under
// older ones keep working, but their citizens are told — once per citizen
// and version, by the upkeep, through the outbox — can read what changed
// on the settings page, and can decline: that ends those grants, each with
// its receipt, and tells their partners, as any revocation does.

// NoticeTerms tells a citizen the terms changed while they have grants
// under earlier ones.
const NoticeTerms = "notice.terms"

// TermsTeller marks the citizens whose active grants were given under
// terms other than version as told of it, and writes each one notice, in
// one transaction.
type TermsTeller interface {
	// TellTerms marks at most limit such grants and writes, for each
	// citizen among them not told of version before, TermsNotice of one of
	// their grants. It returns how many citizens it told.
	TellTerms(ctx context.Context, version string, at time.Time, limit int) (int, error)
}

// TermsNotice is the notice telling g's citizen of terms version.
func TermsNotice(g Grant, version string, at time.Time) OutboxEntry {
	sum := sha256.Sum256([]byte("terms|" + g.ID + "|" + version))
	return OutboxEntry{ID: "ntf-" + hex.EncodeToString(sum[:16]), PartnerID: g.PartnerID, GrantID: g.ID, Citizen: g.Citizen,
		Kind: NoticeTerms, Status: OutboxPending, NextAttemptAt: at, CreatedAt: at}
}

// UnderOlderTerms lists the citizen's active grants given under terms
// other than the current ones.
func (s *Settings) UnderOlderTerms(ctx context.Context, citizen IIN) ([]Grant, error) {
	grants, err := s.store.ListGrants(ctx, citizen)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Grant
	for _, g := range grants {
		if g.ActiveAt(now) && g.TermsVersion != s.terms {
			out = append(out, g)
		}
	}
	return out, nil
}

// CurrentTerms is the version of the terms consents are given under now.
func (s *Settings) CurrentTerms() string { return s.terms }

// ReasonDeclinedTerms is why a grant ended when its citizen declined new
// terms.
const ReasonDeclinedTerms = "the citizen declined the new terms"

// DeclineTerms ends the citizen's active grants given under older terms,
// telling each partner, and returns how many it ended.
func (s *Settings) DeclineTerms(ctx context.Context, citizen IIN) (int, error) {
	old, err := s.UnderOlderTerms(ctx, citizen)
	if err != nil {
		return 0, err
	}
	n := 0
	now := s.now()
	for _, g := range old {
		out, err := s.outbox.ForRevocation(ctx, g, now)
		if err != nil {
			return n, err
		}
		ok, err := s.store.RevokeGrant(ctx, g.ID, "citizen", ReasonDeclinedTerms, now, out)
		if err != nil {
			return n, fmt.Errorf("decline terms: %w", err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}
