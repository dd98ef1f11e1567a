package postgres

import (
	"context"
	"errors"

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
