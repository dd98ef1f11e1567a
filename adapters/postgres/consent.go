package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.Store = (*Store)(nil)

// Hit implements consent.Limiter in one statement: it reads the key's
// two counters and, only when they leave room, upserts the current one.
// The upsert's WHERE is checked again against the row as it stands once
// locked, so concurrent hits never pass the limit; a hit the read already
// refuses writes and locks nothing, so a key over its limit (a busy
// carrier NAT's address) costs reads only. The row lock lasts one
// statement, whose commit does not wait for the WAL flush (see
// counterCommit).
func (s *Store) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) error {
	start, covered := consent.RateWindow(now, window)
	var counted bool
	var current, previous int
	err := s.q(ctx).QueryRow(ctx, `WITH counts AS (
			SELECT coalesce((SELECT count FROM rate_counters WHERE key = $1 AND window_start = $2), 0) AS prev,
				coalesce((SELECT count FROM rate_counters WHERE key = $1 AND window_start = $3), 0) AS cur),
		carry AS (SELECT ((prev::bigint * $5 + $7 - 1) / $7)::integer AS n FROM counts),
		up AS (
			INSERT INTO rate_counters AS r (key, window_start, count, expires_at)
			SELECT $1, $3, 1, $6 FROM carry, counts WHERE counts.cur + carry.n < $4
			ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
				WHERE r.count + (SELECT n FROM carry) < $4
			RETURNING r.count)
		SELECT EXISTS (SELECT 1 FROM up), (SELECT cur FROM counts), (SELECT prev FROM counts), `+counterCommit,
		key, start.Add(-window), start, limit, covered.Microseconds(), start.Add(2*window), window.Microseconds(), ownCommit(ctx)).
		Scan(&counted, &current, &previous, nil)
	if err != nil {
		return translate(err)
	}
	if !counted {
		return &consent.RateLimitError{RetryAfter: consent.RateRetry(current, previous, limit, window, now)}
	}
	return nil
}

// HitAll implements consent.Limiter in one statement: the keys' counters
// are read at once, and all are upserted, in key order (so two calls
// lock in the same order), only if every one has room. Each upsert's
// WHERE is checked again once its row is locked, as Hit's is, and its
// commit does not wait for the WAL flush (see counterCommit).
func (s *Store) HitAll(ctx context.Context, hits []consent.RateHit, now time.Time) error {
	n := len(hits)
	keys, limits, prevStart, start, covered, expires, window := make([]string, n), make([]int32, n), make([]time.Time, n),
		make([]time.Time, n), make([]int64, n), make([]time.Time, n), make([]int64, n)
	for i, h := range hits {
		st, cov := consent.RateWindow(now, h.Window)
		keys[i], limits[i], prevStart[i], start[i], covered[i], expires[i], window[i] =
			h.Key, int32(h.Limit), st.Add(-h.Window), st, cov.Microseconds(), st.Add(2*h.Window), h.Window.Microseconds()
	}
	rows, err := s.q(ctx).Query(ctx, `WITH h AS (
			SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::timestamptz[], $7::bigint[])
				WITH ORDINALITY AS h(key, lim, prev_start, start, covered, expires, win, n)),
		counts AS (
			SELECT h.*, coalesce((SELECT count FROM rate_counters r WHERE r.key = h.key AND r.window_start = h.prev_start), 0) AS prev,
				coalesce((SELECT count FROM rate_counters r WHERE r.key = h.key AND r.window_start = h.start), 0) AS cur
			FROM h),
		c AS (SELECT *, ((prev::bigint * covered + win - 1) / win)::integer AS carry FROM counts),
		up AS (
			INSERT INTO rate_counters AS r (key, window_start, count, expires_at)
			SELECT key, start, 1, expires FROM c WHERE (SELECT bool_and(cur + carry < lim) FROM c) ORDER BY key
			ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
				WHERE r.count + (SELECT carry FROM c WHERE c.key = excluded.key) < (SELECT lim FROM c WHERE c.key = excluded.key)
			RETURNING r.key)
		SELECT c.key IN (SELECT key FROM up), c.cur, c.prev, `+counterCommit+` FROM c ORDER BY c.n`,
		keys, limits, prevStart, start, covered, expires, window, ownCommit(ctx))
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var full *consent.RateLimitError
	for i := 0; rows.Next(); i++ {
		var counted bool
		var current, previous int
		if err := rows.Scan(&counted, &current, &previous, nil); err != nil {
			return translate(err)
		}
		h := hits[i]
		if counted {
			continue
		}
		// Full when read (a wait), or it had room then (none) and another
		// key was full, or a concurrent call took its last room.
		if wait := consent.RateRetry(current, previous, h.Limit, h.Window, now); full == nil || wait > full.RetryAfter {
			full = &consent.RateLimitError{RetryAfter: wait}
		}
	}
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	if full == nil {
		return nil
	}
	if full.RetryAfter == 0 {
		full.RetryAfter = time.Second // it only lost a race: soon
	}
	return full
}

