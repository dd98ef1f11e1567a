// Package oauth is Kelisim's OAuth 2.0 and OpenID Connect server, composed
// from github.com/ory/fosite. It is the only package that uses fosite and
// go-jose/v3. Partners are its clients; the citizen's consent is asked
// through the Consent interface.
package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// minParameterEntropy is the shortest state and nonce accepted.
const minParameterEntropy = 8

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize     = "/oauth2/auth"
	PathToken         = "/oauth2/token"
	PathPAR           = "/oauth2/par"
	PathIntrospect    = "/oauth2/introspect"
	PathRevoke        = "/oauth2/revoke"
	PathUserinfo      = "/userinfo"
	PathJWKS          = "/.well-known/jwks.json"
	PathDiscovery     = "/.well-known/openid-configuration"
	PathGrants        = "/grants" // grant management: /grants/{grant_id}
	parRequestURIBase = "urn:ietf:params:oauth:request_uri:"
)

// Config says how the server issues tokens.
type Config struct {
	// Issuer is the gateway's public base URL, without a trailing slash.
	Issuer string
	// AccessTokenLifespan is how long an access token works (≤ 10 min by default).
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan bounds a refresh token.
	RefreshTokenLifespan time.Duration
	// AuthorizeCodeLifespan is how long a code may wait to be exchanged (≤ 60 s).
	AuthorizeCodeLifespan time.Duration
	// IDTokenLifespan is the lifetime of an ID token.
	IDTokenLifespan time.Duration
	// ConsentLifespan is how long an authorization request waits for the citizen.
	ConsentLifespan time.Duration
	// PendingPerAddress bounds the authorization requests one client
	// address may leave waiting within a ConsentLifespan; zero: no bound.
	// Each waits in the store, and asking costs no credential.
	PendingPerAddress int
	// Limiter counts them, in the store so the bound holds across
	// replicas; needed when PendingPerAddress is set.
	Limiter consent.Limiter

	// DPoPNonce makes every DPoP proof carry a nonce the server gave
	// (DPoP-Nonce), so a proof cannot be made ahead of time.
	DPoPNonce bool

	// What the server works with; all needed.
	Store    Store
	Partners PartnerGetter // may serve from a cache the store keeps current
	Keys     *Keys
	Secrets  *Secrets
	Consent  Consent             // decides every authorization request
	Grants   consent.GrantGetter // the grants a request may merge into or replace
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time
	// DocumentScopes are the scopes discovery lists: one per document type.
	DocumentScopes []string
}

// Defaults for Config fields left zero.
const (
	DefaultAccessTokenLifespan   = 10 * time.Minute
	DefaultRefreshTokenLifespan  = 30 * 24 * time.Hour
	DefaultAuthorizeCodeLifespan = time.Minute
	DefaultIDTokenLifespan       = 10 * time.Minute
	DefaultConsentLifespan       = 15 * time.Minute
)

func (c *Config) setDefaults() {
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if c.AccessTokenLifespan == 0 {
		c.AccessTokenLifespan = DefaultAccessTokenLifespan
	}
	if c.RefreshTokenLifespan == 0 {
		c.RefreshTokenLifespan = DefaultRefreshTokenLifespan
	}
	if c.AuthorizeCodeLifespan == 0 {
		c.AuthorizeCodeLifespan = DefaultAuthorizeCodeLifespan
	}
	if c.IDTokenLifespan == 0 {
		c.IDTokenLifespan = DefaultIDTokenLifespan
	}
	if c.ConsentLifespan == 0 {
		c.ConsentLifespan = DefaultConsentLifespan
	}
}

// Observer is told what the server did, for metrics.
type Observer interface {
	TokenIssued(grantType string)
	OAuthError(endpoint, kind string)
}

// Server serves the OAuth 2.0 / OpenID Connect endpoints.
type Server struct {
	cfg      Config
	provider *fosite.Fosite
	storage  *fositeStorage
	keys     *Keys
	secrets  *Secrets
	nonces   nonces
	consent  Consent
	observe  Observer
	log      *slog.Logger
	now      func() time.Time
	carrier  carrier // seals pending requests for the browser
}

// fositeConfig adds to fosite's configuration what it cannot express.
type fositeConfig struct {
	*fosite.Config
	issuer string
}

// GetTokenURLs lets a client assertion name the issuer as its audience, as
// certified relying-party libraries do, besides the token endpoint.
func (c *fositeConfig) GetTokenURLs(context.Context) []string {
	return []string{c.TokenURL, c.issuer, c.issuer + "/"}
}

