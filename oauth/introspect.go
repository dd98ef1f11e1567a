package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// Introspect serves token introspection (RFC 7662). The caller authenticates
// as a partner (client_secret_basic or private_key_jwt) and learns about its
// own tokens only: another partner's token is reported inactive, exactly as
// an unknown one, so introspection reveals nothing across partners.
func (s *Server) Introspect(w http.ResponseWriter, r *http.Request) { s.settle(w, r, s.introspect) }

func (s *Server) introspect(r *http.Request) answer {
	ctx := r.Context()
	fail := func(err error) answer {
		return func(w http.ResponseWriter) {
			if !s.storeDown(ctx, w, PathIntrospect, err) {
				s.jsonError(w, err, PathIntrospect)
			}
		}
	}
	if r.Method != http.MethodPost {
		return fail(fosite.ErrInvalidRequest.WithHint("Introspection takes POST."))
	}
	if err := r.ParseForm(); err != nil {
		return fail(fosite.ErrInvalidRequest.WithHint("The body is not a form."))
	}
	caller, err := s.provider.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return fail(fosite.ErrInvalidClient.WithWrap(err))
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return fail(fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
	}
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), NewSession())
	if consent.StoreFailed(ctx, err) {
		return fail(err) // never "active": false for a token the store was not asked about
	}
	if err != nil || ar.GetClient().GetID() != caller.GetID() {
		return func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]any{"active": false}) }
	}
	sess, _ := ar.GetSession().(*Session)
	out := map[string]any{
		"active":    true,
		"client_id": ar.GetClient().GetID(),
		"iat":       ar.GetRequestedAt().Unix(),
		"iss":       s.cfg.Issuer,
		"aud":       []string{ar.GetClient().GetID()},
	}
	if scopes := ar.GetGrantedScopes(); len(scopes) > 0 {
		out["scope"] = strings.Join(scopes, " ")
	}
	switch use {
	case fosite.AccessToken:
		out["token_type"] = "Bearer"
		if sess != nil && sess.JKT != "" {
			out["token_type"] = "DPoP"
		}
		out["exp"] = ar.GetSession().GetExpiresAt(fosite.AccessToken).Unix()
	case fosite.RefreshToken:
		out["token_type"] = "refresh_token"
		if exp := ar.GetSession().GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
			out["exp"] = exp.Unix()
		}
	}
	if sess != nil && sess.Subject != "" {
		out["sub"] = sess.Subject
	}
	if sess != nil && sess.GrantID != "" {
		out["grant_id"] = sess.GrantID
	}
	if sess != nil && sess.JKT != "" {
		out["cnf"] = map[string]string{"jkt": sess.JKT}
	}
	if sess != nil && len(sess.AuthorizationDetails) > 0 {
		out["authorization_details"] = sess.AuthorizationDetails
	}
	return func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, out) }
}

