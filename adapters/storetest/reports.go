package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func reportTests() []namedTest {
	return []namedTest{
		{"ReportCreateGetUpdate", testReportCreateGetUpdate},
		{"ReportListsInOrder", testReportListsInOrder},
		{"PartnerActivityByMonth", testPartnerActivity},
	}
}

func report(id string, citizen consent.IIN, at time.Time) consent.ErrorReport {
	return consent.ErrorReport{ID: id, Citizen: citizen, Document: "id_card", Description: "The photo is of somebody else.",
		Status: consent.ReportReceived, CreatedAt: at, UpdatedAt: at}
}

func testReportCreateGetUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	r := report("KL-0000000001", "900101300001", t0)
	if err := s.CreateReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetReport(ctx, r.ID)
	if err != nil || got.Citizen != r.Citizen || got.Document != r.Document || got.Description != r.Description ||
		got.Status != consent.ReportReceived || !got.CreatedAt.Equal(t0) {
		t.Fatalf("got %+v, %v; want %+v", got, err, r)
	}
	if _, err := s.GetReport(ctx, "KL-NOBODY"); !errors.Is(err, consent.ErrReportNotFound) {
		t.Errorf("unknown report: %v, want ErrReportNotFound", err)
	}

	// A second report under a taken tracking number is refused; the first stands.
	other := report(r.ID, "900101300002", t0.Add(time.Minute))
	if err := s.CreateReport(ctx, other); !errors.Is(err, consent.ErrReportExists) {
		t.Errorf("a taken tracking number: %v, want ErrReportExists", err)
	}
	if got, err := s.GetReport(ctx, r.ID); err != nil || got.Citizen != r.Citizen {
		t.Errorf("the first report was overwritten by %s's", got.Citizen)
	}

	// An update changes where the report stands, never what was reported.
	next := r
	next.Status, next.SourceRef, next.Note, next.UpdatedAt = consent.ReportResolved, "SRC-7", "Photo replaced.", t0.Add(time.Hour)
	next.Description, next.Citizen = "rewritten", "900101300002"
	if err := s.UpdateReport(ctx, next); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetReport(ctx, r.ID)
	check(t, err)
	if got.Status != consent.ReportResolved || got.SourceRef != "SRC-7" || got.Note != "Photo replaced." || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after the update: %+v", got)
	}
	if got.Description != r.Description || got.Citizen != r.Citizen || !got.CreatedAt.Equal(t0) {
		t.Errorf("the update rewrote what was reported: %+v", got)
	}
	unknown := report("KL-NOBODY", r.Citizen, t0)
	if err := s.UpdateReport(ctx, unknown); !errors.Is(err, consent.ErrReportNotFound) {
		t.Errorf("updating an unknown report: %v, want ErrReportNotFound", err)
	}
}

// A citizen's reports are listed newest first, and the reports waiting to
// be forwarded oldest first; reports made at the same instant are ordered
// by tracking number, so both stores page through them alike.
func testReportListsInOrder(t *testing.T, s Store) {
	ctx := context.Background()
	const citizen, neighbour consent.IIN = "900101300001", "900101300002"
	for _, r := range []consent.ErrorReport{
		report("KL-C", citizen, t0.Add(time.Minute)),
		report("KL-A", citizen, t0),
		report("KL-D", citizen, t0.Add(time.Minute)),
		report("KL-B", citizen, t0),
		report("KL-N", neighbour, t0.Add(2*time.Minute)),
	} {
		if err := s.CreateReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	forwarded := report("KL-B", citizen, t0)
	forwarded.Status, forwarded.UpdatedAt = consent.ReportForwarded, t0.Add(time.Hour)
	if err := s.UpdateReport(ctx, forwarded); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []consent.ErrorReport, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	if got, want := ids(s.ListReports(ctx, citizen)), []string{"KL-C", "KL-D", "KL-A", "KL-B"}; !slices.Equal(got, want) {
		t.Errorf("the citizen's reports: %v, want %v", got, want)
	}
	if got := ids(s.ListReports(ctx, "900101300003")); len(got) != 0 {
		t.Errorf("a citizen without reports: %v", got)
	}
	if got, want := ids(s.ReceivedReports(ctx, 10)), []string{"KL-A", "KL-C", "KL-D", "KL-N"}; !slices.Equal(got, want) {
		t.Errorf("waiting to be forwarded: %v, want %v", got, want)
	}
	if got, want := ids(s.ReceivedReports(ctx, 2)), []string{"KL-A", "KL-C"}; !slices.Equal(got, want) {
		t.Errorf("the first two waiting: %v, want %v", got, want)
	}
}

// The register's counts: per partner and calendar month (UTC), the grants
// active in it, its documents used (fetched, delivered, viewed) and its
// grants revoked; months with nothing count 0.
func testPartnerActivity(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"p1", "p2"} {
		check(t, s.CreatePartner(ctx, partner(id, t0), audit(id, "partner.create")))
	}
	c := challenge("c1")
	check(t, s.CreateChallenge(ctx, c))
	c.Status = consent.ChallengeUsed
	check(t, s.ApproveChallenge(ctx, c, consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents,
		CreatedAt: t0, ExpiresAt: t0.AddDate(0, 2, 0), Status: consent.GrantActive, TermsVersion: "v1", ChallengeID: c.ID}, nil))
	month := time.Date(t0.Year(), t0.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []struct {
		at      time.Time
		partner string
		kind    string
	}{
		{month, "p1", consent.AccessFetch}, {t0, "p1", consent.AccessFetch}, {t0, "p1", consent.AccessView},
		{month.AddDate(0, 1, 0).Add(-time.Second), "p1", consent.AccessRevocation},
		{month.Add(-time.Second), "p1", consent.AccessFetch}, // the month before
		{t0, "p2", consent.AccessRevocation},
	} {
		check(t, s.RecordAccess(ctx, consent.AccessEvent{At: e.at, Citizen: "850315300128", Holder: "850315300128", PartnerID: e.partner,
			GrantID: fmt.Sprint("g", i), Document: "id_card", Kind: e.kind}))
	}
	got, err := s.PartnerActivity(ctx, month.AddDate(0, -1, 0), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []consent.PartnerMonth{
		{PartnerID: "p1", Month: month.AddDate(0, -1, 0).Format("2006-01"), Fetches: 1},
		{PartnerID: "p1", Month: month.Format("2006-01"), ActiveGrants: 1, Fetches: 3, Revocations: 1},
		{PartnerID: "p2", Month: month.AddDate(0, -1, 0).Format("2006-01")},
		{PartnerID: "p2", Month: month.Format("2006-01"), Revocations: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("activity %+v, want %+v", got, want)
	}
}
