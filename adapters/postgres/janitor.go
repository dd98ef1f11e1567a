package postgres

import (
	"context"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.Janitor = (*Store)(nil)

// ExpireGrants implements consent.Janitor.
func (s *Store) ExpireGrants(ctx context.Context, now time.Time) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `UPDATE grants SET status = 'expired', status_changed_at = expires_at, status_by = 'system',
		status_reason = 'expired' WHERE status = 'active' AND expires_at <= $1 RETURNING `+grantColumns, now)
}

// SupersedeGrants implements consent.Janitor.
func (s *Store) SupersedeGrants(ctx context.Context, citizen consent.IIN, partnerID, terms string, at time.Time) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `UPDATE grants SET status = 'revoked', status_changed_at = $4, status_by = 'system',
		status_reason = 'superseded by a consent under terms ' || $3
		WHERE citizen = $1 AND partner_id = $2 AND status = 'active' AND terms_version <> $3 RETURNING `+grantColumns,
		string(citizen), partnerID, terms, at)
}

// Purge implements consent.Janitor. Refresh tokens are kept until they
// expire even when inactive, so a reused one is still recognised.
func (s *Store) Purge(ctx context.Context, now time.Time, otpRetention time.Duration) (map[string]int, error) {
	counts := map[string]int{}
	steps := []struct {
		name, sql string
		args      []any
	}{
		{"oauth_records", `DELETE FROM oauth_records WHERE expires_at < $1`, []any{now}},
		{"otp_challenges", `DELETE FROM otp_challenges WHERE expires_at < $1`, []any{now.Add(-otpRetention)}},
		{"rate_events", `DELETE FROM rate_events WHERE at < $1`, []any{now.Add(-24 * time.Hour)}},
		{"sessions", `DELETE FROM citizen_sessions WHERE last_seen < $1 OR created_at < $2`,
			[]any{now.Add(-consent.SessionIdle), now.Add(-consent.SessionAbsolute)}},
		{"outbox", `DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < $1`, []any{now.Add(-30 * 24 * time.Hour)}},
	}
	for _, st := range steps {
		tag, err := s.q(ctx).Exec(ctx, st.sql, st.args...)
		if err != nil {
			return counts, translate(err)
		}
		if n := int(tag.RowsAffected()); n > 0 {
			counts[st.name] = n
		}
	}
	return counts, nil
}
