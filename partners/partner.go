// Package partners is the registry of onboarded partners: the external
// platforms (bank apps) that are OAuth clients of the gateway, the rules they
// are admitted under, and the audit trail of every change the operator makes.
package partners

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// Status is where a partner stands with the operator.
//
//	active ──suspend──▶ suspended ──resume──▶ active
//
// A suspended partner cannot authenticate, and every token it held was
// revoked when it was suspended; resuming does not bring those tokens back.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Delivery is how documents reach a partner.
type Delivery string

const (
	DeliveryPull Delivery = "pull" // the partner fetches through the API
	DeliveryPush Delivery = "push" // the gateway posts to the partner's webhook
)

// Token endpoint authentication methods a partner may register with.
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// Scopes every partner may be allowed besides document scopes.
const (
	ScopeOpenID        = "openid"
	ScopeOfflineAccess = "offline_access"
	// ScopeMe lets a first-party app (the operator's own mobile app) act
	// on the citizen's settings through /api/v1/me/.
	ScopeMe = consent.ScopeMe
	// ScopeVerify lets a verifier check share codes.
	ScopeVerify = "verify"
)

// Registration is what the operator says about a partner when onboarding it.
// Field names follow OAuth Dynamic Client Registration (RFC 7591) metadata
// where one exists.
type Registration struct {
	ClientName   string `json:"client_name"`
	ClientNameKK string `json:"client_name#kk,omitempty"`
	ClientNameRU string `json:"client_name#ru,omitempty"`
	ClientNameEN string `json:"client_name#en,omitempty"`
	LogoURI      string `json:"logo_uri,omitempty"`

	RedirectURIs                []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	Scope                       string          `json:"scope"`
	RequirePAR                  bool            `json:"require_pushed_authorization_requests"`
	// Profile is the security profile the partner is held to: ProfileFAPI2,
	// or the gateway's baseline ("" or ProfileBaseline; a partner may ask
	// for the baseline by name where the operator made FAPI 2.0 the
	// default).
	Profile string `json:"profile,omitempty"`
	// DPoPBoundAccessTokens makes every token request of the partner
	// carry a DPoP proof, so all its tokens are bound to its key
	// (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// FirstParty marks the operator's own app, which may ask for "me".
	FirstParty bool `json:"first_party,omitempty"`
	// Verifier lets the partner check citizens' share codes (scope
	// "verify", client_credentials).
	Verifier bool `json:"verifier,omitempty"`

	Documents  []consent.DocumentType `json:"documents"`
	Delivery   Delivery               `json:"delivery"`
	WebhookURL string                 `json:"webhook_url,omitempty"`
	// DocumentEncryptionJWK, when set, is a public key (EC P-256 or RSA)
	// every document is encrypted to, after signing (JWE around the JWS).
	DocumentEncryptionJWK json.RawMessage `json:"document_encryption_jwk,omitempty"`

	// Admission is the operator's record of why the partner was admitted,
	// shown in the public register; required when onboarding.
	Admission *Admission `json:"admission,omitempty"`
}

// Admission is the decision or legal basis under which the operator
// admitted a partner.
type Admission struct {
	LegalName  string `json:"legal_name"`            // the partner's registered name
	Decision   string `json:"decision,omitempty"`    // the operator's decision, by number
	LegalBasis string `json:"legal_basis,omitempty"` // the law or licence it rests on
	Date       string `json:"date"`                  // YYYY-MM-DD
}

