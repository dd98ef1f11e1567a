package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/adapters/storetest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

func open(t *testing.T) *postgres.Store {
	t.Helper()
	return openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 8})
}

// openAt opens and migrates a store on the database at url.
func openAt(t testing.TB, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, opts)
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

// The gateway runs with the partner cache; the contract holds with it too.
func TestContractWithPartnerCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 8, CachePartners: true})
	})
}

// Behind PgBouncer in transaction pooling mode every statement of the
// contract works: no prepared statement, session setting or session lock
// outlives its transaction, and migrations and LISTEN go direct.
func TestContractThroughPgBouncer(t *testing.T) {
	bouncer := pgtest.NewBouncer(t, 3)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		pooled, direct := bouncer.DB(t)
		return openAt(t, pooled, postgres.Options{MaxConns: 8, CachePartners: true, DirectURL: direct})
	})
}

// Behind a PgBouncer that keeps prepared statements (1.21 and later, the
// production set-up: README, Behind PgBouncer) the contract holds in
// pgx's default mode, and the statements stay prepared on the server
// connections, each planned once: planned at every call, as in exec mode,
// they cost PostgreSQL 1.45 to 4.9 times the CPU (BENCHMARKS.md).
func TestContractThroughPreparingPgBouncer(t *testing.T) {
	bouncer := pgtest.NewPreparingBouncer(t, 3)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		pooled, direct := bouncer.DB(t)
		return openAt(t, pooled, postgres.Options{MaxConns: 8, CachePartners: true, DirectURL: direct})
	})
	pooled, direct := bouncer.DB(t)
	s := openAt(t, pooled, postgres.Options{MaxConns: 8, DirectURL: direct})
	ctx := context.Background()
	for range 10 {
		if _, err := s.GetPartner(ctx, "nobody"); !errors.Is(err, partners.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := bouncer.PreparedOnServers(t); n == 0 {
		t.Error("no statement stayed prepared on the server connections")
	}
}

// A partner cache whose listener cannot hear what is notified is never
// used: behind a pooler in transaction mode (here the direct URL names the
// pooler too), LISTEN takes but no notification reaches the connection, so
// a cache trusted there would serve partners changed on other replicas.
// The listener proves it hears by its own notification, sent through the
// pool as a partner's change is; the log says why the cache is bypassed.
func TestPartnerCacheListensOnlyWhereItHears(t *testing.T) {
	bouncer := pgtest.NewBouncer(t, 3)
	pooled, direct := bouncer.DB(t)
	logged := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logged, nil))
	// The store with a direct URL migrates the database, past the pooler.
	// The other does not migrate: through the pooler the migrator's session
	// lock can stay on one server connection while its unlock goes to
	// another, and its next lock then waits for the first for ever.
	heard := openAt(t, pooled, postgres.Options{MaxConns: 4, CachePartners: true, DirectURL: direct, Timeout: time.Second})
	deaf, err := postgres.Open(context.Background(), pooled,
		postgres.Options{MaxConns: 4, CachePartners: true, DirectURL: pooled, Timeout: time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deaf.Close)
	waitFor(t, "the listener past the pooler to listen", func() bool { listening, _ := heard.PartnerCacheState(); return listening })
	waitFor(t, "the log to say why the cache is bypassed", func() bool { return strings.Contains(logged.String(), "does not hear") })
	for range 3 { // through its reconnections
		if listening, _ := deaf.PartnerCacheState(); listening {
			t.Fatal("the cache of a listener behind the pooler is used")
		}
		time.Sleep(time.Second)
	}
	if n := strings.Count(logged.String(), "does not hear"); n != 1 {
		t.Errorf("the bypass was logged %d times, want once until it hears again:\n%s", n, logged.String())
	}
}

// logBuffer is a log's output, written by the store's goroutines and
// read by the test.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
	got, err := s.ListAccess(ctx, "900101400559", consent.HistoryCursor{}, 2*n)
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

