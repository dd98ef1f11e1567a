// Package postgres is the production store: PostgreSQL through pgx/v5, with
// the schema in numbered SQL migrations embedded in the binary.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements oauth.Store and partners.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration // of each call to the server

	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	history   *batcher[consent.AccessEvent]
	records   *batcher[oauth.Record]

	partners     *partnerCache // nil unless Options.CachePartners
	listenerDone chan struct{}
	listenCheck  time.Duration
}

var (
	_ oauth.Store    = (*Store)(nil)
	_ partners.Store = (*Store)(nil)
)

// Options tune the connection pool.
type Options struct {
	// MaxConns, when positive, sizes the pool.
	MaxConns int32
	// Observe, when set, is told how long each statement took, by operation.
	Observe func(op string, d time.Duration)
	// CachePartners keeps a connection listening for partner changes, so
	// that CachedPartners can serve partners from memory.
	CachePartners bool
	// Timeout bounds every call to the server (DefaultTimeout when zero).
	Timeout time.Duration
	// ListenCheck is how often a quiet partner listener checks that the
	// server answers (DefaultListenCheck when zero).
	ListenCheck time.Duration
}

// Open connects to the database at url.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Observe != nil {
		cfg.ConnConfig.Tracer = &tracer{observe: opts.Observe}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ListenCheck <= 0 {
		opts.ListenCheck = DefaultListenCheck
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{pool: pool, timeout: opts.Timeout, listenCheck: opts.ListenCheck, closing: make(chan struct{})}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s.history = newBatcher(s.closing, s.timeout, s.writeHistory)
	s.records = newBatcher(s.closing, s.timeout, s.writeRecords)
	if opts.CachePartners {
		s.partners, s.listenerDone = newPartnerCache(), make(chan struct{})
		go s.listenPartners(cfg.ConnConfig.Copy())
	}
	return s, nil
}

// Close stops the batch writers, after they have written what they were
// handed, and releases the pool.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.history.done
		<-s.records.done
		if s.listenerDone != nil {
			<-s.listenerDone
		}
		s.pool.Close()
	})
}

// Ping implements oauth.Store.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return failed(ctx, s.pool.Ping(ctx))
}

// migrateTimeout bounds a migration, which may rewrite large tables.
const migrateTimeout = 30 * time.Minute

// Migrate applies every embedded migration not yet applied. Replicas that
// migrate at once wait for each other on an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "kelisim_schema_version")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Transactions travel in the context.
type txKey struct{}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func (s *Store) inTxContext(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(pgx.Tx)
	return ok
}

// q is what a statement is sent through: the context's transaction or the
// pool, with a deadline.
func (s *Store) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return timed{q: tx, timeout: s.timeout}
	}
	return timed{q: s.pool, timeout: s.timeout}
}

// BeginTx implements oauth.Store.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return nil, errors.New("postgres: transaction already open")
	}
	bctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx, err := s.pool.Begin(bctx)
	if err != nil {
		return nil, failed(ctx, err)
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit implements oauth.Store.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if !ok {
		return errors.New("postgres: no transaction")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return failed(ctx, translate(tx.Commit(cctx)))
}

// Rollback implements oauth.Store; after Commit it does nothing.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if !ok {
		return nil
	}
	// A rollback is owed even when the request has gone away.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return failed(ctx, err)
	}
	return nil
}

// inTx runs fn in the context's transaction, or in a new one that has
// the store's deadline as a whole.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) error {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(timed{q: tx, timeout: s.timeout})
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return failed(ctx, pgx.BeginFunc(tctx, s.pool, func(tx pgx.Tx) error { return fn(timed{q: tx, timeout: s.timeout}) }))
}

// translate maps PostgreSQL errors to the domain's, by SQLSTATE and
// constraint name; this is the only place that looks at them.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "partners_pkey":
			return fmt.Errorf("%w: %s", partners.ErrConflict, pgErr.ConstraintName)
		case "oauth_records_pkey":
			return fmt.Errorf("%w: %s", oauth.ErrConflict, pgErr.ConstraintName)
		case "error_reports_pkey":
			return consent.ErrReportExists
		}
	}
	return err
}

