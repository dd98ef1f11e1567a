package consent_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// ask is one consent in a test: who, for which partner, what, and how it
// changes what the partner holds.
type ask struct {
	iin     consent.IIN
	phone   consent.Phone
	partner string
	docs    []consent.DocumentType
	days    int
	action  consent.GrantAction
	change  string
	allowed []consent.DocumentType // the partner's allowance now (a merge keeps only these)
}

// give runs a consent through Start and Approve with the right code.
func give(t *testing.T, f *fixture, a ask) (consent.Grant, error) {
	t.Helper()
	ctx := context.Background()
	if a.iin == "" {
		a.iin, a.phone = aidar, aidarPhone
	}
	if a.allowed == nil {
		a.allowed = must(consent.ShippedCatalogue()).Types()
	}
	before := f.sms.count()
	c, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: a.partner, Session: "browser",
		IIN: string(a.iin), Phone: string(a.phone), Documents: a.docs, Days: a.days, Lang: "en", ClientIP: "10.1.1.1",
		Changes: a.change, NoDocuments: a.action == consent.GrantMerge})
	if err != nil {
		return consent.Grant{}, err
	}
	code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
	return f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code,
		Documents: c.Documents, Days: c.Days, Change: a.change, Action: a.action, Allowed: a.allowed})
}

var (
	idCard  = []consent.DocumentType{"id_card"}
	diploma = []consent.DocumentType{"diploma"}
)

