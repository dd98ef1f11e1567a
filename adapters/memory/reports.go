package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

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

// PartnerActivity implements consent.ActivityStore.
func (s *Store) PartnerActivity(ctx context.Context, since, now time.Time) ([]consent.PartnerMonth, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.PartnerMonth
	for _, id := range slices.Sorted(maps.Keys(s.partners)) {
		y, mo, _ := since.UTC().Date()
		for m := time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC); !m.After(now.UTC()); m = m.AddDate(0, 1, 0) {
			e := m.AddDate(0, 1, 0)
			pm := consent.PartnerMonth{PartnerID: id, Month: m.Format("2006-01")}
			for _, g := range s.grants {
				if g.PartnerID == id && g.CreatedAt.Before(e) && !g.ExpiresAt.Before(m) && (g.Status == consent.GrantActive || !g.StatusChangedAt.Before(m)) {
					pm.ActiveGrants++
				}
			}
			for _, a := range s.access {
				if a.PartnerID != id || a.At.Before(m) || !a.At.Before(e) {
					continue
				}
				switch {
				case consent.IsUse(a.Kind):
					pm.Fetches++
				case a.Kind == consent.AccessRevocation:
					pm.Revocations++
				}
			}
			out = append(out, pm)
		}
	}
	return out, nil
}
