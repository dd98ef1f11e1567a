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
			errs := reg.validate(false, shipped)
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

// Redirect URIs of native apps (RFC 8252) and the FAPI 2.0 profile.
func TestRedirectURIsAndProfiles(t *testing.T) {
	jwt := func(r Registration) Registration {
		r.TokenEndpointAuthMethod, r.JWKSURI = AuthPrivateKeyJWT, "https://bank.example/jwks.json"
		return r
	}
	bank := func(uris ...string) Registration {
		return Registration{ClientName: "Bank", RedirectURIs: uris, Documents: []consent.DocumentType{"id_card"}}
	}
	for _, tt := range []struct {
		name    string
		reg     Registration
		wantErr string
	}{
		{"a claimed https link", bank("https://app.examplebank.kz/oauth/callback"), ""},
		{"a private-use scheme in reverse-domain form", bank("kz.examplebank.app:/oauth/callback"), ""},
		{"javascript:", bank("javascript:alert(1)"), "redirect_uris[0]"},
		{"data:", bank("data:text/html,<script>"), "redirect_uris[0]"},
		{"a scheme that is not a domain", bank("examplebank:/oauth/callback"), "redirect_uris[0]"},
		{"a private-use scheme with a host", bank("kz.examplebank.app://callback"), "redirect_uris[0]"},
		{"a private-use scheme without a path", bank("kz.examplebank.app:callback"), "redirect_uris[0]"},
		{"a private-use scheme with a fragment", bank("kz.examplebank.app:/cb#x"), "redirect_uris[0]"},
		{"plain http elsewhere", bank("http://bank.example/cb"), "redirect_uris[0]"},
		{"fapi2 with private_key_jwt", func() Registration { r := jwt(bank("https://bank.example/cb")); r.Profile = ProfileFAPI2; return r }(), ""},
		{"fapi2 with a client secret", func() Registration {
			r := bank("https://bank.example/cb")
			r.Profile, r.TokenEndpointAuthMethod = ProfileFAPI2, AuthSecretBasic
			return r
		}(), "token_endpoint_auth_method"},
		{"fapi2 with RS256", func() Registration {
			r := jwt(bank("https://bank.example/cb"))
			r.Profile, r.TokenEndpointAuthSigningAlg = ProfileFAPI2, "RS256"
			return r
		}(), "token_endpoint_auth_signing_alg"},
		{"an unknown profile", func() Registration { r := bank("https://bank.example/cb"); r.Profile = "fapi1"; return r }(), "profile"},
	} {
		reg := tt.reg
		reg.normalize()
		errs := reg.validate(false, shipped)
		switch {
		case tt.wantErr == "" && len(errs) > 0:
			t.Errorf("%s: %v", tt.name, errs)
		case tt.wantErr != "" && !slices.ContainsFunc(errs, func(e FieldError) bool { return e.Field == tt.wantErr }):
			t.Errorf("%s: %v, want a problem with %s", tt.name, errs, tt.wantErr)
		}
	}
	// The profile holds a partner to PAR and DPoP, whatever it asked.
	r := Registration{ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, Profile: ProfileFAPI2, JWKSURI: "https://bank.example/jwks"}
	r.normalize()
	if r.TokenEndpointAuthMethod != AuthPrivateKeyJWT || !r.RequirePAR || !r.DPoPBoundAccessTokens {
		t.Errorf("fapi2 after normalizing: %+v", r)
	}
}

// shipped is the catalogue of the shipped document types.
var shipped = func() *consent.Catalogue {
	c, err := consent.ShippedCatalogue()
	if err != nil {
		panic(err)
	}
	return c
}()