// noFlushWait, evaluated in a statement, lets it commit without waiting
// for its WAL to reach the disk (synchronous_commit off, for its own
// transaction only). What that can lose is the statement's write of the
// last fraction of a second, and only if PostgreSQL itself crashes (the
// WAL writer flushes it within three wal_writer_delay). Statements put it
// in a CASE on a parameter of ownCommit: inside a caller's transaction
// the commit stays as it is.
const noFlushWait = `set_config('synchronous_commit', 'off', true)`

// counterCommit lets a counter's statement commit without waiting for
// the flush (noFlushWait, where $8): an authorization request and a
// code's start each count one, and each would otherwise wait for a flush
// of its own before the answer. No count is ever answered to anyone.
const counterCommit = `CASE WHEN $8 THEN ` + noFlushWait + ` END`

// ownCommit reports whether a statement made with ctx commits on its
// own, outside a transaction.
func ownCommit(ctx context.Context) bool {
	_, in := ctx.Value(txKey{}).(*lazyTx)
	return !in
}

const challengeColumns = `id, pending_id, partner_id, session, citizen, documents, days, code_hash,
	attempts, resends, status, lang, created_at, sent_at, expires_at, version, budget, represents, method`

// CreateChallenge implements consent.Store. On its own, its commit does
// not wait for the WAL flush either (synchronous_commit off for its own
// transaction, as a counter's): a new challenge grants nothing, and its
// code goes out by SMS straight after, with no outbox. What a crash of
// PostgreSQL can lose is a challenge of the last fraction of a second,
// whose code then verifies nothing and the citizen asks for another.
// Whatever uses the challenge — the answer's approval, a wrong code's
// try, a resend — commits waiting for the flush, and the WAL is flushed
// in order, so no grant is ever kept without the challenge it used. A
// consent flow waits for one flush fewer, which is what a slow disk
// costs it.
func (s *Store) CreateChallenge(ctx context.Context, c consent.Challenge) error {
	err := s.q(ctx).QueryRow(ctx, `INSERT INTO otp_challenges (`+challengeColumns+`)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		RETURNING CASE WHEN $20 THEN `+noFlushWait+` END`,
		c.ID, c.PendingID, c.PartnerID, c.Session, string(c.Citizen), docStrings(c.Documents), c.Days, c.CodeHash,
		c.Attempts, c.Resends, c.Status, c.Lang, c.CreatedAt, c.SentAt, c.ExpiresAt, c.Version, c.Budget, iinStrings(c.Represents),
		c.Method.OrDefault(), ownCommit(ctx)).Scan(nil)
	return translate(err)
}

