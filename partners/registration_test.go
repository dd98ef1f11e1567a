package partners

import (
	"slices"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

func TestRegistrationDefaultsAndRules(t *testing.T) {
	tests := []struct {
		name      string
		reg       Registration
		wantScope []string // all of these, and no others
		wantErr   string   // a field with a problem
	}{
		{name: "bank", reg: Registration{ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, Documents: []consent.DocumentType{"id_card"}},
			wantScope: []string{"openid", "offline_access", "documents:id_card"}},
		{name: "the operator's app gets me without asking", reg: Registration{ClientName: "eGov", RedirectURIs: []string{"https://egov.example/cb"}, FirstParty: true},
			wantScope: []string{"openid", "offline_access", "me"}},
		{name: "a verifier needs no redirect URI", reg: Registration{ClientName: "Airport", Verifier: true},
			wantScope: []string{"verify"}},
		{name: "a verifier with a redirect URI may also ask citizens", reg: Registration{ClientName: "Airport", Verifier: true, RedirectURIs: []string{"https://airport.example/cb"}},
			wantScope: []string{"openid", "offline_access", "verify"}},
		{name: "a bank needs a redirect URI", reg: Registration{ClientName: "Bank", Documents: []consent.DocumentType{"id_card"}},
			wantErr: "redirect_uris"},
		{name: "a verifier asking for documents needs a redirect URI", reg: Registration{ClientName: "Airport", Verifier: true, Documents: []consent.DocumentType{"id_card"}},
			wantErr: "redirect_uris"},
		{name: "without a redirect URI no citizen scope", reg: Registration{ClientName: "Airport", Verifier: true, Scope: "openid verify"},
			wantErr: "scope"},
		{name: "me only for the first party", reg: Registration{ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, Scope: "openid me"},
			wantErr: "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := tt.reg
			reg.normalize()
			errs := reg.validate(false)
			if tt.wantErr != "" {
				if !slices.ContainsFunc(errs, func(e FieldError) bool { return strings.HasPrefix(e.Field, tt.wantErr) }) {
					t.Errorf("problems %v, want one with %s", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("problems: %v", errs)
			}
			got := strings.Fields(reg.Scope)
			slices.Sort(got)
			want := slices.Clone(tt.wantScope)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("scope %q, want %q", got, want)
			}
		})
	}
}