// A partner holds one grant per citizen and holder: a new consent replaces
// the one before; a merge adds to it and a replacement rewrites it, under
// the same grant id, and the citizen's history says so.
func TestAConsentChangesWhatThePartnerHolds(t *testing.T) {
	ctx := context.Background()
	t.Run("a new consent replaces the one before", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		f.partners["bank"] = consent.PartnerInfo{ID: "bank", Delivery: "pull", WebhookURL: "https://bank.example/hook"}
		first := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
		other := must(give(t, f, ask{partner: "shop", docs: idCard, days: 30}))
		f.clock.advance(time.Minute)
		second := must(give(t, f, ask{partner: "bank", docs: diploma, days: 30}))
		g, _ := f.consents.Grant(ctx, first.ID)
		if g.Status != consent.GrantRevoked || g.StatusBy != consent.EndedByReplacement {
			t.Errorf("the earlier grant: %s by %q, want revoked by %q", g.Status, g.StatusBy, consent.EndedByReplacement)
		}
		for _, id := range []string{second.ID, other.ID} {
			if g, _ := f.consents.Grant(ctx, id); g.Status != consent.GrantActive {
				t.Errorf("grant %s: %s, want active", id, g.Status)
			}
		}
		if _, err := f.fetcher.Fetch(ctx, tokenOf(first), "id_card", ""); !errors.Is(err, consent.ErrGrantEnded) {
			t.Errorf("a token of the replaced grant: %v, want ErrGrantEnded", err)
		}
		f.outbox.DeliverDue(ctx)
		if sent := f.webhook.sent(); len(sent) != 1 || sent[0].url != "https://bank.example/hook" {
			t.Errorf("the partner was told of the replaced grant: %+v", sent)
		}
	})
	t.Run("a merge adds documents and keeps the later end", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
		f.clock.advance(10 * 24 * time.Hour)
		merged, err := give(t, f, ask{partner: "bank", docs: diploma, days: 7, action: consent.GrantMerge, change: g.ID})
		if err != nil {
			t.Fatal(err)
		}
		if merged.ID != g.ID || !slices.Equal(merged.Documents, []consent.DocumentType{"id_card", "diploma"}) ||
			!merged.ExpiresAt.Equal(g.ExpiresAt) || !merged.CreatedAt.Equal(g.CreatedAt) {
			t.Errorf("merged: %s %v until %v, want %s [id_card diploma] until %v", merged.ID, merged.Documents, merged.ExpiresAt, g.ID, g.ExpiresAt)
		}
		longer := must(give(t, f, ask{partner: "bank", days: 90, action: consent.GrantMerge, change: g.ID}))
		if want := f.clock.now().Add(90 * 24 * time.Hour); !longer.ExpiresAt.Equal(want) || len(longer.Documents) != 2 {
			t.Errorf("a merge of no document that extends: %v until %v, want until %v", longer.Documents, longer.ExpiresAt, want)
		}
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); err != nil {
			t.Errorf("a token from before the merge: %v", err)
		}
		events, _ := f.settings.History(ctx, aidar, 10)
		if kinds := eventKinds(events); !slices.Equal(kinds, []string{"fetch", "merge", "merge", "consent"}) {
			t.Errorf("history: %v", kinds)
		}
	})
	t.Run("a merge keeps only what the partner may still have", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
		merged := must(give(t, f, ask{partner: "bank", docs: diploma, days: 30, action: consent.GrantMerge, change: g.ID, allowed: diploma}))
		if !slices.Equal(merged.Documents, diploma) {
			t.Errorf("merged with id_card out of the allowance: %v", merged.Documents)
		}
	})
	t.Run("a replacement rewrites the grant", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		g := must(give(t, f, ask{partner: "bank", docs: []consent.DocumentType{"id_card", "diploma"}, days: 90}))
		f.clock.advance(time.Hour)
		replaced := must(give(t, f, ask{partner: "bank", docs: diploma, days: 7, action: consent.GrantReplace, change: g.ID}))
		if replaced.ID != g.ID || !slices.Equal(replaced.Documents, diploma) || !replaced.ExpiresAt.Equal(f.clock.now().Add(7*24*time.Hour)) {
			t.Errorf("replaced: %s %v until %v", replaced.ID, replaced.Documents, replaced.ExpiresAt)
		}
		if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); !errors.Is(err, consent.ErrNotGranted) {
			t.Errorf("id_card after the replacement left it out: %v, want ErrNotGranted", err)
		}
		events, _ := f.settings.History(ctx, aidar, 10)
		if kinds := eventKinds(events); !slices.Equal(kinds, []string{"replace", "consent"}) {
			t.Errorf("history: %v", kinds)
		}
	})
	t.Run("only the citizen who gave a grant changes it", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
		sent := f.sms.count()
		_, err := give(t, f, ask{iin: aigerim, phone: aigerimTel, partner: "bank", docs: diploma, days: 30, action: consent.GrantMerge, change: g.ID})
		if !errors.Is(err, consent.ErrOtherCitizen) {
			t.Errorf("another citizen merging: %v, want ErrOtherCitizen", err)
		}
		if f.sms.count() != sent {
			t.Error("a code was sent for another citizen's grant")
		}
		if _, err := give(t, f, ask{partner: "shop", docs: idCard, days: 30, action: consent.GrantReplace, change: g.ID}); !errors.Is(err, consent.ErrGrantGone) {
			t.Errorf("another partner replacing: %v, want ErrGrantGone", err)
		}
	})
	t.Run("an ended grant cannot be changed", func(t *testing.T) {
		for _, end := range []struct {
			name string
			do   func(f *fixture, g consent.Grant)
		}{
			{"revoked", func(f *fixture, g consent.Grant) {
				must(f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"))
			}},
			{"expired", func(f *fixture, g consent.Grant) { f.clock.advance(31 * 24 * time.Hour) }},
		} {
			f := setup(t, consent.DefaultOTPConfig)
			g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
			end.do(f, g)
			if _, err := give(t, f, ask{partner: "bank", docs: diploma, days: 30, action: consent.GrantMerge, change: g.ID}); !errors.Is(err, consent.ErrGrantGone) {
				t.Errorf("%s: merge: %v, want ErrGrantGone", end.name, err)
			}
		}
	})
	t.Run("a grant that ends between the code and the answer", func(t *testing.T) {
		f := setup(t, consent.DefaultOTPConfig)
		g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
		before := f.sms.count()
		c := must(f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "browser", IIN: string(aidar),
			Phone: string(aidarPhone), Documents: diploma, Days: 30, Lang: "en", ClientIP: "10.1.1.1", Changes: g.ID}))
		code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
		must(f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"))
		_, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code,
			Documents: diploma, Days: 30, Change: g.ID, Action: consent.GrantReplace, Allowed: must(consent.ShippedCatalogue()).Types()})
		if !errors.Is(err, consent.ErrGrantGone) {
			t.Errorf("replace after the revocation: %v, want ErrGrantGone", err)
		}
		if got, _ := f.consents.Grant(ctx, g.ID); got.Status != consent.GrantRevoked || !slices.Equal(got.Documents, idCard) {
			t.Errorf("the revoked grant changed: %s %v", got.Status, got.Documents)
		}
	})
}

