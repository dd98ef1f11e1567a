package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.DeliveryStore = (*Store)(nil)

// ListAccess implements consent.DeliveryStore.
// The citizen's own rows and those held by them for somebody else are
// apart, each read at most a page through its own index, newest month
// first: the months are read in order and the reading stops once a page
// is full, and the cursor's time keeps the months after it unread, so a
// page costs the same however many months the history keeps and however
// deep in the past it is.
func (s *Store) ListAccess(ctx context.Context, citizen consent.IIN, before consent.HistoryCursor, limit int) ([]consent.AccessEvent, error) {
	at, id := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, int64(math.MaxInt64)
	if !before.IsZero() {
		at, id = pgtype.Timestamptz{Time: before.At, Valid: true}, before.ID
	}
	rows, err := s.q(ctx).Query(ctx, `SELECT `+accessColumns+` FROM (
		(SELECT `+accessColumns+` FROM access_events WHERE citizen = $1 AND at <= $2 AND (at, id) < ($2, $3)
			ORDER BY at DESC, id DESC LIMIT $4)
		UNION ALL
		(SELECT `+accessColumns+` FROM access_events WHERE holder = $1 AND holder <> citizen AND at <= $2 AND (at, id) < ($2, $3)
			ORDER BY at DESC, id DESC LIMIT $4)) a
		ORDER BY at DESC, id DESC LIMIT $4`, string(citizen), at, id, limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanAccess)
}

const accessColumns = `id, at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail`

func scanAccess(row pgx.CollectableRow) (consent.AccessEvent, error) {
	var e consent.AccessEvent
	var c, h string
	err := row.Scan(&e.ID, &e.At, &c, &h, &e.PartnerID, &e.GrantID, &e.Document, &e.Kind, &e.By, &e.Grant)
	e.Citizen, e.Holder = consent.IIN(c), consent.IIN(h)
	return e, err
}

const outboxColumns = `id, partner_id, grant_id, kind, document_type, status, attempts, next_attempt_at, last_error, created_at, delivered_at, claim,
	citizen, lang`

func scanOutbox(row pgx.CollectableRow) (consent.OutboxEntry, error) {
	var e consent.OutboxEntry
	var delivered *time.Time
	var claim *string
	var citizen string
	err := row.Scan(&e.ID, &e.PartnerID, &e.GrantID, &e.Kind, &e.Document, &e.Status, &e.Attempts, &e.NextAttemptAt, &e.LastError, &e.CreatedAt, &delivered, &claim,
		&citizen, &e.Lang)
	e.Citizen = consent.IIN(citizen)
	if delivered != nil {
		e.DeliveredAt = *delivered
	}
	if claim != nil {
		e.Claim = *claim
	}
	return e, err
}

// ClaimDeliveries implements consent.DeliveryStore: SKIP LOCKED lets
// replicas claim disjoint entries without waiting for each other.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, claim string) ([]consent.OutboxEntry, error) {
	rows, err := s.q(ctx).Query(ctx, `UPDATE outbox SET locked_until = $2, claim = $4
		WHERE id IN (
			SELECT id FROM outbox
			WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1)
			ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+outboxColumns, now, now.Add(lease), limit, claim)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanOutbox)
}

// RenewDelivery implements consent.DeliveryStore. Only a pending entry
// holds a claim (every way out of pending clears it), so the entry is
// found by its key and claim alone: with status = 'pending' beside them,
// the planner could prefer the small partial index of pending entries and
// read every one of them to find this one, most of all when a partner's
// outage has queued thousands since the last ANALYZE.
func (s *Store) RenewDelivery(ctx context.Context, id, claim string, until time.Time) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE outbox SET locked_until = $3 WHERE id = $1 AND claim = $2`, id, claim, until)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return consent.ErrLeaseLost
	}
	return nil
}

// FinishDelivery implements consent.DeliveryStore: the attempt is counted
// and the entry dead-lettered in the statement, from the stored count.
func (s *Store) FinishDelivery(ctx context.Context, id, claim string, o consent.DeliveryOutcome) (consent.OutboxEntry, error) {
	rows, err := s.q(ctx).Query(ctx, `UPDATE outbox SET attempts = attempts + 1,
			status = CASE WHEN $3 THEN 'delivered' WHEN $4 OR attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END,
			delivered_at = CASE WHEN $3 THEN $6 ELSE delivered_at END,
			next_attempt_at = CASE WHEN $3 OR $4 OR attempts + 1 >= $5 THEN next_attempt_at ELSE $7 END,
			last_error = $8, locked_until = NULL, claim = NULL
		WHERE id = $1 AND claim = $2
		RETURNING `+outboxColumns, id, claim, o.Delivered, o.Final, o.MaxAttempts, o.At, o.RetryAt, o.Error)
	if err != nil {
		return consent.OutboxEntry{}, translate(err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanOutbox)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.OutboxEntry{}, consent.ErrLeaseLost
	}
	return e, translate(err)
}

