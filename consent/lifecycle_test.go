package consent_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// consentTo has citizen iin (with phone) consent to partner's request for
// an id card for days, and returns the grant.
func consentTo(t *testing.T, f *fixture, partner string, days int) consent.Grant {
	t.Helper()
	ctx := context.Background()
	before := f.sms.count()
	c, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: partner, Session: "browser",
		IIN: string(aidar), Phone: string(aidarPhone), Documents: []consent.DocumentType{"id_card"}, Days: days, Lang: "en", ClientIP: "10.1.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
	g, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code,
		Documents: c.Documents, Days: c.Days, Purpose: "a loan"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func pushPartner(f *fixture, id string) {
	f.partners[id] = consent.PartnerInfo{ID: id, Delivery: "push", WebhookURL: "https://" + id + ".example/hook"}
}

func tokenOf(g consent.Grant) consent.Token {
	scopes := []string{"openid"}
	for _, d := range g.Documents {
		scopes = append(scopes, d.Scope())
	}
	return consent.Token{ClientID: g.PartnerID, Citizen: g.Citizen, GrantID: g.ID, Scopes: scopes}
}

// A grant is active from the code until it is revoked or expires; both are
// final, end the partner's access at once, and tell a partner with a
// webhook.
func TestGrantLifecycle(t *testing.T) {
	ctx := context.Background()
	t.Run("revoked by the citizen", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		pushPartner(f, "pushbank")
		g := consentTo(t, f, "pushbank", 30)
		if g.Status != consent.GrantActive || !g.ActiveAt(f.clock.now()) || g.Purpose != "a loan" || g.TermsVersion != "2026-11-01" {
			t.Fatalf("new grant: %+v", g)
		}
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); err != nil {
			t.Fatalf("fetch under an active grant: %v", err)
		}
		if _, err := f.settings.Revoke(ctx, aigerim, consent.Revocation{GrantID: g.ID}, "citizen"); !errors.Is(err, consent.ErrGrantNotFound) {
			t.Errorf("another citizen revoking: %v", err)
		}
		if _, err := f.settings.Revoke(ctx, aidar, consent.Revocation{}, "citizen"); !errors.Is(err, consent.ErrNothingToRevoke) {
			t.Errorf("an empty revocation: %v", err)
		}
		if n, err := f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"); n != 1 || err != nil {
			t.Fatalf("revoke: %d %v", n, err)
		}
		if n, err := f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"); n != 0 || err != nil {
			t.Errorf("revoking twice: %d %v", n, err)
		}
		got, _ := f.consents.Grant(ctx, g.ID)
		if got.Status != consent.GrantRevoked || got.StatusBy != "citizen" || got.ActiveAt(f.clock.now()) {
			t.Errorf("revoked grant: %+v", got)
		}
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); !errors.Is(err, consent.ErrGrantEnded) || consent.KindOf(err) != consent.KindUnauthorized {
			t.Errorf("fetch after revocation: %v", err)
		}
		f.outbox.DeliverDue(ctx)
		if kinds := postedKinds(f); !strings.Contains(kinds, "secevent") {
			t.Errorf("the partner was not told: %s", kinds)
		}
	})
	t.Run("expired by the clock and marked by the upkeep", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		pushPartner(f, "pushbank")
		g := consentTo(t, f, "pushbank", 1)
		f.clock.advance(24*time.Hour - time.Second)
		if !g.ActiveAt(f.clock.now()) {
			t.Fatal("a one-day grant ended early")
		}
		f.clock.advance(time.Second)
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); !errors.Is(err, consent.ErrGrantEnded) {
			t.Errorf("fetch at expiry, before the upkeep: %v", err)
		}
		if err := f.upkeep.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantExpired {
			t.Errorf("after the upkeep: %s", got.Status)
		}
		if err := f.upkeep.Once(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(time.Minute)
		f.outbox.DeliverDue(ctx)
		if n := strings.Count(postedKinds(f), "secevent"); n != 1 {
			t.Errorf("the partner was told of the expiry %d times, want once", n)
		}
	})
	t.Run("a backlog of expiries worked off in one round, a batch at a time", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		cfg := f.upkeepConfig()
		cfg.ExpireBatch = 2
		upkeep := must(consent.NewUpkeep(cfg))
		var grants []consent.Grant
		for _, p := range []string{"bank1", "bank2", "bank3"} {
			pushPartner(f, p)
			grants = append(grants, consentTo(t, f, p, 1))
		}
		f.clock.advance(24 * time.Hour)
		if err := upkeep.Once(ctx); err != nil {
			t.Fatal(err)
		}
		for _, g := range grants {
			if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantExpired {
				t.Errorf("%s after one round: %s", g.PartnerID, got.Status)
			}
		}
		f.clock.advance(time.Minute)
		f.outbox.DeliverDue(ctx)
		if n := strings.Count(postedKinds(f), "secevent"); n != 3 {
			t.Errorf("partners told of %d expiries, want 3", n)
		}
	})
	t.Run("an expiry waits for its partner's notification", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		pushPartner(f, "pushbank")
		g := consentTo(t, f, "pushbank", 1)
		// The partner cannot be read for a round: the notification
		// cannot be made, so the grant is not marked expired either
		// (access ended at its expiry all the same, by the clock).
		partners := &flakyPartners{book: f.partners}
		partners.down.Store(true)
		cfg := f.upkeepConfig()
		cfg.Outbox = f.newOutbox(partners)
		upkeep := must(consent.NewUpkeep(cfg))
		f.clock.advance(24 * time.Hour)
		if err := upkeep.Once(ctx); !errors.Is(err, errPartnersDown) {
			t.Fatalf("a round with the partners unreadable: %v", err)
		}
		if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantActive {
			t.Errorf("marked %s with its partner's notification not made", got.Status)
		}
		partners.down.Store(false)
		if err := upkeep.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantExpired {
			t.Errorf("the next round: %s", got.Status)
		}
		f.clock.advance(time.Minute)
		f.outbox.DeliverDue(ctx)
		if n := strings.Count(postedKinds(f), "secevent"); n != 1 {
			t.Errorf("the partner was told of the expiry %d times, want once", n)
		}
	})
	t.Run("superseded by a consent under new terms", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		old := consentTo(t, f, "bank", 30)
		newTerms := must(consent.NewService(consent.ServiceConfig{Store: f.store, Registry: f.registry, SMS: f.sms,
			Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))), Key: []byte("0123456789abcdef0123456789abcdef"), OTP: consent.DefaultOTPConfig,
			Terms: consent.Terms{Version: "2026-12-01", Text: []byte("the terms of 2026-12-01")}, Outbox: f.outbox, Now: f.clock.now, Log: f.log}))
		f.consents = newTerms
		fresh := consentTo(t, f, "bank", 30)
		if got, _ := f.consents.Grant(ctx, old.ID); got.Status == consent.GrantActive {
			t.Errorf("the grant under old terms is still %s", got.Status)
		}
		if got, _ := f.consents.Grant(ctx, fresh.ID); got.Status != consent.GrantActive {
			t.Errorf("the new grant is %s", got.Status)
		}
	})
}

