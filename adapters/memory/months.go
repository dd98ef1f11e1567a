package memory

import (
	"context"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// PrepareMonths implements consent.Janitor: the memory store keeps every
// month in one list, so there is nothing to create.
func (s *Store) PrepareMonths(ctx context.Context, now time.Time, ahead int) ([]string, error) {
	return nil, nil
}

// DropMonths implements consent.Janitor as the PostgreSQL store does:
// the history's and the audit log's months that ended before before go
// whole; a dropped event keeps its place (IDs are positions) and its seal.
func (s *Store) DropMonths(ctx context.Context, before time.Time) ([]string, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	cut := before.UTC()
	cut = time.Date(cut.Year(), cut.Month(), 1, 0, 0, 0, 0, time.UTC) // the start of the first month kept
	var dropped []string
	for i, e := range s.access {
		if !e.At.Before(cut) || (e.Seal != nil && e.Seal.Dropped) || e.Kind == "" {
			continue
		}
		t.onRollback(func() { s.access[i] = e })
		gone := consent.AccessEvent{ID: e.ID, At: e.At}
		if e.Seal != nil {
			seal := *e.Seal
			seal.Dropped = true
			gone.Seal = &seal
		}
		s.access[i] = gone
		if m := "access_events " + e.At.UTC().Format("2006-01"); len(dropped) == 0 || dropped[len(dropped)-1] != m {
			dropped = append(dropped, m)
		}
	}
	if len(dropped) > 0 && cut.After(s.droppedBefore) {
		was := s.droppedBefore
		t.onRollback(func() { s.droppedBefore = was })
		s.droppedBefore = cut
	}
	n := 0
	for n < len(s.audit) && s.audit[n].At.Before(cut) {
		n++
	}
	if n > 0 {
		audit, base := s.audit, s.auditDropped
		t.onRollback(func() { s.audit, s.auditDropped = audit, base })
		s.audit, s.auditDropped = s.audit[n:], s.auditDropped+int64(n)
		dropped = append(dropped, "audit_log")
	}
	return dropped, nil
}

// DroppedBefore implements consent.LedgerStore.
func (s *Store) DroppedBefore(ctx context.Context) (time.Time, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	return s.droppedBefore, nil
}
