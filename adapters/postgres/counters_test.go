package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
)

// A rate counter's statement commits without waiting for its WAL flush,
// for its own transaction only: the connection keeps the configured
// setting for whatever it runs next (behind PgBouncer, another client's
// statements), and a counter written inside a caller's transaction
// leaves that transaction's commit as configured.
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
	count := func(ctx context.Context, i int) {
		t.Helper()
		key := fmt.Sprintf("counter-commit-%d-%d", now.UnixNano(), i)
		if err := s.Hit(ctx, key, 10, time.Hour, now); err != nil {
			t.Fatal(err)
		}
		if err := s.HitAll(ctx, []consent.RateHit{{Key: key + "-all", Limit: 10, Window: time.Hour}}, now); err != nil {
			t.Fatal(err)
		}
	}

	before := syncs()
	for i := range n {
		count(ctx, i)
	}
	own := syncs() - before
	if got := scalar(ctx, "current_setting('synchronous_commit')"); got != configured {
		t.Errorf("after the counters, the connection's synchronous_commit is %q, want %q as configured", got, configured)
	}

	before = syncs()
	for i := range n {
		func() {
			tx, err := s.BeginTx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Rollback(tx) }() // a failure gives the connection back
			count(tx, n+i)
			if got := scalar(tx, "current_setting('synchronous_commit')"); got != configured {
				t.Fatalf("inside a transaction, after its counters, synchronous_commit is %q, want %q as configured", got, configured)
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
	// Other tests' commits may add syncs to both counts; the counters'
	// own commits add none (the WAL writer flushes them in the background).
	if own*2 >= inTx {
		t.Errorf("%d pairs of counters made %d WAL syncs, against %d for as many commits that wait for the flush", n, own, inTx)
	}
	t.Logf("WAL syncs: %d for %d pairs of counters on their own, %d inside transactions", own, n, inTx)
}
