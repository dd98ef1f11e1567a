package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// A rate counter's statement, a new challenge's and a batch of
// authorization requests waiting for a citizen commit without waiting for
// their WAL flush, for their own transaction only: the connection keeps
// the configured setting for whatever it runs next (behind PgBouncer,
// another client's statements), and one written inside a caller's
// transaction leaves that transaction's commit as configured. A record
// answered to a partner (here an access token) waits for its flush, and
// so does any batch that holds one.
func TestCountersCommitWithoutWaitingForTheFlush(t *testing.T) {
	s := openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 1})
	ctx := context.Background()
	scalar := func(ctx context.Context, sql string) string {
		t.Helper()
		v, err := s.Scalar(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	configured := scalar(ctx, "current_setting('synchronous_commit')")
	if configured == "off" {
		t.Fatal("the test database has synchronous_commit off: nothing to tell apart")
	}
	// The syncs of the cluster, with this connection's own counted: a
	// backend reports its statistics at most once a second unless asked.
	syncs := func() int64 {
		scalar(ctx, "pg_stat_force_next_flush()")
		n, _ := strconv.ParseInt(scalar(ctx, "SELECT wal_sync FROM pg_stat_wal"), 10, 64)
		return n
	}
	now := time.Now()
	const n = 100
	var seq int
	rec := func(kind oauth.Kind) oauth.Record {
		seq++
		return oauth.Record{Kind: kind, Signature: fmt.Sprintf("record-commit-%d-%d", now.UnixNano(), seq),
			RequestID: "r", ClientID: "p1", Active: true, ExpiresAt: now.Add(time.Hour), Request: []byte("{}")}
	}
	record := func(kind oauth.Kind) func(ctx context.Context, i int) error {
		return func(ctx context.Context, _ int) error { return s.CreateRecord(ctx, rec(kind)) }
	}
	// batch writes one batch of the records' writer, as requests of the
	// same moment would.
	batch := func(kinds ...oauth.Kind) func(ctx context.Context, i int) error {
		return func(ctx context.Context, _ int) error {
			recs := make([]oauth.Record, len(kinds))
			for j, k := range kinds {
				recs[j] = rec(k)
			}
			return errors.Join(s.WriteRecords(ctx, recs)...)
		}
	}
	for _, w := range []struct {
		name  string
		write func(ctx context.Context, i int) error
		waits bool // on its own too
	}{
		{"a pair of counters", func(ctx context.Context, i int) error {
			key := fmt.Sprintf("counter-commit-%d-%d", now.UnixNano(), i)
			if err := s.Hit(ctx, key, 10, time.Hour, now); err != nil {
				return err
			}
			return s.HitAll(ctx, []consent.RateHit{{Key: key + "-all", Limit: 10, Window: time.Hour}}, now)
		}, false},
		{"a challenge", func(ctx context.Context, i int) error {
			return s.CreateChallenge(ctx, consent.Challenge{
				ID: fmt.Sprintf("challenge-commit-%d-%d", now.UnixNano(), i), PendingID: "pend", PartnerID: "p1",
				Session: "session:abc", Citizen: "850315300128", Documents: []consent.DocumentType{"id_card"}, Days: 30,
				CodeHash: []byte{1, 2, 3}, Status: consent.ChallengePending, Lang: "kk",
				CreatedAt: now, SentAt: now, ExpiresAt: now.Add(5 * time.Minute), Version: 1,
			})
		}, false},
		{"a waiting request", record(oauth.KindPending), false},
		{"an access token", record(oauth.KindAccess), true},
		{"a batch of waiting requests", batch(oauth.KindPending, oauth.KindPending), false},
		{"a batch of a waiting request and a token", batch(oauth.KindPending, oauth.KindAccess), true},
		{"a batch of a token and a waiting request", batch(oauth.KindAccess, oauth.KindPending), true},
	} {
		t.Run(w.name, func(t *testing.T) {
			before := syncs()
			for i := range n {
				if err := w.write(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			own := syncs() - before
			if got := scalar(ctx, "current_setting('synchronous_commit')"); got != configured {
				t.Errorf("after %s, the connection's synchronous_commit is %q, want %q as configured", w.name, got, configured)
			}

			before = syncs()
			for i := range n {
				func() {
					tx, err := s.BeginTx(ctx)
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = s.Rollback(tx) }() // a failure gives the connection back
					if err := w.write(tx, n+i); err != nil {
						t.Fatal(err)
					}
					if got := scalar(tx, "current_setting('synchronous_commit')"); got != configured {
						t.Fatalf("inside a transaction, after %s, synchronous_commit is %q, want %q as configured", w.name, got, configured)
					}
					if err := s.Commit(tx); err != nil {
						t.Fatal(err)
					}
				}()
			}
			inTx := syncs() - before
			if inTx < n/5 {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%d commits that wait for the flush made %d WAL syncs, and CI=true: run PostgreSQL with fsync on", n, inTx)
				}
				t.Skipf("%d commits that wait for the flush made %d WAL syncs: this PostgreSQL does not sync its WAL (fsync off?)", n, inTx)
			}
			// Other tests' commits may add syncs to both counts; the
			// writes' own commits add none (the WAL writer flushes them in
			// the background).
			if !w.waits && own*2 >= inTx {
				t.Errorf("%d of %s made %d WAL syncs, against %d for as many commits that wait for the flush", n, w.name, own, inTx)
			}
			if w.waits && own < n/5 {
				t.Errorf("%d of %s on their own made %d WAL syncs: their commits did not wait for the flush", n, w.name, own)
			}
			t.Logf("WAL syncs: %d for %d of %s on their own, %d inside transactions", own, n, w.name, inTx)
		})
	}
}
