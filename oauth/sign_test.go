package oauth

import (
	"bytes"
	"context"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
)

// What Sign writes by hand is a compact JWS go-jose verifies with the
// published key set: ES256, the current kid, the typ asked for, the payload
// as given.
func TestSignVerifiesWithGoJose(t *testing.T) {
	secrets, _ := NewSecrets([]byte("sign-secret-sign-secret-sign-secret-01"))
	keys, err := NewKeys(context.Background(), benchStore{}, secrets, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := keys.Current()
	for _, payload := range [][]byte{[]byte(`{"document":{"type":"id_card","number":"045123456"}}`), []byte(`{}`), bytes.Repeat([]byte("é"), 3001)} {
		compact, err := keys.Sign(payload, "kelisim-document+jwt")
		if err != nil {
			t.Fatal(err)
		}
		jws, err := josev4.ParseSignedCompact(compact, []josev4.SignatureAlgorithm{josev4.ES256})
		if err != nil {
			t.Fatalf("go-jose cannot parse %q: %v", compact, err)
		}
		h := jws.Signatures[0].Protected
		if h.KeyID != kid || h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "kelisim-document+jwt" {
			t.Errorf("header %+v", h)
		}
		set := keys.JWKS()
		got, err := jws.Verify(set.Key(kid)[0].Public())
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("verify: %v, payload %q", err, got)
		}
		// Every byte of the signature counts.
		broken := []byte(compact)
		broken[len(broken)-2] ^= 1
		if jws, err := josev4.ParseSignedCompact(string(broken), []josev4.SignatureAlgorithm{josev4.ES256}); err == nil {
			if _, err := jws.Verify(set.Key(kid)[0].Public()); err == nil {
				t.Error("a changed signature verified")
			}
		}
	}
}
