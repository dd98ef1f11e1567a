package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// A document's signed form comes from a state system: whatever it sends,
// the trust list answers a verified document or ErrIssuerSignature, and
// never panics.
func FuzzIssuedDocument(f *testing.F) {
	d, err := NewDemo()
	if err != nil {
		f.Fatal(err)
	}
	docs, _ := d.Documents(context.Background(), "850315300128")
	for _, doc := range docs {
		f.Add(doc.Signed)
	}
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	f.Add("")
	trust, err := DemoTrustList()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, signed string) {
		doc, sig, err := trust.Verify(signed)
		if err != nil && !errors.Is(err, consent.ErrIssuerSignature) {
			t.Fatalf("an error that is not a refusal: %v", err)
		}
		if err == nil && (!sig.Verified || doc.Signed != signed || doc.Holder.IIN == "") {
			t.Fatalf("accepted %+v %+v", doc, sig)
		}
	})
}
