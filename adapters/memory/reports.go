package memory

import (
	"cmp"
	"context"
	"slices"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.ReportStore = (*Store)(nil)

// CreateReport implements consent.ReportStore.
func (s *Store) CreateReport(ctx context.Context, r consent.ErrorReport) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if _, ok := s.reports[r.ID]; ok {
		return consent.ErrReportExists
	}
	put(t, s.reports, r.ID, r)
	return nil
}

// UpdateReport implements consent.ReportStore.
func (s *Store) UpdateReport(ctx context.Context, r consent.ErrorReport) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	old, ok := s.reports[r.ID]
	if !ok {
		return consent.ErrReportNotFound
	}
	old.Status, old.SourceRef, old.Note, old.UpdatedAt = r.Status, r.SourceRef, r.Note, r.UpdatedAt
	put(t, s.reports, r.ID, old)
	return nil
}

// GetReport implements consent.ReportStore.
func (s *Store) GetReport(ctx context.Context, id string) (consent.ErrorReport, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	r, ok := s.reports[id]
	if !ok {
		return consent.ErrorReport{}, consent.ErrReportNotFound
	}
	return r, nil
}

// ListReports implements consent.ReportStore.
func (s *Store) ListReports(ctx context.Context, citizen consent.IIN) ([]consent.ErrorReport, error) {
	return s.reportsWhere(ctx, func(r consent.ErrorReport) bool { return r.Citizen == citizen }, -1, -1), nil
}

// ReceivedReports implements consent.ReportStore.
func (s *Store) ReceivedReports(ctx context.Context, limit int) ([]consent.ErrorReport, error) {
	return s.reportsWhere(ctx, func(r consent.ErrorReport) bool { return r.Status == consent.ReportReceived }, limit, 1), nil
}

// reportsWhere returns up to limit (all when negative) reports that match,
// by creation time (order 1 oldest first, -1 newest first), then by
// tracking number.
func (s *Store) reportsWhere(ctx context.Context, match func(consent.ErrorReport) bool, limit, order int) []consent.ErrorReport {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.ErrorReport
	for _, r := range s.reports {
		if match(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b consent.ErrorReport) int {
		return cmp.Or(order*a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