// A partner read through the cache reflects a change made on the same
// replica at once, and one made on another replica as soon as its
// notification arrives.
// createPartner onboards an active partner id with scope, as the admin
// API would, and returns it.
func createPartner(t testing.TB, s *postgres.Store, id, scope string, now time.Time) partners.Partner {
	t.Helper()
	p := partners.Partner{ID: id, Registration: partners.Registration{ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"},
		TokenEndpointAuthMethod: partners.AuthSecretBasic, Scope: scope, Delivery: partners.DeliveryPull},
		Status: partners.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now, SecretHash: []byte{1}}
	if err := s.CreatePartner(context.Background(), p, partners.AuditEntry{At: now, Actor: "admin", Action: "partner.create", PartnerID: id}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPartnerCacheFollowsChanges(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a := openAt(t, url, postgres.Options{MaxConns: 4, CachePartners: true})
	b := openAt(t, url, postgres.Options{MaxConns: 4, CachePartners: true})
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := createPartner(t, a, "p1", "openid", now)
	cachedA, cachedB := a.CachedPartners(), b.CachedPartners()
	waitListening := func(c *postgres.CachedPartners) {
		// The cache is used only once its replica listens; read until a
		// second read is served without the database.
		for range 100 {
			if _, err := c.GetPartner(ctx, "p1"); err != nil {
				t.Fatal(err)
			}
			if c.Cached("p1") {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the partner cache never started")
	}
	waitListening(cachedA)
	waitListening(cachedB)

	suspend := func(s *postgres.Store, version int) {
		q := p
		q.Status, q.Version = partners.StatusSuspended, version
		if err := s.UpdatePartner(ctx, q, partners.AuditEntry{At: now, Actor: "admin", Action: "partner.suspend", PartnerID: "p1"}); err != nil {
			t.Fatal(err)
		}
	}
	rec := oauth.Record{Kind: oauth.KindAccess, Signature: "sig", RequestID: "req", ClientID: "p1", Active: true,
		ExpiresAt: time.Now().Add(time.Hour), Request: []byte(`{}`)}
	if err := a.CreateRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if tok, err := b.GetToken(ctx, oauth.KindAccess, "sig"); err != nil || tok.Partner == nil || tok.Partner.Status != partners.StatusActive {
		t.Fatalf("token before the change: %+v, %v", tok.Partner, err)
	}
	// Even a change no replica is told of (as if its notification were
	// lost) shows at once in a token's read: it reads the partner's
	// version with the token.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE partners SET status = 'suspended', version = version + 1 WHERE id = 'p1'`); err != nil {
		t.Fatal(err)
	}
	if tok, err := b.GetToken(ctx, oauth.KindAccess, "sig"); err != nil || tok.Partner == nil || tok.Partner.Status != partners.StatusSuspended {
		t.Errorf("token after an unannounced change: %+v, %v", tok.Partner, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE partners SET status = 'active', version = version + 1 WHERE id = 'p1'`); err != nil {
		t.Fatal(err)
	}
	if tok, err := b.GetToken(ctx, oauth.KindAccess, "sig"); err != nil || tok.Partner == nil || tok.Partner.Status != partners.StatusActive {
		t.Fatalf("token after the partner came back: %+v, %v", tok.Partner, err)
	}
	suspend(a, 3)
	if got, _ := cachedA.GetPartner(ctx, "p1"); got.Status != partners.StatusSuspended {
		t.Errorf("same replica right after the change: %s", got.Status)
	}
	if tok, err := b.GetToken(ctx, oauth.KindAccess, "sig"); err != nil || tok.Partner == nil || tok.Partner.Status != partners.StatusSuspended {
		t.Errorf("token on the other replica right after the change: %+v, %v", tok.Partner, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := cachedB.GetPartner(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == partners.StatusSuspended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica never heard of the change")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An existing history is upgraded: migration 025's indexes built ahead,
// CONCURRENTLY, as its header says, are kept; then 026 moves the history
// and the audit log into monthly partitions, the seals into the log's own
// table and the unsealed events into the sealer's queue, and the ids go on.
func TestMigrationWithIndexesBuiltAhead(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MigrateTo(ctx, 24); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Two years of history, the older half sealed, and the audit log.
	for _, sql := range []string{
		`INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom)
		 SELECT now() - (1000 - i) * interval '17 hours', '850315300128', '850315300128', 'p1', 'g-' || (i % 7), 'id_card', 'fetch', ''
		 FROM generate_series(1, 1000) i`,
		`UPDATE access_events SET leaf_index = id - 1, chain = 'c-' || (id % 3), leaf_hash = sha256(id::text::bytea) WHERE id <= 500`,
		`INSERT INTO audit_log (at, actor, action, partner_id) SELECT now() - i * interval '1 day', 'admin', 'partner.created', 'p' || i
		 FROM generate_series(1, 40) i`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if built := buildAhead(t, conn, "025_history_pages.sql"); built != 5 {
		t.Fatalf("the header gives %d statements", built)
	}
	if err := s.MigrateTo(ctx, 26); err != nil {
		t.Fatalf("the upgrade over indexes built ahead: %v", err)
	}
	var old, valid int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE c.relname = 'access_events_holder_idx'), count(*) FILTER (WHERE i.indisvalid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname IN ('access_events_holder_idx', 'access_events_use_idx', 'access_events_held_idx', 'grants_holders_idx',
			'access_events_holders_idx', 'shares_held_idx') AND c.relnamespace = current_schema()::regnamespace`).Scan(&old, &valid); err != nil {
		t.Fatal(err)
	}
	if old != 0 || valid != 5 {
		t.Errorf("after the upgrade: the old index %d times, %d of 5 new ones valid", old, valid)
	}
	var events, months, leaves, queued, audit, next int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM access_events),
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'access_events'::regclass),
		(SELECT count(*) FROM history_leaves l JOIN access_events e ON e.id = l.event_id AND e.at = l.at AND l.leaf_index = e.id - 1),
		(SELECT count(*) FROM history_unsealed u JOIN access_events e ON e.id = u.id AND e.at = u.at),
		(SELECT count(*) FROM audit_log),
		(SELECT nextval('access_events_id_seq'))`).Scan(&events, &months, &leaves, &queued, &audit, &next); err != nil {
		t.Fatal(err)
	}
	// 1000 × 17 h spans 24 or 25 months, and the 3 ahead.
	if events != 1000 || months < 27 || months > 28 || leaves != 500 || queued != 500 || audit != 40 || next != 1001 {
		t.Errorf("after the upgrade: %d events in %d partitions, %d leaves, %d queued, %d audit entries, next id %d",
			events, months, leaves, queued, audit, next)
	}
}

// Migration 027's indexes are built ahead on a history already in months,
// as its header says, while the history is written: an upgrade before
// every month's index is attached stops with a clear error and changes
// nothing; once they are, it keeps them, drops the old ones, and a page
// reads through them.
func TestHistoryIndexesBuiltAhead(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MigrateTo(ctx, 26); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.EnsureMonths(ctx, now.AddDate(0, -14, 0), now); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const citizen = "850315300128"
	if _, err := conn.Exec(ctx, `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom)
		SELECT now() - i * interval '9 hours', $1, $1, 'p1', 'g-' || i, 'id_card', 'fetch', '' FROM generate_series(1, 1000) i`, citizen); err != nil {
		t.Fatal(err)
	}
	raw, err := fs.ReadFile(os.DirFS("migrations"), "027_history_in_time_order.sql")
	if err != nil {
		t.Fatal(err)
	}
	var build, attach []string
	for _, line := range strings.Split(string(raw), "\n") {
		if sql, ok := strings.CutPrefix(line, "--   "); ok {
			if strings.Contains(sql, "ATTACH PARTITION") {
				attach = append(attach, sql)
			} else {
				build = append(build, sql)
			}
		}
	}
	if len(build) != 4 || len(attach) != 2 {
		t.Fatalf("the header gives %d statements to build and %d to attach", len(build), len(attach))
	}
	// run is psql's: a statement, or with \gexec each statement its query makes.
	run := func(sql string) {
		t.Helper()
		query, gexec := strings.CutSuffix(sql, ` \gexec`)
		if !gexec {
			if _, err := conn.Exec(ctx, query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return
		}
		rows, err := conn.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		made, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(made) < 14 {
			t.Fatalf("%s made %d statements: %v", query, len(made), err)
		}
		for _, m := range made {
			if _, err := conn.Exec(ctx, m); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
		}
	}
	// The history is written all along: an index built CONCURRENTLY waits
	// for no writer and stops none.
	stop := make(chan struct{})
	var writes sync.WaitGroup
	writes.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.RecordAccess(ctx, consent.AccessEvent{At: time.Now(), Citizen: citizen, Holder: citizen, PartnerID: "p1", GrantID: "g-new",
				Document: "id_card", Kind: consent.AccessFetch}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for _, sql := range build {
		run(sql)
	}
	err = s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "not yet attached to every month") {
		t.Fatalf("the upgrade before the months' indexes are attached: %v", err)
	}
	for _, sql := range attach {
		run(sql)
	}
	close(stop)
	writes.Wait()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("the upgrade over indexes built ahead: %v", err)
	}
	var old, valid, months int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE c.relname IN ('access_events_citizen_idx', 'access_events_held_idx')),
		count(*) FILTER (WHERE c.relname IN ('access_events_citizen_at_idx', 'access_events_held_at_idx') AND i.indisvalid),
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'access_events_citizen_at_idx'::regclass)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = current_schema()::regnamespace`).Scan(&old, &valid, &months); err != nil {
		t.Fatal(err)
	}
	if old != 0 || valid != 2 || months < 15 {
		t.Errorf("after the upgrade: the old indexes %d times, %d of 2 new ones valid, on %d months", old, valid, months)
	}
	page, err := s.ListAccess(ctx, citizen, consent.HistoryCursor{}, 100)
	if err != nil || len(page) != 100 || page[0].GrantID != "g-new" {
		t.Fatalf("a page after the upgrade: %d events %v", len(page), err)
	}
}

