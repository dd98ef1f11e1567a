package postgres_test

import (
	"context"
	"slices"
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

// An expiry passes over the grants another transaction holds: a batch of
// held grants once ended the round's expiry with the grants behind them
// still active, and a long transaction that held the oldest held up
// every round until it ended.
func TestExpiryPastHeldGrants(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4, Timeout: 2 * time.Second})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version, challenge_id, status)
		SELECT 'g-' || i, lpad((800000000000 + i)::text, 12, '0'), 'p1', ARRAY['id_card'], '',
		       now() - interval '2 days', now() - interval '1 hour' + i * interval '1 minute', 'v1', 'c-' || i, 'active'
		FROM generate_series(1, 5) i`); err != nil {
		t.Fatal(err)
	}
	// The two that expired first, held as a citizen's revocation would.
	holder, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(ctx) }()
	if _, err := holder.Exec(ctx, `SELECT 1 FROM grants WHERE id IN ('g-1', 'g-2') FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	var ended []string
	for round := 0; round < 3; round++ {
		due, err := s.DueGrants(ctx, now, 2)
		if err != nil {
			t.Fatalf("due grants past held ones: %v", err)
		}
		ids := make([]string, len(due))
		for i, g := range due {
			ids[i] = g.ID
		}
		out, err := s.ExpireGrants(ctx, ids, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out {
			ended = append(ended, g.ID)
		}
	}
	slices.Sort(ended)
	if got := strings.Join(ended, ","); got != "g-3,g-4,g-5" {
		t.Errorf("with the two oldest held, batches of two ended %q, want g-3,g-4,g-5", got)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueGrants(ctx, now, 2)
	if err != nil || len(due) != 2 || due[0].ID != "g-1" || due[1].ID != "g-2" {
		t.Errorf("released, the two are due: %v %v", due, err)
	}
}
