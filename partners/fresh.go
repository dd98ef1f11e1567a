package partners

import (
	"context"
	"sync"
)

// Partners are read through caches where a stale read does no harm (a
// name on a page) and the store is asked again where it would: a reader
// that keeps a cache serves a context made by Fresh from the store, once
// per partner (ReadOnce): what one request decides on is one reading.

type freshKey struct{}

type readings struct {
	mu    sync.Mutex
	read  map[string]Partner
	fresh bool
}

// Fresh returns a context in which partners are read from the store, not
// from any cache, each at most once.
func Fresh(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshKey{}, &readings{read: map[string]Partner{}, fresh: true})
}

// Once returns a context in which each partner is read at most once,
// from a cache or from the store, whichever serves it first: a request
// that checks what it decided on against the store when it writes (a
// record stored only while its partner is at the version read) decides
// on one reading.
func Once(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshKey{}, &readings{read: map[string]Partner{}})
}

// WantsFresh reports whether ctx was made by Fresh.
func WantsFresh(ctx context.Context) bool {
	r, ok := ctx.Value(freshKey{}).(*readings)
	return ok && r.fresh
}

// ReadOnce returns partner id as read for ctx before, if ctx was made by
// Fresh or Once and it was; otherwise what read returns, kept for ctx
// when made by Fresh or Once.
func ReadOnce(ctx context.Context, id string, read func() (Partner, error)) (Partner, error) {
	r, ok := ctx.Value(freshKey{}).(*readings)
	if !ok {
		return read()
	}
	r.mu.Lock()
	p, ok := r.read[id]
	r.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := read()
	if err == nil {
		r.mu.Lock()
		r.read[id] = p
		r.mu.Unlock()
	}
	return p, err
}
