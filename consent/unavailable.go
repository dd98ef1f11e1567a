package consent

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrUnavailable: the store did not answer — it is down, unreachable, or
// slower than its deadline. Nothing was decided; the caller may try again
// later. It is never a statement about the request: a token, a client or a
// code is not invalid because the store could not be asked.
var ErrUnavailable error = newError(KindUnavailable, "err_unavailable", "the store is unavailable")

// A request may reach the store through code that turns a failed call
// into a plain "no" (an OAuth library deciding a client is unknown, say).
// So a store that fails notes it in the request's context as well, and
// whoever answers the request asks StoreFailed: an answer computed while
// the store was failing is no answer.

type failuresKey struct{}

// WatchStore returns a context in which store failures are noted.
func WatchStore(ctx context.Context) context.Context {
	if _, ok := ctx.Value(failuresKey{}).(*atomic.Bool); ok {
		return ctx
	}
	return context.WithValue(ctx, failuresKey{}, new(atomic.Bool))
}

// NoteUnavailable records in ctx that the store failed to answer.
func NoteUnavailable(ctx context.Context) {
	if f, ok := ctx.Value(failuresKey{}).(*atomic.Bool); ok {
		f.Store(true)
	}
}

// StoreFailed reports whether err says the store was unavailable, or the
// store failed at any point of the request ctx belongs to.
func StoreFailed(ctx context.Context, err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	f, ok := ctx.Value(failuresKey{}).(*atomic.Bool)
	return ok && f.Load()
}
