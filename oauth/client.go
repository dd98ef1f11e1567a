package oauth

import (
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/partners"
)

// client presents a partner to fosite.
type client struct {
	p   partners.Partner
	now time.Time
}

var (
	_ fosite.OpenIDConnectClient      = (*client)(nil)
	_ fosite.ClientWithSecretRotation = (*client)(nil)
	_ fosite.ResponseModeClient       = (*client)(nil)
)

func (c *client) GetID() string             { return c.p.ID }
func (c *client) GetHashedSecret() []byte   { return c.p.SecretHash }
func (c *client) GetRedirectURIs() []string { return c.p.RedirectURIs }

// GetGrantTypes: a partner without a redirect URI (a verifier) uses
// client credentials only.
func (c *client) GetGrantTypes() fosite.Arguments {
	if !c.p.AsksCitizens() {
		return fosite.Arguments{"client_credentials"}
	}
	return fosite.Arguments{"authorization_code", "refresh_token", "client_credentials"}
}

func (c *client) GetResponseTypes() fosite.Arguments {
	if !c.p.AsksCitizens() {
		return nil
	}
	return fosite.Arguments{"code"}
}
func (c *client) GetScopes() fosite.Arguments   { return c.p.Scopes() }
func (c *client) IsPublic() bool                { return false }
func (c *client) GetAudience() fosite.Arguments { return nil }

// GetRotatedHashes keeps a rotated-out secret working through its grace period.
func (c *client) GetRotatedHashes() [][]byte {
	if len(c.p.PreviousSecretHash) > 0 && c.now.Before(c.p.PreviousSecretExpiresAt) {
		return [][]byte{c.p.PreviousSecretHash}
	}
	return nil
}

func (c *client) GetRequestURIs() []string { return nil }

func (c *client) GetJSONWebKeys() *jose.JSONWebKeySet {
	if len(c.p.JWKS) == 0 {
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.p.JWKS, &set); err != nil {
		return nil // validated at onboarding; an unreadable set authenticates nobody
	}
	return &set
}

func (c *client) GetJSONWebKeysURI() string                { return c.p.JWKSURI }
func (c *client) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *client) GetTokenEndpointAuthMethod() string       { return c.p.TokenEndpointAuthMethod }
func (c *client) GetTokenEndpointAuthSigningAlgorithm() string {
	return c.p.TokenEndpointAuthSigningAlg
}

// GetResponseModes allows only the query response mode, where the RFC 9207
// iss parameter is added to every redirect.
func (c *client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}
