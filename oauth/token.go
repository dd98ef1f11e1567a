package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// The token endpoint: fosite's grants, with the gateway's own checks
// around them (client_credentials scopes, redirect URIs still registered,
// DPoP binding) and the extras the response carries (grant_id,
// authorization_details).

// Token serves the token endpoint: authorization_code, refresh_token and
// client_credentials. Client-credentials tokens act for no citizen and so
// never carry document, openid or offline_access scopes.
func (s *Server) Token(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DPoPNonce {
		w.Header().Set("DPoP-Nonce", s.nonces.current()) // for this proof or the next
	}
	s.settle(w, r, s.token)
}

func (s *Server) token(r *http.Request) answer {
	ctx := r.Context()
	fail := func(ar fosite.AccessRequester, err error) answer {
		return func(w http.ResponseWriter) { s.tokenError(ctx, w, ar, err) }
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, NewSession())
	if err != nil {
		return fail(ar, err)
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		ar.SetID(newRequestID()) // a new family; the other grants continue theirs
		for _, sc := range ar.GetRequestedScopes() {
			if IsCitizenScope(sc) {
				return fail(ar, fosite.ErrInvalidScope.WithHintf("Scope '%s' needs a citizen's consent; client_credentials tokens cannot carry it.", sc))
			}
			ar.GrantScope(sc)
		}
	}
	if ar.GetGrantTypes().ExactOne("authorization_code") {
		// A code is exchanged only for a redirect URI the partner still has
		// (one left out was the partner's only one, checked when the code
		// was issued).
		if uri := ar.GetRequestForm().Get("redirect_uri"); uri != "" && !slices.Contains(ar.GetClient().(*client).p.RedirectURIs, uri) {
			return fail(ar, fosite.ErrInvalidGrant.WithHint("The redirect_uri is no longer registered for this partner."))
		}
	}
	sess, _ := ar.GetSession().(*Session)
	if sess == nil {
		return fail(ar, fosite.ErrServerError.WithDebug("a token request without a gateway session"))
	}
	// A proof binds the tokens to its key; a grant already bound (by
	// dpop_jkt, or by its first tokens) takes only proofs of that key; a
	// partner registered with dpop_bound_access_tokens sends one always.
	if r.Header.Get("DPoP") != "" || sess.JKT != "" || ar.GetClient().(*client).p.DPoPBoundAccessTokens {
		jkt, err := s.CheckProof(ctx, r, "", sess.JKT)
		if err != nil {
			return fail(ar, errDPoP(err))
		}
		sess.JKT = jkt
	}
	if ar.GetGrantTypes().ExactOne("authorization_code") {
		ctx = withExchange(ctx)
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		return fail(ar, err)
	}
	if sess.JKT != "" {
		resp.SetTokenType("DPoP")
	}
	if sess.GrantID != "" {
		resp.SetExtra("grant_id", sess.GrantID) // FAPI Grant Management
	}
	if len(sess.AuthorizationDetails) > 0 {
		resp.SetExtra("authorization_details", sess.AuthorizationDetails) // RFC 9396 §7
	}
	return func(w http.ResponseWriter) {
		s.observe.TokenIssued(strings.Join(ar.GetGrantTypes(), " "))
		s.provider.WriteAccessResponse(ctx, w, ar, resp)
	}
}

func (s *Server) tokenError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	if s.storeDown(ctx, w, PathToken, err) {
		return
	}
	if errors.Is(err, errCodeUsedAtOnce) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		// Another exchange of the same code, at the same time, got there
		// first (fosite reads the code twice; either read can be the one
		// that finds it used). This one is refused like any used code. What
		// the first exchange issued stands: PKCE makes a racing exchange
		// the client's own double submit, not a thief's; a code presented
		// again after its exchange finished still revokes it.
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	s.observeError(PathToken, err)
	s.provider.WriteAccessError(ctx, w, ar, err)
}

// IsCitizenScope reports whether scope may only be granted by a citizen.
func IsCitizenScope(scope string) bool {
	return scope == partners.ScopeOpenID || scope == partners.ScopeOfflineAccess || strings.HasPrefix(scope, consent.ScopePrefix)
}
