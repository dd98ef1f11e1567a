package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is a transaction opened by BeginTx whose BEGIN goes to
// PostgreSQL with its first statement, in one round trip (pgx's
// Batch.BeginTx): a transaction costs the round trips of its statements
// and its COMMIT, and one that sent nothing costs none and holds no
// connection.
type lazyTx struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	tx   pgx.Tx // once begun
	done bool   // committed or rolled back
}

// begin sends b after a BEGIN, unless the transaction has begun (then
// it returns nil, false). The BEGIN's result is read.
func (t *lazyTx) begin(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.done:
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed), true
	case t.tx != nil:
		return nil, false
	}
	with := &pgx.Batch{}
	with.BeginTx(pgx.TxOptions{})
	with.QueuedQueries = append(with.QueuedQueries, b.QueuedQueries...)
	br := t.pool.SendBatch(ctx, with)
	t.tx = br.Tx()
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
		return t.tx.Exec(ctx, sql, args...)
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
		return t.tx.Query(ctx, sql, args...)
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
		return t.tx.QueryRow(ctx, sql, args...)
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
		return t.tx.SendBatch(ctx, b)
	}
	return br
}

// Commit commits what was sent; a transaction that sent nothing has
// nothing to commit.
func (t *lazyTx) Commit(ctx context.Context) error {
	return t.end(func(tx pgx.Tx) error { return tx.Commit(ctx) })
}

// Rollback rolls back what was sent; after Commit it does nothing.
func (t *lazyTx) Rollback(ctx context.Context) error {
	return t.end(func(tx pgx.Tx) error { return tx.Rollback(ctx) })
}

// end closes the transaction with finish, if anything began it.
func (t *lazyTx) end(finish func(pgx.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	if t.tx == nil {
		return nil
	}
	return finish(t.tx)
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
