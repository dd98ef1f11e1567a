package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
	"github.com/kelisim/kelisim/oauth"
)

// large are the tables that grow with the country: a plan that reads one
// of them whole, on a request's path or the upkeep's, is a defect.
// A partition is read as its table is.
var large = []string{"grants", "access_events", "oauth_records", "outbox", "otp_challenges", "shares", "notification_prefs", "rate_counters",
	"history_leaves", "history_nodes", "audit_log"}

// The statements of the hot paths and of the upkeep use indexes on tables
// of realistic size: each is sent by the store's own methods against a
// loaded schema, recorded, and explained with its arguments; a sequential
// scan of a large table fails the test.
func TestQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := record(t)
	conn := s.conn
	// A year of months, as the upkeep would have made them.
	if _, err := s.EnsureMonths(ctx, time.Now().AddDate(-1, -1, 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	load(t, conn)

	for _, v := range []string{"2026-11-01", "2027-01-01"} {
		if err := s.KeepTerms(ctx, consent.Terms{Version: v, Text: []byte(v)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	const citizen consent.IIN = "850315300128"
	now := time.Now() // the load is relative to the database's now()
	calls := map[string]func() error{
		"GetGrant":   func() error { _, err := s.GetGrant(ctx, "g-123"); return err },
		"ListGrants": func() error { _, err := s.ListGrants(ctx, citizen); return err },
		"LastUsed":   func() error { _, err := s.LastUsed(ctx, citizen); return err },
		"ListAccess": func() error { _, err := s.ListAccess(ctx, citizen, consent.HistoryCursor{}, 200); return err },
		"ListAccess deep": func() error {
			_, err := s.ListAccess(ctx, citizen, consent.HistoryCursor{At: now.AddDate(0, -6, 0), ID: 150_000}, 100)
			return err
		},
		"ActiveGrants":      func() error { _, err := s.ActiveGrants(ctx, citizen, "id_card", now); return err },
		"ClaimDeliveries":   func() error { _, err := s.ClaimDeliveries(ctx, now, time.Minute, 16, "w"); return err },
		"ListDeliveries":    func() error { _, err := s.ListDeliveries(ctx, consent.OutboxDead, 100); return err },
		"NotificationPrefs": func() error { _, err := s.NotificationPrefs(ctx, citizen); return err },
		"NoticePrefsWithGrant": func() error {
			_, _, err := s.NoticePrefsWithGrant(ctx, citizen, "kk", "g-123", now)
			return err
		},
		"GetChallenge": func() error { _, err := s.GetChallenge(ctx, "c-42"); return err },
		"DueGrants":    func() error { _, err := s.DueGrants(ctx, now, consent.DefaultExpireBatch); return err },
		"ExpireGrants": func() error {
			due, err := s.DueGrants(ctx, now, consent.DefaultExpireBatch)
			if err != nil {
				return err
			}
			ids := make([]string, len(due))
			for i, g := range due {
				ids[i] = g.ID
			}
			_, err = s.ExpireGrants(ctx, ids, now, tellAll(now))
			return err
		},
		"TellTerms": func() error { _, err := s.TellTerms(ctx, "2027-01-01", now, 500); return err },
		"Hit": func() error {
			if err := s.Hit(ctx, "otp-ip:42", 30, time.Hour, now); !errors.As(err, new(*consent.RateLimitError)) {
				return err
			}
			return nil
		},
		"Release":   func() error { return s.Release(ctx, "otp-ip:42", time.Hour, now) },
		"Purge":     func() error { _, err := s.Purge(ctx, now, 23*time.Hour); return err },
		"GetToken":  func() error { _, err := s.GetToken(ctx, oauth.KindAccess, "s-42"); return err },
		"GetRecord": func() error { _, err := s.GetRecord(ctx, oauth.KindAccess, "s-42"); return err },
		"GetRecords": func() error {
			_, err := s.GetRecords(ctx, "s-42", oauth.KindCode, oauth.KindPKCE, oauth.KindOIDC)
			return err
		},
		"Unsealed":         func() error { _, err := s.Unsealed(ctx, now, 500); return err },
		"OverdueDeletions": func() error { _, err := s.OverdueDeletions(ctx, now.Add(-30*24*time.Hour), 100); return err },
		"GuardianGrants":   func() error { _, err := s.GuardianGrants(ctx); return err },
		"PartnerActivity":  func() error { _, err := s.PartnerActivity(ctx, now.AddDate(0, -1, 0), now); return err },
		"ListShares":       func() error { _, err := s.ListShares(ctx, citizen, 50); return err },
		"ShareBy":          func() error { _, err := s.ShareBy(ctx, "code-100", ""); return err },
		"ViewsBy":          func() error { _, err := s.ViewsBy(ctx, "p7", 200); return err },
		"ListReports":      func() error { _, err := s.ListReports(ctx, citizen); return err },
		"Erase":            func() error { _, err := s.Erase(ctx, "800000012345", "p-erased", now); return err },
		"Sealed":           func() error { _, err := s.Sealed(ctx, 150_000, 152_000); return err },
		"ChainEvents":      func() error { _, err := s.ChainEvents(ctx, "c-42"); return err },
		"ChainHeads":       func() error { _, err := s.ChainHeads(ctx, []string{"c-42", "c-43"}, 150_000); return err },
		"Node":             func() error { _, err := s.Node(ctx, merkle.ID{Index: 42}); return err },
		"NodesWithin":      func() error { _, err := s.NodesWithin(ctx, 150_000, 152_000); return err },
		"SealEvents": func() error {
			return s.SealEvents(ctx, map[int64]consent.Seal{300_001: {Index: 300_000, Chain: "c-1", Hash: []byte{1}}})
		},
		"GrantHistory": func() error { _, err := s.GrantHistory(ctx, "g-42"); return err },
		"ReceiptEvent": func() error {
			if _, err := s.ReceiptEvent(ctx, "r-42"); !errors.Is(err, consent.ErrReceiptNotFound) {
				return err
			}
			return nil
		},
		"ListAudit":     func() error { _, err := s.ListAudit(ctx, "p7", 50); return err },
		"ListAudit all": func() error { _, err := s.ListAudit(ctx, "", 50); return err },
		"DroppedBefore": func() error { _, err := s.DroppedBefore(ctx); return err },
	}
	for name, call := range calls {
		stmts, err := s.during(call)
		if err != nil && !strings.Contains(err.Error(), "not") {
			t.Errorf("%s: %v", name, err)
		}
		for _, st := range stmts {
			for _, mode := range planModes {
				scans := seqScans(t, conn, st, mode)
				if months, ok := wholeMonths[name]; ok && len(scans) <= months {
					continue
				}
				if len(scans) > 0 {
					t.Errorf("%s reads %v whole (%s):\n%s", name, scans, mode, st.sql)
				}
			}
		}
	}
}

// Statements that find rows by their key read those rows and little else,
// whatever the planner's statistics say. Statistics lag the tables: a
// partner onboarded since the last ANALYZE is estimated at a row or two,
// and so are the pending deliveries a partner's outage has queued since.
// Here both are a real 20,000 and 5,000 the statistics have not seen; each
// statement is explained as it runs (in a transaction rolled back), and
// one that reads more than a few dozen buffers fails the test.
func TestKeyedStatementsReadTheirRows(t *testing.T) {
	ctx := context.Background()
	s := record(t)
	conn := s.conn
	for _, q := range []string{
		`ALTER TABLE grants SET (autovacuum_enabled = false)`,
		`ALTER TABLE outbox SET (autovacuum_enabled = false)`,
		// What the statistics saw: fifty partners' grants, every delivery done.
		`INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version, challenge_id, status)
		 SELECT 'g-' || i, lpad((800000000000 + i)::text, 12, '0'), 'p' || (i % 50), ARRAY['id_card'], '',
		        now() - interval '1 day', now() + interval '300 days', 'v1', 'c-' || i, 'active'
		 FROM generate_series(1, 20000) i`,
		`INSERT INTO outbox (id, partner_id, grant_id, kind, status, next_attempt_at, created_at, delivered_at)
		 SELECT 'o-' || i, 'p' || (i % 50), 'g-' || i, 'grant.documents', 'delivered', now() - interval '1 day', now() - interval '1 day', now()
		 FROM generate_series(1, 20000) i`,
		`ANALYZE grants`,
		`ANALYZE outbox`,
		// What they did not: a new partner's grants, and an outage's queue.
		`INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version, challenge_id, status)
		 SELECT 'gn-' || i, lpad((810000000000 + i)::text, 12, '0'), 'p-new', ARRAY['id_card'], '',
		        now() - interval '1 hour', now() + interval '300 days', 'v1', 'cn-' || i, 'active'
		 FROM generate_series(1, 20000) i`,
		`INSERT INTO outbox (id, partner_id, grant_id, kind, status, next_attempt_at, created_at, claim, locked_until)
		 SELECT 'op-' || i, 'p-new', 'gn-' || i, 'grant.documents', 'pending', now(), now(), 'w', now() + interval '1 minute'
		 FROM generate_series(1, 5000) i`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	now := time.Now()
	calls := map[string]func() error{
		"ReplaceGrants": func() error {
			_, err := s.ReplaceGrants(ctx, consent.Grant{ID: "gn-next", Citizen: "810000000042", PartnerID: "p-new", TermsVersion: "v2"}, now, nil)
			return err
		},
		"RenewDelivery": func() error { return s.RenewDelivery(ctx, "op-42", "w", now.Add(time.Minute)) },
		"FinishDelivery": func() error {
			_, err := s.FinishDelivery(ctx, "op-43", "w", consent.DeliveryOutcome{Delivered: true, At: now, MaxAttempts: 5})
			return err
		},
		"FinishDelivered": func() error {
			_, err := s.FinishDelivered(ctx, "w", []consent.Delivered{{ID: "op-45", At: now}, {ID: "op-46", At: now}})
			return err
		},
		"RevokeGrant": func() error { _, err := s.RevokeGrant(ctx, "gn-44", "citizen", "", now, nil); return err },
	}
	for name, call := range calls {
		stmts, err := s.during(call)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, st := range stmts {
			for _, mode := range planModes {
				if n, plan := buffersRead(t, conn, st, mode); n > 40 {
					t.Errorf("%s reads %d buffers (%s):\n%s\n%s", name, n, mode, st.sql, plan)
				}
			}
		}
	}
}

// planModes are the two ways the store's statements are planned: once for
// any arguments, on connections that keep their statements prepared (the
// store asks for generic plans there), and for each call's arguments
// behind a pooler in transaction mode, where nothing stays prepared.
var planModes = []string{"force_generic_plan", "force_custom_plan"}

// explainAsRun explains st as the store's connections run it: prepared,
// and planned in mode (planModes).
func explainAsRun(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}, st statement, mode, options string) ([]byte, error) {
	if _, err := q.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
		return nil, err
	}
	if _, err := q.Exec(ctx, "PREPARE explained AS "+st.sql); err != nil {
		return nil, err
	}
	defer func() { _, _ = q.Exec(ctx, "DEALLOCATE explained") }()
	var raw []byte
	err := q.QueryRow(ctx, "EXPLAIN ("+options+") "+execute("explained", st), append([]any{pgx.QueryExecModeSimpleProtocol}, st.args...)...).Scan(&raw)
	return raw, err
}

// buffersRead runs st under EXPLAIN ANALYZE in a transaction it rolls
// back, and returns the buffers its execution read and its plan.
func buffersRead(t *testing.T, conn *pgx.Conn, st statement, mode string) (int, string) {
	t.Helper()
	verb := strings.ToUpper(strings.Fields(st.sql)[0])
	if verb == "BEGIN" || verb == "COMMIT" || verb == "ROLLBACK" {
		return 0, ""
	}
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	raw, err := explainAsRun(ctx, tx, st, mode, "ANALYZE, BUFFERS, FORMAT JSON")
	if err != nil {
		t.Fatalf("explain %s: %v", st.sql, err)
	}
	return planBuffers(t, raw), string(raw)
}

// planBuffers are the buffers a plan explained with ANALYZE, BUFFERS and
// FORMAT JSON read (its top node counts its children's).
func planBuffers(t *testing.T, raw []byte) int {
	t.Helper()
	var plans []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		}
	}
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range plans {
		n += p.Plan.Hit + p.Plan.Read
	}
	return n
}

// recorded is a store on a database of its own whose methods' statements
// are recorded as they are sent, with a connection of the test's own
// beside it to explain them on. The statements run for real, on a machine
// that may be busy: what is checked is their plans, not their time.
type recorded struct {
	*postgres.Store
	conn *pgx.Conn
	mu   sync.Mutex
	sent []statement
}

func record(t *testing.T) *recorded {
	t.Helper()
	url := pgtest.URL(t)
	r := &recorded{}
	r.Store = openAt(t, url, postgres.Options{MaxConns: 4, Timeout: time.Minute, Statement: func(sql string, args []any) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sent = append(r.sent, statement{sql, args})
	}})
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	r.conn = conn
	return r
}

