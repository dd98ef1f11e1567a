package consent_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// The code page is shown from the challenge the browser carries: only
// the challenge as started, for the session that started it, unaltered
// and unexpired. A decoy is carried as a matched challenge is.
func TestCarriedChallenge(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	matched, err := start(f, aidar, aidarPhone, "198.51.100.9")
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := start(f, aidar, aigerimTel, "198.51.100.9") // the phone is not Aidar's
	if err != nil {
		t.Fatal(err)
	}
	const session = "s-198.51.100.9"
	carried := f.consents.CarryChallenge(matched)
	got, ok := f.consents.CarriedChallenge(carried, matched.ID, session)
	if !ok || got.ID != matched.ID || got.PendingID != "req" || got.PartnerID != "bank" || !slices.Equal(got.Documents, matched.Documents) ||
		got.Days != 30 || got.Resends != 0 || !got.ExpiresAt.Equal(matched.ExpiresAt) || got.Session != matched.Session {
		t.Fatalf("carried %+v, %v; want %+v", got, ok, matched)
	}
	if got.Citizen != "" || got.CodeHash != nil || got.Budget != "" {
		t.Errorf("what the browser carries holds the citizen or the code: %+v", got)
	}
	if _, ok := f.consents.CarriedChallenge(f.consents.CarryChallenge(decoy), decoy.ID, session); !ok {
		t.Error("a decoy is not carried as a challenge is")
	}
	// The browser can read what it carries: a decoy's says what a matched
	// one's says, but for its id.
	readable := func(c consent.Challenge) map[string]any {
		p, _, _ := strings.Cut(f.consents.CarryChallenge(c), ".")
		var m map[string]any
		if err := json.Unmarshal(must(base64.RawURLEncoding.DecodeString(p)), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "i")
		return m
	}
	if r, d := readable(matched), readable(decoy); !reflect.DeepEqual(r, d) {
		t.Errorf("a decoy's carrier reads %v, a matched one's %v: it tells them apart", d, r)
	}
	payload, sig, _ := strings.Cut(carried, ".")
	other := f.consents.CarryChallenge(consent.Challenge{ID: matched.ID, PendingID: "req", PartnerID: "bank", Session: matched.Session,
		Documents: []consent.DocumentType{"id_card", "diploma"}, Days: 365, ExpiresAt: matched.ExpiresAt})
	otherPayload, _, _ := strings.Cut(other, ".")
	for _, tc := range []struct {
		name, carried, id, session string
	}{
		{"another session", carried, matched.ID, "s-203.0.113.7"},
		{"another challenge", carried, decoy.ID, session},
		{"another selection, the signature kept", otherPayload + "." + sig, matched.ID, session},
		{"no signature", payload, matched.ID, session},
		{"a signature cut short", payload + "." + sig[:10], matched.ID, session},
		{"nothing", "", matched.ID, session},
		{"too long", carried + strings.Repeat("A", 4096), matched.ID, session},
		{"not base64", "!!." + sig, matched.ID, session},
	} {
		if got, ok := f.consents.CarriedChallenge(tc.carried, tc.id, tc.session); ok {
			t.Errorf("%s: accepted as %+v", tc.name, got)
		}
	}
	f.clock.advance(consent.DefaultOTPConfig.TTL)
	if _, ok := f.consents.CarriedChallenge(carried, matched.ID, session); ok {
		t.Error("an expired challenge is shown from what the browser carries")
	}
}

// Whatever a browser sends as its carried challenge, only a challenge the
// service carried for that session is accepted.
func FuzzCarriedChallenge(f *testing.F) {
	fx := setup(f, consent.DefaultOTPConfig)
	c := consent.Challenge{ID: "ch1", PendingID: "req", PartnerID: "bank", Session: fx.consents.SessionKey("s1"),
		Documents: []consent.DocumentType{"id_card"}, Days: 30, ExpiresAt: time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)}
	genuine := fx.consents.CarryChallenge(c)
	f.Add(genuine)
	f.Add("")
	f.Add(".")
	f.Add("eyJpIjoiY2gxIn0.AAAA")
	f.Fuzz(func(t *testing.T, carried string) {
		got, ok := fx.consents.CarriedChallenge(carried, "ch1", "s1")
		if ok && (got.ID != "ch1" || got.PendingID != "req" || got.Days != 30) {
			t.Fatalf("accepted %q as %+v", carried, got)
		}
		if ok && carried != genuine {
			// Another encoding of the same signed bytes would do no harm, but
			// base64url without padding has only one.
			t.Fatalf("accepted %q besides the genuine carrier", carried)
		}
	})
}