// Two replicas' upkeeps make the same months at once: each month is made
// once, neither upkeep fails, and the months take their rows. A row of a
// month not made is refused, not kept somewhere the months' searches
// would have to read too.
func TestMonthsFromTwoReplicas(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := openAt(t, url, postgres.Options{MaxConns: 4}), openAt(t, url, postgres.Options{MaxConns: 4})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const march = `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind)
		SELECT '2025-03-01T00:00:00Z'::timestamptz + i * interval '1 hour', '850315300128', '850315300128', 'p1', 'g1', 'id_card', 'fetch'
		FROM generate_series(0, 99) i`
	if _, err := conn.Exec(ctx, march); err == nil {
		t.Fatal("a row of a month not made ready was taken")
	}
	from, to := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	made := make(chan []string, 2)
	errs := make(chan error, 2)
	for _, s := range []*postgres.Store{a, b} {
		go func() {
			created, err := s.EnsureMonths(ctx, from, to)
			made <- created
			errs <- err
		}()
	}
	all := map[string]int{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("an upkeep: %v", err)
		}
		for _, name := range <-made {
			all[name]++
		}
	}
	if len(all) != 12 {
		t.Errorf("made %d partitions, want 6 months of 2 tables: %v", len(all), all)
	}
	for name, n := range all {
		if n != 1 {
			t.Errorf("%s made %d times", name, n)
		}
	}
	if _, err := conn.Exec(ctx, march); err != nil {
		t.Fatalf("March's rows once March was made: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM access_events_p2025_03`).Scan(&n); err != nil || n != 100 {
		t.Errorf("March holds %d rows (%v)", n, err)
	}
}

