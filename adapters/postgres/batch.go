package postgres

import (
	"context"
	"errors"
	"time"
)

// Some writes come from many concurrent requests and each needs its own
// commit: the history row of a document fetch, the record of a token.
// (Token reads are batched the same way: see GetToken.)
// A batcher hands them to one writer, which writes whatever has queued up
// in one statement and then answers every caller. A caller returns only
// after the statement that holds its item has committed, so nothing it
// acknowledges can be lost (a batch of passing state only, waiting
// authorization requests, commits without waiting for the flush: see
// onlyPending). Nothing waits for a batch to fill: a lone item is written
// at once, and while one batch is written the next gathers.
type batcher[T any] struct {
	in      chan batchItem[T]
	closing <-chan struct{}
	done    chan struct{}
	timeout time.Duration // of one write
	// write writes items in one statement and returns one error per item.
	write func(ctx context.Context, items []T) []error
}

type batchItem[T any] struct {
	v    T
	done chan error
}

// maxBatch bounds one statement.
const maxBatch = 256

// errClosed: the store was closed.
var errClosed = errors.New("postgres: store closed")

func newBatcher[T any](closing <-chan struct{}, timeout time.Duration, write func(context.Context, []T) []error) *batcher[T] {
	b := &batcher[T]{in: make(chan batchItem[T]), closing: closing, done: make(chan struct{}), timeout: timeout, write: write}
	go b.run()
	return b
}

// do writes v in the next batch and returns its own error; a closed
// store, a deadline passed while waiting and an unreachable server are
// consent.ErrUnavailable, as a statement of the caller's own would be.
func (b *batcher[T]) do(ctx context.Context, v T) error {
	it := batchItem[T]{v: v, done: make(chan error, 1)}
	select {
	case b.in <- it:
	case <-b.closing:
		return failed(ctx, errClosed)
	case <-ctx.Done():
		return failed(ctx, ctx.Err())
	}
	select {
	case err := <-it.done:
		return failed(ctx, err)
	case <-ctx.Done():
		return failed(ctx, ctx.Err())
	}
}

// run is the one writer; it runs until the store closes, after writing
// what was handed to it.
func (b *batcher[T]) run() {
	defer close(b.done)
	items := make([]batchItem[T], 0, maxBatch)
	values := make([]T, 0, maxBatch)
	for {
		select {
		case it := <-b.in:
			items = append(items[:0], it)
		case <-b.closing:
			return
		}
	gather:
		for len(items) < maxBatch {
			select {
			case it := <-b.in:
				items = append(items, it)
			default:
				break gather
			}
		}
		values = values[:0]
		for _, it := range items {
			values = append(values, it.v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		errs := b.write(ctx, values)
		cancel()
		for i, it := range items {
			it.done <- errs[i]
		}
	}
}

// oneByOne writes a batch that failed as a whole item by item, so that an
// item the database refuses fails only its own caller.
func oneByOne[T any](ctx context.Context, items []T, err error, write func(context.Context, []T) error) []error {
	errs := make([]error, len(items))
	for i, v := range items {
		if len(items) == 1 {
			errs[i] = err
		} else {
			errs[i] = write(ctx, []T{v})
		}
	}
	return errs
}