// during returns the statements call sent, and its error.
func (r *recorded) during(call func() error) ([]statement, error) {
	r.mu.Lock()
	r.sent = nil
	r.mu.Unlock()
	err := call()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent, err
}

// wholeMonths are the statements that count whole months of the history:
// they may read those months' partitions whole, and no more of them (the
// calls above ask for two).
var wholeMonths = map[string]int{"PartnerActivity": 2}

type statement struct {
	sql  string
	args []any
}

// seqScans are the large tables st's plan reads sequentially: those the
// load filled (the planner rightly reads a near-empty table whole).
func seqScans(t *testing.T, conn *pgx.Conn, st statement, mode string) []string {
	t.Helper()
	verb := strings.ToUpper(strings.Fields(st.sql)[0])
	if verb == "BEGIN" || verb == "COMMIT" || verb == "ROLLBACK" {
		return nil
	}
	raw, err := explainAsRun(context.Background(), conn, st, mode, "FORMAT JSON")
	if err != nil {
		t.Fatalf("explain %s: %v", st.sql, err)
	}
	var plans []struct{ Plan map[string]any }
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" {
			var rel string
			var rows float64
			// pg_partition_root is NULL for a table that is not partitioned.
			if err := conn.QueryRow(context.Background(), `SELECT coalesce(pg_partition_root(oid), oid)::regclass::text, reltuples
				FROM pg_class WHERE oid = to_regclass($1)`, n["Relation Name"]).Scan(&rel, &rows); err != nil {
				t.Fatalf("the table %v of a sequential scan: %v", n["Relation Name"], err)
			}
			for _, l := range large {
				if rel == l && rows >= 10000 {
					f, _ := n["Filter"].(string)
					out = append(out, rel+" (filter "+f+")")
				}
			}
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				if m, ok := k.(map[string]any); ok {
					walk(m)
				}
			}
		}
	}
	for _, p := range plans {
		walk(p.Plan)
	}
	return out
}