// A month is dropped while the history is read and written: a long read
// holding the old month makes the drop wait (and give up at the store's
// deadline, finishing on a later round), but no request waits for it.
func TestDropMonthsGivesWayToALongRead(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4})
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.EnsureMonths(ctx, jan, jan); err != nil {
		t.Fatal(err)
	}
	reader, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	tx, err := reader.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT count(*) FROM access_events`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.DropMonths(ctx, jan.AddDate(0, 1, 0)); done <- err }()
	time.Sleep(300 * time.Millisecond)
	writer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	for _, sql := range []string{
		`SET statement_timeout = 500`,
		`INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind)
		 VALUES (now(), '850315300128', '850315300128', 'p1', 'g1', 'id_card', 'fetch')`,
		`SELECT count(*) FROM access_events WHERE citizen = '850315300128'`,
		`INSERT INTO audit_log (at, actor, action, partner_id) VALUES (now(), 'admin', 'partner.updated', 'p1')`,
	} {
		if _, err := writer.Exec(ctx, sql); err != nil {
			t.Errorf("while a month is dropped: %v\n%s", err, sql)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	<-done // done, or given up at the deadline: either way the next round finishes
	if _, err := s.DropMonths(ctx, jan.AddDate(0, 1, 0)); err != nil {
		t.Errorf("the next round: %v", err)
	}
	var left int
	if err := reader.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE '%_p2025_01' AND relnamespace = current_schema()::regnamespace`).Scan(&left); err != nil || left != 0 {
		t.Errorf("January's tables left: %d (%v)", left, err)
	}
	if cut, err := s.DroppedBefore(ctx); err != nil || !cut.Equal(jan.AddDate(0, 1, 0)) {
		t.Errorf("the cut: %s %v", cut, err)
	}
}

