package consent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// A partner reads and ends only the grants it holds; ending one ends its
// access at once, and the citizen's history says the partner ended it.
func TestPartnerGrants(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	pg := must(consent.NewPartnerGrants(consent.PartnerGrantsConfig{Store: f.store, Receipts: f.receipts, Deletions: f.store, Issuer: "https://kelisim.test", Pairwise: func(a, b string) string { return a + "/" + b }, Now: f.clock.now}))
	g := consentTo(t, f, "bank", 30)
	h, err := pg.Get(ctx, "bank", g.ID)
	if err != nil || h.Status != consent.GrantActive || len(h.Holders) != 1 || h.Holders[0].Subject != "bank/"+string(aidar) ||
		h.Holders[0].Relation != consent.RelationSelf || h.Purpose != "a loan" || h.EndedAt != nil {
		t.Fatalf("the partner's grant: %+v %v", h, err)
	}
	for _, tt := range []struct{ partner, id string }{{"other-bank", g.ID}, {"bank", "no-such-grant"}} {
		if _, err := pg.Get(ctx, tt.partner, tt.id); !errors.Is(err, consent.ErrNotYourGrant) {
			t.Errorf("%s reading %s: %v", tt.partner, tt.id, err)
		}
		if _, err := pg.End(ctx, tt.partner, tt.id); !errors.Is(err, consent.ErrNotYourGrant) {
			t.Errorf("%s ending %s: %v", tt.partner, tt.id, err)
		}
	}
	if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantActive {
		t.Fatalf("another partner's attempt ended the grant: %s", got.Status)
	}
	f.clock.advance(time.Minute)
	ended, err := pg.End(ctx, "bank", g.ID)
	if err != nil || ended.Status != consent.GrantRevoked || ended.EndedBy != consent.EndedByPartner || ended.EndedAt == nil {
		t.Fatalf("end: %+v %v", ended, err)
	}
	if _, err := pg.End(ctx, "bank", g.ID); err != nil {
		t.Errorf("ending twice: %v", err)
	}
	if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); !errors.Is(err, consent.ErrGrantEnded) {
		t.Errorf("a fetch after the partner ended the grant: %v", err)
	}
	events, _ := f.settings.History(ctx, aidar, 10)
	if len(events) == 0 || events[0].Kind != "revocation" || events[0].By != consent.EndedByPartner {
		t.Errorf("the citizen's history: %+v", events)
	}
	f.clock.advance(31 * 24 * time.Hour)
	g2 := consentTo(t, f, "bank", 1)
	f.clock.advance(25 * time.Hour)
	if h, _ := pg.Get(ctx, "bank", g2.ID); h.Status != consent.GrantExpired {
		t.Errorf("a grant past its expiry reads %s", h.Status)
	}
}
