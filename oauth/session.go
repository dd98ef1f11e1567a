package oauth

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

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
		c.DefaultSession = cloneDefault(s.DefaultSession)
	}
	return &c
}

// cloneDefault is fosite's DefaultSession.Clone without its reflection
// (a generic deep copy, about 2 % of the gateway's CPU in a consent
// flow): field by field, and the claims' and headers' extras as the
// JSON values they are. An extra of another type takes fosite's way.
// TestSessionCloneCopiesEveryField holds it to every field fosite has.
func cloneDefault(s *openid.DefaultSession) *openid.DefaultSession {
	c := *s
	if s.Claims != nil {
		claims := *s.Claims
		claims.Audience = slices.Clone(s.Claims.Audience)
		claims.AuthenticationMethodsReferences = slices.Clone(s.Claims.AuthenticationMethodsReferences)
		var ok bool
		if claims.Extra, ok = cloneJSONObject(s.Claims.Extra); !ok {
			return s.Clone().(*openid.DefaultSession)
		}
		c.Claims = &claims
	}
	if s.Headers != nil {
		headers := *s.Headers
		var ok bool
		if headers.Extra, ok = cloneJSONObject(s.Headers.Extra); !ok {
			return s.Clone().(*openid.DefaultSession)
		}
		c.Headers = &headers
	}
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	return &c
}

// cloneJSONObject deep-copies m when it holds only what JSON decodes to
// (and strings, numbers and booleans of Go's own types); else false.
func cloneJSONObject(m map[string]any) (map[string]any, bool) {
	if m == nil {
		return nil, true
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		c, ok := cloneJSONValue(v)
		if !ok {
			return nil, false
		}
		out[k] = c
	}
	return out, true
}

func cloneJSONValue(v any) (any, bool) {
	switch v := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		return v, true
	case map[string]any:
		return cloneJSONObject(v)
	case []any:
		if v == nil {
			return v, true
		}
		out := make([]any, len(v))
		for i, e := range v {
			c, ok := cloneJSONValue(e)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case []string:
		return slices.Clone(v), true
	}
	return nil, false
}
