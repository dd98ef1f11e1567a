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
	"log/slog"
	"sync"
	"sync/atomic"
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

// Store implements every storage port of the gateway (storage.Store) on
// PostgreSQL. Its methods live in files by subject: records and tokens,
// keys, partners, consent, delivery, settings, shares, reports, history
// and upkeep.
type Store struct {
	pool       *pgxpool.Pool
	timeout    time.Duration // of each call to the server
	purgeBatch int           // rows a statement of the purge deletes

	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	history   *batcher[consent.AccessEvent]
	records   *batcher[oauth.Record]
	tokens    *batcher[*tokenRead] // reads, batched as the writes are

	partners      *partnerCache // nil unless Options.CachePartners
	registrations registrations
	listenerDone  chan struct{}
	listenCheck   time.Duration
	direct        *pgx.ConnConfig // PostgreSQL itself, past any pooler
	// replan leads the arguments of a statement planned again at each
	// call (see replanned): set where the pool's statements stay
	// prepared, each planned once.
	replan []any
	log    *slog.Logger
	deaf   atomic.Bool // the partner listener did not hear its own notification
}

var (
	_ oauth.Store    = (*Store)(nil)
	_ partners.Store = (*Store)(nil)
)

// Options tune the connection pool.
type Options struct {
	// MaxConns, when positive, sizes the pool.
	MaxConns int32
	// Observe, when set, is told how long each statement took, by
	// operation, with the context it was sent under.
	Observe func(ctx context.Context, op string, d time.Duration)
	// Statement, when set, is told of every statement sent, with its
	// arguments: for counting statements and checking their plans.
	Statement func(sql string, args []any)
	// CachePartners keeps a connection listening for partner changes, so
	// that CachedPartners can serve partners from memory.
	CachePartners bool
	// Timeout bounds every call to the server (DefaultTimeout when zero).
	Timeout time.Duration
	// ListenCheck is how often a quiet partner listener checks that the
	// server answers (DefaultListenCheck when zero).
	ListenCheck time.Duration
	// PurgeBatch is how many rows one statement of the purge deletes
	// (DefaultPurgeBatch when zero).
	PurgeBatch int
	// DirectURL, when the pool's URL is a pooler in transaction mode
	// (PgBouncer), reaches PostgreSQL itself: for what needs a session of
	// its own — the partner listener's LISTEN and the migrations'
	// session lock.
	DirectURL string
	// Log, when set, is told what the store cannot do by itself: a
	// partner listener that does not hear what is notified.
	Log *slog.Logger
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
	// Where statements stay prepared on their connection, each is planned
	// once for any arguments, not again at every call: planning was a
	// quarter of PostgreSQL's CPU in a consent flow, whose statements are
	// long CTEs with many arguments. The plans are checked in both modes
	// (explain_test.go). A pooler (a DirectURL says there is one) refuses
	// the parameter: behind one that keeps prepared statements, it is set
	// on the database (README: Behind PgBouncer); in exec mode nothing
	// stays prepared.
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement && opts.DirectURL == "" {
		if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
			cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
		}
	}
	if opts.Observe != nil || opts.Statement != nil {
		cfg.ConnConfig.Tracer = &tracer{observe: opts.Observe, statement: opts.Statement}
	}
	if opts.PurgeBatch <= 0 {
		opts.PurgeBatch = DefaultPurgeBatch
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ListenCheck <= 0 {
		opts.ListenCheck = DefaultListenCheck
	}
	direct := cfg.ConnConfig.Copy()
	if opts.DirectURL != "" {
		d, err := pgx.ParseConfig(opts.DirectURL)
		if err != nil {
			return nil, fmt.Errorf("parse the direct database URL: %w", err)
		}
		direct = d
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{pool: pool, timeout: opts.Timeout, purgeBatch: opts.PurgeBatch, listenCheck: opts.ListenCheck,
		closing: make(chan struct{}), direct: direct, log: opts.Log}
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		s.replan = []any{pgx.QueryExecModeCacheDescribe}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s.history = newBatcher(s.closing, s.timeout, s.writeHistory)
	s.records = newBatcher(s.closing, s.timeout, s.writeRecords)
	s.tokens = newBatcher(s.closing, s.timeout, s.readTokens)
	if opts.CachePartners {
		s.partners, s.listenerDone = newPartnerCache(), make(chan struct{})
		go s.listenPartners(direct.Copy())
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
		<-s.tokens.done
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
	return s.migrate(ctx, -1)
}

// migrate brings the schema to version target (-1: the latest).
func (s *Store) migrate(ctx context.Context, target int32) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	// A session of its own, past any pooler: the migrator's lock is a
	// session's.
	conn, err := pgx.ConnectConfig(ctx, s.direct.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := migrate.NewMigrator(ctx, conn, "kelisim_schema_version")
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
	if target < 0 {
		err = m.Migrate(ctx)
	} else {
		err = m.MigrateTo(ctx, target)
	}
	if err != nil {
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
	_, ok := ctx.Value(txKey{}).(*lazyTx)
	return ok
}

// q is what a statement is sent through: the context's transaction or the
// pool, with a deadline.
func (s *Store) q(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{}).(*lazyTx); ok {
		return timed{q: tx, timeout: s.timeout}
	}
	return timed{q: s.pool, timeout: s.timeout}
}

// replanned is the arguments of a statement that is planned again at each
// call, against its tables as they are then, where the pool's statements
// otherwise stay prepared and are planned once, at a connection's first
// call. It is for a statement whose plan changes as its table grows: one
// that joins a batch of keys with the table reads a nearly empty table
// whole, rightly, and prepared then (a new database, a pool opened before
// the table filled) went on reading it whole as it grew, until an ANALYZE
// made the connection plan it again. Planning such a statement each time
// costs less than one sequential scan of a few hundred rows. Inside a
// transaction the arguments are as given: its first statement goes in a
// batch, which takes no mode.
func (s *Store) replanned(ctx context.Context, args ...any) []any {
	if s.replan == nil || s.inTxContext(ctx) {
		return args
	}
	return append(s.replan[:1:1], args...)
}

// BeginTx implements oauth.Store. Nothing is sent yet: the BEGIN goes
// with the transaction's first statement (see lazyTx), so a store that
// cannot be reached fails that statement.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*lazyTx); ok {
		return nil, errors.New("postgres: transaction already open")
	}
	return context.WithValue(context.WithValue(ctx, txKey{}, &lazyTx{pool: s.pool}), locksKey{}, &heldLocks{}), nil
}