// CreateRecord implements oauth.Store. Inside a transaction the record is
// written in it; else it joins the next batch of records.
func (s *Store) CreateRecord(ctx context.Context, r oauth.Record) error {
	if s.inTxContext(ctx) {
		return s.insertRecord(ctx, r)
	}
	return s.records.do(ctx, r)
}

// partnerStill is the condition a record with a partner version is stored
// under: its partner is still at that version and active. The statement
// reads the partner as committed when it starts, so a change the admin
// API has answered for is always seen.
const partnerStill = `(u.partner_version = 0 OR EXISTS (SELECT 1 FROM partners p
	WHERE p.id = u.client_id AND p.version = u.partner_version AND p.status = 'active'))`

func (s *Store) insertRecord(ctx context.Context, r oauth.Record) error {
	tag, err := s.q(ctx).Exec(ctx, `
		INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch)
		SELECT u.kind, u.signature, u.request_id, u.client_id, NULLIF(u.grant_id, ''), u.active, u.expires_at, u.request, u.partner_epoch
		FROM (SELECT $1::text AS kind, $2::text AS signature, $3::text AS request_id, $4::text AS client_id, $5::text AS grant_id,
			$6::bool AS active, $7::timestamptz AS expires_at, $8::bytea AS request, $9::int AS partner_epoch, $10::int AS partner_version) u
		WHERE `+partnerStill,
		r.Kind, r.Signature, r.RequestID, r.ClientID, r.GrantID, r.Active, r.ExpiresAt, nonNil(r.Request), r.PartnerEpoch, r.PartnerVersion)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return oauth.ErrPartnerChanged
	}
	return nil
}

// writeRecords inserts a batch in one statement; a record whose key is
// taken (by an older record or earlier in the batch) gets ErrConflict, one
// whose partner moved on ErrPartnerChanged.
func (s *Store) writeRecords(ctx context.Context, recs []oauth.Record) []error {
	n := len(recs)
	kind, sig, req, client := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	grant, active, exp, body := make([]*string, n), make([]bool, n), make([]time.Time, n), make([][]byte, n)
	epoch, version := make([]int32, n), make([]int32, n)
	for i, r := range recs {
		kind[i], sig[i], req[i], client[i], active[i], exp[i], body[i] =
			string(r.Kind), r.Signature, r.RequestID, r.ClientID, r.Active, r.ExpiresAt, nonNil(r.Request)
		epoch[i], version[i] = int32(r.PartnerEpoch), int32(r.PartnerVersion)
		if r.GrantID != "" {
			grant[i] = &recs[i].GrantID
		}
	}
	rows, err := s.q(ctx).Query(ctx, `
		WITH u AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[],
				$8::bytea[], $9::int[], $10::int[]) WITH ORDINALITY
				AS u(kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch, partner_version, n)),
		ok AS (SELECT * FROM u WHERE `+partnerStill+`),
		ins AS (
			INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch)
			SELECT kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch FROM ok ORDER BY n
			ON CONFLICT (kind, signature) DO NOTHING
			RETURNING kind, signature)
		SELECT kind, signature, 0::bigint FROM ins
		UNION ALL
		SELECT kind, signature, n FROM u WHERE n NOT IN (SELECT n FROM ok)`,
		kind, sig, req, client, grant, active, exp, body, epoch, version)
	if err == nil {
		type key struct{ kind, sig string }
		inserted, changed := map[key]bool{}, map[int]bool{}
		var k key
		var ord int64
		_, err = pgx.ForEachRow(rows, []any{&k.kind, &k.sig, &ord}, func() error {
			if ord > 0 {
				changed[int(ord)-1] = true
			} else {
				inserted[k] = true
			}
			return nil
		})
		if err == nil {
			errs := make([]error, n)
			for i := range recs {
				k := key{kind[i], sig[i]}
				switch {
				case changed[i]:
					errs[i] = oauth.ErrPartnerChanged
				case !inserted[k]:
					errs[i] = fmt.Errorf("%w: oauth_records_pkey", oauth.ErrConflict)
				}
				if !changed[i] {
					delete(inserted, k) // a second record with the same key conflicts
				}
			}
			return errs
		}
	}
	return oneByOne(ctx, recs, translate(err), func(ctx context.Context, r []oauth.Record) error {
		return s.insertRecord(ctx, r[0])
	})
}

