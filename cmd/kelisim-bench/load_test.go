package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

type countsOnly struct{ tampered int }

func (*countsOnly) Checkpointed(int64) {}
func (c *countsOnly) Tampered()        { c.tampered++ }

// The loader fills an empty database with what the gateway reads as its
// own: the sizes asked for, the history in time order and sealed — every
// leaf and subtree checked again by a round of the gateway's own ledger —,
// the indexes the migrations make, and a long history for the first
// citizens. A database that is not empty is refused.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	const secret = "load-test-secret-0123456789abcdef0123456789"
	t.Setenv("KELISIM_SECRET", secret)
	args := []string{"-database", url, "-issuer", "http://127.0.0.1:18080", "-partners", "5", "-grants", "2000", "-history", "12007",
		"-tokens", "500", "-shares", "100", "-outbox", "300", "-heavy", "10", "-heavy-events", "150"}
	var out strings.Builder
	if err := loadCommand(ctx, args, &out); err != nil {
		t.Fatalf("load: %v\n%s", err, out.String())
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for table, want := range map[string]int{"partners": 5, "grants": 2000, "access_events": 12007, "oauth_records": 500, "shares": 100,
		"outbox": 300, "history_checkpoints": 2} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows, want %d (%v)", table, n, want, err)
		}
	}
	var unsealed, disorder, heavy, revoked int
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM access_events e LEFT JOIN history_leaves l ON l.event_id = e.id AND l.at = e.at
			WHERE l.leaf_index IS NULL OR l.leaf_index <> e.id - 1) + (SELECT count(*) FROM history_unsealed),
		(SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY id) AS back FROM access_events) x WHERE back),
		(SELECT min(n) FROM (SELECT count(*) AS n FROM access_events WHERE citizen IN (SELECT citizen FROM grants ORDER BY created_at LIMIT 40)
			GROUP BY citizen) h),
		(SELECT count(*) FROM grants WHERE status = 'revoked' AND deletion_at IS NOT NULL)`).Scan(&unsealed, &disorder, &heavy, &revoked); err != nil {
		t.Fatal(err)
	}
	if unsealed != 0 || disorder != 0 || heavy < 100 || revoked < 100 {
		t.Errorf("unsealed or out of place %d, out of time order %d, the first citizens' shortest history %d, revoked grants %d",
			unsealed, disorder, heavy, revoked)
	}

	// The tokens' request IDs are the gateway's (UUIDv7), of the time
	// their grant was made, so the request index is ordered as a running
	// gateway's.
	var ids, unlike int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE r.request_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
			OR ('x' || substr(replace(r.request_id, '-', ''), 1, 12))::bit(48)::bigint <> floor(extract(epoch FROM g.created_at) * 1000)::bigint)
		FROM oauth_records r JOIN grants g ON g.id = r.grant_id`).Scan(&ids, &unlike); err != nil || ids != 500 || unlike != 0 {
		t.Errorf("of %d tokens' request IDs, %d are not UUIDv7 at their grant's making (%v)", ids, unlike, err)
	}

	// The history's queue trigger, paused for the load, is on again.
	var enabled string
	if err := conn.QueryRow(ctx, `SELECT tgenabled FROM pg_trigger WHERE tgname = 'access_events_queued'`).Scan(&enabled); err != nil || enabled != "O" {
		t.Errorf("the queue trigger after the load: %q %v", enabled, err)
	}

	// The year's rows in the months the upkeep makes, each with every
	// index of its table.
	var months, missing int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = 'access_events'::regclass),
		(SELECT count(*) FROM pg_inherits p JOIN pg_index x ON x.indrelid = p.inhparent
			WHERE p.inhparent = 'access_events'::regclass
			AND NOT EXISTS (SELECT 1 FROM pg_inherits ii JOIN pg_index px ON px.indexrelid = ii.inhrelid
				WHERE ii.inhparent = x.indexrelid AND px.indrelid = p.inhrelid))`).Scan(&months, &missing); err != nil {
		t.Fatal(err)
	}
	if months < 13 || missing != 0 {
		t.Errorf("the history in %d partitions, %d partitions' indexes missing", months, missing)
	}

	// The migrations' indexes, all of them, as on a database never loaded.
	fresh := pgtest.URL(t)
	migrated(t, fresh)
	indexes := func(u string) string {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var defs string
		if err := c.QueryRow(ctx, `SELECT string_agg(replace(indexdef, current_schema() || '.', ''), E'\n' ORDER BY indexname)
			FROM pg_indexes WHERE schemaname = current_schema()
			AND tablename NOT IN (SELECT inhrelid::regclass::text FROM pg_inherits)`).Scan(&defs); err != nil {
			t.Fatal(err)
		}
		return defs
	}
	if got, want := indexes(url), indexes(fresh); got != want {
		t.Errorf("the loaded database's indexes:\n%s\nwant:\n%s", got, want)
	}

	// The gateway's ledger, checking every leaf and subtree of the log.
	loaded := migrated(t, url) // already migrated by the load: a no-op
	secrets, err := oauth.NewSecrets([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := oauth.NewKeys(ctx, loaded, secrets, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	counts := &countsOnly{}
	ledger, err := consent.NewLedger(consent.LedgerConfig{Store: loaded, Signer: keys, Key: secrets.Key("settings"), Issuer: "http://127.0.0.1:18080",
		Observer: counts, Audit: 20000, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 12007 || counts.tampered != 0 {
		t.Errorf("the ledger over the loaded history: %d %v", cp.Size, err)
	}

	if err := loadCommand(ctx, args, io.Discard); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second load: %v", err)
	}
}

// When the log's subtrees cannot be written, the load says so (and does
// not wait forever for the COPY that failed).
func TestLoadReportsAFailedCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.URL(t)
	t.Setenv("KELISIM_SECRET", "load-test-secret-0123456789abcdef0123456789")
	migrated(t, url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO history_nodes (level, idx, hash) VALUES (3, 7, '\x00')`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- loadCommand(ctx, []string{"-database", url, "-partners", "2", "-grants", "20000", "-history", "200000", "-tokens", "0",
			"-shares", "0", "-outbox", "0", "-heavy", "5", "-heavy-events", "100"}, io.Discard)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "history_nodes") {
			t.Errorf("a load whose subtrees could not be written: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the load hangs after the subtrees' COPY failed")
	}
}

// migrated opens a store on url, migrates it and closes it with the test.
func migrated(t *testing.T, url string) *postgres.Store {
	t.Helper()
	store, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return store
}