// GetChallenge implements consent.Store.
func (s *Store) GetChallenge(ctx context.Context, id string) (consent.Challenge, error) {
	var c consent.Challenge
	var citizen *string
	var docs, represents []string
	err := s.q(ctx).QueryRow(ctx, `SELECT `+challengeColumns+` FROM otp_challenges WHERE id = $1`, id).Scan(
		&c.ID, &c.PendingID, &c.PartnerID, &c.Session, &citizen, &docs, &c.Days, &c.CodeHash,
		&c.Attempts, &c.Resends, &c.Status, &c.Lang, &c.CreatedAt, &c.SentAt, &c.ExpiresAt, &c.Version, &c.Budget, &represents, &c.Method)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Challenge{}, consent.ErrUnknownChallenge
	}
	if err != nil {
		return consent.Challenge{}, translate(err)
	}
	if citizen != nil {
		c.Citizen = consent.IIN(*citizen)
	}
	c.Documents, c.Represents = docTypes(docs), iins(represents)
	return c, nil
}

// UpdateChallenge implements consent.Store.
func (s *Store) UpdateChallenge(ctx context.Context, c consent.Challenge) error {
	return updateChallenge(ctx, s.q(ctx), c)
}

func updateChallenge(ctx context.Context, q querier, c consent.Challenge) error {
	tag, err := q.Exec(ctx, `UPDATE otp_challenges SET documents = $2, days = $3, code_hash = $4,
			attempts = $5, resends = $6, status = $7, sent_at = $8, expires_at = $9, version = version + 1
		WHERE id = $1 AND version = $10`,
		c.ID, docStrings(c.Documents), c.Days, c.CodeHash, c.Attempts, c.Resends, c.Status, c.SentAt, c.ExpiresAt, c.Version)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return consent.ErrStale
	}
	return nil
}

// ApproveChallenge implements consent.Store. One statement takes the
// lock on the citizen and partner (see ReplaceGrants, which in the same
// transaction then does not ask again), marks the challenge used, and
// writes the grant, its consent's history row and the citizen's notice.
func (s *Store) ApproveChallenge(ctx context.Context, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry) error {
	_, err := s.approve(ctx, c, g, outbox, false, nil, nil)
	return err
}

// ApproveAndReplace implements consent.Store: ApproveChallenge's
// statement and ReplaceGrants' update go in one round trip. The update
// starts once the approval holds the lock, so it sees every grant
// committed before; it ends nothing unless the grant was written.
func (s *Store) ApproveAndReplace(ctx context.Context, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry, tell consent.Tell) ([]consent.Grant, error) {
	return s.approve(ctx, c, g, outbox, true, tell, nil)
}

// ApproveProved implements consent.Store: ApproveAndReplace's round trip,
// with the challenge found at the version carried and the code settled
// in the statement: a right one uses it (the lock on the citizen and
// partner taken first, only then, and held to the transaction's end, as
// an approval's), a wrong one counts a try.
func (s *Store) ApproveProved(ctx context.Context, c consent.Challenge, proof []byte, now time.Time, maxAttempts int, g consent.Grant, outbox []consent.OutboxEntry, tell consent.Tell) ([]consent.Grant, error) {
	return s.approve(ctx, c, g, outbox, true, tell, &proved{proof: proof, now: now, maxAttempts: maxAttempts})
}

// proved is how an approval found its challenge: at the version carried,
// with the code to settle, instead of at the version read.
type proved struct {
	proof       []byte
	now         time.Time
	maxAttempts int
}