// New composes the server. consent decides every authorization request.
// Every use of a token issued under a grant reads the grant with it, so a
// revoked or expired grant ends its tokens at once.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || cfg.Store == nil || cfg.Partners == nil || cfg.Keys == nil || cfg.Secrets == nil ||
		cfg.Consent == nil || cfg.Grants == nil || cfg.Observer == nil || cfg.Log == nil || cfg.Now == nil || (cfg.PendingPerAddress > 0 && cfg.Limiter == nil) {
		return nil, errors.New("oauth.New: Issuer, Store, Partners, Keys, Secrets, Consent, Grants, Observer, Log, Now (and Limiter with PendingPerAddress) are needed")
	}
	cfg.setDefaults()
	keys, secrets := cfg.Keys, cfg.Secrets
	st := &fositeStorage{store: cfg.Store, partners: cfg.Partners, now: cfg.Now}
	fc := &fosite.Config{
		AccessTokenLifespan:             cfg.AccessTokenLifespan,
		RefreshTokenLifespan:            cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:           cfg.AuthorizeCodeLifespan,
		IDTokenLifespan:                 cfg.IDTokenLifespan,
		IDTokenIssuer:                   cfg.Issuer,
		AccessTokenIssuer:               cfg.Issuer,
		TokenURL:                        cfg.Issuer + PathToken,
		GlobalSecret:                    secrets.tokenHMAC,
		ClientSecretsHasher:             secrets,
		EnforcePKCE:                     true,
		EnablePKCEPlainChallengeMethod:  false,
		ScopeStrategy:                   fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:        fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:              []string{partners.ScopeOfflineAccess},
		PushedAuthorizeRequestURIPrefix: parRequestURIBase,
		PushedAuthorizeContextLifespan:  time.Minute,
		MinParameterEntropy:             minParameterEntropy,
		AllowedPromptValues:             []string{"login", "none", "consent"},
		JWKSFetcherStrategy:             fosite.NewDefaultJWKSFetcherStrategy(fosite.JWKSFetcherWithHTTPClient(jwksClient())),
	}
	conf := &fositeConfig{Config: fc, issuer: cfg.Issuer}
	keyGetter := func(context.Context) (interface{}, error) {
		kid, priv := keys.Current()
		return &jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "ES256", Use: "sig"}, nil
	}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(conf),
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: &jwt.DefaultSigner{GetPrivateKey: keyGetter}, Config: conf},
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	provider := fosite.NewOAuth2Provider(st, conf)
	for _, factory := range []compose.Factory{
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.PushedAuthorizeHandlerFactory,
	} {
		h := factory(conf, st, strategy)
		if ah, ok := h.(fosite.AuthorizeEndpointHandler); ok {
			fc.AuthorizeEndpointHandlers.Append(ah)
		}
		if th, ok := h.(fosite.TokenEndpointHandler); ok {
			// Appended as they are: Append keeps one handler of a type.
			fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, ownRequestsOnly{th})
		}
		if ti, ok := h.(fosite.TokenIntrospector); ok {
			fc.TokenIntrospectionHandlers.Append(ti)
		}
		if rh, ok := h.(fosite.RevocationHandler); ok {
			fc.RevocationHandlers.Append(rh)
		}
		if ph, ok := h.(fosite.PushedAuthorizeEndpointHandler); ok {
			fc.PushedAuthorizeEndpointHandlers.Append(ph)
		}
	}
	srv := &Server{cfg: cfg, provider: provider, storage: st, keys: keys, secrets: secrets,
		nonces:  nonces{key: secrets.Key("dpop-nonce"), now: cfg.Now},
		consent: cfg.Consent, observe: cfg.Observer, log: cfg.Log, now: cfg.Now, carrier: newCarrier(secrets)}
	fc.ClientAuthenticationStrategy = srv.authenticateClient
	return srv, nil
}

// ownRequestsOnly answers a token request only in the handler that
// handles it. fosite asks every token handler to answer every request,
// and each that does not handle it says so with an error carrying a stack
// trace: in an exchange of a code, the client credentials and refresh
// handlers' traces cost about 1 % of the gateway's CPU in a consent flow.
type ownRequestsOnly struct{ fosite.TokenEndpointHandler }

func (h ownRequestsOnly) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, req, resp)
}

// jwksClient fetches partners' jwks_uri: bounded in time and retries, and
// logging nothing of its own.
func jwksClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = 2
	c.Logger = nil
	c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	return c
}

// TokenRevoker returns what ends a partner's tokens on suspension.
func (s *Server) TokenRevoker() partners.TokenRevoker { return s.storage }

