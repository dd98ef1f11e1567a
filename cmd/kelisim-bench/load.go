package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/registry"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// kelisim-bench load fills an empty database with a year of a national
// service, straight through COPY: partners, citizens' grants, their
// history — sealed into the tamper-evident log by the ledger's own bulk
// sealer, its head signed with the gateway's key —, live tokens, shares
// and deliveries. The first citizens of the synthetic population (those
// the scenarios use) get a long history, so a page deep in their past is
// there to read.
//
//	kelisim-bench load -database postgres://…/kelisim_loaded -grants 2000000 -history 10000000 -tokens 1000000
//
// KELISIM_SECRET (and KELISIM_ISSUER, when the gateway sets it) must be
// the gateway's: the loader makes the signing key and the pseudonyms.

type loadSizes struct {
	partners, grants, history, tokens, shares, outbox int
	citizens, heavy, heavyEvents                      int
	span                                              time.Duration
}

func loadCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kelisim-bench load", flag.ContinueOnError)
	var sz loadSizes
	database := fs.String("database", os.Getenv("KELISIM_DATABASE_URL"), "the empty database to load (migrated first)")
	issuer := fs.String("issuer", os.Getenv("KELISIM_ISSUER"), "the gateway's issuer, for the log's head (default http://KELISIM_ADDR)")
	fs.IntVar(&sz.partners, "partners", 100, "partners")
	fs.IntVar(&sz.grants, "grants", 2_000_000, "citizens' grants")
	fs.IntVar(&sz.history, "history", 10_000_000, "history rows (consents, revocations, fetches, views)")
	fs.IntVar(&sz.tokens, "tokens", 1_000_000, "live tokens (half access, half refresh)")
	fs.IntVar(&sz.shares, "shares", 200_000, "share codes (closed)")
	fs.IntVar(&sz.outbox, "outbox", 500_000, "deliveries (delivered, a few dead)")
	fs.IntVar(&sz.citizens, "citizens", 0, "distinct citizens (default half the grants)")
	fs.IntVar(&sz.heavy, "heavy", 2000, "the first synthetic citizens, who get a long history")
	fs.IntVar(&sz.heavyEvents, "heavy-events", 600, "history rows of each of them")
	fs.DurationVar(&sz.span, "span", 365*24*time.Hour, "how far back the history goes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sz.citizens == 0 {
		sz.citizens = max(sz.grants/2, sz.heavy+1)
	}
	switch {
	case *database == "":
		return errors.New("-database (or KELISIM_DATABASE_URL) is required")
	case os.Getenv("KELISIM_SECRET") == "":
		return errors.New("KELISIM_SECRET must be the gateway's")
	case sz.history < sz.grants+sz.grants/10+sz.heavy*sz.heavyEvents/2:
		return errors.New("-history must hold a consent for every grant, their revocations and the heavy citizens' use")
	case sz.partners < 1 || sz.heavy >= sz.citizens || sz.heavy*4 > sz.grants:
		return errors.New("need a partner, more citizens than heavy ones, and four grants per heavy citizen")
	}
	if *issuer == "" {
		*issuer = "http://" + envOr("KELISIM_ADDR", "127.0.0.1:8080")
	}
	l := &loader{sz: sz, out: out, rnd: mrand.New(mrand.NewPCG(16, 2026)), end: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}
	return l.run(ctx, *database, *issuer)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type loader struct {
	sz    loadSizes
	out   io.Writer
	rnd   *mrand.Rand
	end   time.Time
	store *postgres.Store
	pool  *pgxpool.Pool
	// what the history made of the grants, for their rows
	grants   []loadGrant
	partners []string
}

type loadGrant struct {
	created, revoked time.Time // revoked is zero while active
	expires          time.Time
	id               [16]byte
	citizen          int32
	partner          int16
	both             bool // both documents, else the ID card alone
}

var loadDocs = []consent.DocumentType{"id_card", "driver_license"}

func (g *loadGrant) documents() []consent.DocumentType {
	if g.both {
		return loadDocs
	}
	return loadDocs[:1]
}

func (l *loader) step(what string, start time.Time) {
	fmt.Fprintf(l.out, "%-44s %6.1f s\n", what, time.Since(start).Seconds())
}