// The first part of an approval's statement: the challenge, found by its
// version read (approvedAt), is marked used once the lock on the citizen
// ($1) and partner ($2) is held; or, found at the version carried
// (approvedBy), its code is settled: used if right, once the lock is
// held, or a try counted (the last kills it). A right code of a citizen
// who represents minors is left to the caller (who asks whose documents);
// a wrong one is counted as anyone's, so that a wrong code takes as long
// for a representative as for a decoy.
const (
	approvedAt = `WITH l AS (SELECT pg_advisory_xact_lock(` + grantsLock + `) AS locked),
			c AS (
				UPDATE otp_challenges SET documents = $19, days = $20, code_hash = $21, attempts = $22, resends = $23,
					status = $24, sent_at = $25, expires_at = $26, version = version + 1
				WHERE id = $18 AND version = $27 AND EXISTS (SELECT 1 FROM l)
				RETURNING id),`
	carriedFound = `id = $18 AND version = $23 AND status = 'pending' AND session = $20 AND pending_id = $21
					AND expires_at > $22 AND method = 'sms-otp'`
	approvedBy = `WITH p AS (SELECT code_hash = $19 AS right_code, cardinality(represents) = 0 AS own
				FROM otp_challenges WHERE ` + carriedFound + `),
			l AS (SELECT pg_advisory_xact_lock(` + grantsLock + `) AS locked FROM p WHERE right_code AND own),
			t AS (
				UPDATE otp_challenges SET
					status = CASE WHEN code_hash = $19 THEN 'used' WHEN attempts + 1 >= $24 THEN 'dead' ELSE 'pending' END,
					attempts = attempts + CASE WHEN code_hash = $19 THEN 0 ELSE 1 END, version = version + 1
				WHERE ` + carriedFound + `
					AND (NOT (SELECT right_code FROM p) OR ((SELECT own FROM p) AND EXISTS (SELECT 1 FROM l)))
				RETURNING id, status, attempts),
			c AS (SELECT id FROM t WHERE status = 'used'),`
)

func (s *Store) approve(ctx context.Context, c consent.Challenge, g consent.Grant, outbox []consent.OutboxEntry, replace bool, tell consent.Tell, by *proved) ([]consent.Grant, error) {
	e := consent.GrantEvent(g, consent.AccessConsent, g.CreatedAt)
	e.Lang = c.Lang
	detail, err := json.Marshal(e.Grant)
	if err != nil {
		return nil, err
	}
	n := consent.Notices([]consent.AccessEvent{e})[0]
	var ended []consent.Grant
	var wrong error // a wrong code's, settled by the statement
	err = s.inTx(ctx, func(q querier) error {
		b := &pgx.Batch{}
		first, found := approvedAt, []any{c.ID, docStrings(c.Documents), c.Days, c.CodeHash, c.Attempts, c.Resends, c.Status, c.SentAt,
			c.ExpiresAt, c.Version}
		result := `SELECT count(*), '', 0 FROM c`
		if by != nil {
			first, found = approvedBy, []any{c.ID, by.proof, c.Session, c.PendingID, by.now, c.Version, by.maxAttempts}
			result = `SELECT count(*), coalesce((SELECT status FROM t), ''), coalesce((SELECT attempts FROM t), 0) FROM c`
		}
		b.Queue(first+`
			g AS (
				INSERT INTO grants (id, citizen, partner_id, documents, purpose, created_at,
					expires_at, terms_version, challenge_id, status, holders, terms_digest, method, terms_told)
				SELECT $3, $1, $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $17, $8 FROM c
				RETURNING id, citizen, partner_id, created_at),
			h AS (INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail)
				SELECT created_at, citizen, citizen, partner_id, id, '', 'consent', '', $13::jsonb FROM g),
			o AS (INSERT INTO outbox (id, partner_id, grant_id, kind, citizen, lang, status, next_attempt_at, created_at)
				SELECT $14, partner_id, id, $15, citizen, $16, 'pending', created_at, created_at FROM g
				ON CONFLICT (id) DO NOTHING)
			`+result,
			append([]any{string(g.Citizen), g.PartnerID, g.ID, docStrings(g.Documents), g.Purpose, g.CreatedAt,
				g.ExpiresAt, g.TermsVersion, g.ChallengeID, g.Status, iinStrings(g.Holders), g.TermsDigest, string(detail),
				n.ID, n.Kind, n.Lang, g.Method.OrDefault()}, found...)...)
		if replace {
			queueReplace(b, g, g.CreatedAt, ` AND EXISTS (SELECT 1 FROM grants n WHERE n.id = $3)`)
		}
		res := q.SendBatch(ctx, b)
		var used, attempts int
		var settled string
		err := res.QueryRow().Scan(&used, &settled, &attempts)
		if err == nil && replace {
			ended, err = replaced(res)
		}
		if cerr := res.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return translate(err)
		}
		switch {
		case settled == string(consent.ChallengeDead):
			wrong = consent.ErrCodeDead // the try counted commits
			return nil
		case settled == string(consent.ChallengePending):
			wrong = &consent.WrongCodeError{AttemptsLeft: by.maxAttempts - attempts}
			return nil
		case used == 0:
			return consent.ErrStale
		}
		took(ctx, grantsLockKey(g))
		if err := insertOutbox(ctx, q, outbox); err != nil {
			return err
		}
		return recordEnded(ctx, q, ended, tell)
	})
	if err == nil {
		err = wrong
	}
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// lockedUpdateChallenge is updateChallenge after taking the lock on the
// citizen's grants for the partner (see grantsLock), in one statement.
func lockedUpdateChallenge(ctx context.Context, q querier, c consent.Challenge, g consent.Grant) error {
	tag, err := q.Exec(ctx, `WITH l AS (SELECT pg_advisory_xact_lock(`+grantsLock+`) AS locked)
		UPDATE otp_challenges SET documents = $4, days = $5, code_hash = $6,
			attempts = $7, resends = $8, status = $9, sent_at = $10, expires_at = $11, version = version + 1
		WHERE id = $3 AND version = $12 AND EXISTS (SELECT 1 FROM l)`,
		string(g.Citizen), g.PartnerID, c.ID, docStrings(c.Documents), c.Days, c.CodeHash, c.Attempts, c.Resends, c.Status,
		c.SentAt, c.ExpiresAt, c.Version)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return consent.ErrStale
	}
	took(ctx, grantsLockKey(g))
	return nil
}