// GetRecord implements oauth.Store.
func (s *Store) GetRecord(ctx context.Context, kind oauth.Kind, signature string) (oauth.Record, error) {
	r := oauth.Record{Kind: kind, Signature: signature}
	var grantID *string
	err := s.q(ctx).QueryRow(ctx, `
		SELECT request_id, client_id, grant_id, active, expires_at, request, partner_epoch
		FROM oauth_records WHERE kind = $1 AND signature = $2`, kind, signature).
		Scan(&r.RequestID, &r.ClientID, &grantID, &r.Active, &r.ExpiresAt, &r.Request, &r.PartnerEpoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Record{}, oauth.ErrNotFound
	}
	if grantID != nil {
		r.GrantID = *grantID
	}
	return r, translate(err)
}

// DeleteRecord implements oauth.Store.
func (s *Store) DeleteRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	_, err := s.q(ctx).Exec(ctx, `DELETE FROM oauth_records WHERE kind = $1 AND signature = $2`, kind, signature)
	return translate(err)
}

// DeactivateRecord implements oauth.Store.
func (s *Store) DeactivateRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	tag, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE kind = $1 AND signature = $2 AND active`, kind, signature)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return oauth.ErrNotActive
	}
	return nil
}

// DeactivateRequest implements oauth.Store.
func (s *Store) DeactivateRequest(ctx context.Context, kind oauth.Kind, requestID string) error {
	_, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE request_id = $1 AND kind = $2 AND active`, requestID, kind)
	return translate(err)
}

// DeactivateClient implements oauth.Store.
func (s *Store) DeactivateClient(ctx context.Context, clientID string) error {
	_, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE client_id = $1 AND active AND kind IN ('access', 'refresh', 'code')`, clientID)
	return translate(err)
}

// SigningKeys implements oauth.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]oauth.SigningKey, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT kid, alg, private_key, created_at, activates_at, retired_at
		FROM signing_keys ORDER BY activates_at DESC, created_at DESC, kid`)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (oauth.SigningKey, error) {
		var k oauth.SigningKey
		var retired *time.Time
		err := row.Scan(&k.KID, &k.Alg, &k.Private, &k.CreatedAt, &k.ActivatesAt, &retired)
		if retired != nil {
			k.RetiredAt = *retired
		}
		return k, err
	})
}

// EnsureSigningKey implements oauth.Store. An advisory lock makes replicas
// that start together agree on one key.
func (s *Store) EnsureSigningKey(ctx context.Context, generate func() (oauth.SigningKey, error)) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('kelisim signing keys'))`); err != nil {
			return err
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE retired_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		k, err := generate()
		if err != nil {
			return err
		}
		return insertKey(ctx, q, k)
	})
}

// RotateSigningKey implements oauth.Store.
func (s *Store) RotateSigningKey(ctx context.Context, k oauth.SigningKey) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('kelisim signing keys'))`); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL`, k.ActivatesAt); err != nil {
			return translate(err)
		}
		return insertKey(ctx, q, k)
	})
}

func insertKey(ctx context.Context, q querier, k oauth.SigningKey) error {
	_, err := q.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, private_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)`,
		k.KID, k.Alg, k.Private, k.CreatedAt, k.ActivatesAt)
	return translate(err)
}

// partnerColumns are read in this order by scanPartner.
const partnerColumns = `id, registration, status, version, secret_hash, previous_secret_hash,
	previous_secret_expires_at, created_at, updated_at, epoch`

func scanPartner(row pgx.Row) (partners.Partner, error) {
	var r partnerRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return partners.Partner{}, partners.ErrNotFound
	}
	if err != nil {
		return partners.Partner{}, translate(err)
	}
	p, err := r.partner()
	if err != nil {
		return partners.Partner{}, err
	}
	return *p, nil
}

// partnerRow receives partnerColumns, every one nullable so that an outer
// join can read them too.
type partnerRow struct {
	id, status                *string
	reg, secret, prevSecret   []byte
	version, epoch            *int
	prevExp, created, updated *time.Time
}

func (r *partnerRow) dest() []any {
	return []any{&r.id, &r.reg, &r.status, &r.version, &r.secret, &r.prevSecret, &r.prevExp, &r.created, &r.updated, &r.epoch}
}

