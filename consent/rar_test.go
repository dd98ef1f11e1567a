package consent_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// authorization_details of type kelisim_documents: what is accepted, and
// how they describe the same request as scopes do.
func TestAuthorizationDetails(t *testing.T) {
	for raw, ok := range map[string]bool{
		``: true,
		`[{"type":"kelisim_documents","documents":["id_card"]}]`:                                                     true,
		`[{"type":"kelisim_documents","documents":["id_card"],"holder":"self","purpose":"loan","duration_days":30}]`: true,
		`[{"type":"kelisim_documents","documents":["birth_certificate"],"holder":"150612601232"}]`:                   true,
		`[{"type":"payment_initiation","documents":["id_card"]}]`:                                                    false,
		`[{"type":"kelisim_documents","documents":[]}]`:                                                              false,
		`[{"type":"kelisim_documents","documents":["Passport of Mars"]}]`:                                            false,
		`[{"type":"kelisim_documents","documents":["id_card","id_card"]}]`:                                           false,
		`[{"type":"kelisim_documents","documents":["id_card"],"holder":"150612601233"}]`:                             false,
		`[{"type":"kelisim_documents","documents":["id_card"],"duration_days":-1}]`:                                  false,
		`[{"type":"kelisim_documents","documents":["id_card"],"extra":1}]`:                                           false,
		`{"type":"kelisim_documents","documents":["id_card"]}`:                                                       false,
		`[]`: false,
	} {
		_, err := consent.ParseAuthorizationDetails(raw)
		if (err == nil) != ok || (err != nil && (!errors.Is(err, consent.ErrAuthorizationDetails) || consent.KindOf(err) != consent.KindInvalid)) {
			t.Errorf("%s: %v", raw, err)
		}
	}
	policy := must(consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 90, MaxDays: 365}))
	r := policy.Prepare(consent.AuthRequest{ID: "r", ClientID: "bank", Scopes: []string{"openid", "documents:id_card"}, Purpose: "from the parameter",
		AuthorizationDetails: `[{"type":"kelisim_documents","documents":["id_card","driver_license"],"purpose":"a car loan","duration_days":14},` +
			`{"type":"kelisim_documents","documents":["birth_certificate"],"holder":"150612601232"}]`})
	if !slices.Equal(r.Documents, []consent.DocumentType{"id_card", "driver_license", "birth_certificate"}) || r.MaxDays != 14 || r.Purpose != "a car loan" {
		t.Errorf("the request: %v %d %q", r.Documents, r.MaxDays, r.Purpose)
	}
	if got := r.AskedHolders(); !slices.Equal(got, []string{"self", "150612601232"}) {
		t.Errorf("asked holders: %v", got)
	}
}

// A partner that names holders gets only theirs: "self" alone asks a legal
// representative nothing more; a child's IIN offers only that child.
func TestAskedHoldersBoundTheChoice(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	grant := func(asked []string, choose func(c consent.Challenge, code string) (consent.Grant, error)) (consent.Grant, error) {
		before := f.sms.count()
		c, err := start(f, aigerim, aigerimTel, "10.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		return choose(c, codeIn(t, f.sms.waitSent(t, before+1)[before].text))
	}
	approve := func(c consent.Challenge, code string, holders []int, asked []string) (consent.Grant, error) {
		return f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "s-10.0.0.2", Code: code,
			Documents: c.Documents, Days: c.Days, Holders: holders, Asked: asked})
	}
	g, err := grant(nil, func(c consent.Challenge, code string) (consent.Grant, error) {
		return approve(c, code, nil, []string{"self"})
	})
	if err != nil || !slices.Equal(g.Holders, []consent.IIN{aigerim}) {
		t.Fatalf("a representative asked for her own documents only: %v %v", g.Holders, err)
	}
	child := []string{string(childIIN())}
	g, err = grant(nil, func(c consent.Challenge, code string) (consent.Grant, error) {
		if _, err := approve(c, code, nil, child); !errors.Is(err, consent.ErrChooseHolders) {
			t.Fatalf("asked for the child: %v", err)
		}
		hs, err := f.consents.Holders(ctx, c.ID, "s-10.0.0.2", child)
		if err != nil || len(hs) != 1 || hs[0].Position != 1 || hs[0].Relation != consent.RelationRepresented {
			t.Fatalf("holders offered: %+v %v", hs, err)
		}
		if _, err := approve(c, "", []int{0}, child); !errors.Is(err, consent.ErrSelectionChanged) {
			t.Errorf("choosing herself when only the child was asked: %v", err)
		}
		return approve(c, "", []int{1}, child)
	})
	if err != nil || !slices.Equal(g.Holders, []consent.IIN{consent.IIN(child[0])}) {
		t.Fatalf("the child's grant: %v %v", g.Holders, err)
	}
	r := consent.Request{Details: []consent.DocumentDetail{{Type: consent.DetailType, Documents: []consent.DocumentType{"id_card", "diploma"}, Holder: child[0]}}}
	g.Documents = []consent.DocumentType{"id_card"}
	if got := r.Granted(g); len(got) != 1 || got[0].Holder != child[0] || !slices.Equal(got[0].Documents, []consent.DocumentType{"id_card"}) || got[0].DurationDays != 30 {
		t.Errorf("granted details: %+v", got)
	}
}

func childIIN() consent.IIN { return child }
