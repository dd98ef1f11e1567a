package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kelisim/kelisim/oauth"
)

// CreateRecord implements oauth.Store. Inside a transaction the record is
// written in it; else it joins the next batch of records.
func (s *Store) CreateRecord(ctx context.Context, r oauth.Record) error {
	if s.inTxContext(ctx) {
		return s.insertRecord(ctx, r)
	}
	return s.records.do(ctx, r)
}

// partnerStill is the condition a record with a partner version is stored
// under: its partner is still at that version and active. The statement
// reads the partner as committed when it starts, so a change the admin
// API has answered for is always seen.
const partnerStill = `(u.partner_version = 0 OR EXISTS (SELECT 1 FROM partners p
	WHERE p.id = u.client_id AND p.version = u.partner_version AND p.status = 'active'))`

func (s *Store) insertRecord(ctx context.Context, r oauth.Record) error {
	tag, err := s.q(ctx).Exec(ctx, `
		INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch)
		SELECT u.kind, u.signature, u.request_id, u.client_id, NULLIF(u.grant_id, ''), u.active, u.expires_at, u.request, u.partner_epoch
		FROM (SELECT $1::text AS kind, $2::text AS signature, $3::text AS request_id, $4::text AS client_id, $5::text AS grant_id,
			$6::bool AS active, $7::timestamptz AS expires_at, $8::bytea AS request, $9::int AS partner_epoch, $10::int AS partner_version) u
		WHERE `+partnerStill,
		r.Kind, r.Signature, r.RequestID, r.ClientID, r.GrantID, r.Active, r.ExpiresAt, nonNil(r.Request), r.PartnerEpoch, r.PartnerVersion)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return oauth.ErrPartnerChanged
	}
	return nil
}

// writeRecords inserts a batch in one statement; a record whose key is
// taken (by an older record or earlier in the batch) gets ErrConflict, one
// whose partner moved on ErrPartnerChanged.
func (s *Store) writeRecords(ctx context.Context, recs []oauth.Record) []error {
	n := len(recs)
	cols := recordColumns(recs)
	kind, sig := cols[0].([]string), cols[1].([]string)
	rows, err := s.q(ctx).Query(ctx, `
		WITH u AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[],
				$8::bytea[], $9::int[], $10::int[]) WITH ORDINALITY
				AS u(kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch, partner_version, n)),
		ok AS (SELECT * FROM u WHERE `+partnerStill+`),
		ins AS (
			INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch)
			SELECT kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch FROM ok ORDER BY n
			ON CONFLICT (kind, signature) DO NOTHING
			RETURNING kind, signature)
		SELECT kind, signature, 0::bigint, CASE WHEN $11 THEN `+noFlushWait+` END FROM ins
		UNION ALL
		SELECT kind, signature, n, NULL FROM u WHERE n NOT IN (SELECT n FROM ok)`,
		append(cols, onlyPending(recs) && ownCommit(ctx))...)
	if err == nil {
		type key struct{ kind, sig string }
		inserted, changed := map[key]bool{}, map[int]bool{}
		var k key
		var ord int64
		_, err = pgx.ForEachRow(rows, []any{&k.kind, &k.sig, &ord, nil}, func() error {
			if ord > 0 {
				changed[int(ord)-1] = true
			} else {
				inserted[k] = true
			}
			return nil
		})
		if err == nil {
			errs := make([]error, n)
			for i := range recs {
				k := key{kind[i], sig[i]}
				switch {
				case changed[i]:
					errs[i] = oauth.ErrPartnerChanged
				case !inserted[k]:
					errs[i] = fmt.Errorf("%w: oauth_records_pkey", oauth.ErrConflict)
				}
				if !changed[i] {
					delete(inserted, k) // a second record with the same key conflicts
				}
			}
			return errs
		}
	}
	return oneByOne(ctx, recs, translate(err), func(ctx context.Context, r []oauth.Record) error {
		return s.insertRecord(ctx, r[0])
	})
}

