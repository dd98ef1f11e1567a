package consent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// Wrong codes are limited per verifier and for all verifiers together; a
// right code is not a wrong one: it gives its count back. A QR token is
// held back only by its own verifier's limit.
func TestShareGuessLimits(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig) // 3 wrong per verifier, 5 in all, a minute
	ctx := context.Background()
	sh, err := f.shares.Open(ctx, aidar, "", "id_card")
	if err != nil {
		t.Fatal(err)
	}
	right := f.shares.Code(sh.ID)
	wrong := func(i int) string {
		c := fmt.Sprintf("%06d", i)
		if c == right {
			c = "999999"
		}
		return c
	}
	verify := func(verifier, code, token string) error {
		_, _, err := f.shares.Verify(ctx, verifier, code, token)
		return err
	}
	for i := range 2 {
		if err := verify("airport", wrong(i), ""); !errors.Is(err, consent.ErrShareNotFound) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if err := verify("airport", right, ""); err != nil {
		t.Fatalf("the right code: %v", err)
	}
	if err := verify("airport", wrong(3), ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("third wrong code, after a right one: %v, want it looked up", err)
	}
	if err := verify("airport", wrong(4), ""); !limited(err) {
		t.Errorf("fourth wrong code: %v, want a rate limit", err)
	}
	if err := verify("airport", right, ""); !limited(err) {
		t.Errorf("the right code past the limit: %v, want a rate limit", err)
	}
	if err := verify("railway", wrong(5), ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("another verifier: %v", err)
	}
	if err := verify("notary", wrong(6), ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("a third verifier: %v", err)
	}
	if err := verify("bank", wrong(7), ""); !limited(err) {
		t.Errorf("the sixth wrong short code of the minute, from a fourth verifier: %v, want the ceiling", err)
	}
	if err := verify("bank", "", f.shares.Token(sh.ID)); err != nil {
		t.Errorf("a QR token under the ceiling on short codes: %v", err)
	}
	f.clock.advance(2 * time.Minute) // nothing of those attempts is carried
	if err := verify("bank", right, ""); err != nil {
		t.Errorf("two minutes later: %v", err)
	}
}

// A share is open for ShareTTL, extends by ShareTTL up to MaxShareLife from
// opening, closes early on the citizen's word, and is only ever its
// citizen's to see or change.
func TestShareLifecycle(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	if _, err := f.shares.Open(ctx, aidar, "", "diploma"); !errors.Is(err, consent.ErrNoDocument) {
		t.Errorf("sharing a document the citizen lacks: %v", err)
	}
	if _, err := f.shares.Open(ctx, aidar, child, "id_card"); !errors.Is(err, consent.ErrNoDocument) {
		t.Errorf("sharing a child the citizen does not represent: %v", err)
	}
	if _, err := f.shares.Open(ctx, aigerim, child, "id_card"); err != nil {
		t.Errorf("a representative sharing the child's document: %v", err)
	}
	sh, err := f.shares.Open(ctx, aidar, "", "id_card")
	if err != nil || !f.shares.Active(sh) || sh.ExpiresAt.Sub(sh.CreatedAt) != consent.ShareTTL {
		t.Fatalf("open: %+v %v", sh, err)
	}
	if _, err := f.shares.Get(ctx, aigerim, sh.ID); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("another citizen's share: %v", err)
	}
	for range int(consent.MaxShareLife/consent.ShareTTL) - 1 {
		if sh, err = f.shares.Extend(ctx, aidar, sh.ID); err != nil {
			t.Fatal(err)
		}
	}
	if !sh.ExpiresAt.Equal(sh.CreatedAt.Add(consent.MaxShareLife)) {
		t.Errorf("extended to %s after opening", sh.ExpiresAt.Sub(sh.CreatedAt))
	}
	if _, err := f.shares.Extend(ctx, aidar, sh.ID); !errors.Is(err, consent.ErrShareMaxed) {
		t.Errorf("extending past the maximum: %v", err)
	}
	code := f.shares.Code(sh.ID)
	if _, _, err := f.shares.Verify(ctx, "airport", code, ""); err != nil {
		t.Errorf("verify while open: %v", err)
	}
	if sh, err = f.shares.Close(ctx, aidar, sh.ID); err != nil || f.shares.Active(sh) {
		t.Fatalf("close: %+v %v", sh, err)
	}
	if _, err := f.shares.Close(ctx, aidar, sh.ID); err != nil {
		t.Errorf("closing twice: %v", err)
	}
	if _, _, err := f.shares.Verify(ctx, "airport", code, ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("verify after closing: %v", err)
	}
	other, _ := f.shares.Open(ctx, aidar, "", "id_card")
	f.clock.advance(consent.ShareTTL)
	if _, _, err := f.shares.Verify(ctx, "airport", "", tokenFor(f, other)); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("verify by QR after expiry: %v", err)
	}
	if _, err := f.shares.Extend(ctx, aidar, other.ID); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("extending an expired share: %v", err)
	}
	h, _ := f.store.ListAccess(ctx, aidar, consent.HistoryCursor{}, 10)
	if len(h) != 1 || h[0].Kind != consent.AccessView || h[0].PartnerID != "airport" {
		t.Errorf("views in the history: %+v", h)
	}
}