// load fills the schema as a year of a service might, in proportion:
// 100,000 citizens' grants, 300,000 history rows, tokens, the outbox.
func load(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		// In between publications: most grants under the current terms or
		// told of them, a few still to tell.
		`INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version, challenge_id, status, holders, terms_told)
		 SELECT 'g-' || i, lpad((800000000000 + i % 100000)::text, 12, '0'), 'p' || (i % 50), ARRAY['id_card'], '',
		        now() - (i % 365) * interval '1 day', now() + ((i % 400) - 30) * interval '1 day',
		        CASE WHEN i % 2 = 0 THEN '2027-01-01' ELSE '2026-11-01' END, 'c-' || i,
		        CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END, '{}',
		        CASE WHEN i % 40 = 1 THEN '2026-11-01' ELSE '2027-01-01' END
		 FROM generate_series(1, 150000) i`,
		`INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom)
		 SELECT now() - (300000 - i) * interval '105 seconds', lpad((800000000000 + i % 100000)::text, 12, '0'),
		        lpad((800000000000 + i % 100000)::text, 12, '0'), 'p' || (i % 50), 'g-' || (i % 150000), 'id_card', 'fetch', ''
		 FROM generate_series(1, 300000) i`,
		// Sealed, but for the last few, as the ledger leaves them.
		`INSERT INTO history_leaves (leaf_index, event_id, at, chain, leaf_hash)
		 SELECT id - 1, id, at, 'c-' || (id % 100000), sha256(id::text::bytea) FROM access_events WHERE id <= 299900`,
		`DELETE FROM history_unsealed WHERE id <= 299900`,
		// The log's subtrees over those leaves: 2^(17-level) at each level.
		`INSERT INTO history_nodes (level, idx, hash)
		 SELECT l, i, sha256(i::text::bytea) FROM generate_series(1, 17) l CROSS JOIN LATERAL generate_series(0, (299900 >> l) - 1) i`,
		`INSERT INTO audit_log (at, actor, action, partner_id)
		 SELECT now() - (60000 - i) * interval '9 minutes', 'admin', 'partner.updated', 'p' || (i % 50) FROM generate_series(1, 60000) i`,
		`INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request)
		 SELECT 'access', 's-' || i, 'r-' || i, 'p' || (i % 50), 'g-' || (i % 150000), i % 3 = 0, now() + (i % 100 - 1) * interval '1 hour', '\x00'
		 FROM generate_series(1, 150000) i`,
		// Made over the last 29 days, each delivered a second after: an
		// outbox made at one instant would hide what its plans do.
		`INSERT INTO outbox (id, partner_id, grant_id, kind, status, next_attempt_at, created_at, delivered_at)
		 SELECT 'o-' || i, 'p' || (i % 50), 'g-' || (i % 150000), 'grant.documents',
		        CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'delivered' END, now() - interval '1 day',
		        now() - (100000 - i) * interval '25 seconds', now() - (100000 - i) * interval '25 seconds' + interval '1 second'
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO otp_challenges (id, pending_id, partner_id, session, citizen, documents, days, code_hash, attempts, resends, status, lang,
		        created_at, sent_at, expires_at, version)
		 SELECT 'c-' || i, 'req', 'p1', 's', lpad((800000000000 + i % 100000)::text, 12, '0'), ARRAY['id_card'], 30, '\x00', 0, 0,
		        'used', 'kk', now() - interval '1 hour', now() - interval '1 hour', now() - (i % 1440) * interval '1 minute', 1
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO shares (id, citizen, holder, document, code_key, token_key, created_at, expires_at, status, closed_at)
		 SELECT 'sh-' || i, lpad((800000000000 + i % 100000)::text, 12, '0'), lpad((800000000000 + i % 100000)::text, 12, '0'),
		        'id_card', 'code-' || i, 'token-' || i, now() - (i % 1000) * interval '1 hour', now() - (i % 1000) * interval '1 hour' + interval '10 minutes',
		        CASE WHEN i % 100 = 0 THEN 'open' ELSE 'closed' END, NULL
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO rate_counters (key, window_start, count, expires_at)
		 SELECT 'otp-ip:' || (i / 2), date_trunc('hour', now()) - (i % 2) * interval '1 hour', i % 30, date_trunc('hour', now()) + (1 - i % 2) * interval '1 hour' + interval '1 minute'
		 FROM generate_series(1, 100000) i`,
		`ANALYZE`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("load: %v\n%s", err, q)
		}
	}
	var n int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM grants`).Scan(&n)
	if n < 100000 {
		t.Fatal(fmt.Sprint("loaded ", n, " grants"))
	}
}

// A page of a citizen's history reads the months it covers and not the
// others, so that it costs the same whether the history keeps one year or
// five: over five years of months, the first page and a page deep in the
// past are each explained as they run, and the months whose part of the
// citizens' index was read are counted.
func TestHistoryPageReadsItsMonths(t *testing.T) {
	ctx := context.Background()
	s := record(t)
	conn := s.conn
	now := time.Now().UTC()
	if _, err := s.EnsureMonths(ctx, now.AddDate(-5, 0, 0), now); err != nil {
		t.Fatal(err)
	}
	// The citizen's 10 events a month (one every three days), among
	// 300,000 of others.
	const citizen consent.IIN = "850315300128"
	for _, q := range []string{
		`INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom)
		 SELECT now() - i * interval '3 days', '850315300128', '850315300128', 'p1', 'g-' || i, 'id_card', 'fetch', ''
		 FROM generate_series(0, 600) i`,
		`INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom)
		 SELECT now() - (i % 1800) * interval '1 day', lpad((800000000000 + i % 100000)::text, 12, '0'),
		        lpad((800000000000 + i % 100000)::text, 12, '0'), 'p1', 'g-' || i, 'id_card', 'fetch', ''
		 FROM generate_series(1, 300000) i`,
		`ANALYZE access_events`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	read := func(before consent.HistoryCursor, mode string) ([]consent.AccessEvent, []string) {
		t.Helper()
		var page []consent.AccessEvent
		sent, err := s.during(func() (err error) { page, err = s.ListAccess(ctx, citizen, before, 20); return err })
		if err != nil || len(page) != 20 {
			t.Fatalf("a page: %d events, %v", len(page), err)
		}
		st := sent[len(sent)-1]
		raw, err := explainAsRun(ctx, conn, st, mode, "ANALYZE, FORMAT JSON")
		if err != nil {
			t.Fatal(err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal(raw, &plans); err != nil {
			t.Fatal(err)
		}
		var months []string
		var walk func(n map[string]any)
		walk = func(n map[string]any) {
			rel, _ := n["Relation Name"].(string)
			cond, _ := n["Index Cond"].(string)
			filter, _ := n["Filter"].(string)
			if loops, _ := n["Actual Loops"].(float64); rel != "" && loops > 0 && strings.Contains(cond+filter, "citizen = ") {
				months = append(months, rel)
			}
			kids, _ := n["Plans"].([]any)
			for _, k := range kids {
				if m, ok := k.(map[string]any); ok {
					walk(m)
				}
			}
		}
		walk(plans[0].Plan)
		return page, months
	}
	for _, mode := range planModes {
		// The newest page: the months ahead the upkeep made (empty), the
		// current one and the one or two before it.
		first, months := read(consent.HistoryCursor{}, mode)
		if len(months) > 6 {
			t.Errorf("the first page read %d months (%s): %v", len(months), mode, months)
		}
		// Thirty months back: what is after the cursor is not read at all.
		deep := consent.CursorOf(first[0])
		deep.At = deep.At.AddDate(0, -30, 0)
		page, months := read(deep, mode)
		if len(months) > 3 {
			t.Errorf("a page thirty months back read %d months (%s): %v", len(months), mode, months)
		}
		if !deep.Before(page[0]) || page[0].At.Before(deep.At.AddDate(0, 0, -4)) {
			t.Errorf("the page thirty months back starts at %v, the cursor at %v", page[0].At, deep.At)
		}
	}
}

// The store's connections keep their statements prepared, each with the
// generic plan made the first time it ran. On a new deployment that is
// while the tables are small and never analyzed, when the planner takes
// every active grant for a few rows and costs a full read of a small
// partial index like a search by key; the plan then stays until the table
// is analyzed. A consent's statements keyed by the citizen, and a token's
// read with its grant, must read their rows through that plan too, once
// the grants are many, whether it was made on the empty table or on its
// first few hundred grants.
func TestKeyedStatementsPlannedOnAnEmptySchema(t *testing.T) {
	ctx := context.Background()
	s := record(t)
	conn := s.conn
	if _, err := conn.Exec(ctx, `ALTER TABLE grants SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g := consent.Grant{ID: "g-next", Citizen: "810000000042", PartnerID: "p1", TermsVersion: "v1", Holders: []consent.IIN{"810000000042"},
		Documents: []consent.DocumentType{"id_card"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ChallengeID: "c-next", Status: consent.GrantActive}
	c := consent.Challenge{ID: "c-next", PendingID: "r", PartnerID: "p1", Session: "s", Citizen: g.Citizen, Documents: g.Documents, Days: 1,
		CodeHash: []byte{1}, Status: consent.ChallengeUsed, CreatedAt: now, SentAt: now, ExpiresAt: now.Add(time.Minute), Version: 1}
	calls := map[string]func() error{
		"ApproveAndReplace": func() error {
			if _, err := s.ApproveAndReplace(ctx, c, g, nil, nil); !errors.Is(err, consent.ErrStale) {
				return err
			}
			return nil
		},
		"ApproveProved": func() error {
			if _, err := s.ApproveProved(ctx, c, []byte{2}, now, 5, g, nil, nil); !errors.Is(err, consent.ErrStale) {
				return err
			}
			return nil
		},
		"ReplaceGrants": func() error { _, err := s.ReplaceGrants(ctx, g, now, nil); return err },
		"ActiveGrants":  func() error { _, err := s.ActiveGrants(ctx, g.Citizen, "id_card", now); return err },
		// A token's read joins its grant: planned while both are small.
		"GetToken": func() error {
			if _, err := s.GetToken(ctx, oauth.KindAccess, "s-42"); !errors.Is(err, oauth.ErrNotFound) {
				return err
			}
			return nil
		},
	}
	type prepared struct {
		name, as string
		st       statement
	}
	var kept []prepared
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	// A new bank's consents: one partner, a grant per citizen, added to
	// the table in turn (never analyzed: autovacuum is off for it).
	grants := func(from, to int) {
		t.Helper()
		if _, err := conn.Exec(ctx, `INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at,
				terms_version, challenge_id, status, holders, terms_told)
			SELECT 'g-' || i, (810000000000 + i)::text, 'p1', ARRAY['id_card'], '', now(), now() + interval '30 days', 'v1', 'c-' || i,
				'active', ARRAY[(810000000000 + i)::text], 'v1'
			FROM generate_series($1::int, $2::int) i`, from, to); err != nil {
			t.Fatal(err)
		}
	}
	had := 0
	for _, size := range []int{0, 400, 700, 1000} {
		if size > had {
			grants(had+1, size)
			had = size
		}
		for name, call := range calls {
			stmts, err := s.during(call)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, st := range stmts {
				if !strings.Contains(st.sql, "grants") {
					continue
				}
				p := prepared{fmt.Sprintf("%s planned on %d grants", name, size), fmt.Sprintf("early_%d", len(kept)), st}
				if _, err := conn.Exec(ctx, "PREPARE "+p.as+" AS "+st.sql); err != nil {
					t.Fatal(err)
				}
				// Planned now, on the table as it is, and kept.
				if _, err := conn.Exec(ctx, "EXPLAIN "+execute(p.as, st), append([]any{pgx.QueryExecModeSimpleProtocol}, st.args...)...); err != nil {
					t.Fatalf("%s: %v\n%s", p.name, err, st.sql)
				}
				kept = append(kept, p)
			}
		}
	}
	if len(kept) < 12 {
		t.Fatalf("%d statements on grants recorded", len(kept))
	}
	// A day of them with their tokens, and the grant just approved (which
	// the replacement sent with its approval looks for).
	grants(had+1, 20000)
	if _, err := conn.Exec(ctx, `INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request)
		SELECT 'access', 's-' || i, 'r-' || i, 'p1', 'g-' || i, true, now() + interval '1 hour', '{}'::bytea
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at, expires_at, terms_version,
			challenge_id, status, holders, terms_told)
		VALUES ('g-next', '810000000042', 'p1', ARRAY['id_card'], '', now(), now() + interval '30 days', 'v1', 'c-next', 'active',
			ARRAY['810000000042'], 'v1')`); err != nil {
		t.Fatal(err)
	}
	for _, p := range kept {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		err = tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+execute(p.as, p.st),
			append([]any{pgx.QueryExecModeSimpleProtocol}, p.st.args...)...).Scan(&raw)
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if n := planBuffers(t, raw); n > 40 {
			t.Errorf("%s, reads %d buffers of 20,000 grants:\n%s\n%s", p.name, n, p.st.sql, raw)
		}
	}
}

// execute is the EXECUTE of the prepared statement name with st's
// arguments. EXPLAIN EXECUTE takes no parameters of its own: the arguments
// are written into it as literals, which EXECUTE casts to the types the
// statement was prepared with.
func execute(name string, st statement) string {
	if len(st.args) == 0 {
		return "EXECUTE " + name
	}
	params := make([]string, len(st.args))
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	return "EXECUTE " + name + "(" + strings.Join(params, ", ") + ")"
}

// tellAll tells every ended grant's partner, as for partners that all
// have webhooks.
func tellAll(now time.Time) consent.Tell {
	return func(ended []consent.Grant) []consent.OutboxEntry {
		out := make([]consent.OutboxEntry, len(ended))
		for i, g := range ended {
			out[i] = consent.OutboxEntry{ID: "told-" + g.ID, PartnerID: g.PartnerID, GrantID: g.ID, Kind: consent.KindGrantRevoked,
				Status: consent.OutboxPending, NextAttemptAt: now, CreatedAt: now}
		}
		return out
	}
}