// PAR serves the pushed authorization request endpoint (RFC 9126).
func (s *Server) PAR(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DPoPNonce && r.Header.Get("DPoP") != "" {
		w.Header().Set("DPoP-Nonce", s.nonces.current())
	}
	s.settle(w, r, s.par)
}

func (s *Server) par(r *http.Request) answer {
	ctx := r.Context()
	fail := func(ar fosite.AuthorizeRequester, err error) answer {
		return func(w http.ResponseWriter) { s.parError(ctx, w, ar, err) }
	}
	ar, err := s.provider.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		return fail(ar, err)
	}
	ar.SetID(newRequestID()) // the authorization it starts keeps it
	c := ar.GetClient().(*client)
	if !slices.Contains(c.p.RedirectURIs, ar.GetRequestForm().Get("redirect_uri")) {
		return fail(ar, fosite.ErrInvalidRequest.WithHint("The redirect_uri does not exactly match a registered one."))
	}
	if err := checkDPoPJKT(ar); err != nil {
		return fail(ar, err)
	}
	if err := checkAuthorizationDetails(ar, c.p); err != nil {
		return fail(ar, err)
	}
	if err := s.checkGrantManagement(ctx, ar); err != nil {
		return fail(ar, err)
	}
	// A proof sent with the PAR binds the code to its key, as dpop_jkt
	// would (RFC 9449 §10.1); with both, they must agree.
	if r.Header.Get("DPoP") != "" {
		jkt, err := s.CheckProof(ctx, r, "", ar.GetRequestForm().Get("dpop_jkt"))
		if err != nil {
			return fail(ar, errDPoP(err))
		}
		ar.GetRequestForm().Set("dpop_jkt", jkt)
	}
	resp, err := s.provider.NewPushedAuthorizeResponse(ctx, ar, NewSession())
	if err != nil {
		return fail(ar, err)
	}
	return func(w http.ResponseWriter) { s.provider.WritePushedAuthorizeResponse(ctx, w, ar, resp) }
}

func (s *Server) parError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if s.storeDown(ctx, w, PathPAR, err) {
		return
	}
	s.observeError(PathPAR, err)
	s.provider.WritePushedAuthorizeError(ctx, w, ar, err)
}

// Revoke serves token revocation (RFC 7009). A partner can revoke only its
// own tokens; revoking a refresh token revokes its family.
func (s *Server) Revoke(w http.ResponseWriter, r *http.Request) { s.settle(w, r, s.revoke) }

func (s *Server) revoke(r *http.Request) answer {
	ctx := r.Context()
	err := s.provider.NewRevocationRequest(ctx, r)
	return func(w http.ResponseWriter) {
		// fosite answers 200 to any error it does not know, so a
		// revocation the store never saw would pass for done.
		if consent.StoreFailed(ctx, err) {
			s.storeDown(ctx, w, PathRevoke, err)
			return
		}
		if err != nil {
			s.observeError(PathRevoke, err)
		}
		s.provider.WriteRevocationResponse(ctx, w, err)
	}
}

// storeDown answers 503 temporarily_unavailable with Retry-After when the
// store failed while serving this request, whatever fosite made of the
// failure (an unknown client, an inactive token); it reports whether it
// answered.
func (s *Server) storeDown(ctx context.Context, w http.ResponseWriter, endpoint string, err error) bool {
	if !consent.StoreFailed(ctx, err) {
		return false
	}
	s.observe.OAuthError(endpoint, "temporarily_unavailable")
	s.log.WarnContext(ctx, "store unavailable", "endpoint", endpoint, "err", err)
	w.Header().Set("Retry-After", RetryAfterUnavailable)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable",
		"error_description": "The gateway cannot reach its store right now; try again shortly."})
	return true
}

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 answered
// because the store could not be reached.
const RetryAfterUnavailable = "5"

func (s *Server) observeError(endpoint string, err error) {
	s.observe.OAuthError(endpoint, fosite.ErrorToRFC6749Error(err).ErrorField)
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// issuerWriter adds the RFC 9207 iss parameter to the authorization
// endpoint's redirects, successful or not.
type issuerWriter struct {
	http.ResponseWriter
	issuer string
	wrote  bool
}

func (w *issuerWriter) WriteHeader(code int) {
	if !w.wrote && code >= 300 && code < 400 {
		if loc := w.Header().Get("Location"); loc != "" {
			w.Header().Set("Location", addQuery(loc, "iss", w.issuer))
		}
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *issuerWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func addQuery(rawURL, key, value string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
