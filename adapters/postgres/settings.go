package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.SettingsStore = (*Store)(nil)

// CreateSession implements consent.SettingsStore.
func (s *Store) CreateSession(ctx context.Context, sess consent.CitizenSession) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO citizen_sessions (id, citizen, created_at, last_seen) VALUES ($1, $2, $3, $4)`,
		sess.ID, string(sess.Citizen), sess.CreatedAt, sess.LastSeen)
	return translate(err)
}

// GetSession implements consent.SettingsStore.
func (s *Store) GetSession(ctx context.Context, id string) (consent.CitizenSession, error) {
	sess := consent.CitizenSession{ID: id}
	var citizen string
	err := s.q(ctx).QueryRow(ctx, `SELECT citizen, created_at, last_seen FROM citizen_sessions WHERE id = $1`, id).
		Scan(&citizen, &sess.CreatedAt, &sess.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.CitizenSession{}, consent.ErrNoSession
	}
	sess.Citizen = consent.IIN(citizen)
	return sess, translate(err)
}

// TouchSession implements consent.SettingsStore.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.q(ctx).Exec(ctx, `UPDATE citizen_sessions SET last_seen = $2 WHERE id = $1`, id, at)
	return translate(err)
}

// DeleteSession implements consent.SettingsStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.q(ctx).Exec(ctx, `DELETE FROM citizen_sessions WHERE id = $1`, id)
	return translate(err)
}

// LastUsed implements consent.SettingsStore.
func (s *Store) LastUsed(ctx context.Context, citizen consent.IIN) (map[string]time.Time, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT grant_id, max(at) FROM access_events WHERE citizen = $1 AND kind IN ('fetch', 'delivery', 'view') GROUP BY grant_id`, string(citizen))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, translate(err)
		}
		out[id] = at
	}
	return out, translate(rows.Err())
}

// RevokeGrant implements consent.SettingsStore.
func (s *Store) RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []consent.OutboxEntry) (bool, error) {
	var revoked bool
	err := s.inTx(ctx, func(q querier) error {
		ended, err := queryGrants(ctx, q, `UPDATE grants SET status = 'revoked', status_changed_at = $2, status_by = $3, status_reason = $4
			WHERE id = $1 AND status = 'active' RETURNING `+grantColumns, id, at, by, reason)
		if err != nil {
			return err
		}
		if revoked = len(ended) == 1; !revoked {
			return nil
		}
		if err := insertAccess(ctx, q, []consent.AccessEvent{consent.GrantEvent(ended[0], consent.AccessRevocation, at)}); err != nil {
			return err
		}
		return insertOutbox(ctx, q, outbox)
	})
	return revoked, err
}

// AckRevocation implements consent.DeliveryStore.
func (s *Store) AckRevocation(ctx context.Context, grantID string, at time.Time) error {
	_, err := s.q(ctx).Exec(ctx, `UPDATE grants SET revocation_acked_at = $2 WHERE id = $1 AND revocation_acked_at IS NULL`, grantID, at)
	return translate(err)
}

// Erase implements consent.SettingsStore.
func (s *Store) Erase(ctx context.Context, citizen consent.IIN, pseudonym string, at time.Time) (map[string]int, error) {
	counts := map[string]int{}
	err := s.inTx(ctx, func(q querier) error {
		for _, step := range []struct{ name, sql string }{
			{"sessions", `DELETE FROM citizen_sessions WHERE citizen = $1`},
			{"otp_records", `DELETE FROM otp_challenges WHERE citizen = $1`},
			{"tokens", `DELETE FROM oauth_records WHERE grant_id IN (SELECT id FROM grants WHERE citizen = $1)`},
			{"grants_pseudonymised", `UPDATE grants SET citizen = CASE WHEN citizen = $1 THEN $2 ELSE citizen END,
				holders = array_replace(holders, $1, $2) WHERE citizen = $1 OR $1 = ANY(holders)`},
			{"history_pseudonymised", `UPDATE access_events SET citizen = CASE WHEN citizen = $1 THEN $2 ELSE citizen END,
				holder = CASE WHEN holder = $1 THEN $2 ELSE holder END,
				detail = CASE WHEN detail->'holders' ? $1 THEN jsonb_set(detail, '{holders}',
					(SELECT jsonb_agg(CASE WHEN h = $1 THEN $2 ELSE h END) FROM jsonb_array_elements_text(detail->'holders') h)) ELSE detail END
				WHERE citizen = $1 OR holder = $1 OR detail->'holders' ? $1`},
			{"reports_pseudonymised", `UPDATE error_reports SET citizen = $2 WHERE citizen = $1`},
			{"shares", `DELETE FROM shares WHERE citizen = $1 OR holder = $1`},
			{"notifications", `DELETE FROM outbox WHERE citizen = $1`},
			{"notification_prefs", `DELETE FROM notification_prefs WHERE citizen = $1`},
		} {
			args := []any{string(citizen)}
			if strings.HasSuffix(step.name, "_pseudonymised") {
				args = append(args, pseudonym)
			}
			tag, err := q.Exec(ctx, step.sql, args...)
			if err != nil {
				return translate(err)
			}
			counts[step.name] = int(tag.RowsAffected())
		}
		return insertAccess(ctx, q, []consent.AccessEvent{{At: at, Citizen: consent.IIN(pseudonym), Holder: consent.IIN(pseudonym), Kind: consent.AccessErasure}})
	})
	return counts, err
}

