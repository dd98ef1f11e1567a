package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// The history is written on every document fetch, so its inserts are
// batched: concurrent requests hand their events to one writer, which
// inserts whatever has queued up in one statement and then answers every
// caller. A caller returns only after its batch is committed, so a fetch
// that was answered is never missing from the citizen's history. Nothing
// waits for a batch to fill: a lone event is written at once, and while
// one batch is being written the next one gathers.

// maxHistoryBatch bounds one statement.
const maxHistoryBatch = 256

type historyWrite struct {
	event consent.AccessEvent
	done  chan error
}

// errClosed: the store was closed.
var errClosed = errors.New("postgres: store closed")

// RecordAccess implements consent.DeliveryStore. Inside a transaction the
// event is written in it; else it joins the next batch.
func (s *Store) RecordAccess(ctx context.Context, e consent.AccessEvent) error {
	if s.inTxContext(ctx) {
		return s.insertAccess(ctx, []consent.AccessEvent{e})
	}
	w := historyWrite{event: e, done: make(chan error, 1)}
	select {
	case s.history <- w:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeHistory is the one writer; it runs until the store closes, after
// writing what was handed to it.
func (s *Store) writeHistory() {
	defer close(s.historyDone)
	batch := make([]historyWrite, 0, maxHistoryBatch)
	for {
		select {
		case w := <-s.history:
			batch = append(batch[:0], w)
		case <-s.closing:
			return
		}
	gather:
		for len(batch) < maxHistoryBatch {
			select {
			case w := <-s.history:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		s.flushHistory(batch)
	}
}

// flushHistory writes a batch in one statement. Should that fail, each
// event is written on its own, so one bad event fails only its caller.
func (s *Store) flushHistory(batch []historyWrite) {
	ctx := context.Background()
	events := make([]consent.AccessEvent, len(batch))
	for i, w := range batch {
		events[i] = w.event
	}
	err := s.insertAccess(ctx, events)
	if err != nil && len(batch) > 1 {
		for _, w := range batch {
			w.done <- s.insertAccess(ctx, []consent.AccessEvent{w.event})
		}
		return
	}
	for _, w := range batch {
		w.done <- err
	}
}

func (s *Store) insertAccess(ctx context.Context, events []consent.AccessEvent) error {
	n := len(events)
	at := make([]time.Time, n)
	citizen, holder, partner, grant, doc, kind := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		at[i], citizen[i], holder[i], partner[i], grant[i], doc[i], kind[i] =
			e.At, string(e.Citizen), string(e.Holder), e.PartnerID, e.GrantID, string(e.Document), e.Kind
	}
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
		at, citizen, holder, partner, grant, doc, kind)
	return translate(err)
}