type signedAsIs struct{}

func (signedAsIs) Sign(payload []byte, typ string) (string, error) {
	return typ + ":" + string(payload), nil
}

type tamperCount struct{ n int }

func (*tamperCount) Checkpointed(int64) {}
func (c *tamperCount) Tampered()        { c.n++ }

// ledgerOn is a ledger over s whose clock runs a minute ahead, so that it
// seals what was just written, counting what it finds tampered.
func ledgerOn(t *testing.T, s *postgres.Store, retention time.Duration) (*consent.Ledger, *tamperCount) {
	t.Helper()
	observed := &tamperCount{}
	ledger, err := consent.NewLedger(consent.LedgerConfig{Store: s, Signer: signedAsIs{}, Key: []byte("0123456789abcdef0123456789abcdef"),
		Issuer: "https://kelisim.test", Observer: observed, Retention: retention, Now: func() time.Time { return time.Now().Add(time.Minute) },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return ledger, observed
}

// fetches records n fetches of one citizen's id card, now.
func fetches(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	for i := range n {
		if err := s.RecordAccess(context.Background(), consent.AccessEvent{At: time.Now().Add(time.Duration(i) * time.Millisecond),
			Citizen: "850315300128", Holder: "850315300128", PartnerID: "p1", GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}); err != nil {
			t.Fatal(err)
		}
	}
}

// Two gateways whose tables live in different schemas of one database
// seal their own histories: a round running in one does not make the
// other's skip, while a second round on the same schema does skip.
func TestSealRoundPerSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	one := openAt(t, url, postgres.Options{MaxConns: 4})
	same := openAt(t, url, postgres.Options{MaxConns: 4})
	other := openAt(t, pgtest.URL(t), postgres.Options{MaxConns: 4})
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := one.SealRound(ctx, func(context.Context) error { close(held); <-release; return nil })
		done <- err
	}()
	<-held
	noop := func(context.Context) error { return nil }
	if ran, err := same.SealRound(ctx, noop); err != nil || ran {
		t.Errorf("a round on the same schema while one runs: ran %v, %v; want skipped", ran, err)
	}
	if ran, err := other.SealRound(ctx, noop); err != nil || !ran {
		t.Errorf("a round on another schema while one runs: ran %v, %v; want it run", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An event deleted before it was sealed leaves its place in the sealer's
// queue: the round reports the history tampered and publishes no head,
// rather than sealing around the gap.
func TestEventDeletedBeforeItsSeal(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4})
	ledger, observed := ledgerOn(t, s, 0)
	fetches(t, s, 3)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM access_events WHERE id = (SELECT min(id) + 1 FROM access_events)`); err != nil {
		t.Fatal(err)
	}
	if cp, err := ledger.Round(ctx); !errors.Is(err, consent.ErrTampered) || cp.Size != 0 || observed.n != 1 {
		t.Errorf("a round over a deleted, unsealed event: head %d, %v, %d reported", cp.Size, err, observed.n)
	}
}

// Retention's record of its cut, moved forward by hand, does not pass a
// deleted event off as dropped: the ledger bounds the cut by the
// retention it was given.
func TestDeletionNotPassedOffAsRetention(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4})
	ledger, observed := ledgerOn(t, s, 365*24*time.Hour)
	fetches(t, s, 3)
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 3 {
		t.Fatalf("sealed: %d %v", cp.Size, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`DELETE FROM access_events WHERE id = (SELECT min(id) + 1 FROM access_events)`,
		`INSERT INTO history_retention (dropped_before) VALUES (now() + interval '1 day')`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ledger.Round(ctx); !errors.Is(err, consent.ErrTampered) || observed.n != 1 {
		t.Errorf("a deleted event under a cut moved forward: %v, %d reported", err, observed.n)
	}
}

// A row written by anybody (a replica of the version before, during an
// upgrade; an operator's backfill) is queued for sealing by the table
// itself, and sealed by the next round.
func TestEventsFromAnyWriterAreSealed(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 4})
	ledger, _ := ledgerOn(t, s, 0)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind)
		SELECT now() - i * interval '1 second', '850315300128', '850315300128', 'p1', 'g1', 'id_card', 'fetch' FROM generate_series(1, 3) i`); err != nil {
		t.Fatal(err)
	}
	fetches(t, s, 1)
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 4 {
		t.Errorf("sealed %d of 4 events: %v", cp.Size, err)
	}
}

