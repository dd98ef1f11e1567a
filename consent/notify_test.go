package consent_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
)

// sendDue runs the outbox once and returns the notices it sent.
func sendDue(t *testing.T, f *fixture) []consent.Notice {
	t.Helper()
	before := len(f.notes.all())
	f.outbox.DeliverDue(context.Background())
	return f.notes.all()[before:]
}

// checkClean fails when a notice carries a code, an IIN or a document's
// content.
func checkClean(t *testing.T, notes []consent.Notice) {
	t.Helper()
	for _, n := range notes {
		for _, secret := range []string{string(aidar), string(aigerim), string(child), "Aidar Serikov"} {
			if strings.Contains(n.Text, secret) || strings.Contains(n.ID, secret) || strings.Contains(n.Subject, secret) {
				t.Errorf("notice %s carries %q: %s", n.ID, secret, n.Text)
			}
		}
		if sixDigits.MatchString(n.Text) {
			t.Errorf("notice %s carries a code-like number: %s", n.ID, n.Text)
		}
	}
}

func TestNotifications(t *testing.T) {
	ctx := context.Background()
	t.Run("a grant, in the consent's language, with the receipt's link", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
		g := consentTo(t, f, "bank", 30) // the consent page was in English
		notes := sendDue(t, f)
		if len(notes) != 1 {
			t.Fatalf("notices after a consent: %+v", notes)
		}
		n := notes[0]
		if n.Channel != consent.ChannelSMS || n.Phone != aidarPhone || n.Lang != "en" || n.Kind != consent.NoticeGranted {
			t.Errorf("notice: %+v", n)
		}
		until := g.ExpiresAt.In(time.FixedZone("", 5*3600)).Format("02.01.2006")
		for _, want := range []string{"Test Bank", "Identity card", until, "https://kelisim.test/my/"} {
			if !strings.Contains(n.Text, want) {
				t.Errorf("notice %q lacks %q", n.Text, want)
			}
		}
		checkClean(t, notes)
		if again := sendDue(t, f); len(again) != 0 {
			t.Errorf("told twice: %+v", again)
		}
	})

	t.Run("uses are told at most once an hour per grant", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
		g := consentTo(t, f, "bank", 30)
		sendDue(t, f)
		f.clock.advance(10 * time.Minute) // 10:10
		for range 5 {
			if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); err != nil {
				t.Fatal(err)
			}
			f.clock.advance(5 * time.Minute)
		} // 10:35
		if n := sendDue(t, f); len(n) != 0 {
			t.Fatalf("told within the hour: %+v", n)
		}
		f.clock.advance(25 * time.Minute) // 11:00, before the batch settles
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); err != nil {
			t.Fatal(err)
		}
		if n := sendDue(t, f); len(n) != 0 {
			t.Fatalf("told before the hour settled: %+v", n)
		}
		f.clock.advance(consent.NoticeSettle)
		notes := sendDue(t, f)
		if len(notes) != 1 || notes[0].Kind != consent.NoticeUsed || !strings.Contains(notes[0].Text, "5 times") ||
			!strings.Contains(notes[0].Text, "15:00") || !strings.Contains(notes[0].Text, "16:00") {
			t.Fatalf("the hour's notice: %+v", notes)
		}
		checkClean(t, notes)
		f.clock.advance(time.Hour)
		notes = sendDue(t, f)
		if len(notes) != 1 || !strings.Contains(notes[0].Text, "once") || notes[0].ID == "" {
			t.Fatalf("the next hour's notice: %+v", notes)
		}
	})

	t.Run("a revocation and an expiry", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
		g := consentTo(t, f, "bank", 30)
		short := consentTo(t, f, "shop", 1)
		sendDue(t, f)
		if err := f.settings.SetNotificationChannels(ctx, aidar, []string{consent.ChannelSMS}, "ru"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID, Reason: "bored"}, "citizen"); !errors.Is(err, consent.ErrBadReason) {
			t.Errorf("a reason not offered: %v", err)
		}
		if _, err := f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID, Reason: "not_me"}, "citizen"); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.consents.Grant(ctx, g.ID); got.StatusReason != "revoked by the citizen: the citizen did not give this consent" {
			t.Errorf("the reason kept for the partner: %q", got.StatusReason)
		}
		notes := sendDue(t, f)
		if len(notes) != 1 || notes[0].Lang != "ru" || !strings.Contains(notes[0].Text, "вы отозвали") {
			t.Fatalf("revocation notice: %+v", notes)
		}
		f.clock.advance(25 * time.Hour)
		if err := f.upkeep.Once(ctx); err != nil {
			t.Fatal(err)
		}
		notes = sendDue(t, f)
		if len(notes) != 1 || notes[0].Kind != consent.NoticeEnded || !strings.Contains(notes[0].Text, "истёк") {
			t.Fatalf("expiry notice of %s: %+v", short.ID, notes)
		}
		checkClean(t, notes)
	})

	t.Run("the citizen's channels", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		if err := f.settings.SetNotificationChannels(ctx, aidar, []string{"pigeon"}, "en"); !errors.Is(err, consent.ErrBadChannel) {
			t.Errorf("an unknown channel: %v", err)
		}
		if err := f.settings.SetNotificationChannels(ctx, aidar, []string{"app", "app"}, "en"); !errors.Is(err, consent.ErrBadChannel) {
			t.Errorf("a channel twice: %v", err)
		}
		if p, _ := f.settings.NotificationPrefs(ctx, aidar); len(p.Channels) != 1 || p.Channels[0] != consent.ChannelSMS {
			t.Errorf("before any choice: %+v", p)
		}
		if err := f.settings.SetNotificationChannels(ctx, aidar, []string{consent.ChannelApp}, "kk"); err != nil {
			t.Fatal(err)
		}
		consentTo(t, f, "bank", 30)
		notes := sendDue(t, f)
		if len(notes) != 1 || notes[0].Channel != consent.ChannelApp || notes[0].Subject == "" || notes[0].Phone != "" {
			t.Fatalf("by app: %+v", notes)
		}
		if err := f.settings.SetNotificationChannels(ctx, aidar, nil, "kk"); err != nil {
			t.Fatal(err)
		}
		consentTo(t, f, "shop", 30)
		if notes := sendDue(t, f); len(notes) != 0 {
			t.Errorf("told with no channel chosen: %+v", notes)
		}
		if pending, _ := f.outbox.Deliveries(ctx, consent.OutboxPending, 10); len(pending) != 0 {
			t.Errorf("a notice nobody is told stays pending: %+v", pending)
		}
	})

	t.Run("a failing channel is retried with the same key", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		if err := f.settings.SetNotificationChannels(ctx, aidar, []string{consent.ChannelSMS, consent.ChannelApp}, "en"); err != nil {
			t.Fatal(err)
		}
		f.notes.fail[consent.ChannelApp] = errors.New("push service down")
		consentTo(t, f, "bank", 30)
		first := sendDue(t, f)
		if len(first) != 1 || first[0].Channel != consent.ChannelSMS {
			t.Fatalf("first attempt: %+v", first)
		}
		pending, _ := f.outbox.Deliveries(ctx, consent.OutboxPending, 10)
		if len(pending) != 1 || pending[0].Attempts != 1 || !strings.Contains(pending[0].LastError, "push service down") {
			t.Fatalf("after the failure: %+v", pending)
		}
		delete(f.notes.fail, consent.ChannelApp)
		f.clock.advance(time.Minute)
		second := sendDue(t, f)
		if len(second) != 2 || second[0].ID != first[0].ID {
			t.Fatalf("retry: %+v, want the SMS again under %s and the push", second, first[0].ID)
		}
	})

	t.Run("a notice of a grant that is gone tells nothing", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		before := len(f.notes.all())
		for _, kind := range []string{consent.NoticeGranted, consent.NoticeEnded} {
			err := f.notices.Send(ctx, consent.OutboxEntry{ID: "gone-" + kind, Kind: kind, Citizen: aidar, PartnerID: "bank", GrantID: "no-such-grant", Lang: "kk"})
			if err != nil {
				t.Errorf("%s of a grant that is gone: %v, want it done", kind, err)
			}
		}
		if notes := f.notes.all()[before:]; len(notes) != 0 {
			t.Errorf("told of a grant that is gone: %+v", notes)
		}
	})

	t.Run("erasure drops what was not yet told", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		consentTo(t, f, "bank", 30)
		if _, err := f.settings.Erase(ctx, aidar); err != nil {
			t.Fatal(err)
		}
		if notes := sendDue(t, f); len(notes) != 0 {
			t.Errorf("told after erasure: %+v", notes)
		}
	})
}

