package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
)

// MaxAssertionLifetime bounds a client assertion (RFC 7523 §3: the server
// may reject an exp unreasonably far in the future): its exp may lie at
// most this far after now and after its iat. A stolen assertion is then
// worth minutes, and its jti is remembered for no longer.
const MaxAssertionLifetime = 10 * time.Minute

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClient is fosite's client authentication with two changes:
// a client assertion valid for longer than MaxAssertionLifetime is refused
// before anything is looked up, and an assertion fosite's parser rejects
// for its times (expired, not yet valid, issued in the future) is an
// invalid client, as RFC 7523 says, not a server error.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion_type") == assertionType {
		if err := assertionWindow(form.Get("client_assertion"), s.now()); err != nil {
			return nil, err
		}
	}
	c, err := s.provider.DefaultClientAuthenticationStrategy(ctx, r, form)
	var rfc *fosite.RFC6749Error
	if err != nil && !errors.As(err, &rfc) {
		return nil, fosite.ErrInvalidClient.WithHint("The client assertion is malformed, expired or not yet valid.").WithWrap(err).WithDebug(err.Error())
	}
	return c, err
}

// assertionWindow checks an assertion's exp against MaxAssertionLifetime,
// without verifying it: a refusal grants nothing, and the signature is
// verified next.
func assertionWindow(assertion string, now time.Time) error {
	tok, err := jwt.ParseSigned(assertion)
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.").WithWrap(err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion's claims cannot be read.").WithWrap(err)
	}
	if c.Expiry == nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion has no exp.")
	}
	exp := c.Expiry.Time()
	if exp.Sub(now) > MaxAssertionLifetime || (c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time()) > MaxAssertionLifetime) {
		return fosite.ErrInvalidClient.WithHintf("A client assertion may be valid for at most %s.", MaxAssertionLifetime)
	}
	return nil
}
