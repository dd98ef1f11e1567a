package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.ReportStore = (*Store)(nil)

const reportColumns = `id, citizen, document, description, status, source_ref, note, created_at, updated_at`

func scanReport(row pgx.CollectableRow) (consent.ErrorReport, error) {
	var r consent.ErrorReport
	var citizen string
	err := row.Scan(&r.ID, &citizen, &r.Document, &r.Description, &r.Status, &r.SourceRef, &r.Note, &r.CreatedAt, &r.UpdatedAt)
	r.Citizen = consent.IIN(citizen)
	return r, err
}

// CreateReport implements consent.ReportStore.
func (s *Store) CreateReport(ctx context.Context, r consent.ErrorReport) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO error_reports (`+reportColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, string(r.Citizen), r.Document, r.Description, r.Status, r.SourceRef, r.Note, r.CreatedAt, r.UpdatedAt)
	return translate(err)
}

// UpdateReport implements consent.ReportStore.
func (s *Store) UpdateReport(ctx context.Context, r consent.ErrorReport) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE error_reports SET status = $2, source_ref = $3, note = $4, updated_at = $5 WHERE id = $1`,
		r.ID, r.Status, r.SourceRef, r.Note, r.UpdatedAt)
	if err == nil && tag.RowsAffected() == 0 {
		return consent.ErrReportNotFound
	}
	return translate(err)
}

// GetReport implements consent.ReportStore.
func (s *Store) GetReport(ctx context.Context, id string) (consent.ErrorReport, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+reportColumns+` FROM error_reports WHERE id = $1`, id)
	if err != nil {
		return consent.ErrorReport{}, translate(err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanReport)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.ErrorReport{}, consent.ErrReportNotFound
	}
	return r, translate(err)
}

// ListReports implements consent.ReportStore.
func (s *Store) ListReports(ctx context.Context, citizen consent.IIN) ([]consent.ErrorReport, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+reportColumns+` FROM error_reports WHERE citizen = $1 ORDER BY created_at DESC, id`, string(citizen))
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanReport)
}

// ReceivedReports implements consent.ReportStore.
func (s *Store) ReceivedReports(ctx context.Context, limit int) ([]consent.ErrorReport, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+reportColumns+` FROM error_reports WHERE status = 'received' ORDER BY created_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanReport)
}

// PartnerActivity implements consent.ActivityStore. The history is read
// once, for the months asked (through its time index), and counted by
// partner and month.
func (s *Store) PartnerActivity(ctx context.Context, since, now time.Time) ([]consent.PartnerMonth, error) {
	rows, err := s.q(ctx).Query(ctx, `
		WITH months AS (
			SELECT m, m + interval '1 month' AS e
			FROM generate_series(date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC'), date_trunc('month', $2::timestamptz AT TIME ZONE 'UTC'), interval '1 month') AS m
		), uses AS (
			SELECT a.partner_id, date_trunc('month', a.at AT TIME ZONE 'UTC') AS m,
				count(*) FILTER (WHERE a.kind IN ('fetch', 'delivery', 'view')) AS used,
				count(*) FILTER (WHERE a.kind = 'revocation') AS revoked
			FROM access_events a
			WHERE a.at >= date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
				AND a.at < (date_trunc('month', $2::timestamptz AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
			GROUP BY 1, 2
		)
		SELECT p.id, to_char(months.m, 'YYYY-MM'),
			(SELECT count(*) FROM grants g WHERE g.partner_id = p.id AND g.created_at < months.e AT TIME ZONE 'UTC'
				AND g.expires_at >= months.m AT TIME ZONE 'UTC'
				AND (g.status = 'active' OR g.status_changed_at >= months.m AT TIME ZONE 'UTC')),
			coalesce(u.used, 0), coalesce(u.revoked, 0)
		FROM partners p CROSS JOIN months
		LEFT JOIN uses u ON u.partner_id = p.id AND u.m = months.m
		ORDER BY p.id, months.m`, since, now)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (consent.PartnerMonth, error) {
		var m consent.PartnerMonth
		err := row.Scan(&m.PartnerID, &m.Month, &m.ActiveGrants, &m.Fetches, &m.Revocations)
		return m, err
	})
	return out, translate(err)
}