// Migrations 028, 029 and 030's grant indexes are built ahead,
// CONCURRENTLY, as their headers say: the upgrade keeps them. One left invalid by a failed
// build stops the upgrade with a clear error, and changes nothing.
func TestGrantIndexesBuiltAhead(t *testing.T) {
	ctx := context.Background()
	ahead := map[string]int{"028_grants_by_partner_and_citizen.sql": 1, "029_active_grants_by_citizen.sql": 1,
		"030_grant_indexes_named_by_their_searches.sql": 2}
	built := []string{"grants_partner_citizen_idx", "grants_active_citizen_idx", "grants_expiry_due_idx", "grants_terms_due_idx"}
	for _, tc := range []struct {
		invalid string // the index a build left invalid, if any
		stops   int    // the version the upgrade stops at then
	}{{"", 0}, {"grants_active_citizen_idx", 28}, {"grants_terms_due_idx", 29}} {
		url := pgtest.URL(t)
		s, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.MigrateTo(ctx, 27); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for name, want := range ahead {
			if n := buildAhead(t, conn, name); n != want {
				t.Fatalf("%s's header gives %d statements, want %d", name, n, want)
			}
		}
		if tc.invalid != "" {
			if _, err := conn.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass`, tc.invalid); err != nil {
				t.Fatal(err)
			}
		}
		err = s.Migrate(ctx)
		var version int
		if qerr := conn.QueryRow(ctx, `SELECT version FROM kelisim_schema_version`).Scan(&version); qerr != nil {
			t.Fatal(qerr)
		}
		if tc.invalid != "" {
			if err == nil || !strings.Contains(err.Error(), tc.invalid+", built ahead, is invalid") || version != tc.stops {
				t.Errorf("the upgrade over an invalid %s: %v, at version %d, want it stopped at %d", tc.invalid, err, version, tc.stops)
			}
			continue
		}
		var valid int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname = ANY($1) AND i.indisvalid AND c.relnamespace = current_schema()::regnamespace`, built).Scan(&valid); err != nil {
			t.Fatal(err)
		}
		if err != nil || version < 30 || valid != len(built) {
			t.Errorf("the upgrade over indexes built ahead: %v, at version %d, %d of %d valid", err, version, valid, len(built))
		}
	}
}

// buildAhead runs the CREATE INDEX CONCURRENTLY statements the header of
// migration name gives, as an operator would before upgrading, and
// returns how many it gave.
func buildAhead(t *testing.T, conn *pgx.Conn, name string) int {
	t.Helper()
	raw, err := fs.ReadFile(os.DirFS("migrations"), name)
	if err != nil {
		t.Fatal(err)
	}
	built := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if sql, ok := strings.CutPrefix(line, "--   CREATE INDEX CONCURRENTLY"); ok {
			if _, err := conn.Exec(context.Background(), "CREATE INDEX CONCURRENTLY"+sql); err != nil {
				t.Fatalf("%s built ahead: %v", name, err)
			}
			built++
		}
	}
	return built
}