func eventKinds(events []consent.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

// The request names the grant it changes only with an action; a merge
// shows what stays shared and offers only the rest, and may be consented
// to without a new document.
func TestRequestThatChangesAGrant(t *testing.T) {
	policy := must(consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 30, MaxDays: 365}))
	for _, tc := range []struct {
		id, action string
		want       consent.GrantAction
		change     string
	}{
		{"g1", "merge", consent.GrantMerge, "g1"},
		{"g1", "replace", consent.GrantReplace, "g1"},
		{"g1", "", consent.GrantCreate, ""},
		{"", "merge", consent.GrantCreate, ""},
		{"g1", "revoke", consent.GrantCreate, ""},
	} {
		r := policy.Prepare(consent.AuthRequest{ClientID: "bank", Scopes: []string{"openid", "documents:id_card"}, GrantID: tc.id, GrantAction: tc.action})
		if r.Action != tc.want || r.Change != tc.change {
			t.Errorf("grant_id %q action %q: %q %q, want %q %q", tc.id, tc.action, r.Action, r.Change, tc.want, tc.change)
		}
	}
	r := policy.Prepare(consent.AuthRequest{ClientID: "bank", Scopes: []string{"openid", "documents:id_card", "documents:diploma"}, GrantID: "g1", GrantAction: "merge",
		AuthorizationDetails: `[{"type":"kelisim_documents","documents":["diploma"]}]`})
	g := consent.Grant{ID: "g1", Citizen: aidar, Holders: []consent.IIN{aidar}, Documents: idCard,
		CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	r.Changing(g)
	if !slices.Equal(r.Documents, diploma) || !slices.Equal(r.Kept, idCard) || !r.NoDocuments() {
		t.Errorf("merge: offered %v, kept %v, no documents allowed %v", r.Documents, r.Kept, r.NoDocuments())
	}
	g.Documents = []consent.DocumentType{"id_card", "diploma"}
	if got := r.Granted(g); len(got) != 1 || !slices.Equal(got[0].Documents, g.Documents) {
		t.Errorf("a merge's granted details: %+v, want the whole grant", got)
	}
	r = policy.Prepare(consent.AuthRequest{ClientID: "bank", Scopes: []string{"openid", "documents:id_card"}, GrantID: "g1", GrantAction: "replace"})
	r.Changing(g)
	if !slices.Equal(r.Documents, idCard) || r.Kept != nil || r.NoDocuments() {
		t.Errorf("replace: offered %v, kept %v, no documents allowed %v", r.Documents, r.Kept, r.NoDocuments())
	}
}

// A challenge the page read before answering saves reading it again, but
// what changed since is still what counts: a code killed meanwhile by
// wrong tries grants nothing.
func TestApproveWithAStaleRead(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	before := f.sms.count()
	c, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "p1", Session: "browser",
		IIN: string(aidar), Phone: string(aidarPhone), Documents: idCard, Days: 30, Lang: "en", ClientIP: "10.1.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
	read, err := f.consents.Challenge(ctx, c.ID, "browser")
	if err != nil {
		t.Fatal(err)
	}
	for range consent.DefaultOTPConfig.MaxAttempts {
		_, _ = f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: "000000",
			Documents: c.Documents, Days: c.Days})
	}
	_, err = f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code,
		Documents: c.Documents, Days: c.Days, Read: &read})
	if !errors.Is(err, consent.ErrCodeDead) {
		t.Fatalf("the right code on a stale read of a dead challenge: %v, want ErrCodeDead", err)
	}
	if grants, _ := f.store.ListGrants(ctx, aidar); len(grants) != 0 {
		t.Errorf("granted %+v", grants)
	}
	// A fresh read of a live challenge goes through as before.
	c, err = f.consents.Start(ctx, consent.StartRequest{PendingID: "req2", PartnerID: "p1", Session: "browser",
		IIN: string(aidar), Phone: string(aidarPhone), Documents: idCard, Days: 30, Lang: "en", ClientIP: "10.1.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	code = codeIn(t, f.sms.waitSent(t, before+2)[before+1].text)
	read, _ = f.consents.Challenge(ctx, c.ID, "browser")
	if _, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code,
		Documents: c.Documents, Days: c.Days, Read: &read}); err != nil {
		t.Fatalf("approve with a fresh read: %v", err)
	}
}
