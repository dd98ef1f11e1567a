package consent_test

import (
	"context"
	"errors"
	"fmt"
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
	f.clock.advance(time.Minute) // the window has moved
	if err := verify("bank", right, ""); err != nil {
		t.Errorf("a minute later: %v", err)
	}
}