var errPartnersDown = errors.New("the partners cannot be read")

// flakyPartners is a partner book that can be made unreadable.
type flakyPartners struct {
	book partnerBook
	down atomic.Bool
}

func (p *flakyPartners) PartnerInfo(ctx context.Context, id string) (consent.PartnerInfo, error) {
	if p.down.Load() {
		return consent.PartnerInfo{}, errPartnersDown
	}
	return p.book.PartnerInfo(ctx, id)
}

// postedKinds lists what the partners' webhooks got, by content type.
func postedKinds(f *fixture) string {
	var out []string
	for _, p := range f.webhook.sent() {
		out = append(out, p.contentType)
	}
	return strings.Join(out, ",")
}

// Each part refuses to be built without what it consumes, so a wiring
// mistake fails at start, naming what is missing.
func TestPartsCheckWhatTheyAreBuiltFrom(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	for name, build := range map[string]func() error{
		"library without a signer": func() error {
			_, err := consent.NewLibrary(consent.LibraryConfig{Issuer: "https://k.test", DocumentTTL: time.Minute, Registry: f.registry,
				Source: f.registry, Pairwise: func(a, b string) string { return a + b }, Now: f.clock.now})
			return err
		},
		"outbox without a lease": func() error {
			_, err := consent.NewOutbox(consent.OutboxConfig{Store: f.store, Access: f.store, Grants: f.store, Partners: f.partners, Receipts: f.receipts, Notices: f.notices,
				Styles: map[string]consent.DeliveryStyle{"pull": pullStyle{}}, Library: f.library, Webhook: f.webhook,
				MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, Now: f.clock.now, Log: f.log})
			return err
		},
		"service with a total budget below the per-address one": func() error {
			otp := consent.DefaultOTPConfig
			otp.PhoneTotalLimit = otp.PhoneLimit - 1
			_, err := consent.NewService(consent.ServiceConfig{Store: f.store, Registry: f.registry, SMS: f.sms, Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))),
				Key: []byte("0123456789abcdef"), OTP: otp, Terms: consent.Terms{Version: "t", Text: []byte("t")}, Outbox: f.outbox, Now: f.clock.now, Log: f.log})
			return err
		},
		"settings without a key": func() error {
			_, err := consent.NewSettings(consent.SettingsConfig{Store: f.store, Codes: f.consents, Registry: f.registry,
				Outbox: f.outbox, Access: f.store, Reports: f.reports, Prefs: f.store, Documents: f.library, Terms: "2026-11-01", Now: f.clock.now})
			return err
		},
		"shares without limits": func() error {
			_, err := consent.NewShares(consent.SharesConfig{Store: f.store, Library: f.library, Access: f.store,
				Key: []byte("0123456789abcdef"), Issuer: "https://k.test", Wrong: consent.VerifyLimits{PerVerifier: 1, All: 1}, Now: f.clock.now})
			return err
		},
	} {
		if err := build(); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}