// Userinfo serves the OpenID Connect userinfo endpoint. It answers only the
// pairwise subject: a citizen's data reaches partners as signed documents.
// It takes an access token, and only in the Authorization header: a token
// in a query or a form body leaks into logs and histories, and a refresh
// token is never a bearer token.
func (s *Server) Userinfo(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(withRequestCache(r.Context()))
	ctx := r.Context()
	info, err := s.Access(r)
	var refused *ResourceError
	switch {
	case errors.As(err, &refused):
		if refused.Nonce != "" {
			w.Header().Set("DPoP-Nonce", refused.Nonce)
		}
		w.Header().Set("WWW-Authenticate", refused.Challenge)
		s.jsonError(w, fosite.ErrRequestUnauthorized.WithHint(refused.Description), PathUserinfo)
		return
	case err != nil:
		if !s.storeDown(ctx, w, PathUserinfo, err) {
			s.jsonError(w, fosite.ErrServerError.WithWrap(err), PathUserinfo)
		}
		return
	}
	scheme := info.JKT != ""
	if info.DPoPNonce != "" {
		w.Header().Set("DPoP-Nonce", info.DPoPNonce)
	}
	if !slices.Contains(info.Scopes, "openid") {
		w.Header().Set("WWW-Authenticate", strings.Replace(Challenge(scheme, "insufficient_scope"), `"insufficient_scope"`, `"insufficient_scope", scope="openid"`, 1))
		s.jsonError(w, fosite.ErrRequestForbidden.WithHint("The token was not granted the openid scope."), PathUserinfo)
		return
	}
	if info.Subject == "" {
		s.jsonError(w, fosite.ErrRequestForbidden.WithHint("The token acts for no citizen."), PathUserinfo)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": info.Subject})
}

// BearerToken returns the token of an "Authorization: Bearer" header (the
// scheme is case-insensitive, RFC 7235 §2.1), and only from there.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Discovery serves the OpenID Provider metadata.
func (s *Server) Discovery(w http.ResponseWriter, _ *http.Request) {
	iss := s.cfg.Issuer
	scopes := append([]string{"openid", "offline_access"}, s.cfg.DocumentScopes...)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + PathAuthorize,
		"token_endpoint":                                   iss + PathToken,
		"pushed_authorization_request_endpoint":            iss + PathPAR,
		"introspection_endpoint":                           iss + PathIntrospect,
		"revocation_endpoint":                              iss + PathRevoke,
		"userinfo_endpoint":                                iss + PathUserinfo,
		"jwks_uri":                                         iss + PathJWKS,
		"scopes_supported":                                 scopes,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                          []string{"pairwise"},
		"id_token_signing_alg_values_supported":            []string{"ES256"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256", "RS256", "PS256"},
		"introspection_endpoint_auth_methods_supported":    []string{"client_secret_basic", "private_key_jwt"},
		"revocation_endpoint_auth_methods_supported":       []string{"client_secret_basic", "private_key_jwt"},
		"authorization_response_iss_parameter_supported":   true,
		"dpop_signing_alg_values_supported":                strings.Fields(DPoPAlgValues),
		"grant_management_endpoint":                        iss + PathGrants,
		"authorization_details_types_supported":            []string{consent.DetailType},
		"grant_management_actions_supported":               []string{"query", "revoke", "merge", "replace"},
		"grant_management_action_required":                 false,
		"require_pushed_authorization_requests":            false,
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce"},
		"ui_locales_supported":                             []string{"kk", "ru", "en"},
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"claims_parameter_supported":                       false,
		"prompt_values_supported":                          []string{"login", "consent"},
	})
}

// JWKS serves the public keys that verify ID tokens.
func (s *Server) JWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, s.keys.JWKS())
}

// jsonError writes an OAuth error as JSON (RFC 6749 §5.2).
func (s *Server) jsonError(w http.ResponseWriter, err error, endpoint string) {
	s.observeError(endpoint, err)
	e := fosite.ErrorToRFC6749Error(err)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, e.StatusCode(), map[string]string{"error": e.ErrorField, "error_description": e.GetDescription()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// AccessInfo is what an active access token says, for resource endpoints.
type AccessInfo struct {
	ClientID string
	Subject  string // pairwise
	Citizen  string // IIN; empty for client_credentials tokens
	GrantID  string
	Scopes   []string
	// JKT is the thumbprint of the key the token is bound to (DPoP); empty
	// for a bearer token.
	JKT string
	// DPoPNonce, when set, is the nonce to hand back in the DPoP-Nonce
	// header of the answer.
	DPoPNonce string

	// Read with the token in the same round trip, so a resource endpoint
	// need not read them again: the token's partner, and its grant (nil
	// for a token that acts for no citizen).
	Partner partners.Partner
	Grant   *consent.Grant
}

// ErrInvalidToken: the token is unknown, expired, revoked, or its partner
// or grant no longer holds.
var ErrInvalidToken = errors.New("invalid access token")

// AccessToken checks a bearer access token, on every call against the
// store, so a revocation holds from the next request on. Returns
// ErrInvalidToken, or consent.ErrUnavailable when the store could not be
// asked.
func (s *Server) AccessToken(ctx context.Context, token string) (AccessInfo, error) {
	ctx = withRequestCache(ctx)
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	if consent.StoreFailed(ctx, err) {
		return AccessInfo{}, fmt.Errorf("check access token: %w", consent.ErrUnavailable)
	}
	if err != nil || use != fosite.AccessToken {
		return AccessInfo{}, ErrInvalidToken
	}
	sess, _ := ar.GetSession().(*Session)
	info := AccessInfo{ClientID: ar.GetClient().GetID(), Scopes: ar.GetGrantedScopes()}
	if sess != nil {
		info.Subject, info.Citizen, info.GrantID, info.JKT = sess.Subject, sess.Citizen, sess.GrantID, sess.JKT
	}
	cache := cacheOf(ctx)
	info.Partner, _ = cache.partner(info.ClientID)
	if g, ok := cache.grant(info.GrantID); ok && info.GrantID != "" {
		info.Grant = &g
	}
	return info, nil
}
