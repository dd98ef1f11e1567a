package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.Janitor = (*Store)(nil)

// DueGrants implements consent.Janitor.
func (s *Store) DueGrants(ctx context.Context, now time.Time, limit int) ([]consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var due []consent.Grant
	for _, g := range s.grants {
		if g.Status == consent.GrantActive && !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(now) {
			due = append(due, g)
		}
	}
	slices.SortFunc(due, func(a, b consent.Grant) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), strings.Compare(a.ID, b.ID))
	})
	due = due[:min(limit, len(due))]
	for i, g := range due {
		due[i].Documents, due[i].Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
	}
	return due, nil
}

// ExpireGrants implements consent.Janitor.
func (s *Store) ExpireGrants(ctx context.Context, ids []string, now time.Time, tell consent.Tell) ([]consent.Grant, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	chosen := map[string]bool{}
	for _, id := range ids {
		chosen[id] = true
	}
	ended := s.endMatching(t, func(g consent.Grant) bool {
		return chosen[g.ID] && !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(now)
	}, func(g *consent.Grant) {
		g.Status, g.StatusChangedAt, g.StatusBy, g.StatusReason = consent.GrantExpired, g.ExpiresAt, "system", "expired"
	})
	s.tell(t, tell, ended)
	return ended, nil
}

// ReplaceGrants implements consent.Store.
func (s *Store) ReplaceGrants(ctx context.Context, g consent.Grant, at time.Time, tell consent.Tell) ([]consent.Grant, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	ended := s.replace(t, g, at)
	s.tell(t, tell, ended)
	return ended, nil
}

func (s *Store) replace(t *tx, g consent.Grant, at time.Time) []consent.Grant {
	return s.endMatching(t, func(o consent.Grant) bool {
		if o.ID == g.ID || o.Citizen != g.Citizen || o.PartnerID != g.PartnerID {
			return false
		}
		return o.TermsVersion != g.TermsVersion || slices.ContainsFunc(g.Holders, o.Covers)
	}, func(o *consent.Grant) {
		o.Status, o.StatusChangedAt, o.StatusBy, o.StatusReason = consent.GrantRevoked, at, consent.EndedByReplacement, "replaced by grant "+g.ID
	})
}

func (s *Store) endMatching(t *tx, match func(consent.Grant) bool, end func(*consent.Grant)) []consent.Grant {
	var out []consent.Grant
	for _, id := range slices.Sorted(maps.Keys(s.grants)) {
		g := s.grants[id]
		if g.Status == consent.GrantActive && match(g) {
			end(&g)
			put(t, s.grants, id, g)
			kind := consent.AccessRevocation
			if g.Status == consent.GrantExpired {
				kind = consent.AccessExpiry
			}
			s.recordEvent(t, consent.GrantEvent(g, kind, g.StatusChangedAt))
			g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
			out = append(out, g)
		}
	}
	return out
}

// Purge implements consent.Janitor.
func (s *Store) Purge(ctx context.Context, now time.Time, otpRetention time.Duration) (map[string]int, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	counts := map[string]int{}
	for k, r := range s.records {
		if r.ExpiresAt.Before(now) {
			remove(t, s.records, k)
			counts["oauth_records"]++
		}
	}
	for id, c := range s.challenges {
		if c.ExpiresAt.Before(now.Add(-otpRetention)) {
			remove(t, s.challenges, id)
			counts["otp_challenges"]++
		}
	}
	for k, c := range s.rates {
		if c.expires.Before(now) {
			remove(t, s.rates, k)
			counts["rate_counters"]++
		}
	}
	for id, sess := range s.sessions {
		if sess.LastSeen.Before(now.Add(-consent.SessionIdle)) || sess.CreatedAt.Before(now.Add(-consent.SessionAbsolute)) {
			remove(t, s.sessions, id)
			counts["sessions"]++
		}
	}
	for id, r := range s.outbox {
		if r.entry.Status == consent.OutboxDelivered && r.entry.DeliveredAt.Before(now.Add(-30*24*time.Hour)) {
			remove(t, s.outbox, id)
			counts["outbox"]++
		}
	}
	for k, n := range counts {
		if n == 0 {
			delete(counts, k)
		}
	}
	return counts, nil
}