// GetRecord implements oauth.Store.
func (s *Store) GetRecord(ctx context.Context, kind oauth.Kind, signature string) (oauth.Record, error) {
	r := oauth.Record{Kind: kind, Signature: signature}
	var grantID *string
	err := s.q(ctx).QueryRow(ctx, `
		SELECT request_id, client_id, grant_id, active, expires_at, request, partner_epoch
		FROM oauth_records WHERE kind = $1 AND signature = $2`, kind, signature).
		Scan(&r.RequestID, &r.ClientID, &grantID, &r.Active, &r.ExpiresAt, &r.Request, &r.PartnerEpoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Record{}, oauth.ErrNotFound
	}
	if grantID != nil {
		r.GrantID = *grantID
	}
	return r, translate(err)
}

// GetRecords implements oauth.Store.
func (s *Store) GetRecords(ctx context.Context, signature string, kinds ...oauth.Kind) (map[oauth.Kind]oauth.Record, error) {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	rows, err := s.q(ctx).Query(ctx, `
		SELECT kind, request_id, client_id, grant_id, active, expires_at, request, partner_epoch
		FROM oauth_records WHERE signature = $1 AND kind = ANY($2)`, signature, names)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[oauth.Kind]oauth.Record{}
	for rows.Next() {
		r := oauth.Record{Signature: signature}
		var grantID *string
		if err := rows.Scan(&r.Kind, &r.RequestID, &r.ClientID, &grantID, &r.Active, &r.ExpiresAt, &r.Request, &r.PartnerEpoch); err != nil {
			return nil, translate(err)
		}
		if grantID != nil {
			r.GrantID = *grantID
		}
		out[r.Kind] = r
	}
	return out, translate(rows.Err())
}

// onlyPending reports whether a batch holds only authorization requests
// waiting for a citizen: then its commit does not wait for the WAL flush
// (synchronous_commit off for its own transaction, as a counter's or a
// new challenge's). Such a request is the gateway's state for a few
// minutes, and nothing of anyone's: the browser carries it sealed, and
// the row only lets it be answered once. A crash of PostgreSQL can lose
// the requests of the last fraction of a second; their answer then finds
// none and the citizen starts again from the partner's app. The answer
// that uses a request commits waiting for the flush, and the WAL is
// flushed in order, so no code is ever kept without its request. A
// batch with any other record — a token, a client assertion's jti, a
// pushed request — waits, as each of them is answered to a partner.
func onlyPending(recs []oauth.Record) bool {
	for _, r := range recs {
		if r.Kind != oauth.KindPending {
			return false
		}
	}
	return true
}

// recordColumns are recs as the arrays a statement unnests, in the order
// kind, signature, request id, client id, grant id (NULL for none),
// active, expiry, request, partner epoch and partner version.
func recordColumns(recs []oauth.Record) []any {
	n := len(recs)
	kind, sig, req, client := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	grant, active, exp, body := make([]*string, n), make([]bool, n), make([]time.Time, n), make([][]byte, n)
	epoch, version := make([]int32, n), make([]int32, n)
	for i, r := range recs {
		kind[i], sig[i], req[i], client[i], active[i], exp[i], body[i] =
			string(r.Kind), r.Signature, r.RequestID, r.ClientID, r.Active, r.ExpiresAt, nonNil(r.Request)
		epoch[i], version[i] = int32(r.PartnerEpoch), int32(r.PartnerVersion)
		if r.GrantID != "" {
			grant[i] = &recs[i].GrantID
		}
	}
	return []any{kind, sig, req, client, grant, active, exp, body, epoch, version}
}

// UseRecord implements oauth.Store in one statement. The records to
// create are checked against their partners first; the record is used
// only if they all pass, and the others are written only if it was.
// A taken key fails the whole statement.
func (s *Store) UseRecord(ctx context.Context, kind oauth.Kind, signature string, drop []oauth.Kind, create []oauth.Record) error {
	var used int
	var changed, open bool
	sql, args := useRecord(kind, signature, drop, create, false)
	err := s.q(ctx).QueryRow(ctx, sql, args...).Scan(&used, &changed, &open)
	switch {
	case err != nil:
		return translate(err)
	case !open:
		return oauth.ErrNotActive // used already, whatever else changed
	case changed:
		return oauth.ErrPartnerChanged
	case used == 0:
		return oauth.ErrNotActive
	}
	return nil
}

