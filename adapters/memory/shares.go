package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var (
	_ consent.ShareStore = (*Store)(nil)
	_ consent.Releaser   = (*Store)(nil)
)

// Release implements consent.Releaser.
func (s *Store) Release(ctx context.Context, key string, window time.Duration, at time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	start, _ := consent.RateWindow(at, window)
	k := rateKey{key, start}
	if c, ok := s.rates[k]; ok && c.count > 0 {
		c.count--
		put(t, s.rates, k, c)
	}
	return nil
}

// CreateShare implements consent.ShareStore.
func (s *Store) CreateShare(ctx context.Context, sh consent.Share, now time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	for id, o := range s.shares {
		if o.Status == consent.ShareOpen && o.CodeKey == sh.CodeKey {
			if o.ExpiresAt.After(now) {
				return consent.ErrShareCodeTaken
			}
			o.Status, o.ClosedAt = consent.ShareClosed, o.ExpiresAt
			put(t, s.shares, id, o)
		}
	}
	put(t, s.shares, sh.ID, sh)
	return nil
}

// GetShare implements consent.ShareStore.
func (s *Store) GetShare(ctx context.Context, id string) (consent.Share, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	sh, ok := s.shares[id]
	if !ok {
		return consent.Share{}, consent.ErrShareNotFound
	}
	return sh, nil
}

// ShareBy implements consent.ShareStore.
func (s *Store) ShareBy(ctx context.Context, codeKey, tokenKey string) (consent.Share, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	for _, sh := range s.shares {
		if sh.Status == consent.ShareOpen && ((codeKey != "" && sh.CodeKey == codeKey) || (tokenKey != "" && sh.TokenKey == tokenKey)) {
			return sh, nil
		}
	}
	return consent.Share{}, consent.ErrShareNotFound
}

// UpdateShare implements consent.ShareStore.
func (s *Store) UpdateShare(ctx context.Context, sh consent.Share) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if old, ok := s.shares[sh.ID]; ok {
		old.ExpiresAt, old.Status, old.ClosedAt = sh.ExpiresAt, sh.Status, sh.ClosedAt
		put(t, s.shares, sh.ID, old)
	}
	return nil
}

// ListShares implements consent.ShareStore.
func (s *Store) ListShares(ctx context.Context, citizen consent.IIN, limit int) ([]consent.Share, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.Share
	for _, sh := range s.shares {
		if sh.Citizen == citizen {
			out = append(out, sh)
		}
	}
	slices.SortFunc(out, func(a, b consent.Share) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out[:min(limit, len(out))], nil
}

// ViewsBy implements consent.ShareStore.
func (s *Store) ViewsBy(ctx context.Context, partnerID string, limit int) ([]consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.AccessEvent
	for i := len(s.access) - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.access[i]; e.PartnerID == partnerID && e.Kind == consent.AccessView {
			out = append(out, e)
		}
	}
	return out, nil
}
