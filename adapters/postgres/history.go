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
	// The events (a trigger queues them for sealing).
	const insert = `INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])`
	args := []any{at, citizen, holder, partner, grant, doc, kind, by, detail}
	notices := consent.Notices(events)
	if len(notices) == 0 {
		_, err := q.Exec(ctx, insert, args...)
		return translate(err)
	}
	// The events' notifications go in the same statement: one round trip,
	// one commit. A batch of uses already noted for the hour is kept as it is.
	m := len(notices)
	id, nPartner, nGrant, nKind, nCitizen, nLang := make([]string, m), make([]string, m), make([]string, m),
		make([]string, m), make([]string, m), make([]string, m)
	due, created := make([]time.Time, m), make([]time.Time, m)
	for i, n := range notices {
		id[i], nPartner[i], nGrant[i], nKind[i], nCitizen[i], nLang[i], due[i], created[i] =
			n.ID, n.PartnerID, n.GrantID, n.Kind, string(n.Citizen), n.Lang, n.NextAttemptAt, n.CreatedAt
	}
	_, err := q.Exec(ctx, `WITH events AS (`+insert+`)
		INSERT INTO outbox (id, partner_id, grant_id, kind, citizen, lang, next_attempt_at, created_at, status)
		SELECT *, 'pending' FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
			$16::timestamptz[], $17::timestamptz[])
		ON CONFLICT (id) DO NOTHING`,
		append(args, id, nPartner, nGrant, nKind, nCitizen, nLang, due, created)...)
	return translate(err)
}
