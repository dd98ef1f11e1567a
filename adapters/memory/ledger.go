package memory

import (
	"context"
	"slices"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

var _ consent.LedgerStore = (*Store)(nil)

// SealRound implements consent.LedgerStore: the store's transaction holds
// its one lock.
func (s *Store) SealRound(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	tx, err := s.BeginTx(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = s.Rollback(tx) }()
	if err := fn(tx); err != nil {
		return true, err
	}
	return true, s.Commit(tx)
}

// LatestCheckpoint implements consent.LedgerStore.
func (s *Store) LatestCheckpoint(ctx context.Context) (consent.Checkpoint, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	if len(s.checkpoints) == 0 {
		return consent.Checkpoint{}, consent.ErrNoCheckpoint
	}
	return s.checkpoints[len(s.checkpoints)-1], nil
}

// Checkpoint implements consent.LedgerStore.
func (s *Store) Checkpoint(ctx context.Context, size int64) (consent.Checkpoint, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	for _, cp := range s.checkpoints {
		if cp.Size == size {
			return cp, nil
		}
	}
	return consent.Checkpoint{}, consent.ErrNoCheckpoint
}

// Checkpoints implements consent.LedgerStore.
func (s *Store) Checkpoints(ctx context.Context, limit int) ([]consent.Checkpoint, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := slices.Clone(s.checkpoints)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

// SaveCheckpoint implements consent.LedgerStore.
func (s *Store) SaveCheckpoint(ctx context.Context, cp consent.Checkpoint) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	appendTo(t, &s.checkpoints, cp)
	return nil
}

// Unsealed implements consent.LedgerStore.
func (s *Store) Unsealed(ctx context.Context, before time.Time, limit int) ([]consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.AccessEvent
	for _, e := range s.access {
		if e.Seal == nil && e.Kind != "" && e.At.Before(before) && len(out) < limit { // a dropped event has no kind
			out = append(out, e)
		}
	}
	return out, nil
}

// SealEvents implements consent.LedgerStore.
func (s *Store) SealEvents(ctx context.Context, seals map[int64]consent.Seal) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	for i, e := range s.access {
		if seal, ok := seals[e.ID]; ok {
			t.onRollback(func() { s.access[i] = e })
			s.access[i].Seal = &seal
		}
	}
	return nil
}

// Sealed implements consent.LedgerStore.
func (s *Store) Sealed(ctx context.Context, from, to int64) ([]consent.AccessEvent, error) {
	return s.sealedWhere(ctx, func(e consent.AccessEvent) bool { return e.Seal.Index >= from && e.Seal.Index < to })
}

// ChainEvents implements consent.LedgerStore.
func (s *Store) ChainEvents(ctx context.Context, chain string) ([]consent.AccessEvent, error) {
	return s.sealedWhere(ctx, func(e consent.AccessEvent) bool { return e.Seal.Chain == chain })
}

// ChainHeads implements consent.LedgerStore.
func (s *Store) ChainHeads(ctx context.Context, chains []string, before int64) (map[string][]byte, error) {
	events, err := s.sealedWhere(ctx, func(e consent.AccessEvent) bool {
		return slices.Contains(chains, e.Seal.Chain) && e.Seal.Index < before
	})
	out := map[string][]byte{}
	for _, e := range events { // in log order: the last wins
		out[e.Seal.Chain] = e.Seal.Hash
	}
	return out, err
}

// NodesWithin implements consent.LedgerStore.
func (s *Store) NodesWithin(ctx context.Context, from, to int64) (map[merkle.ID][]byte, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := map[merkle.ID][]byte{}
	for id, h := range s.nodes {
		if id.Index<<id.Level >= from && (id.Index+1)<<id.Level <= to {
			out[id] = h
		}
	}
	return out, nil
}

func (s *Store) sealedWhere(ctx context.Context, match func(consent.AccessEvent) bool) ([]consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.AccessEvent
	for _, e := range s.access {
		if e.Seal != nil && match(e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b consent.AccessEvent) int { return int(a.Seal.Index - b.Seal.Index) })
	return out, nil
}

// PutNodes implements consent.LedgerStore.
func (s *Store) PutNodes(ctx context.Context, nodes map[merkle.ID][]byte) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	for id, h := range nodes {
		put(t, s.nodes, id, h)
	}
	return nil
}

// Node implements consent.LedgerStore.
func (s *Store) Node(ctx context.Context, id merkle.ID) ([]byte, error) {
	if id.Level == 0 {
		events, err := s.Sealed(ctx, id.Index, id.Index+1)
		if err != nil || len(events) == 0 {
			return nil, merkle.ErrMissing
		}
		return events[0].Seal.Hash, nil
	}
	unlock, _ := s.lock(ctx)
	defer unlock()
	if h, ok := s.nodes[id]; ok {
		return h, nil
	}
	return nil, merkle.ErrMissing
}