// ConfirmDeletion implements consent.DeletionStore.
func (s *Store) ConfirmDeletion(ctx context.Context, id string, d consent.Deletion) error {
	detail, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		ended, err := queryGrants(ctx, q, `UPDATE grants SET deletion_at = $2, deletion_detail = $3
			WHERE id = $1 AND status <> 'active' AND deletion_at IS NULL RETURNING `+grantColumns, id, d.At, detail)
		if err != nil {
			return err
		}
		if len(ended) == 0 {
			return consent.ErrDeletionConfirmed
		}
		g := ended[0]
		return insertAccess(ctx, q, []consent.AccessEvent{{At: d.At, Citizen: g.Citizen, Holder: g.Citizen, PartnerID: g.PartnerID,
			GrantID: g.ID, Kind: consent.AccessDeletion, By: g.PartnerID}})
	})
}

// OverdueDeletions implements consent.DeletionStore.
func (s *Store) OverdueDeletions(ctx context.Context, before time.Time, limit int) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE status <> 'active' AND deletion_at IS NULL AND status_changed_at < $1 ORDER BY status_changed_at LIMIT $2`, before, limit)
}

// GuardianGrants implements consent.MajorityStore.
func (s *Store) GuardianGrants(ctx context.Context) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE status = 'active' AND holders <> ARRAY[citizen] AND cardinality(holders) > 0`)
}

// NarrowGrant implements consent.MajorityStore.
func (s *Store) NarrowGrant(ctx context.Context, id string, holders []consent.IIN, by string, at time.Time, outbox []consent.OutboxEntry) error {
	return s.inTx(ctx, func(q querier) error {
		narrowed, err := queryGrants(ctx, q, `UPDATE grants SET holders = $2 WHERE id = $1 AND status = 'active' RETURNING `+grantColumns,
			id, iinStrings(holders))
		if err != nil {
			return err
		}
		if len(narrowed) == 0 {
			return consent.ErrGrantGone
		}
		e := consent.GrantEvent(narrowed[0], consent.AccessNarrowing, at)
		e.By = by
		if err := insertAccess(ctx, q, []consent.AccessEvent{e}); err != nil {
			return err
		}
		return insertOutbox(ctx, q, outbox)
	})
}

var _ consent.PrefsStore = (*Store)(nil)

// NotificationPrefs implements consent.PrefsStore.
func (s *Store) NotificationPrefs(ctx context.Context, citizen consent.IIN) (consent.NotificationPrefs, error) {
	var p consent.NotificationPrefs
	err := s.q(ctx).QueryRow(ctx, `SELECT channels, lang FROM notification_prefs WHERE citizen = $1`, string(citizen)).Scan(&p.Channels, &p.Lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.DefaultNotificationPrefs(), nil
	}
	return p, translate(err)
}

// SetNotificationPrefs implements consent.PrefsStore.
func (s *Store) SetNotificationPrefs(ctx context.Context, citizen consent.IIN, p consent.NotificationPrefs, at time.Time) error {
	channels := p.Channels
	if channels == nil {
		channels = []string{}
	}
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO notification_prefs (citizen, channels, lang, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (citizen) DO UPDATE SET channels = EXCLUDED.channels, lang = EXCLUDED.lang, updated_at = EXCLUDED.updated_at`,
		string(citizen), channels, p.Lang, at)
	return translate(err)
}
