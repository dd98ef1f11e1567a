package signature_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kelisim/kelisim/adapters/signature/sigtest"
	"github.com/kelisim/kelisim/consent"
)

// A pasted or uploaded signature is outside input: whatever it is, the
// checker answers a valid IIN or ErrBadSignature, and never panics.
func FuzzSignature(f *testing.F) {
	ca := sigtest.New(f, "Fuzz CA")
	good := ca.Issue(iin, sigtest.Options{})
	f.Add([]byte(good.Sign(f, text, false)))
	f.Add([]byte(good.Sign(f, text, true)))
	f.Add([]byte("-----BEGIN CMS-----\nMIIB\n-----END CMS-----"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Add([]byte(""))
	c := checker(f, ca)
	f.Fuzz(func(t *testing.T, signed []byte) {
		got, err := c.Verify(context.Background(), text, signed)
		if err != nil && !errors.Is(err, consent.ErrBadSignature) {
			t.Fatalf("an error that is not a refusal: %v", err)
		}
		if err == nil && got != iin {
			t.Fatalf("accepted for %q", got)
		}
	})
}
