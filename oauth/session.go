package oauth

import (
	"bytes"
	"encoding/json"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what the gateway keeps with every code and token. Subject is
// the pairwise subject the partner sees; Citizen, the citizen's IIN, stays
// inside the gateway and is never sent to a partner.
type Session struct {
	*openid.DefaultSession
	Citizen string `json:"citizen,omitempty"`
	GrantID string `json:"grant_id,omitempty"`
	// JKT is the thumbprint of the key the tokens are bound to (DPoP,
	// RFC 9449): set by dpop_jkt at authorization or by the first token
	// request's proof; every later token request and use of a token of
	// the grant must prove that key.
	JKT string `json:"cnf_jkt,omitempty"`
	// AuthorizationDetails are what the citizen granted, in the form the
	// partner asked in (RFC 9396); none when it asked by scopes.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

var _ openid.Session = (*Session)(nil)

// NewSession returns an empty session, ready to be filled or decoded into.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.AuthorizationDetails = bytes.Clone(s.AuthorizationDetails)
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	}
	return &c
}