// grantsLock is the advisory lock on a citizen's ($1) grants for a
// partner ($2): approvals, and the replacements that follow them, take
// it in turn.
const grantsLock = `hashtextextended('grants|' || $1 || '|' || $2, 0)`

func grantsLockKey(g consent.Grant) string { return string(g.Citizen) + "|" + g.PartnerID }

// ChangeGrant implements consent.Store.
func (s *Store) ChangeGrant(ctx context.Context, c consent.Challenge, g consent.Grant, action consent.GrantAction, at time.Time, outbox []consent.OutboxEntry) error {
	return s.inTx(ctx, func(q querier) error {
		// First the lock on the citizen and partner, as an approval takes
		// it, then the grant's row: the replacement that follows needs the
		// lock, and taking the row first could deadlock with an approval.
		if err := lockedUpdateChallenge(ctx, q, c, g); err != nil {
			return err // first: a stale challenge is tried again, and nothing else was written
		}
		tag, err := q.Exec(ctx, `UPDATE grants SET documents = $4, holders = $5, purpose = $6, expires_at = $7,
				terms_version = $8, challenge_id = $9, terms_digest = $10, method = $11, terms_told = $8
			WHERE id = $1 AND citizen = $2 AND partner_id = $3 AND status = 'active'`,
			g.ID, string(g.Citizen), g.PartnerID, docStrings(g.Documents), iinStrings(g.Holders), g.Purpose, g.ExpiresAt,
			g.TermsVersion, g.ChallengeID, g.TermsDigest, g.Method.OrDefault())
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 0 {
			return consent.ErrGrantGone
		}
		e := consent.GrantEvent(g, string(action), at)
		e.Lang = c.Lang
		if err := insertAccess(ctx, q, []consent.AccessEvent{e}); err != nil {
			return err
		}
		if action == consent.GrantReplace {
			if _, err := q.Exec(ctx, `UPDATE oauth_records SET active = false WHERE grant_id = $1 AND active`, g.ID); err != nil {
				return translate(err)
			}
		}
		return insertOutbox(ctx, q, outbox)
	})
}

const grantColumns = `id, citizen, partner_id, documents, purpose, created_at, expires_at,
	terms_version, challenge_id, status, status_changed_at, status_by, status_reason, revocation_acked_at, holders, terms_digest,
	deletion_at, deletion_detail, method`

