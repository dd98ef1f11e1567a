package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// RecordAccess implements consent.DeliveryStore. Inside a transaction the
// event is written in it; else it joins the next batch of history rows.
func (s *Store) RecordAccess(ctx context.Context, e consent.AccessEvent) error {
	if s.inTxContext(ctx) {
		return s.insertAccess(ctx, []consent.AccessEvent{e})
	}
	return s.history.do(ctx, e)
}

func (s *Store) writeHistory(ctx context.Context, events []consent.AccessEvent) []error {
	err := s.insertAccess(ctx, events)
	if err != nil {
		return oneByOne(ctx, events, err, s.insertAccess)
	}
	return make([]error, len(events))
}

func (s *Store) insertAccess(ctx context.Context, events []consent.AccessEvent) error {
	return insertAccess(ctx, s.q(ctx), events)
}

func insertAccess(ctx context.Context, q querier, events []consent.AccessEvent) error {
	n := len(events)
	if n == 0 {
		return nil // no statement for nothing
	}
	at := make([]time.Time, n)
	citizen, holder, partner, grant, doc, kind, by := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	detail := make([]*string, n)
	for i, e := range events {
		at[i], citizen[i], holder[i], partner[i], grant[i], doc[i], kind[i], by[i] =
			e.At, string(e.Citizen), string(e.Holder), e.PartnerID, e.GrantID, string(e.Document), e.Kind, e.By
		if e.Grant != nil {
			raw, err := json.Marshal(e.Grant)
			if err != nil {
				return err
			}
			d := string(raw)
			detail[i] = &d
		}
	}
	_, err := q.Exec(ctx, `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])`,
		at, citizen, holder, partner, grant, doc, kind, by, detail)
	return translate(err)
}
