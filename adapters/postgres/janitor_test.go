package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// A backlog of expired tokens is purged in statements of a bounded size,
// each committed on its own, and a row another transaction holds is left
// to the next round instead of holding the purge up: one statement for
// the whole backlog ran past the call's deadline on a loaded database,
// was rolled back, and was tried again every round.
func TestPurgeInBatchesPastALockedRow(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var mu sync.Mutex
	var deletes int
	s := openAt(t, url, postgres.Options{MaxConns: 4, PurgeBatch: 100, Timeout: 2 * time.Second,
		Statement: func(sql string, _ []any) {
			if strings.Contains(sql, "DELETE FROM oauth_records") {
				mu.Lock()
				deletes++
				mu.Unlock()
			}
		}})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO oauth_records (kind, signature, request_id, client_id, active, expires_at, request)
		SELECT 'access', 'expired-' || n, 'r', 'p1', true, now() - interval '1 hour', '\x00'::bytea FROM generate_series(1, 250) n
		UNION ALL
		SELECT 'access', 'live-' || n, 'r', 'p1', true, now() + interval '1 hour', '\x00'::bytea FROM generate_series(1, 3) n`); err != nil {
		t.Fatal(err)
	}
	holder, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT 1 FROM oauth_records WHERE signature = 'expired-7' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	purged, err := s.Purge(ctx, time.Now(), time.Hour)
	if err != nil {
		t.Fatalf("purge past a locked row: %v", err)
	}
	if purged["oauth_records"] != 249 || deletes != 3 {
		t.Errorf("purged %d tokens in %d statements, want 249 in 3 of at most 100", purged["oauth_records"], deletes)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if purged, err := s.Purge(ctx, time.Now(), time.Hour); err != nil || purged["oauth_records"] != 1 {
		t.Errorf("the next round: %v %v", purged, err)
	}
	var left []string
	rows, _ := conn.Query(ctx, `SELECT signature FROM oauth_records ORDER BY signature`)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(left, ",") != "live-1,live-2,live-3" {
		t.Errorf("left %v %v, want the live tokens", left, err)
	}
}