func scanGrant(row pgx.Row) (consent.Grant, error) {
	var r grantRow
	err := row.Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Grant{}, consent.ErrGrantNotFound
	}
	if err != nil {
		return consent.Grant{}, translate(err)
	}
	return *r.grant(), nil
}

// grantRow receives grantColumns, every one nullable so that an outer
// join can read them too. Its fields are pgtype's own nullable types,
// each of which its column's codec scans directly: pgx plans the scan of
// every column at every row it reads, and a pointer to a pointer is
// planned by trying wrapper after wrapper (a twentieth of a token check's
// CPU).
type grantRow struct {
	id, citizen, partnerID, purpose, terms, challenge, status, by, reason, digest pgtype.Text
	docs, holders                                                                 pgtype.FlatArray[string]
	created, expires, changed, acked                                              pgtype.Timestamptz
	deletedAt                                                                     pgtype.Timestamptz
	deletion                                                                      *consent.Deletion
	method                                                                        pgtype.Text
}

func (r *grantRow) dest() []any {
	return []any{&r.id, &r.citizen, &r.partnerID, &r.docs, &r.purpose, &r.created, &r.expires,
		&r.terms, &r.challenge, &r.status, &r.changed, &r.by, &r.reason, &r.acked, &r.holders, &r.digest, &r.deletedAt, &r.deletion, &r.method}
}

// grant is nil when the row held no grant (an outer join's miss).
func (r *grantRow) grant() *consent.Grant {
	if !r.id.Valid {
		return nil
	}
	g := consent.Grant{ID: r.id.String, Citizen: consent.IIN(r.citizen.String), PartnerID: r.partnerID.String, Holders: iins(r.holders),
		Documents: docTypes(r.docs), Purpose: r.purpose.String, CreatedAt: r.created.Time, ExpiresAt: r.expires.Time,
		TermsVersion: r.terms.String, ChallengeID: r.challenge.String, Status: consent.GrantStatus(r.status.String),
		StatusBy: r.by.String, StatusReason: r.reason.String, TermsDigest: r.digest.String,
		StatusChangedAt: r.changed.Time, Method: consent.Method(r.method.String), RevocationAckedAt: r.acked.Time}
	if r.deletedAt.Valid && r.deletion != nil {
		d := *r.deletion
		d.At = r.deletedAt.Time
		g.Deletion = &d
	}
	return &g
}

// GetGrant implements consent.Store.
func (s *Store) GetGrant(ctx context.Context, id string) (consent.Grant, error) {
	return scanGrant(s.q(ctx).QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1`, id))
}

// ListGrants implements consent.SettingsStore.
func (s *Store) ListGrants(ctx context.Context, citizen consent.IIN) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants WHERE citizen = $1 ORDER BY created_at DESC, id`, string(citizen))
}

// queryGrants runs a query (or an UPDATE … RETURNING) that yields grants.
func (s *Store) queryGrants(ctx context.Context, sql string, args ...any) ([]consent.Grant, error) {
	return queryGrants(ctx, s.q(ctx), sql, args...)
}

func queryGrants(ctx context.Context, q querier, sql string, args ...any) ([]consent.Grant, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []consent.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, translate(rows.Err())
}

func docStrings(docs []consent.DocumentType) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = string(d)
	}
	return out
}

func iinStrings(iins []consent.IIN) []string {
	out := make([]string, len(iins))
	for i, n := range iins {
		out[i] = string(n)
	}
	return out
}

func iins(s []string) []consent.IIN {
	if len(s) == 0 {
		return nil
	}
	out := make([]consent.IIN, len(s))
	for i, n := range s {
		out[i] = consent.IIN(n)
	}
	return out
}

func docTypes(docs []string) []consent.DocumentType {
	out := make([]consent.DocumentType, len(docs))
	for i, d := range docs {
		out[i] = consent.DocumentType(d)
	}
	return out
}