// Partner is an onboarded partner. Its ID is its OAuth client_id.
type Partner struct {
	ID string `json:"client_id"`
	Registration
	Status  Status `json:"status"`
	Version int    `json:"version"` // moves with every change
	// Epoch moves with every suspension: what was issued under an older
	// epoch never works again, even after the partner is resumed.
	Epoch     int       `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// SecretHash is the keyed hash of the client secret; never the secret.
	SecretHash []byte `json:"-"`
	// PreviousSecretHash stays valid until PreviousSecretExpiresAt after a
	// rotation with a grace period, so a partner can roll its deployments.
	PreviousSecretHash      []byte    `json:"-"`
	PreviousSecretExpiresAt time.Time `json:"-"`
}

// Clone returns a copy of p that shares no slice or pointer with it.
func (p Partner) Clone() Partner {
	p.RedirectURIs = slices.Clone(p.RedirectURIs)
	p.Documents = slices.Clone(p.Documents)
	p.JWKS = slices.Clone(p.JWKS)
	p.DocumentEncryptionJWK = slices.Clone(p.DocumentEncryptionJWK)
	p.SecretHash = slices.Clone(p.SecretHash)
	p.PreviousSecretHash = slices.Clone(p.PreviousSecretHash)
	if p.Admission != nil {
		a := *p.Admission
		p.Admission = &a
	}
	return p
}

// DeliveryInfo is what document delivery needs to know of the partner.
func (p Partner) DeliveryInfo() consent.PartnerInfo {
	names := map[string]string{}
	for _, l := range consent.Languages {
		names[l] = p.DisplayName(l)
	}
	return consent.PartnerInfo{ID: p.ID, Name: p.ClientName, Names: names, Delivery: string(p.Delivery), WebhookURL: p.WebhookURL,
		EncryptionJWK: p.DocumentEncryptionJWK}
}

// AsksCitizens reports whether the partner uses the authorization flow
// (it has a redirect URI); a verifier without one uses client credentials
// only.
func (r Registration) AsksCitizens() bool { return len(r.RedirectURIs) > 0 }

// Scopes returns the scopes the partner may request.
func (p Partner) Scopes() []string { return strings.Fields(p.Scope) }

// DisplayName is the partner's name in the language lang (kk, ru or en),
// falling back to client_name.
func (p Partner) DisplayName(lang string) string {
	var n string
	switch lang {
	case "kk":
		n = p.ClientNameKK
	case "ru":
		n = p.ClientNameRU
	case "en":
		n = p.ClientNameEN
	}
	if n == "" {
		return p.ClientName
	}
	return n
}

// Signing algorithms a partner may sign its client assertions with; the
// FAPI 2.0 profile takes only fapi2Algs.
var (
	assertionAlgs = []string{"ES256", "RS256", "PS256"}
	fapi2Algs     = []string{"ES256", "PS256"}
)

// ProfileFAPI2 holds a partner to the FAPI 2.0 Security Profile: pushed
// authorization requests, private_key_jwt with ES256 or PS256, and
// DPoP-bound tokens. (PKCE S256, codes and request_uri of at most 60 s
// and iss on authorization responses hold for every partner.)
const (
	ProfileFAPI2    = "fapi2"
	ProfileBaseline = "baseline"
)

// normalize fills defaults the operator may leave out.
func (r *Registration) normalize() {
	r.ClientName = strings.TrimSpace(r.ClientName)
	if r.TokenEndpointAuthMethod == "" {
		r.TokenEndpointAuthMethod = AuthSecretBasic
		if r.Profile == ProfileFAPI2 {
			r.TokenEndpointAuthMethod = AuthPrivateKeyJWT
		}
	}
	if r.Profile == ProfileFAPI2 {
		r.RequirePAR, r.DPoPBoundAccessTokens = true, true
	}
	if r.TokenEndpointAuthMethod == AuthPrivateKeyJWT && r.TokenEndpointAuthSigningAlg == "" {
		r.TokenEndpointAuthSigningAlg = "ES256"
	}
	if r.Delivery == "" {
		r.Delivery = DeliveryPull
	}
	if r.RedirectURIs == nil {
		r.RedirectURIs = []string{}
	}
	if strings.TrimSpace(r.Scope) == "" {
		var scopes []string
		if r.AsksCitizens() {
			scopes = append(scopes, ScopeOpenID, ScopeOfflineAccess)
		}
		for _, d := range r.Documents {
			scopes = append(scopes, d.Scope())
		}
		if r.FirstParty {
			scopes = append(scopes, ScopeMe)
		}
		if r.Verifier {
			scopes = append(scopes, ScopeVerify)
		}
		r.Scope = strings.Join(scopes, " ")
	}
	r.Scope = strings.Join(strings.Fields(r.Scope), " ")
}

// validate returns every problem with the registration, field by field.
func (r *Registration) validate(allowLoopback bool, types *consent.Catalogue) []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if r.ClientName == "" {
		add("client_name", "is required")
	} else if len(r.ClientName) > 200 {
		add("client_name", "is longer than 200 characters")
	}
	if a := r.Admission; a != nil {
		_, derr := time.Parse("2006-01-02", a.Date)
		switch {
		case strings.TrimSpace(a.LegalName) == "" || len(a.LegalName) > 300:
			add("admission.legal_name", "is required (at most 300 characters)")
		case strings.TrimSpace(a.Decision) == "" && strings.TrimSpace(a.LegalBasis) == "":
			add("admission", "needs the decision or the legal basis the partner was admitted under")
		case len(a.Decision) > 300 || len(a.LegalBasis) > 300:
			add("admission", "decision and legal_basis are at most 300 characters each")
		case derr != nil:
			add("admission.date", "is a date like 2026-11-30")
		}
	}
	if r.LogoURI != "" {
		if err := checkURL(r.LogoURI, allowLoopback); err != nil {
			add("logo_uri", "%v", err)
		}
	}
	if !r.AsksCitizens() && (!r.Verifier || len(r.Documents) > 0) {
		add("redirect_uris", "at least one redirect URI is required (only a verifier that asks for no documents may have none)")
	}
	for i, u := range r.RedirectURIs {
		if err := checkRedirectURI(u, allowLoopback); err != nil {
			add(fmt.Sprintf("redirect_uris[%d]", i), "%v", err)
		}
	}
	switch r.Profile {
	case "", ProfileBaseline:
	case ProfileFAPI2:
		if r.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
			add("token_endpoint_auth_method", "the %s profile takes %s only", ProfileFAPI2, AuthPrivateKeyJWT)
		} else if !slices.Contains(fapi2Algs, r.TokenEndpointAuthSigningAlg) {
			add("token_endpoint_auth_signing_alg", "the %s profile takes %s", ProfileFAPI2, strings.Join(fapi2Algs, " or "))
		}
	default:
		add("profile", "must be %q or %q", ProfileBaseline, ProfileFAPI2)
	}
	switch r.TokenEndpointAuthMethod {
	case AuthSecretBasic:
		if len(r.JWKS) > 0 || r.JWKSURI != "" {
			add("token_endpoint_auth_method", "jwks and jwks_uri are for private_key_jwt")
		}
	case AuthPrivateKeyJWT:
		if !slices.Contains(assertionAlgs, r.TokenEndpointAuthSigningAlg) {
			add("token_endpoint_auth_signing_alg", "must be one of %s", strings.Join(assertionAlgs, ", "))
		}
		switch {
		case len(r.JWKS) > 0 && r.JWKSURI != "":
			add("jwks", "give jwks or jwks_uri, not both")
		case len(r.JWKS) > 0:
			if err := checkJWKS(r.JWKS); err != nil {
				add("jwks", "%v", err)
			}
		case r.JWKSURI != "":
			if err := checkURL(r.JWKSURI, allowLoopback); err != nil {
				add("jwks_uri", "%v", err)
			}
		default:
			add("jwks", "private_key_jwt needs jwks or jwks_uri")
		}
	default:
		add("token_endpoint_auth_method", "must be %s or %s", AuthSecretBasic, AuthPrivateKeyJWT)
	}
	seen := map[consent.DocumentType]bool{}
	for i, d := range r.Documents {
		switch {
		case !types.Known(d):
			add(fmt.Sprintf("documents[%d]", i), "unknown document type %q", d)
		case seen[d]:
			add(fmt.Sprintf("documents[%d]", i), "%q is listed twice", d)
		}
		seen[d] = true
	}
	for _, s := range strings.Fields(r.Scope) {
		if !r.AsksCitizens() && (s == ScopeOpenID || s == ScopeOfflineAccess || s == ScopeMe || strings.HasPrefix(s, consent.ScopePrefix)) {
			add("scope", "%q needs a citizen's consent, which needs a redirect URI", s)
			continue
		}
		switch {
		case s == ScopeOpenID || s == ScopeOfflineAccess:
		case s == ScopeMe:
			if !r.FirstParty {
				add("scope", "%q is only for the operator's first-party app", s)
			}
		case s == ScopeVerify:
			if !r.Verifier {
				add("scope", "%q is only for partners onboarded as verifiers", s)
			}
		case strings.HasPrefix(s, consent.ScopePrefix):
			if d := consent.DocumentType(strings.TrimPrefix(s, consent.ScopePrefix)); !seen[d] {
				add("scope", "%q asks for a document not listed in documents", s)
			}
		default:
			add("scope", "unknown scope %q", s)
		}
	}
	switch r.Delivery {
	case DeliveryPull:
	case DeliveryPush:
		if r.WebhookURL == "" {
			add("webhook_url", "push delivery needs a webhook_url")
		}
	default:
		add("delivery", "must be %q or %q", DeliveryPull, DeliveryPush)
	}
	if r.WebhookURL != "" {
		if err := checkURL(r.WebhookURL, allowLoopback); err != nil {
			add("webhook_url", "%v", err)
		}
	}
	if len(r.DocumentEncryptionJWK) > 0 {
		if err := checkEncryptionKey(r.DocumentEncryptionJWK); err != nil {
			add("document_encryption_jwk", "%v", err)
		}
	}
	return errs
}
