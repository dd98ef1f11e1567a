package consent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// representative has aigerim consent to partner for the holders at the
// given positions (0 herself, 1 her child).
func representative(t *testing.T, f *fixture, partner string, positions ...int) consent.Grant {
	t.Helper()
	ctx := context.Background()
	before := f.sms.count()
	c := must(f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: partner, Session: "browser", IIN: string(aigerim),
		Phone: string(aigerimTel), Documents: idCard, Days: 365 * 10, Lang: "en", ClientIP: "10.1.1.1"}))
	code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
	approve := consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code, Documents: c.Documents, Days: c.Days}
	if _, err := f.consents.Approve(ctx, approve); !errors.Is(err, consent.ErrChooseHolders) {
		t.Fatalf("a representative is asked whose documents: %v", err)
	}
	approve.Code, approve.Holders = "", positions
	return must(f.consents.Approve(ctx, approve))
}

func TestIINBirthDate(t *testing.T) {
	for iin, want := range map[consent.IIN]string{
		"850315300128": "1985-03-15", "150612601232": "2015-06-12", "900101400559": "1990-01-01", "991231100000": "1899-12-31",
	} {
		if got, ok := iin.BirthDate(); !ok || got.Format("2006-01-02") != want {
			t.Errorf("%s: %v %v, want %s", iin, got, ok, want)
		}
	}
	for _, iin := range []consent.IIN{"850230300128", "851315300128", "850315900128", "short"} {
		if _, ok := iin.BirthDate(); ok {
			t.Errorf("%s has a birth date", iin)
		}
	}
}

// On the child's 18th birthday (midnight in Kazakhstan) the
// representative's access ends at once — fetches, new consents, shares —
// and the upkeep narrows the grant that named both to the representative,
// ends the one that named only the child, each with a receipt and a
// Security Event Token; the new adult's history starts clean of what the
// representative's grants did before.
func TestGuardianAccessEndsAtMajority(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	for _, id := range []string{"bank", "shop"} {
		f.partners[id] = consent.PartnerInfo{ID: id, Delivery: "pull", WebhookURL: "https://" + id + ".example/hook"}
	}
	both := representative(t, f, "bank", 0, 1)
	childOnly := representative(t, f, "shop", 1)
	childTok := tokenOf(childOnly)
	if _, err := f.fetcher.Fetch(ctx, childTok, "id_card", ""); err != nil {
		t.Fatalf("the representative's partner fetches the child's document: %v", err)
	}
	birthday := time.Date(2033, 6, 12, 0, 0, 0, 0, time.FixedZone("Almaty", 5*3600))
	f.clock.t = birthday.Add(-time.Second)
	if err := f.upkeep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if g := must(f.consents.Grant(ctx, both.ID)); len(g.Holders) != 2 || g.Status != consent.GrantActive {
		t.Fatalf("a second before the birthday: %v %s", g.Holders, g.Status)
	}
	f.webhook.posts = nil

	f.clock.t = birthday
	if _, err := f.fetcher.Fetch(ctx, childTok, "id_card", ""); !errors.Is(err, consent.ErrNoDocument) {
		t.Errorf("a fetch of the new adult's document on the birthday, before the upkeep: %v", err)
	}
	if sharable := must(f.library.Sharable(ctx, aigerim)); slices.ContainsFunc(sharable, func(s consent.Sharable) bool { return s.Holder == child }) {
		t.Error("the representative may still share the new adult's documents")
	}
	if err := f.upkeep.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if g := must(f.consents.Grant(ctx, both.ID)); !slices.Equal(g.Holders, []consent.IIN{aigerim}) || g.Status != consent.GrantActive {
		t.Errorf("the grant for both: %v %s, want narrowed to the representative", g.Holders, g.Status)
	}
	if g := must(f.consents.Grant(ctx, childOnly.ID)); g.Status != consent.GrantRevoked || g.StatusBy != consent.EndedByMajority {
		t.Errorf("the grant for the child: %s by %q, want revoked at majority", g.Status, g.StatusBy)
	}
	narrowed := claimsOf(t, must(f.receipts.ForPartner(ctx, "bank", both.ID)))
	if narrowed["event"] != consent.AccessNarrowing || narrowed["ended_by"] != consent.EndedByMajority || len(narrowed["holders"].([]any)) != 1 {
		t.Errorf("the narrowing's receipt: %v", narrowed)
	}
	f.outbox.DeliverDue(ctx)
	sets := map[string]string{}
	for _, p := range f.webhook.sent() {
		sets[p.url] = p.body
	}
	if !strings.Contains(sets["https://bank.example/hook"], consent.GrantNarrowed) || !strings.Contains(sets["https://shop.example/hook"], consent.SessionRevoked) {
		t.Errorf("the partners' events: %v", sets)
	}
	if err := f.upkeep.Once(ctx); err != nil || len(must(f.store.GrantHistory(ctx, both.ID))) != 2 {
		t.Errorf("a second round changed the narrowed grant again: %v", err)
	}

	// A new consent by the representative offers her own documents only.
	before := f.sms.count()
	c := must(f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "browser", IIN: string(aigerim),
		Phone: string(aigerimTel), Documents: idCard, Days: 30, Lang: "en", ClientIP: "10.1.1.2"}))
	code := codeIn(t, f.sms.waitSent(t, before+1)[before].text)
	g, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: code, Documents: c.Documents, Days: c.Days})
	if err != nil || !slices.Equal(g.Holders, []consent.IIN{aigerim}) {
		t.Errorf("a representative's consent after the birthday: %v %v", g.Holders, err)
	}

	// The new adult's history: nothing of the representative's grants
	// from before.
	if events := must(f.settings.History(ctx, child, 50)); len(events) != 0 {
		t.Errorf("the new adult's history: %+v", events)
	}
}
