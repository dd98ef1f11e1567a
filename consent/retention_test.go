package consent_test

import (
	"context"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// The upkeep drops the history's months that ended HistoryRetention ago,
// whole, and keeps the month that ends inside the retention, all of it.
func TestHistoryRetention(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	cfg := f.upkeepConfig()
	cfg.HistoryRetention = 5 * 365 * 24 * time.Hour
	upkeep := must(consent.NewUpkeep(cfg))
	const citizen consent.IIN = "850315300128"
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	for _, s := range []string{"2026-10-31T23:59:59Z", "2026-11-01T00:00:00Z", "2026-11-23T10:00:00Z"} {
		if err := f.store.RecordAccess(ctx, consent.AccessEvent{At: at(s), Citizen: citizen, Holder: citizen, PartnerID: "p1",
			GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() []time.Time {
		events, _, err := f.settings.HistoryPage(ctx, citizen, consent.HistoryCursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for _, e := range events {
			out = append(out, e.At)
		}
		return out
	}
	// Five years (of 365 days) after 23 November 2026 is 22 November 2031:
	// October 2026 ended before it; November 2026 did not.
	f.clock.advance(5*365*24*time.Hour + 24*time.Hour)
	if err := upkeep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kept(); len(got) != 2 || !got[1].Equal(at("2026-11-01T00:00:00Z")) {
		t.Errorf("five years on: kept %v", got)
	}
	f.clock.advance(10 * 24 * time.Hour) // November 2026 ended five years ago
	if err := upkeep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kept(); len(got) != 0 {
		t.Errorf("ten days on: kept %v", got)
	}
}