// heldLocks are the advisory locks a transaction opened by BeginTx holds,
// by key: a statement that needs one it holds already does not ask again.
type heldLocks struct {
	mu   sync.Mutex
	keys map[string]bool
}

type locksKey struct{}

// took notes that the context's transaction holds the lock on key.
func took(ctx context.Context, key string) {
	if h, ok := ctx.Value(locksKey{}).(*heldLocks); ok {
		h.mu.Lock()
		if h.keys == nil {
			h.keys = map[string]bool{}
		}
		h.keys[key] = true
		h.mu.Unlock()
	}
}

// holds reports whether the context's transaction holds the lock on key.
func holds(ctx context.Context, key string) bool {
	h, ok := ctx.Value(locksKey{}).(*heldLocks)
	if !ok {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keys[key]
}

// Commit implements oauth.Store.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*lazyTx)
	if !ok {
		return errors.New("postgres: no transaction")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return failed(ctx, translate(tx.Commit(cctx)))
}

// Rollback implements oauth.Store; after Commit it does nothing.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*lazyTx)
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
	if tx, ok := ctx.Value(txKey{}).(*lazyTx); ok {
		return fn(timed{q: tx, timeout: s.timeout})
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx := &lazyTx{pool: s.pool}
	defer func() { _ = tx.Rollback(context.WithoutCancel(tctx)) }()
	if err := fn(timed{q: tx, timeout: s.timeout}); err != nil {
		return failed(ctx, err)
	}
	return failed(ctx, tx.Commit(tctx))
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

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nullJSON is a JSON value as a jsonb parameter takes it: text (with an
// explicit ::jsonb in the statement), so that its type needs no describe
// round trip — as behind a pooler in transaction mode.
func nullJSON(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
