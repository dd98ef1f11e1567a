package memory

import (
	"context"
	"crypto/hmac"
	"slices"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.Store = (*Store)(nil)

// Hit implements consent.Limiter.
func (s *Store) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	start, covered := consent.RateWindow(now, window)
	current := s.rates[rateKey{key, start}].count
	previous := s.rates[rateKey{key, start.Add(-window)}].count
	if current+consent.RateCarry(previous, covered, window) >= limit {
		return &consent.RateLimitError{RetryAfter: consent.RateRetry(current, previous, limit, window, now)}
	}
	put(t, s.rates, rateKey{key, start}, rateCounter{count: current + 1, expires: start.Add(2 * window)})
	return nil
}

// HitAll implements consent.Limiter: under the store's lock, all or none.
func (s *Store) HitAll(ctx context.Context, hits []consent.RateHit, now time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	var full *consent.RateLimitError
	for _, h := range hits {
		start, covered := consent.RateWindow(now, h.Window)
		current := s.rates[rateKey{h.Key, start}].count
		previous := s.rates[rateKey{h.Key, start.Add(-h.Window)}].count
		if current+consent.RateCarry(previous, covered, h.Window) >= h.Limit {
			if wait := consent.RateRetry(current, previous, h.Limit, h.Window, now); full == nil || wait > full.RetryAfter {
				full = &consent.RateLimitError{RetryAfter: wait}
			}
		}
	}
	if full != nil {
		return full
	}
	for _, h := range hits {
		start, _ := consent.RateWindow(now, h.Window)
		put(t, s.rates, rateKey{h.Key, start}, rateCounter{count: s.rates[rateKey{h.Key, start}].count + 1, expires: start.Add(2 * h.Window)})
	}
	return nil
}

// rateKey names one counter: a key's count in the window from start.
type rateKey struct {
	key   string
	start time.Time
}

type rateCounter struct {
	count   int
	expires time.Time // when no window it could be the previous of is current
}

// CreateChallenge implements consent.Store.
func (s *Store) CreateChallenge(ctx context.Context, c consent.Challenge) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	put(t, s.challenges, c.ID, cloneChallenge(c))
	return nil
}

// GetChallenge implements consent.Store.
func (s *Store) GetChallenge(ctx context.Context, id string) (consent.Challenge, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	c, ok := s.challenges[id]
	if !ok {
		return consent.Challenge{}, consent.ErrUnknownChallenge
	}
	return cloneChallenge(c), nil
}

// UpdateChallenge implements consent.Store.
func (s *Store) UpdateChallenge(ctx context.Context, c consent.Challenge) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	return s.updateChallenge(t, c)
}

func (s *Store) updateChallenge(t *tx, c consent.Challenge) error {
	old, ok := s.challenges[c.ID]
	if !ok || old.Version != c.Version {
		return consent.ErrStale
	}
	c.Version++
	c.Session, c.Citizen, c.PendingID, c.PartnerID, c.CreatedAt, c.Budget = old.Session, old.Citizen, old.PendingID, old.PartnerID, old.CreatedAt, old.Budget
	c.Represents = old.Represents
	put(t, s.challenges, c.ID, cloneChallenge(c))
	return nil
}

// ApproveChallenge implements consent.Store.
func (s *Store) ApproveChallenge(ctx context.Context, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	return s.approve(t, c, g, outbox)
}

// ApproveAndReplace implements consent.Store.
func (s *Store) ApproveAndReplace(ctx context.Context, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry, tell consent.Tell) ([]consent.Grant, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	if err := s.approve(t, c, g, outbox); err != nil {
		return nil, err
	}
	ended := s.replace(t, g, g.CreatedAt)
	s.tell(t, tell, ended)
	return ended, nil
}