// partner is nil when the row held no partner (an outer join's miss).
func (r *partnerRow) partner() (*partners.Partner, error) {
	if r.id == nil {
		return nil, nil
	}
	p := partners.Partner{ID: *r.id, Status: partners.Status(*r.status), Version: *r.version, Epoch: *r.epoch,
		SecretHash: r.secret, PreviousSecretHash: r.prevSecret, CreatedAt: *r.created, UpdatedAt: *r.updated}
	if r.prevExp != nil {
		p.PreviousSecretExpiresAt = *r.prevExp
	}
	if err := json.Unmarshal(r.reg, &p.Registration); err != nil {
		return nil, fmt.Errorf("decode partner %s: %w", p.ID, err)
	}
	return &p, nil
}

// CreatePartner implements partners.Store.
func (s *Store) CreatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	reg, err := json.Marshal(p.Registration)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `
			INSERT INTO partners (`+partnerColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			p.ID, reg, p.Status, p.Version, p.SecretHash, p.PreviousSecretHash,
			nullTime(p.PreviousSecretExpiresAt), p.CreatedAt, p.UpdatedAt, p.Epoch)
		if err != nil {
			return translate(err)
		}
		return insertAudit(ctx, q, e)
	})
}

// notifyPartner tells every replica's cache, when the transaction
// commits, that partner id changed.
func notifyPartner(ctx context.Context, q querier, id string) error {
	_, err := q.Exec(ctx, `SELECT pg_notify('`+partnersChannel+`', $1)`, id)
	return translate(err)
}

// evictPartner drops partner id from this replica's cache at once; the
// others hear it from the notification.
func (s *Store) evictPartner(id string) {
	if s.partners != nil {
		s.partners.evict(id)
	}
}

// GetPartner implements partners.Store.
func (s *Store) GetPartner(ctx context.Context, id string) (partners.Partner, error) {
	return scanPartner(s.q(ctx).QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, id))
}

// ListPartners implements partners.Store.
func (s *Store) ListPartners(ctx context.Context) ([]partners.Partner, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []partners.Partner{}
	for rows.Next() {
		p, err := scanPartner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// UpdatePartner implements partners.Store.
func (s *Store) UpdatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	reg, err := json.Marshal(p.Registration)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `
			UPDATE partners SET registration = $2, status = $3, version = version + 1,
				secret_hash = $4, previous_secret_hash = $5, previous_secret_expires_at = $6, updated_at = $7, epoch = $9
			WHERE id = $1 AND version = $8`,
			p.ID, reg, p.Status, p.SecretHash, p.PreviousSecretHash,
			nullTime(p.PreviousSecretExpiresAt), p.UpdatedAt, p.Version, p.Epoch)
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)`, p.ID).Scan(&exists); err != nil {
				return translate(err)
			}
			if !exists {
				return partners.ErrNotFound
			}
			return partners.ErrConflict
		}
		if err := notifyPartner(ctx, q, p.ID); err != nil {
			return err
		}
		return insertAudit(ctx, q, e)
	})
	s.evictPartner(p.ID)
	return err
}

// ListAudit implements partners.Store.
func (s *Store) ListAudit(ctx context.Context, partnerID string, limit int) ([]partners.AuditEntry, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT id, at, actor, action, partner_id, subject, before, after FROM audit_log
		WHERE $1 = '' OR partner_id = $1 ORDER BY id DESC LIMIT $2`, partnerID, limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (partners.AuditEntry, error) {
		var e partners.AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.PartnerID, &e.Subject, &e.Before, &e.After)
		return e, err
	})
}

// AppendAudit implements partners.Store.
func (s *Store) AppendAudit(ctx context.Context, e partners.AuditEntry) error {
	return insertAudit(ctx, s.q(ctx), e)
}

func insertAudit(ctx context.Context, q querier, e partners.AuditEntry) error {
	_, err := q.Exec(ctx, `
		INSERT INTO audit_log (at, actor, action, partner_id, subject, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.At, e.Actor, e.Action, e.PartnerID, e.Subject, nullJSON(e.Before), nullJSON(e.After))
	return translate(err)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullJSON(b json.RawMessage) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