func tokenFor(f *fixture, sh consent.Share) string {
	u := f.shares.URL(sh.ID)
	return u[strings.LastIndex(u, "/")+1:]
}

// A citizen logged in to the settings checks a document shared with them:
// the document as its issuer signed it, who shared it; the view is in the
// holder's history under the viewer's shortened name and in the viewer's
// own. Wrong codes count against the viewer, as against a verifier.
func TestAPersonVerifiesAShare(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig) // 3 wrong per viewer, 5 in all, a minute
	ctx := context.Background()
	sh, err := f.shares.Open(ctx, aidar, "", "id_card")
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.shares.ViewAsPerson(ctx, aigerim, f.shares.Code(sh.ID), "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Document.Type != "id_card" || v.Document.Holder.IIN != aidar || !v.Signature.Verified || v.SharedBy != "Aidar Serikov" || v.Share.ID != sh.ID {
		t.Errorf("the view: %+v", v)
	}
	if v2, err := f.shares.ViewAsPerson(ctx, aigerim, "", f.shares.Token(sh.ID)); err != nil || v2.Share.ID != sh.ID {
		t.Errorf("by the QR token: %+v %v", v2, err)
	}
	theirs, _ := f.store.ListAccess(ctx, aidar, consent.HistoryCursor{}, 10)
	if len(theirs) == 0 || theirs[0].Kind != consent.AccessView || theirs[0].PartnerID != consent.PersonViewer || theirs[0].By != "Aigerim N." {
		t.Errorf("the holder's history: %+v", theirs)
	}
	mine, _ := f.store.ListAccess(ctx, aigerim, consent.HistoryCursor{}, 10)
	if len(mine) == 0 || mine[0].Kind != consent.AccessViewed || mine[0].By != "Aidar S." || mine[0].Document != "id_card" {
		t.Errorf("the viewer's history: %+v", mine)
	}
	for _, e := range mine {
		if e.Holder == aidar || e.Citizen == aidar {
			t.Errorf("the viewer's history names the holder's IIN: %+v", e)
		}
	}
	for i := range 3 {
		if _, err := f.shares.ViewAsPerson(ctx, aigerim, fmt.Sprintf("00000%d", i), ""); !errors.Is(err, consent.ErrShareNotFound) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.shares.ViewAsPerson(ctx, aigerim, f.shares.Code(sh.ID), ""); !limited(err) {
		t.Errorf("past the viewer's limit: %v", err)
	}
	if _, err := f.shares.ViewAsPerson(ctx, child, f.shares.Code(sh.ID), ""); err != nil {
		t.Errorf("another viewer is not held back: %v", err)
	}
	if got := consent.ShortName("Aigerim Nurlanova Serikkyzy"); got != "Aigerim N. S." {
		t.Errorf("ShortName: %q", got)
	}
}
