package consent_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// A posted answer, whatever it holds, is either refused or stays within
// the request: asked documents only, no duplicate, 1…MaxDays.
func FuzzSelect(f *testing.F) {
	f.Add("id_card,diploma", "30", "0,1", "60")
	f.Add("id_card,id_card", "1", "", "1")
	f.Add("driver_license", "-1", "x", "9999")
	f.Fuzz(func(t *testing.T, docs, days, holders, grantDays string) {
		policy := must(consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 90, MaxDays: 365}))
		r := policy.Prepare(consent.AuthRequest{ID: "r", ClientID: "bank", GrantDays: grantDays,
			Scopes: []string{"openid", "documents:id_card", "documents:diploma"}})
		if r.MaxDays < 1 || r.MaxDays > 365 {
			t.Fatalf("max days %d from grant_days %q", r.MaxDays, grantDays)
		}
		got, n, err := r.Select(strings.Split(docs, ","), days)
		if err == nil {
			if n < 1 || n > r.MaxDays {
				t.Fatalf("days %d past 1…%d", n, r.MaxDays)
			}
			for i, d := range got {
				if !slices.Contains(r.Documents, d) || slices.Contains(got[:i], d) {
					t.Fatalf("selection %v outside %v", got, r.Documents)
				}
			}
		}
		if h, err := consent.Holders(true, strings.Split(holders, ",")); err == nil && h == nil {
			t.Fatal("holders step answered nil")
		}
	})
}

// authorization_details from a partner, whatever they hold, are refused or
// parse to elements of the one type, with known documents and a holder.
func FuzzAuthorizationDetails(f *testing.F) {
	f.Add(`[{"type":"kelisim_documents","documents":["id_card"],"holder":"self","purpose":"p","duration_days":3}]`)
	f.Add(`[{"type":"kelisim_documents","documents":["birth_certificate"],"holder":"150612601232"}]`)
	f.Add(`[{}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		details, err := consent.ParseAuthorizationDetails(raw)
		if err != nil {
			return
		}
		for _, d := range details {
			if d.Type != consent.DetailType || len(d.Documents) == 0 || d.Holder == "" {
				t.Fatalf("accepted %+v from %q", d, raw)
			}
			for _, doc := range d.Documents {
				if !doc.Valid() {
					t.Fatalf("malformed document type %q accepted", doc)
				}
			}
		}
	})
}
