package consent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// A consent's code logs nobody in to the settings, even from the browser
// session that asked for it; the log-in's own code does.
func TestLogInTakesOnlyALogInChallenge(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	ch, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "browser",
		IIN: string(aidar), Phone: string(aidarPhone), Documents: []consent.DocumentType{"id_card"}, Days: 30, Lang: "en", ClientIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, 1)[0].text)
	if _, _, err := f.settings.LogIn(ctx, ch.ID, "browser", code); !errors.Is(err, consent.ErrUnknownChallenge) {
		t.Errorf("log-in with a consent's code: %v, want ErrUnknownChallenge", err)
	}
	login, err := f.settings.StartLogin(ctx, "browser", string(aidar), string(aidarPhone), "en", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, iin, err := f.settings.LogIn(ctx, login.ID, "browser", codeIn(t, f.sms.waitSent(t, 2)[1].text)); err != nil || iin != aidar {
		t.Errorf("log-in with its own code: %s, %v", iin, err)
	}
}

// countingRegistry does not answer, and counts how often it was asked.
type countingRegistry struct{ calls int }

func (r *countingRegistry) Citizen(context.Context, consent.IIN) (consent.Citizen, error) {
	r.calls++
	return consent.Citizen{}, consent.ErrRegistryUnavailable
}

// The grants list names holders from the registry; a registry that does
// not answer costs the list one wait per person, not one per grant, and
// the list still comes back.
func TestGrantsListWithTheRegistryDown(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	for i := range 4 {
		g := consent.Grant{ID: fmt.Sprint("g", i), Citizen: aidar, PartnerID: "bank", Holders: []consent.IIN{aidar},
			Documents: []consent.DocumentType{"id_card"}, ChallengeID: fmt.Sprint("c", i), Status: consent.GrantActive,
			CreatedAt: f.clock.now(), ExpiresAt: f.clock.now().Add(time.Hour)}
		c := consent.Challenge{ID: g.ChallengeID, Status: consent.ChallengePending, Version: 1}
		_ = f.store.CreateChallenge(ctx, c)
		c.Status = consent.ChallengeUsed
		if err := f.store.ApproveChallenge(ctx, c, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	down := &countingRegistry{}
	settings := must(consent.NewSettings(consent.SettingsConfig{Store: f.store, Codes: f.consents, Registry: down,
		Outbox: f.outbox, Access: f.store, Reports: f.reports, Prefs: f.store, Documents: f.library, Terms: "2026-11-01", Key: []byte("0123456789abcdef0123456789abcdef"), Now: f.clock.now}))
	views, err := settings.Grants(ctx, aidar)
	if err != nil || len(views) != 4 {
		t.Fatalf("grants with the registry down: %d, %v", len(views), err)
	}
	if down.calls != 1 {
		t.Errorf("the registry was asked %d times for one person", down.calls)
	}
	if h := views[0].HolderNames; len(h) != 1 || h[0].Relation != consent.RelationSelf {
		t.Errorf("holders without names: %+v", h)
	}
}

// The history reads in pages below a cursor, none longer than asked: the
// first page shows a grant past its end the upkeep has not marked yet in
// place of a stored entry; the pages after it read the history alone, and
// the last one has no next cursor.
func TestHistoryPages(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 1}))
	for range 4 {
		f.clock.advance(time.Minute)
		must(f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""))
	}
	f.clock.advance(48 * time.Hour) // the grant has ended; the upkeep has not run
	first, next, err := f.settings.HistoryPage(ctx, aidar, consent.HistoryCursor{}, 3)
	if err != nil || len(first) != 3 || first[0].Kind != consent.AccessExpiry || first[1].Kind != consent.AccessFetch || next.IsZero() {
		t.Fatalf("the first page: %+v next %v %v", first, next, err)
	}
	second, after, err := f.settings.HistoryPage(ctx, aidar, next, 3)
	if err != nil || len(second) != 3 || second[1].Kind != consent.AccessFetch || second[2].Kind != consent.AccessConsent || after.IsZero() {
		t.Fatalf("the second page: %+v next %v %v", second, after, err)
	}
	if last, end, err := f.settings.HistoryPage(ctx, aidar, after, 3); err != nil || len(last) != 0 || !end.IsZero() {
		t.Fatalf("the page after the last entry: %+v next %v %v", last, end, err)
	}
	if whole := must(f.settings.History(ctx, aidar, 3)); len(whole) != 3 || whole[0].Kind != consent.AccessExpiry {
		t.Errorf("History keeps to its limit: %+v", whole)
	}
}
