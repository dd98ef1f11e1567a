package consent_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

func TestGrantNamesItsHolders(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	approve := func(c consent.Challenge, session, code string, holders []int) (consent.Grant, error) {
		return f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: session, Code: code,
			Documents: c.Documents, Days: c.Days, Holders: holders})
	}
	// A citizen who represents nobody: the grant is theirs, at once.
	c, err := start(f, aidar, aidarPhone, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	g, err := approve(c, "s-10.0.0.1", codeIn(t, f.sms.waitSent(t, 1)[0].text), nil)
	if err != nil || !slices.Equal(g.Holders, []consent.IIN{aidar}) {
		t.Fatalf("own grant: %v %v", g.Holders, err)
	}

	// A legal representative is asked, by name, before anything is kept.
	c, err = start(f, aigerim, aigerimTel, "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, 2)[1].text)
	if _, err := approve(c, "s-10.0.0.2", code, nil); !errors.Is(err, consent.ErrChooseHolders) {
		t.Fatalf("right code of a representative: %v, want ErrChooseHolders", err)
	}
	holders, err := f.consents.Holders(ctx, c.ID, "s-10.0.0.2", nil)
	if err != nil || len(holders) != 2 || holders[0].Name != "Aigerim Nurlanova" || holders[1].Name != "Alikhan Nurlanov" || holders[1].Relation != consent.RelationRepresented {
		t.Fatalf("holders: %+v %v", holders, err)
	}
	if _, err := f.consents.Holders(ctx, c.ID, "another browser", nil); err == nil {
		t.Error("another browser read the names")
	}
	if _, _, err := f.consents.Resend(ctx, c.ID, "s-10.0.0.2", "Bank", c.Documents, c.Days, "10.0.0.2"); !errors.Is(err, consent.ErrCodeUsed) {
		t.Errorf("a resend once the code was right: %v", err)
	}
	if _, err := approve(c, "s-10.0.0.2", "", []int{}); !errors.Is(err, consent.ErrNoHolder) {
		t.Errorf("nobody chosen: %v", err)
	}
	if _, err := approve(c, "s-10.0.0.2", "", []int{7}); err == nil {
		t.Error("a holder the citizen was not offered")
	}
	g, err = approve(c, "s-10.0.0.2", "", []int{1})
	if err != nil || !slices.Equal(g.Holders, []consent.IIN{child}) || !g.Covers(child) || g.Covers(aigerim) {
		t.Fatalf("grant for the child: %v %v", g.Holders, err)
	}
	if _, err := approve(c, "s-10.0.0.2", "", []int{0}); !errors.Is(err, consent.ErrCodeUsed) {
		t.Errorf("a second grant from one challenge: %v", err)
	}
}
