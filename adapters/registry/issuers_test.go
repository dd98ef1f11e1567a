package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/consent"
)

// Every demo document comes signed by its authority, and the demo trust
// list verifies it with go-jose's own check of the same bytes.
func TestDemoDocumentsAreSignedByTheirAuthority(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := DemoTrustList()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := d.Documents(context.Background(), "850315300128")
	if err != nil || len(docs) == 0 {
		t.Fatalf("documents: %v %v", docs, err)
	}
	for _, doc := range docs {
		got, sig, err := trust.Verify(doc.Signed)
		if err != nil || !sig.Verified || got.Number != doc.Number || got.Holder.IIN != "850315300128" || got.Signed != doc.Signed {
			t.Errorf("%s: %+v %+v %v", doc.Type, got, sig, err)
		}
		if doc.Authority == "Ministry of Internal Affairs" && (sig.KeyID != "kz-mia-2026" || sig.Authority != doc.Authority) {
			t.Errorf("%s signed with %+v, want the ministry's newest key", doc.Type, sig)
		}
	}
	again, _ := d.Documents(context.Background(), "850315300128")
	if again[0].Signed != docs[0].Signed {
		t.Error("a document was signed again on the second read")
	}
}

// A changed payload, a key the list does not hold, another authority's
// key, the wrong typ and no signature are all refused; a key removed from
// the file is refused once the file is read again, and a key added is
// trusted.
func TestTrustListRefusesWhatDoesNotVerify(t *testing.T) {
	d, _ := NewDemo()
	docs, _ := d.Documents(context.Background(), "850315300128")
	good := docs[0].Signed
	var demo trustFile
	if err := json.Unmarshal(demoAuthorities, &demo); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "trust.json")
	write := func(f trustFile) {
		t.Helper()
		f.Authorities = append([]authority(nil), f.Authorities...)
		for i := range f.Authorities {
			var pub []jose.JSONWebKey
			for _, k := range f.Authorities[i].JWKS.Keys {
				pub = append(pub, k.Public())
			}
			f.Authorities[i].JWKS.Keys = pub
		}
		raw, _ := json.Marshal(f)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Duration(len(raw)) * time.Second) // a new mtime for each version
		_ = os.Chtimes(path, later, later)
	}
	write(demo)
	trust, err := NewTrustList(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, sig, err := trust.Verify(good); err != nil || !sig.Verified {
		t.Fatalf("the demo list from a file: %v", err)
	}

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), docs[0].Number, "999999999", 1))) + "." + parts[2]

	mia := demo.Authorities[0]
	other := demo.Authorities[1]
	wrongIssuer, _ := signWith(t, other.JWKS.Keys[0], TypeIssued, map[string]any{"iss": mia.ID, "document": docs[0]})
	wrongTyp, _ := signWith(t, mia.JWKS.Keys[1], "JWT", map[string]any{"iss": mia.ID, "document": docs[0]})
	oldKey, _ := signWith(t, mia.JWKS.Keys[0], TypeIssued, map[string]any{"iss": mia.ID, "document": docs[0]})
	for name, jws := range map[string]string{
		"a changed payload":            tampered,
		"another authority's key":      wrongIssuer,
		"the wrong typ":                wrongTyp,
		"no signature":                 "",
		"not a JWS":                    "eyJ.not.a-jws",
		"a signature from another doc": parts[0] + "." + parts[1] + "." + strings.Split(docs[1].Signed, ".")[2],
	} {
		if _, sig, err := trust.Verify(jws); !errors.Is(err, consent.ErrIssuerSignature) || sig.Verified || sig.Problem == "" {
			t.Errorf("%s: %+v %v", name, sig, err)
		}
	}
	if _, sig, err := trust.Verify(oldKey); err != nil || sig.KeyID != "kz-mia-2025" {
		t.Fatalf("the ministry's older key, still listed: %+v %v", sig, err)
	}

	// Rotation: the operator removes the older key from the file.
	rotated := demo
	rotated.Authorities = append([]authority(nil), demo.Authorities...)
	rotated.Authorities[0].JWKS.Keys = mia.JWKS.Keys[1:]
	write(rotated)
	if err := trust.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := trust.Verify(oldKey); !errors.Is(err, consent.ErrIssuerSignature) {
		t.Errorf("a key withdrawn from the list still verifies: %v", err)
	}
	if _, _, err := trust.Verify(good); err != nil {
		t.Errorf("the newest key after the rotation: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"authorities": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	if err := trust.Reload(); err == nil {
		t.Error("an empty trust list was taken")
	}
	if _, _, err := trust.Verify(good); err != nil {
		t.Errorf("a bad file replaced the list: %v", err)
	}
	if list := trust.Authorities(); len(list) != 4 || strings.Contains(string(list[0].JWKS), `"d"`) {
		t.Errorf("published authorities: %+v", list)
	}
}

func signWith(t *testing.T, k jose.JSONWebKey, typ string, claims map[string]any) (string, error) {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return jws.CompactSerialize()
}
