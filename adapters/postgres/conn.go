package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/kelisim/kelisim/consent"
)

// Every call to PostgreSQL goes through timed: it has a deadline, so a
// frozen server or network costs a request at most DefaultTimeout, never a
// goroutine forever; and a failure to reach the server is told apart from
// an answer, as consent.ErrUnavailable, and noted in the request's context.

// DefaultTimeout bounds one statement, or one transaction's round of
// statements, when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// unavailable reports whether err means the server could not be reached
// or did not answer in time, as opposed to an answer (a constraint, a
// missing row) or the caller going away.
func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08 connection exception, 53 insufficient resources, 57 operator
		// intervention (shutdown, a statement cancelled at its deadline),
		// 58 system error.
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
		return false
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, errClosed) ||
		pgconn.SafeToRetry(err)
}

// failed turns an error of a call to the server into what the store
// returns: an unreachable server is consent.ErrUnavailable, also noted in
// ctx; anything else is passed on.
func failed(ctx context.Context, err error) error {
	if !unavailable(err) {
		return err
	}
	consent.NoteUnavailable(ctx)
	if errors.Is(err, consent.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", consent.ErrUnavailable, err)
}

// timed is a querier whose every call has a deadline and whose errors go
// through failed.
type timed struct {
	q       querier
	timeout time.Duration
}

func (t timed) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	tag, err := t.q.Exec(ctx, sql, args...)
	return tag, failed(ctx, err)
}

func (t timed) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	qctx, cancel := context.WithTimeout(ctx, t.timeout)
	rows, err := t.q.Query(qctx, sql, args...)
	if err != nil {
		cancel()
		return nil, failed(ctx, err)
	}
	return &timedRows{Rows: rows, ctx: ctx, cancel: cancel}, nil
}

func (t timed) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	qctx, cancel := context.WithTimeout(ctx, t.timeout)
	return timedRow{row: t.q.QueryRow(qctx, sql, args...), ctx: ctx, cancel: cancel}
}

func (t timed) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	bctx, cancel := context.WithTimeout(ctx, t.timeout)
	return &timedBatch{BatchResults: t.q.SendBatch(bctx, b), ctx: ctx, cancel: cancel}
}

type timedRows struct {
	pgx.Rows
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *timedRows) Close() {
	r.Rows.Close()
	r.cancel()
}

func (r *timedRows) Err() error { return failed(r.ctx, r.Rows.Err()) }

func (r *timedRows) Scan(dest ...any) error { return failed(r.ctx, r.Rows.Scan(dest...)) }

type timedRow struct {
	row    pgx.Row
	ctx    context.Context
	cancel context.CancelFunc
}

func (r timedRow) Scan(dest ...any) error {
	defer r.cancel()
	return failed(r.ctx, r.row.Scan(dest...))
}

type timedBatch struct {
	pgx.BatchResults
	ctx    context.Context
	cancel context.CancelFunc
}

func (b *timedBatch) Close() error {
	defer b.cancel()
	return failed(b.ctx, b.BatchResults.Close())
}
