package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kelisim/kelisim/consent"
)

var _ consent.Janitor = (*Store)(nil)

// DueGrants implements consent.Janitor. A grant another transaction
// holds is passed over, not returned: a citizen's revocation, or another
// replica's expiry that has it. Its own lock lasts the statement only,
// so a replica that asks between another's DueGrants and ExpireGrants is
// given the same grants; they are ended by the one that locks them
// first (ExpireGrants), and the other's round stops there.
func (s *Store) DueGrants(ctx context.Context, now time.Time, limit int) ([]consent.Grant, error) {
	return queryGrants(ctx, s.q(ctx), `SELECT `+grantColumns+` FROM grants WHERE status = 'active' AND expires_at <= $1
		ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
}

// ExpireGrants implements consent.Janitor. The grants it ends are locked
// as they are chosen; one a citizen's revocation holds is skipped, not
// waited for. They are chosen once, as an array: as a subquery of IN,
// the choice could run again for each row.
func (s *Store) ExpireGrants(ctx context.Context, ids []string, now time.Time, tell consent.Tell) ([]consent.Grant, error) {
	var out []consent.Grant
	err := s.inTx(ctx, func(q querier) error {
		var err error
		out, err = queryGrants(ctx, q, `UPDATE grants SET status = 'expired', status_changed_at = expires_at, status_by = 'system',
			status_reason = 'expired'
			WHERE id = ANY(ARRAY(SELECT id FROM grants WHERE id = ANY($1) AND status = 'active' AND expires_at <= $2
				FOR UPDATE SKIP LOCKED)) AND status = 'active'
			RETURNING `+grantColumns, ids, now)
		if err != nil {
			return err
		}
		return recordEnded(ctx, q, out, tell)
	})
	return out, err
}

// recordEnded writes the history of grants that just ended and the
// entries tell (when there is one) makes of them, in the transaction that
// ended them.
func recordEnded(ctx context.Context, q querier, grants []consent.Grant, tell consent.Tell) error {
	if len(grants) == 0 {
		return nil
	}
	if err := insertAccess(ctx, q, endEvents(grants)); err != nil {
		return err
	}
	if tell == nil {
		return nil
	}
	return insertOutbox(ctx, q, tell(grants))
}

// ReplaceGrants implements consent.Store. The lock on the citizen and
// partner is taken before the statement that reads their grants, so of
// two approvals at once the later sees, and ends, the earlier's grant.
// A transaction that approved g holds it already (ApproveChallenge).
func (s *Store) ReplaceGrants(ctx context.Context, g consent.Grant, at time.Time, tell consent.Tell) ([]consent.Grant, error) {
	var out []consent.Grant
	err := s.inTx(ctx, func(q querier) error {
		// The lock and the statement that reads under it, in one round
		// trip: each statement takes its snapshot when it starts, so the
		// update sees what committed while it waited.
		b := &pgx.Batch{}
		if !holds(ctx, grantsLockKey(g)) {
			b.Queue(`SELECT pg_advisory_xact_lock(`+grantsLock+`)`, string(g.Citizen), g.PartnerID)
		}
		queueReplace(b, g, at, "")
		res := q.SendBatch(ctx, b)
		var err error
		if b.Len() == 2 {
			_, err = res.Exec()
		}
		if err == nil {
			out, err = replaced(res)
		}
		if cerr := res.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return translate(err)
		}
		return recordEnded(ctx, q, out, tell)
	})
	return out, err
}

// queueReplace queues the update that ends the citizen's active grants
// for g's partner that g replaces (see consent.Store.ReplaceGrants),
// returning them; where narrows it further.
func queueReplace(b *pgx.Batch, g consent.Grant, at time.Time, where string) {
	b.Queue(`UPDATE grants SET status = 'revoked', status_changed_at = $5, status_by = 'replaced',
			status_reason = 'replaced by grant ' || $3
		WHERE citizen = $1 AND partner_id = $2 AND status = 'active' AND id <> $3
			AND (terms_version <> $4 OR holders && $6 OR (cardinality(holders) = 0 AND citizen = ANY($6)))`+where+`
		RETURNING `+grantColumns, string(g.Citizen), g.PartnerID, g.ID, g.TermsVersion, at, iinStrings(g.Holders))
}

// replaced reads the grants the next queued update (queueReplace) ended.
func replaced(res pgx.BatchResults) ([]consent.Grant, error) {
	rows, err := res.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (consent.Grant, error) { return scanGrant(row) })
}

// endEvents are the history's records of grants that just ended.
func endEvents(ended []consent.Grant) []consent.AccessEvent {
	out := make([]consent.AccessEvent, len(ended))
	for i, g := range ended {
		kind := consent.AccessRevocation
		if g.Status == consent.GrantExpired {
			kind = consent.AccessExpiry
		}
		out[i] = consent.GrantEvent(g, kind, g.StatusChangedAt)
	}
	return out
}

// DefaultPurgeBatch is how many rows one statement of the purge deletes.
const DefaultPurgeBatch = 1000

// Purge implements consent.Janitor. Refresh tokens are kept until they
// expire even when inactive, so a reused one is still recognised.
//
// Each statement deletes at most s.purgeBatch rows, chosen in the order
// of an index and locked as they are chosen (a row another transaction
// holds is left to the next round), and commits on its own: one
// statement for all that is
// due ran past the call's deadline on a loaded database (about 130,000
// expired tokens), was rolled back, and was tried again, whole, every
// round, while its writes slowed every request. After a full batch the
// purge waits as long as the batch took, so that it never takes more
// than half of a connection's time and of the disk's from the requests.
func (s *Store) Purge(ctx context.Context, now time.Time, otpRetention time.Duration) (map[string]int, error) {
	counts := map[string]int{}
	steps := []struct {
		name, table, where, order string
		args                      []any
	}{
		{"oauth_records", "oauth_records", `expires_at < $1`, "expires_at", []any{now}},
		{"otp_challenges", "otp_challenges", `expires_at < $1`, "expires_at", []any{now.Add(-otpRetention)}},
		{"rate_counters", "rate_counters", `expires_at < $1`, "expires_at", []any{now}},
		{"sessions", "citizen_sessions", `last_seen < $1 OR created_at < $2`, "",
			[]any{now.Add(-consent.SessionIdle), now.Add(-consent.SessionAbsolute)}},
		{"outbox", "outbox", `status = 'delivered' AND created_at < $1 AND delivered_at < $1`, "created_at", []any{now.Add(-30 * 24 * time.Hour)}},
	}
	for _, st := range steps {
		// The batch is chosen once, as an array (as a subquery of IN it
		// could run again for each row and delete more than a batch), in
		// its index's order: planned for any arguments, a LIMIT without
		// it reads the table from its start, hoping to meet enough rows.
		order := ""
		if st.order != "" {
			order = " ORDER BY " + st.order
		}
		sql := fmt.Sprintf(`DELETE FROM %[1]s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %[1]s WHERE %[2]s%[3]s LIMIT %[4]d FOR UPDATE SKIP LOCKED))`,
			st.table, st.where, order, s.purgeBatch)
		for {
			start := time.Now()
			tag, err := s.q(ctx).Exec(ctx, sql, st.args...)
			if err != nil {
				return counts, translate(err)
			}
			n := int(tag.RowsAffected())
			if n > 0 {
				counts[st.name] += n
			}
			if n < s.purgeBatch {
				break
			}
			pause := time.NewTimer(time.Since(start))
			select {
			case <-ctx.Done():
				pause.Stop()
				return counts, ctx.Err()
			case <-pause.C:
			}
		}
	}
	return counts, nil
}
