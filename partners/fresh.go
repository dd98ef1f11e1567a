package partners

import "context"

// Partners are read through caches where a stale read does no harm (a
// name on a page) and the store is asked again where it would: a reader
// that keeps a cache serves a context made by Fresh from the store.

type freshKey struct{}

// Fresh returns a context in which partners are read from the store, not
// from any cache.
func Fresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

// WantsFresh reports whether ctx was made by Fresh.
func WantsFresh(ctx context.Context) bool {
	fresh, _ := ctx.Value(freshKey{}).(bool)
	return fresh
}