// UseRecordAndCommit implements oauth.Store: UseRecord's statement and
// the COMMIT go in one round trip. The statement refuses (kelisim_refuse)
// where UseRecord returns an error, so nothing commits then.
func (s *Store) UseRecordAndCommit(ctx context.Context, kind oauth.Kind, signature string, drop []oauth.Kind, create []oauth.Record) error {
	tx, ok := ctx.Value(txKey{}).(*lazyTx)
	if !ok {
		return errors.New("postgres: no transaction")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sql, args := useRecord(kind, signature, drop, create, true)
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	err := tx.commitWith(cctx, b, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == refusedNotActive:
		return oauth.ErrNotActive
	case errors.As(err, &pgErr) && pgErr.Code == refusedPartnerChanged:
		return oauth.ErrPartnerChanged
	}
	return failed(ctx, translate(err))
}

// The SQLSTATEs of UseRecordAndCommit's refusals (kelisim_refuse).
const (
	refusedNotActive      = "KL001"
	refusedPartnerChanged = "KL002"
)

// useRecord is UseRecord's statement. It returns the records used (0 or
// 1), whether a partner changed, and whether the record was active
// before; with refuse, it fails instead where UseRecord returns an error.
func useRecord(kind oauth.Kind, signature string, drop []oauth.Kind, create []oauth.Record, refuse bool) (string, []any) {
	// The used record is deleted when its kind is dropped, kept inactive
	// otherwise; the others dropped go in a statement's CTE of their own
	// (one row is not both updated and deleted in one statement).
	use := `UPDATE oauth_records SET active = false`
	dropped := make([]string, 0, len(drop))
	for _, k := range drop {
		if k == kind {
			use = `DELETE FROM oauth_records`
		} else {
			dropped = append(dropped, string(k))
		}
	}
	result := `SELECT (SELECT count(*) FROM used), EXISTS (SELECT 1 FROM changed),
			EXISTS (SELECT 1 FROM oauth_records WHERE kind = $11 AND signature = $12 AND active)`
	if refuse {
		result = `SELECT CASE
			WHEN NOT EXISTS (SELECT 1 FROM oauth_records WHERE kind = $11 AND signature = $12 AND active)
				THEN kelisim_refuse('` + refusedNotActive + `', 'the record is not active')
			WHEN EXISTS (SELECT 1 FROM changed) THEN kelisim_refuse('` + refusedPartnerChanged + `', 'the partner changed')
			WHEN (SELECT count(*) FROM used) = 0 THEN kelisim_refuse('` + refusedNotActive + `', 'the record is not active')
			ELSE true END`
	}
	return `
		WITH u AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[],
				$8::bytea[], $9::int[], $10::int[]) WITH ORDINALITY
				AS u(kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch, partner_version, n)),
		changed AS (SELECT 1 FROM u WHERE NOT ` + partnerStill + `),
		used AS (
			` + use + `
			WHERE kind = $11 AND signature = $12 AND active AND NOT EXISTS (SELECT 1 FROM changed)
			RETURNING 1),
		dropped AS (
			DELETE FROM oauth_records WHERE signature = $12 AND kind = ANY($13) AND EXISTS (SELECT 1 FROM used)),
		ins AS (
			INSERT INTO oauth_records (kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch)
			SELECT kind, signature, request_id, client_id, grant_id, active, expires_at, request, partner_epoch FROM u
			WHERE EXISTS (SELECT 1 FROM used) ORDER BY n)
		` + result, append(recordColumns(create), kind, signature, dropped)
}

// DeleteRecord implements oauth.Store.
func (s *Store) DeleteRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	_, err := s.q(ctx).Exec(ctx, `DELETE FROM oauth_records WHERE kind = $1 AND signature = $2`, kind, signature)
	return translate(err)
}

// DeactivateRecord implements oauth.Store.
func (s *Store) DeactivateRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	tag, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE kind = $1 AND signature = $2 AND active`, kind, signature)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return oauth.ErrNotActive
	}
	return nil
}

// DeactivateRequest implements oauth.Store.
func (s *Store) DeactivateRequest(ctx context.Context, kind oauth.Kind, requestID string) error {
	_, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE request_id = $1 AND kind = $2 AND active`, requestID, kind)
	return translate(err)
}

// DeactivateClient implements oauth.Store.
func (s *Store) DeactivateClient(ctx context.Context, clientID string) error {
	_, err := s.q(ctx).Exec(ctx, `
		UPDATE oauth_records SET active = false
		WHERE client_id = $1 AND active AND kind IN ('access', 'refresh', 'code')`, clientID)
	return translate(err)
}