// FinishDelivered implements consent.DeliveryStore: one statement for
// all of done, planned at each call (see replanned): prepared when the
// outbox was nearly empty, as on a new database, it read the whole outbox
// at every batch after, a fifth of PostgreSQL's time in a consent flow
// once the outbox held ten thousand notices.
func (s *Store) FinishDelivered(ctx context.Context, claim string, done []consent.Delivered) ([]string, error) {
	ids, ats := make([]string, len(done)), make([]time.Time, len(done))
	for i, d := range done {
		ids[i], ats[i] = d.ID, d.At
	}
	rows, err := s.q(ctx).Query(ctx, `UPDATE outbox o SET attempts = o.attempts + 1, status = 'delivered', delivered_at = d.at,
			last_error = '', locked_until = NULL, claim = NULL
		FROM unnest($2::text[], $3::timestamptz[]) AS d(id, at)
		WHERE o.id = d.id AND o.claim = $1
		RETURNING o.id`, s.replanned(ctx, claim, ids, ats)...)
	if err != nil {
		return nil, translate(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return stored, translate(err)
}

// ListDeliveries implements consent.DeliveryStore.
func (s *Store) ListDeliveries(ctx context.Context, status consent.OutboxStatus, limit int) ([]consent.OutboxEntry, error) {
	// The limit is written into the statement: planned for any limit, the
	// planner guesses a tenth of the table and reads all of it.
	rows, err := s.q(ctx).Query(ctx, fmt.Sprintf(`SELECT `+outboxColumns+` FROM outbox WHERE status = $1 ORDER BY created_at, id LIMIT %d`, max(limit, 0)), status)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanOutbox)
}

// ReplayDelivery implements consent.DeliveryStore.
func (s *Store) ReplayDelivery(ctx context.Context, id string, now time.Time) (consent.OutboxEntry, error) {
	rows, err := s.q(ctx).Query(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, locked_until = NULL, claim = NULL
		WHERE id = $1 AND status = 'dead' RETURNING `+outboxColumns, id, now)
	if err != nil {
		return consent.OutboxEntry{}, translate(err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanOutbox)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.OutboxEntry{}, consent.ErrDeliveryNotFound
	}
	return e, translate(err)
}

// ActiveGrants implements consent.DeliveryStore.
func (s *Store) ActiveGrants(ctx context.Context, citizen consent.IIN, t consent.DocumentType, now time.Time) ([]consent.Grant, error) {
	// The expiry is checked here, not in the search: one naming expires_at
	// can be planned, before the table is first analyzed, as a read of
	// every active grant through grants_expiry_due_idx (migration 030).
	all, err := s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE citizen = $1 AND status = 'active' AND $2 = ANY(documents) ORDER BY created_at`,
		string(citizen), string(t))
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, g := range all {
		if g.ExpiresAt.After(now) { // else expired, not yet swept
			out = append(out, g)
		}
	}
	return out, nil
}

// EnqueueDeliveries implements consent.DeliveryStore.
func (s *Store) EnqueueDeliveries(ctx context.Context, entries []consent.OutboxEntry) error {
	return s.inTx(ctx, func(q querier) error { return insertOutbox(ctx, q, entries) })
}

// insertOutbox writes entries in one statement, whatever their number (an
// expiry's batch tells up to consent.DefaultExpireBatch partners).
func insertOutbox(ctx context.Context, q querier, entries []consent.OutboxEntry) error {
	n := len(entries)
	if n == 0 {
		return nil
	}
	id, partner, grant, kind, doc, status, citizen, lang := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	next, created := make([]time.Time, n), make([]time.Time, n)
	for i, e := range entries {
		id[i], partner[i], grant[i], kind[i], doc[i], status[i], citizen[i], lang[i] =
			e.ID, e.PartnerID, e.GrantID, e.Kind, string(e.Document), string(e.Status), string(e.Citizen), e.Lang
		next[i], created[i] = e.NextAttemptAt, e.CreatedAt
	}
	_, err := q.Exec(ctx, `INSERT INTO outbox (id, partner_id, grant_id, kind, document_type, status, next_attempt_at, created_at, citizen, lang)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[])`,
		id, partner, grant, kind, doc, status, next, created, citizen, lang)
	return translate(err)
}

// GrantHistory implements consent.ReceiptStore.
func (s *Store) GrantHistory(ctx context.Context, grantID string) ([]consent.AccessEvent, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+accessColumns+` FROM access_events
		WHERE grant_id = $1 AND detail IS NOT NULL ORDER BY id`, grantID)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanAccess)
}

// ReceiptEvent implements consent.ReceiptStore.
func (s *Store) ReceiptEvent(ctx context.Context, id string) (consent.AccessEvent, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+accessColumns+` FROM access_events WHERE detail->>'receipt' = $1 AND detail IS NOT NULL`, id)
	if err != nil {
		return consent.AccessEvent{}, translate(err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanAccess)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.AccessEvent{}, consent.ErrReceiptNotFound
	}
	return e, translate(err)
}
