package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.DeliveryStore = (*Store)(nil)

type outboxRow struct {
	entry       consent.OutboxEntry
	lockedUntil time.Time
}

// RecordAccess implements consent.DeliveryStore.
func (s *Store) RecordAccess(ctx context.Context, e consent.AccessEvent) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	s.recordEvent(t, e)
	return nil
}

// ListAccess implements consent.DeliveryStore.
func (s *Store) ListAccess(ctx context.Context, citizen consent.IIN, before consent.HistoryCursor, limit int) ([]consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.AccessEvent
	for _, e := range s.access {
		if (e.Citizen == citizen || e.Holder == citizen) && before.Before(e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b consent.AccessEvent) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.ID, a.ID))
	})
	return out[:min(limit, len(out))], nil
}

// ClaimDeliveries implements consent.DeliveryStore.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, claim string) ([]consent.OutboxEntry, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	var due []outboxRow
	for _, r := range s.outbox {
		if r.entry.Status == consent.OutboxPending && !r.entry.NextAttemptAt.After(now) && r.lockedUntil.Before(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b outboxRow) int { return a.entry.NextAttemptAt.Compare(b.entry.NextAttemptAt) })
	var out []consent.OutboxEntry
	for _, r := range due[:min(limit, len(due))] {
		r.lockedUntil, r.entry.Claim = now.Add(lease), claim
		put(t, s.outbox, r.entry.ID, r)
		out = append(out, r.entry)
	}
	return out, nil
}

// RenewDelivery implements consent.DeliveryStore.
func (s *Store) RenewDelivery(ctx context.Context, id, claim string, until time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	r, ok := s.outbox[id]
	if !ok || r.entry.Claim != claim || r.entry.Status != consent.OutboxPending {
		return consent.ErrLeaseLost
	}
	r.lockedUntil = until
	put(t, s.outbox, id, r)
	return nil
}

// FinishDelivery implements consent.DeliveryStore.
func (s *Store) FinishDelivery(ctx context.Context, id, claim string, o consent.DeliveryOutcome) (consent.OutboxEntry, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	return s.finish(t, id, claim, o)
}

// FinishDelivered implements consent.DeliveryStore.
func (s *Store) FinishDelivered(ctx context.Context, claim string, done []consent.Delivered) ([]string, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	var stored []string
	for _, d := range done {
		if _, err := s.finish(t, d.ID, claim, consent.DeliveryOutcome{Delivered: true, At: d.At}); err == nil {
			stored = append(stored, d.ID)
		}
	}
	return stored, nil
}

// finish records an attempt's outcome at entry id, if claim holds it;
// the caller holds the lock.
func (s *Store) finish(t *tx, id, claim string, o consent.DeliveryOutcome) (consent.OutboxEntry, error) {
	r, ok := s.outbox[id]
	if !ok || r.entry.Claim != claim {
		return consent.OutboxEntry{}, consent.ErrLeaseLost
	}
	e := r.entry
	e.Attempts++
	e.LastError, e.Claim = o.Error, ""
	switch {
	case o.Delivered:
		e.Status, e.DeliveredAt = consent.OutboxDelivered, o.At
	case o.Final || e.Attempts >= o.MaxAttempts:
		e.Status = consent.OutboxDead
	default:
		e.NextAttemptAt = o.RetryAt
	}
	put(t, s.outbox, id, outboxRow{entry: e})
	return e, nil
}

// ListDeliveries implements consent.DeliveryStore.
func (s *Store) ListDeliveries(ctx context.Context, status consent.OutboxStatus, limit int) ([]consent.OutboxEntry, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.OutboxEntry
	for _, r := range s.outbox {
		if r.entry.Status == status {
			out = append(out, r.entry)
		}
	}
	slices.SortFunc(out, func(a, b consent.OutboxEntry) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(limit, len(out))], nil
}

// ReplayDelivery implements consent.DeliveryStore.
func (s *Store) ReplayDelivery(ctx context.Context, id string, now time.Time) (consent.OutboxEntry, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	r, ok := s.outbox[id]
	if !ok || r.entry.Status != consent.OutboxDead {
		return consent.OutboxEntry{}, consent.ErrDeliveryNotFound
	}
	r.entry.Status, r.entry.Attempts, r.entry.NextAttemptAt, r.lockedUntil, r.entry.Claim = consent.OutboxPending, 0, now, time.Time{}, ""
	put(t, s.outbox, id, r)
	return r.entry, nil
}

// ActiveGrants implements consent.DeliveryStore.
func (s *Store) ActiveGrants(ctx context.Context, citizen consent.IIN, t consent.DocumentType, now time.Time) ([]consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.Grant
	for _, g := range s.grants {
		if g.Citizen == citizen && g.ActiveAt(now) && slices.Contains(g.Documents, t) {
			g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b consent.Grant) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// EnqueueDeliveries implements consent.DeliveryStore.
func (s *Store) EnqueueDeliveries(ctx context.Context, entries []consent.OutboxEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	s.enqueue(t, entries)
	return nil
}

// tell writes the entries tell (when there is one) makes of the grants
// that just ended; the store's lock is held.
func (s *Store) tell(t *tx, tell consent.Tell, ended []consent.Grant) {
	if tell != nil && len(ended) > 0 {
		s.enqueue(t, tell(ended))
	}
}

// enqueue writes outbox entries; the store's lock is held.
func (s *Store) enqueue(t *tx, entries []consent.OutboxEntry) {
	for _, e := range entries {
		put(t, s.outbox, e.ID, outboxRow{entry: e})
	}
}

// GrantHistory implements consent.ReceiptStore.
func (s *Store) GrantHistory(ctx context.Context, grantID string) ([]consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.AccessEvent
	for _, e := range s.access {
		if e.GrantID == grantID && e.Grant != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// ReceiptEvent implements consent.ReceiptStore.
func (s *Store) ReceiptEvent(ctx context.Context, id string) (consent.AccessEvent, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	for _, e := range s.access {
		if e.Grant != nil && e.Grant.Receipt == id {
			return e, nil
		}
	}
	return consent.AccessEvent{}, consent.ErrReceiptNotFound
}