func (l *loader) run(ctx context.Context, database, issuer string) error {
	begin := time.Now()
	var err error
	if l.store, err = postgres.Open(ctx, database, postgres.Options{MaxConns: 4}); err != nil {
		return err
	}
	defer l.store.Close()
	if err := l.store.Migrate(ctx); err != nil {
		return err
	}
	if l.pool, err = pgxpool.New(ctx, database); err != nil {
		return err
	}
	defer l.pool.Close()
	var rows int64
	if err := l.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM grants) + (SELECT count(*) FROM access_events)`).Scan(&rows); err != nil {
		return err
	}
	if rows > 0 {
		return errors.New("the database is not empty: load into a fresh one")
	}
	secrets, err := oauth.NewSecrets([]byte(os.Getenv("KELISIM_SECRET")))
	if err != nil {
		return err
	}
	keys, err := oauth.NewKeys(ctx, l.store, secrets, time.Now)
	if err != nil {
		return err
	}
	ledger, err := consent.NewLedger(consent.LedgerConfig{Store: l.store, Signer: keys, Key: secrets.Key("settings"), Issuer: issuer,
		Observer: nopLedger{}, Now: time.Now, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}

	start := time.Now()
	// The history's months, as the upkeep would have made them.
	if _, err := l.store.EnsureMonths(ctx, l.end.Add(-l.sz.span-48*time.Hour), l.end); err != nil {
		return err
	}
	if err := l.onboard(ctx); err != nil {
		return err
	}
	l.step(fmt.Sprintf("%d partners", len(l.partners)), start)

	tables := []string{"grants", "access_events", "history_leaves", "history_nodes", "oauth_records", "shares", "outbox"}
	start = time.Now()
	rebuild, err := l.dropIndexes(ctx, tables)
	if err != nil {
		return err
	}
	l.step("secondary indexes dropped for the load", start)

	start = time.Now()
	bulk := ledger.Bulk()
	if err := l.history(ctx, bulk); err != nil {
		return err
	}
	l.step(fmt.Sprintf("%d history rows, sealed, and their subtrees", l.sz.history), start)
	for _, t := range []struct {
		what string
		fn   func(context.Context) error
	}{
		{fmt.Sprintf("%d grants", len(l.grants)), l.grantRows},
		{fmt.Sprintf("%d live tokens", l.sz.tokens), l.tokens},
		{fmt.Sprintf("%d shares", l.sz.shares), l.shareRows},
		{fmt.Sprintf("%d deliveries", l.sz.outbox), l.outboxRows},
	} {
		start = time.Now()
		if err := t.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", t.what, err)
		}
		l.step(t.what, start)
	}

	start = time.Now()
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		return err
	}
	for _, def := range rebuild {
		if _, err := conn.Exec(ctx, def); err != nil {
			return fmt.Errorf("%s: %w", def, err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT setval('access_events_id_seq', (SELECT max(id) FROM access_events))`); err != nil {
		return err
	}
	l.step(fmt.Sprintf("%d indexes rebuilt", len(rebuild)), start)

	// The head over the bulk, signed; then a round of the ledger audits
	// what was loaded (the latest leaves, a random window and the tree's
	// head) and seals the rows left to it, as the gateway's rounds will.
	start = time.Now()
	cp, err := bulk.Publish(ctx)
	if err != nil {
		return err
	}
	next, err := ledger.Round(ctx)
	if err != nil {
		return fmt.Errorf("the ledger's round over the loaded history: %w", err)
	}
	if next.Size != int64(l.sz.history) {
		return fmt.Errorf("the ledger sealed %d of %d history rows", next.Size, l.sz.history)
	}
	l.step(fmt.Sprintf("heads of %d and %d leaves, audited", cp.Size, next.Size), start)

	start = time.Now()
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) partners, grants, access_events, history_leaves, history_unsealed, history_nodes, oauth_records, shares, outbox`); err != nil {
		return err
	}
	// What the load and the vacuum left dirty is written out now, not by
	// a checkpoint in the middle of the first measurement.
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		fmt.Fprintln(l.out, "no checkpoint (it needs a superuser or pg_checkpoint):", err)
	}
	l.step("vacuum, analyze and checkpoint", start)
	var size string
	_ = l.pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size)
	fmt.Fprintf(l.out, "loaded in %.0f s; the database is %s\n", time.Since(begin).Seconds(), size)
	return l.sizes(ctx, tables)
}

// sizes prints each table's bytes per row, heap and indexes, for sizing.
func (l *loader) sizes(ctx context.Context, tables []string) error {
	fmt.Fprintf(l.out, "%-16s %12s %10s %12s %12s\n", "table", "rows", "MB", "heap B/row", "index B/row")
	for _, t := range tables {
		var rows, heap, indexes int64
		if err := l.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()+`),
			coalesce((SELECT sum(pg_table_size(relid)) FROM pg_partition_tree($1::regclass)), pg_table_size($1::regclass))::bigint,
			coalesce((SELECT sum(pg_indexes_size(relid)) FROM pg_partition_tree($1::regclass)), pg_indexes_size($1::regclass))::bigint`, t).Scan(&rows, &heap, &indexes); err != nil {
			return err
		}
		per := func(b int64) int64 { return b / max(rows, 1) }
		fmt.Fprintf(l.out, "%-16s %12d %10d %12d %12d\n", t, rows, (heap+indexes)>>20, per(heap), per(indexes))
	}
	return nil
}

type nopLedger struct{}

func (nopLedger) Checkpointed(int64) {}
func (nopLedger) Tampered()          {}

// onboard writes the partners through the store, as the admin API would.
func (l *loader) onboard(ctx context.Context) error {
	now := l.end.Add(-l.sz.span - 24*time.Hour)
	for i := range l.sz.partners {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		p := partners.Partner{ID: fmt.Sprintf("loaded-partner-%04d", i), Status: partners.StatusActive, Version: 1,
			CreatedAt: now, UpdatedAt: now, SecretHash: secret,
			Registration: partners.Registration{ClientName: fmt.Sprintf("Loaded Bank %d", i),
				RedirectURIs: []string{fmt.Sprintf("https://bank-%d.example/callback", i)}, TokenEndpointAuthMethod: "client_secret_basic",
				Scope: "openid offline_access documents:id_card documents:driver_license", Documents: loadDocs,
				Delivery: partners.DeliveryPull, Admission: &partners.Admission{LegalName: fmt.Sprintf("Loaded Bank %d JSC", i),
					Decision: "Operator decision No. 1", Date: now.Format(time.DateOnly)}}}
		if err := l.store.CreatePartner(ctx, p, partners.AuditEntry{At: now, Actor: "admin", Action: "partner.created", PartnerID: p.ID}); err != nil {
			return err
		}
		l.partners = append(l.partners, p.ID)
	}
	return nil
}

// dropIndexes drops the tables' secondary indexes (not those behind a
// constraint) and returns their definitions, to build once the rows are
// in: one sort per index instead of an insert per row.
func (l *loader) dropIndexes(ctx context.Context, tables []string) ([]string, error) {
	rows, err := l.pool.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass)`, tables)
	if err != nil {
		return nil, err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		// A partitioned table's index is defined ON ONLY the parent; built
		// again, it is built on every partition.
		names, defs = append(names, name), append(defs, strings.Replace(def, " ON ONLY ", " ON ", 1))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := l.pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

func (l *loader) citizen(n int32) string {
	iin, _ := syntheticIIN(int(n))
	return iin
}

// syntheticIIN is the registry's synthetic citizen n, or a made-up
// twelve digits where the registry has none (past its tested range).
func syntheticIIN(n int) (iin string, ok bool) {
	defer func() {
		if recover() != nil {
			iin, ok = fmt.Sprintf("9%011d", n), false
		}
	}()
	i, _ := registry.Synthetic(n)
	return string(i), true
}

func hexID(b [16]byte) string { return hex.EncodeToString(b[:]) }

// requestID is a request ID as the gateway makes them (a UUIDv7) for an
// authorization at t: the request index orders them as on a gateway
// that has run for a year.
func (l *loader) requestID(t time.Time) string {
	b := l.newID()
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return uuid.UUID(b).String()
}

func (l *loader) newID() [16]byte {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := l.rnd.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// copyRows streams rows from next (nil when done) into table by COPY.
func (l *loader) copyRows(ctx context.Context, table string, columns []string, next func() ([]any, error)) error {
	var row []any
	var err error
	n, err := l.pool.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromFunc(func() ([]any, error) {
		row, err = next()
		return row, err
	}))
	if err != nil {
		return fmt.Errorf("copy into %s after %d rows: %w", table, n, err)
	}
	return nil
}

// history makes the grants and their history in the order it happened:
// row i at its time in the span; each grant's consent when it is given,
// a tenth of the grants revoked half-way to today, and between them the
// partners' fetches (and verifiers' views) under live grants. Each row is
// sealed as it is written, and the subtrees it completes go to their own
// COPY alongside. The last rows are left unsealed for the ledger's round.
func (l *loader) history(ctx context.Context, bulk *consent.BulkSealer) error {
	sz := l.sz
	l.grants = make([]loadGrant, 0, sz.grants)
	start := l.end.Add(-sz.span)
	step := sz.span / time.Duration(sz.history)
	heavyGrants := int32(sz.heavy * 4)
	pHeavy := float64(sz.heavy*sz.heavyEvents) / float64(sz.history)
	var revokeNext int // the next grant, in order, that may be revoked
	// The rows are sealed here: the trigger that queues the history's rows
	// for the ledger waits (the last rows are queued below).
	if _, err := l.pool.Exec(ctx, `ALTER TABLE access_events DISABLE TRIGGER access_events_queued`); err != nil {
		return err
	}
	defer func() {
		if _, err := l.pool.Exec(context.WithoutCancel(ctx), `ALTER TABLE access_events ENABLE TRIGGER access_events_queued`); err != nil {
			fmt.Fprintln(l.out, "the history's queue trigger is still disabled:", err)
		}
	}()
	// The leaves and the subtrees go to COPYs of their own, alongside.
	leaves, nodes := l.sideCopy(ctx, "history_leaves", "leaf_index", "event_id", "at", "chain", "leaf_hash"),
		l.sideCopy(ctx, "history_nodes", "level", "idx", "hash")
	unsealed := 100
	i := 0
	err := l.copyRows(ctx, "access_events", []string{"id", "at", "citizen", "holder", "partner_id", "grant_id", "document_type", "kind",
		"by_whom", "detail"}, func() ([]any, error) {
		if i == sz.history {
			return nil, nil
		}
		at := start.Add(time.Duration(i) * step).Truncate(time.Microsecond) // as the column keeps it
		e := l.event(at, heavyGrants, pHeavy, &revokeNext)
		i++
		if i <= sz.history-unsealed {
			seal, ids, hashes := bulk.Add(e)
			if err := leaves.send(seal.Index, int64(i), e.At, seal.Chain, seal.Hash); err != nil {
				return nil, err
			}
			for k, id := range ids {
				if err := nodes.send(int16(id.Level), id.Index, hashes[k]); err != nil {
					return nil, err
				}
			}
		}
		return []any{int64(i), e.At, string(e.Citizen), string(e.Holder), e.PartnerID, e.GrantID, string(e.Document), e.Kind, e.By, e.Grant}, nil
	})
	for _, c := range []*side{leaves, nodes} {
		if cerr := c.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	// The last rows wait in the sealer's queue, as the gateway leaves them.
	_, err = l.pool.Exec(ctx, `INSERT INTO history_unsealed (id, at) SELECT id, at FROM access_events WHERE id > $1`, sz.history-unsealed)
	return err
}

// side is a COPY fed row by row from the loader's main COPY.
type side struct {
	table string
	rows  chan []any
	done  chan error
}

func (l *loader) sideCopy(ctx context.Context, table string, columns ...string) *side {
	c := &side{table: table, rows: make(chan []any, 4096), done: make(chan error, 1)}
	go func() {
		c.done <- l.copyRows(ctx, table, columns, func() ([]any, error) {
			row, ok := <-c.rows
			if !ok {
				return nil, nil
			}
			return row, nil
		})
	}()
	return c
}

// send gives the COPY a row, or says why it ended early.
func (c *side) send(row ...any) error {
	if c.done == nil {
		return fmt.Errorf("%s: ended early", c.table)
	}
	select {
	case c.rows <- row:
		return nil
	case err := <-c.done: // it ended early: it failed
		c.done = nil
		return fmt.Errorf("%s: %w", c.table, err)
	}
}

// close ends the COPY and returns its result.
func (c *side) close() error {
	close(c.rows)
	if c.done == nil { // its result was taken already
		return nil
	}
	return <-c.done
}

// event is the history's next row at at.
func (l *loader) event(at time.Time, heavyGrants int32, pHeavy float64, revokeNext *int) consent.AccessEvent {
	sz := l.sz
	// A grant is given when its time comes (grants are spread evenly).
	if n := len(l.grants); n < sz.grants && !at.Before(l.end.Add(-sz.span).Add(time.Duration(n)*(sz.span/time.Duration(sz.grants)))) {
		g := loadGrant{created: at, id: l.newID(), partner: int16(l.rnd.IntN(len(l.partners))), both: l.rnd.IntN(3) == 0}
		g.expires = l.end.Add(time.Duration(30+l.rnd.IntN(365)) * 24 * time.Hour)
		if int32(n) < heavyGrants {
			g.citizen = int32(n) % int32(sz.heavy)
		} else {
			g.citizen = int32(sz.heavy + l.rnd.IntN(sz.citizens-sz.heavy))
		}
		l.grants = append(l.grants, g)
		return l.grantEvent(&l.grants[n], consent.AccessConsent, at)
	}
	// A tenth of the grants are revoked half-way from their consent to
	// today; in grant order, those times only grow.
	for *revokeNext < len(l.grants) && *revokeNext%10 != 7 {
		*revokeNext++
	}
	if *revokeNext < len(l.grants) {
		g := &l.grants[*revokeNext]
		if due := g.created.Add(l.end.Sub(g.created) / 2); !at.Before(due) {
			*revokeNext++
			g.revoked = at
			return l.grantEvent(g, consent.AccessRevocation, at)
		}
	}
	// A use: a heavy citizen's now and then, else anybody's live grant.
	for {
		var k int
		if h := min(int32(len(l.grants)), heavyGrants); l.rnd.Float64() < pHeavy {
			k = l.rnd.IntN(int(h))
		} else {
			k = l.rnd.IntN(len(l.grants))
		}
		g := &l.grants[k]
		if !g.revoked.IsZero() {
			continue
		}
		docs := g.documents()
		citizen := consent.IIN(l.citizen(g.citizen))
		e := consent.AccessEvent{At: at, Citizen: citizen, Holder: citizen, PartnerID: l.partners[g.partner], GrantID: hexID(g.id),
			Document: docs[l.rnd.IntN(len(docs))], Kind: consent.AccessFetch}
		if l.rnd.IntN(50) == 0 { // a verifier's look at a shared document
			e.Kind, e.GrantID, e.PartnerID = consent.AccessView, "", l.partners[l.rnd.IntN(len(l.partners))]
		}
		return e
	}
}

func (l *loader) grantEvent(g *loadGrant, kind string, at time.Time) consent.AccessEvent {
	citizen := consent.IIN(l.citizen(g.citizen))
	status := consent.GrantActive
	var by string
	if kind == consent.AccessRevocation {
		status, by = consent.GrantRevoked, "citizen"
	}
	return consent.AccessEvent{At: at, Citizen: citizen, Holder: citizen, PartnerID: l.partners[g.partner], GrantID: hexID(g.id), Kind: kind, By: by,
		Grant: &consent.GrantState{Receipt: hexID(l.newID()), Documents: g.documents(), Holders: []consent.IIN{citizen},
			CreatedAt: g.created, ExpiresAt: g.expires, TermsVersion: consent.DefaultTermsVersion, Status: status, Method: consent.MethodSMS}}
}

func (l *loader) grantRows(ctx context.Context) error {
	i := 0
	return l.copyRows(ctx, "grants", []string{"id", "citizen", "partner_id", "documents", "purpose", "created_at", "expires_at", "terms_version",
		"challenge_id", "status", "status_changed_at", "status_by", "holders", "deletion_at", "deletion_detail", "method", "terms_told"}, func() ([]any, error) {
		if i == len(l.grants) {
			return nil, nil
		}
		g := &l.grants[i]
		i++
		citizen := l.citizen(g.citizen)
		docs := make([]string, len(g.documents()))
		for k, d := range g.documents() {
			docs[k] = string(d)
		}
		row := []any{hexID(g.id), citizen, l.partners[g.partner], docs, "", g.created, g.expires, consent.DefaultTermsVersion,
			hexID(l.newID()), string(consent.GrantActive), nil, "", []string{citizen}, nil, nil, string(consent.MethodSMS), consent.DefaultTermsVersion}
		if !g.revoked.IsZero() {
			deleted := g.revoked.Add(time.Duration(1+l.rnd.IntN(72)) * time.Hour)
			row[9], row[10], row[11] = string(consent.GrantRevoked), g.revoked, "citizen"
			row[13], row[14] = deleted, consent.Deletion{At: deleted, Deleted: g.documents(), Signed: "loaded"}
		}
		return row, nil
	})
}

// tokens are live tokens of active grants, as the token endpoint stores
// them: half access tokens (hours left), half refresh tokens (weeks).
func (l *loader) tokens(ctx context.Context) error {
	i := 0
	return l.copyRows(ctx, "oauth_records", []string{"kind", "signature", "request_id", "client_id", "grant_id", "active", "expires_at", "request"},
		func() ([]any, error) {
			if i == l.sz.tokens {
				return nil, nil
			}
			i++
			g := &l.grants[l.rnd.IntN(len(l.grants))]
			kind, expires := oauth.KindAccess, l.end.Add(time.Duration(4+l.rnd.IntN(8))*time.Hour)
			if i%2 == 0 {
				kind, expires = oauth.KindRefresh, l.end.Add(time.Duration(7+l.rnd.IntN(21))*24*time.Hour)
			}
			scope := []string{"openid", "offline_access"}
			for _, d := range g.documents() {
				scope = append(scope, d.Scope())
			}
			requestID, citizen, grant := l.requestID(g.created), l.citizen(g.citizen), hexID(g.id)
			request, err := json.Marshal(map[string]any{"id": requestID, "requested_at": l.end, "client_id": l.partners[g.partner],
				"requested_scope": scope, "granted_scope": scope, "form": map[string]any{"grant_type": []string{"authorization_code"}},
				"session": map[string]any{"expires_at": map[string]time.Time{string(kind) + "_token": expires}, "subject": hexID(l.newID()),
					"citizen": citizen, "grant_id": grant}})
			if err != nil {
				return nil, err
			}
			return []any{string(kind), hexID(l.newID()) + hexID(l.newID())[:11], requestID, l.partners[g.partner], grant, true, expires, request}, nil
		})
}

func (l *loader) shareRows(ctx context.Context) error {
	i := 0
	start := l.end.Add(-l.sz.span)
	return l.copyRows(ctx, "shares", []string{"id", "citizen", "holder", "document", "code_key", "token_key", "created_at", "expires_at", "status", "closed_at"},
		func() ([]any, error) {
			if i == l.sz.shares {
				return nil, nil
			}
			i++
			citizen := l.citizen(int32(l.rnd.IntN(l.sz.citizens)))
			at := start.Add(time.Duration(l.rnd.Int64N(int64(l.sz.span))))
			return []any{hexID(l.newID()), citizen, citizen, string(loadDocs[l.rnd.IntN(2)]), hexID(l.newID()), hexID(l.newID()), at,
				at.Add(10 * time.Minute), "closed", at.Add(10 * time.Minute)}, nil
		})
}

// outboxRows are the deliveries the gateway keeps: those delivered in the
// last 30 days (the upkeep purges older ones), one in a thousand dead
// (their partner never answered; kept until the operator acts).
func (l *loader) outboxRows(ctx context.Context) error {
	i := 0
	start := l.end.Add(-29 * 24 * time.Hour)
	return l.copyRows(ctx, "outbox", []string{"id", "partner_id", "grant_id", "kind", "status", "attempts", "next_attempt_at", "created_at", "delivered_at", "citizen"},
		func() ([]any, error) {
			if i == l.sz.outbox {
				return nil, nil
			}
			i++
			g := &l.grants[l.rnd.IntN(len(l.grants))]
			at := start.Add(time.Duration(i) * (29 * 24 * time.Hour / time.Duration(l.sz.outbox)))
			status, delivered, attempts := consent.OutboxDelivered, any(at.Add(time.Second)), 1
			if i%1000 == 999 {
				status, delivered, attempts = consent.OutboxDead, nil, 12
			}
			return []any{hexID(l.newID()), l.partners[g.partner], hexID(g.id), consent.KindGrantRevoked, string(status), attempts, at, at, delivered,
				l.citizen(g.citizen)}, nil
		})
}
