package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is a transaction opened by BeginTx whose BEGIN goes to
// PostgreSQL with its first statement, in one round trip, and whose
// COMMIT may go with its last (commitWith): a transaction costs the round
// trips of its statements, and one that sent nothing costs none and holds
// no connection. It holds a connection of the pool from its first
// statement to its end, and sends BEGIN, COMMIT and ROLLBACK as
// statements of its own.
type lazyTx struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	conn *pgxpool.Conn // once begun
	done bool          // committed or rolled back, or could not begin
	// failed is why it could not begin: its first statement found no
	// connection. It is then over, as one whose first statement failed in
	// PostgreSQL: a later statement does not begin another on a
	// connection freed meanwhile, and its commit writes nothing.
	failed error
}

// begin sends b after a BEGIN, unless the transaction has begun (then
// it returns nil, false). The BEGIN's result is read.
func (t *lazyTx) begin(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.failed != nil:
		return pgx.FailedBatchResults(b, t.failed), true
	case t.done:
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed), true
	case t.conn != nil:
		return nil, false
	}
	conn, err := t.pool.Acquire(ctx)
	if err != nil {
		t.done, t.failed = true, err
		return pgx.FailedBatchResults(b, err), true
	}
	t.conn = conn
	with := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 1+len(b.QueuedQueries))}
	with.Queue("begin")
	with.QueuedQueries = append(with.QueuedQueries, b.QueuedQueries...)
	br := conn.SendBatch(ctx, with)
	if _, err := br.Exec(); err != nil { // BEGIN
		_ = br.Close()
		return pgx.FailedBatchResults(b, err), true
	}
	return br, true
}

func one(sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, first := t.begin(ctx, one(sql, args))
	if !first {
		return t.conn.Exec(ctx, sql, args...)
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, first := t.begin(ctx, one(sql, args))
	if !first {
		return t.conn.Query(ctx, sql, args...)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	br, first := t.begin(ctx, one(sql, args))
	if !first {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return errRow{err}
	}
	return batchRow{rows: rows, br: br}
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	br, first := t.begin(ctx, b)
	if !first {
		return t.conn.SendBatch(ctx, b)
	}
	return br
}

// Commit commits what was sent; a transaction that sent nothing has
// nothing to commit. pgx.ErrTxCommitRollback: a statement had failed, and
// PostgreSQL rolled it back instead.
func (t *lazyTx) Commit(ctx context.Context) error {
	return t.commitWith(ctx, nil, nil)
}

// commitWith sends b's statements and the COMMIT in one round trip (with
// the BEGIN too when nothing was sent before), and hands read b's results;
// the COMMIT's is read after. When a statement fails, the statements after
// it and the COMMIT are not run: the transaction is rolled back, and the
// first error returned.
func (t *lazyTx) commitWith(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return t.failed
	}
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	if b == nil {
		b = &pgx.Batch{}
	}
	if t.conn == nil && len(b.QueuedQueries) == 0 {
		return nil
	}
	began := t.conn != nil
	if !began {
		conn, err := t.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		t.conn = conn
	}
	defer t.release(ctx)
	with := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2+len(b.QueuedQueries))}
	if !began {
		with.Queue("begin")
	}
	with.QueuedQueries = append(with.QueuedQueries, b.QueuedQueries...)
	with.Queue("commit")
	br := t.conn.SendBatch(ctx, with)
	var err error
	if !began {
		_, err = br.Exec()
	}
	if err == nil && read != nil {
		err = read(br)
	}
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// Rollback rolls back what was sent; after Commit it does nothing.
func (t *lazyTx) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	if t.conn == nil {
		return nil
	}
	defer t.release(ctx)
	if pc := t.conn.Conn().PgConn(); pc.IsClosed() || pc.TxStatus() == 'I' {
		return nil // the BEGIN failed, or the session is gone and took the transaction with it
	}
	_, err := t.conn.Exec(ctx, "rollback")
	return err
}

// release gives the connection back to the pool, ending first what a
// failure left open: a connection still in a transaction would be
// closed by the pool. t.mu is held.
func (t *lazyTx) release(ctx context.Context) {
	if pc := t.conn.Conn().PgConn(); !pc.IsClosed() && !pc.IsBusy() && pc.TxStatus() != 'I' {
		_, _ = t.conn.Exec(ctx, "rollback")
	}
	t.conn.Release()
}

// batchRows are the rows of a statement sent with BEGIN: closing them
// closes its batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// batchRow is the row of a statement sent with BEGIN, read as pgx reads
// a row: the first, or pgx.ErrNoRows.
type batchRow struct {
	rows pgx.Rows
	br   pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := scanFirst(r.rows, dest)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func scanFirst(rows pgx.Rows, dest []any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