// New terms: the citizen is told how many of their grants are under the
// earlier ones, once, and may decline them, which ends each with the
// reason the partner is told.
func TestNewTermsToldAndDeclined(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
	g1 := consentTo(t, f, "bank", 30)
	g2 := consentTo(t, f, "shop", 30)
	sendDue(t, f)
	const next = "2027-01-01"
	notes := &notes{fail: map[string]error{}}
	sender := must(consent.NewNoticeSender(consent.NotifierConfig{Prefs: f.store, Registry: f.registry,
		Partners: f.partners, Access: f.store, Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))),
		BaseURL: "https://kelisim.test", Now: f.clock.now, Log: f.log, List: f.store, TermsVersion: next,
		Channels:   map[string]consent.Notifier{consent.ChannelSMS: notes.channel(consent.ChannelSMS), consent.ChannelApp: notes.channel(consent.ChannelApp)},
		AppSubject: func(consent.IIN) string { return "app" }}))
	for _, v := range []string{"2026-11-01", next} {
		if err := f.store.KeepTerms(ctx, consent.Terms{Version: v, Text: []byte("the terms of " + v)}, f.clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.store.TellTerms(ctx, next, f.clock.now(), 100); err != nil || n != 1 {
		t.Fatalf("told %d citizens, %v", n, err)
	}
	pending, _ := f.outbox.Deliveries(ctx, consent.OutboxPending, 10)
	if len(pending) != 1 || pending[0].Kind != consent.NoticeTerms {
		t.Fatalf("pending: %+v", pending)
	}
	if err := sender.Send(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
	if got := notes.all(); len(got) != 1 || !strings.Contains(got[0].Text, "2 of your accesses") || !strings.Contains(got[0].Text, "/my/terms") {
		t.Errorf("the terms notice: %+v", got)
	}
	checkClean(t, notes.all())

	settings := must(consent.NewSettings(consent.SettingsConfig{Store: f.store, Codes: f.consents, Registry: f.registry,
		Outbox: f.outbox, Access: f.store, Reports: f.reports, Prefs: f.store, Documents: f.library, Terms: next,
		Key: []byte("0123456789abcdef0123456789abcdef"), Now: f.clock.now}))
	old, err := settings.UnderOlderTerms(ctx, aidar)
	if err != nil || len(old) != 2 {
		t.Fatalf("under older terms: %+v %v", old, err)
	}
	if n, err := settings.DeclineTerms(ctx, aidar); err != nil || n != 2 {
		t.Fatalf("decline: %d %v", n, err)
	}
	for _, id := range []string{g1.ID, g2.ID} {
		if g, _ := f.consents.Grant(ctx, id); g.Status != consent.GrantRevoked || g.StatusReason != consent.ReasonDeclinedTerms {
			t.Errorf("after declining: %+v", g)
		}
	}
	if old, _ := settings.UnderOlderTerms(ctx, aidar); len(old) != 0 {
		t.Errorf("still under older terms: %+v", old)
	}
	if err := sender.Send(ctx, pending[0]); err != nil || len(notes.all()) != 1 {
		t.Errorf("a terms notice after declining told again: %v %+v", err, notes.all())
	}
}

// A grant replaced by a newer consent is not told as ended (the consent is
// told); one the partner gave up says so; a person's views of a share are
// told like a partner's uses, naming nobody.
func TestNoticeWording(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
	consentTo(t, f, "bank", 30)
	g := consentTo(t, f, "bank", 30) // replaces the first
	notes := sendDue(t, f)
	if len(notes) != 2 || notes[0].Kind != consent.NoticeGranted || notes[1].Kind != consent.NoticeGranted {
		t.Errorf("a replacement told as an end: %+v", notes)
	}
	if _, err := f.store.RevokeGrant(ctx, g.ID, consent.EndedByPartner, "ended by the partner", f.clock.now(), nil); err != nil {
		t.Fatal(err)
	}
	notes = sendDue(t, f)
	if len(notes) != 1 || !strings.Contains(notes[0].Text, "gave up its access") {
		t.Errorf("ended by the partner: %+v", notes)
	}

	sh, err := f.shares.Open(ctx, aidar, "", "id_card")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.shares.ViewAsPerson(ctx, aigerim, f.shares.Code(sh.ID), ""); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Hour + consent.NoticeSettle)
	notes = sendDue(t, f)
	if len(notes) != 1 || notes[0].Phone != aidarPhone || !strings.Contains(notes[0].Text, "A person you shared it with viewed") {
		t.Errorf("a person's view of a share: %+v", notes)
	}
	checkClean(t, notes)
}

// countedReads counts the reads a notice makes before it is sent.
type countedReads struct {
	*memory.Store
	mu    sync.Mutex
	calls []int // the reads of each NoticeReads call
}

func (c *countedReads) NoticeReads(ctx context.Context, reads []consent.NoticeRead, at time.Time) []consent.NoticeReadResult {
	c.mu.Lock()
	c.calls = append(c.calls, len(reads))
	c.mu.Unlock()
	return c.Store.NoticeReads(ctx, reads, at)
}

// The notices of one claim of the outbox read what they need (the
// citizen's preferences, the grant) all at once, and are sent as they are
// one by one.
func TestNoticesOfAClaimReadAtOnce(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Test Bank", Delivery: "pull"}
	f.partners["shop"] = consent.PartnerInfo{ID: "shop", Name: "Test Shop", Delivery: "pull"}
	prefs := &countedReads{Store: f.store}
	f.notices = must(consent.NewNoticeSender(consent.NotifierConfig{Prefs: prefs, Registry: f.registry,
		Partners: f.partners, Access: f.store, Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))), BaseURL: "https://kelisim.test", Now: f.clock.now, Log: f.log,
		List: f.store, TermsVersion: "2026-11-01",
		Channels:   map[string]consent.Notifier{consent.ChannelSMS: f.notes.channel(consent.ChannelSMS)},
		AppSubject: func(iin consent.IIN) string { return "app/" + string(iin)[:4] }}))
	f.outbox = f.newOutbox(f.partners)
	consentTo(t, f, "bank", 30)
	consentTo(t, f, "shop", 30)
	notes := sendDue(t, f)
	if len(notes) != 2 || notes[0].Lang != "en" || notes[1].Lang != "en" {
		t.Fatalf("the notices of two consents: %+v", notes)
	}
	if len(prefs.calls) != 1 || prefs.calls[0] != 2 {
		t.Errorf("reads by call: %v, want one call of 2", prefs.calls)
	}
	for _, partner := range []string{"Test Bank", "Test Shop"} {
		if !strings.Contains(notes[0].Text+notes[1].Text, partner) {
			t.Errorf("no notice names %s: %+v", partner, notes)
		}
	}
}
