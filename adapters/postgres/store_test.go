package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/adapters/storetest"
	"github.com/kelisim/kelisim/consent"
)

func open(t *testing.T) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) })
}

// Migrating twice, as every replica does at start, is harmless.
func TestMigrateTwice(t *testing.T) {
	s := open(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// History events are written in batches; an event the database refuses
// fails its own fetch only, never the others written with it.
func TestHistoryBatchIsolatesARefusedEvent(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		kind := consent.AccessFetch
		if i == n/2 {
			kind = "not-a-kind" // refused by the table's CHECK constraint
		}
		wg.Go(func() {
			errs[i] = s.RecordAccess(ctx, consent.AccessEvent{At: time.Now(), Citizen: "900101400559", Holder: "900101400559",
				PartnerID: "p1", GrantID: fmt.Sprint(i), Document: "id_card", Kind: kind})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == n/2) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	got, err := s.ListAccess(ctx, "900101400559", 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n-1 {
		t.Errorf("%d events in the history, want %d", len(got), n-1)
	}
}

// Close writes what was handed to the history writer before it returns;
// after it, a write is refused rather than lost silently.
func TestHistoryAfterClose(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	e := consent.AccessEvent{At: time.Now(), Citizen: "900101400559", Holder: "900101400559",
		PartnerID: "p1", GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}
	if err := s.RecordAccess(ctx, e); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.RecordAccess(ctx, e); err == nil {
		t.Error("a write after Close was acknowledged")
	}
}