// ApproveProved implements consent.Store.
func (s *Store) ApproveProved(ctx context.Context, c consent.Challenge, proof []byte, now time.Time, maxAttempts int, g consent.Grant, outbox []consent.OutboxEntry, tell consent.Tell) ([]consent.Grant, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	stored, ok := s.challenges[c.ID]
	if !ok || stored.Version != c.Version || stored.Status != consent.ChallengePending || stored.Method.OrDefault() != consent.MethodSMS ||
		stored.Session != c.Session || stored.PendingID != c.PendingID || !now.Before(stored.ExpiresAt) {
		return nil, consent.ErrStale
	}
	right := hmac.Equal(stored.CodeHash, proof)
	if right && len(stored.Represents) > 0 {
		return nil, consent.ErrStale // the caller asks whose documents
	}
	settled := cloneChallenge(stored)
	if !right {
		settled.Attempts++
		if settled.Attempts >= maxAttempts {
			settled.Status = consent.ChallengeDead
		}
		if err := s.updateChallenge(t, settled); err != nil {
			return nil, err
		}
		if settled.Status == consent.ChallengeDead {
			return nil, consent.ErrCodeDead
		}
		return nil, &consent.WrongCodeError{AttemptsLeft: maxAttempts - settled.Attempts}
	}
	settled.Status = consent.ChallengeUsed
	if err := s.approve(t, settled, g, outbox); err != nil {
		return nil, err
	}
	ended := s.replace(t, g, g.CreatedAt)
	s.tell(t, tell, ended)
	return ended, nil
}

func (s *Store) approve(t *tx, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry) error {
	if err := s.updateChallenge(t, c); err != nil {
		return err
	}
	g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
	put(t, s.grants, g.ID, g)
	s.enqueue(t, outbox)
	e := consent.GrantEvent(g, consent.AccessConsent, g.CreatedAt)
	e.Lang = c.Lang
	s.recordEvent(t, e)
	return nil
}

// recordEvent appends e to the history, and its notification to the
// outbox unless one with its ID is there, undoably.
// Its time is kept to the microsecond, as PostgreSQL keeps it, so that a
// page's cursor, which carries microseconds, falls between events exactly.
func (s *Store) recordEvent(t *tx, e consent.AccessEvent) {
	e.ID = int64(len(s.access) + 1)
	e.At = e.At.Truncate(time.Microsecond)
	appendTo(t, &s.access, e)
	for _, n := range consent.Notices([]consent.AccessEvent{e}) {
		if _, ok := s.outbox[n.ID]; !ok {
			put(t, s.outbox, n.ID, outboxRow{entry: n})
		}
	}
}

// ChangeGrant implements consent.Store.
func (s *Store) ChangeGrant(ctx context.Context, c consent.Challenge, g consent.Grant, action consent.GrantAction, at time.Time, outbox []consent.OutboxEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	old, ok := s.grants[g.ID]
	if !ok || old.Status != consent.GrantActive || old.Citizen != g.Citizen || old.PartnerID != g.PartnerID {
		return consent.ErrGrantGone
	}
	if err := s.updateChallenge(t, c); err != nil {
		return err
	}
	g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
	put(t, s.grants, g.ID, g)
	s.enqueue(t, outbox)
	e := consent.GrantEvent(g, string(action), at)
	e.Lang = c.Lang
	s.recordEvent(t, e)
	if action == consent.GrantReplace {
		for _, r := range s.records {
			if r.Active && r.GrantID == g.ID {
				r.Active = false
				s.setRecord(t, r)
			}
		}
	}
	return nil
}

// GetGrant implements consent.Store.
func (s *Store) GetGrant(ctx context.Context, id string) (consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	g, ok := s.grants[id]
	if !ok {
		return consent.Grant{}, consent.ErrGrantNotFound
	}
	g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
	return g, nil
}

func cloneChallenge(c consent.Challenge) consent.Challenge {
	c.Documents, c.Represents = slices.Clone(c.Documents), slices.Clone(c.Represents)
	c.CodeHash = slices.Clone(c.CodeHash)
	return c
}
