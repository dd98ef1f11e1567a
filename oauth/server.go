// Package oauth is Kelisim's OAuth 2.0 and OpenID Connect server, composed
// from github.com/ory/fosite. It is the only package that uses fosite and
// go-jose/v3. Partners are its clients; the citizen's consent is asked
// through the Consent interface.
package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

	// What the server works with; all needed.
	Store    Store
	Partners PartnerGetter // may serve from a cache the store keeps current
	Keys     *Keys
	Secrets  *Secrets
	Consent  Consent // decides every authorization request
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time
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
	consent  Consent
	observe  Observer
	log      *slog.Logger
	now      func() time.Time
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
		cfg.Consent == nil || cfg.Observer == nil || cfg.Log == nil || cfg.Now == nil || (cfg.PendingPerAddress > 0 && cfg.Limiter == nil) {
		return nil, errors.New("oauth.New: Issuer, Store, Partners, Keys, Secrets, Consent, Observer, Log, Now (and Limiter with PendingPerAddress) are needed")
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
			fc.TokenEndpointHandlers.Append(th)
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
		consent: cfg.Consent, observe: cfg.Observer, log: cfg.Log, now: cfg.Now}
	fc.ClientAuthenticationStrategy = srv.authenticateClient
	return srv, nil
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

// Pending is an authorization request, validated by fosite, that waits for
// the citizen's consent.
type Pending struct {
	ID        string
	ClientID  string
	Scopes    []string // what the partner asked for
	LoginHint string   // the IIN the partner suggests, if any
	UILocales string
	ExpiresAt time.Time
	// Params are the request's other parameters (purpose, grant_days, …).
	Params url.Values
}

// Decision is the citizen's answer to a pending authorization request.
type Decision struct {
	// Allow is false when the citizen refused, or when no decision can be
	// made (then Err says why).
	Allow bool
	// Err, when set, is sent to the partner instead of a code: a fosite
	// error such as fosite.ErrAccessDenied or fosite.ErrTemporarilyUnavailable.
	Err error
	// Citizen is the IIN of the citizen who consented.
	Citizen string
	// Scopes are the scopes the citizen granted: a subset of what was asked.
	Scopes []string
	// GrantID names the consent record the tokens will be issued under.
	GrantID string
}

// Consent asks the citizen to decide on an authorization request.
type Consent interface {
	// Prompt either answers the browser itself (a consent page that will
	// later call Server.Finish) and returns decided=false, or returns the
	// decision at once.
	Prompt(w http.ResponseWriter, r *http.Request, p Pending) (d Decision, decided bool)
}

// Unavailable is the Consent of a gateway that has no way to ask citizens:
// it refuses every request with temporarily_unavailable, never approving.
type Unavailable struct{}

// Prompt implements Consent.
func (Unavailable) Prompt(http.ResponseWriter, *http.Request, Pending) (Decision, bool) {
	return Decision{Err: fosite.ErrTemporarilyUnavailable.WithHint("Citizen consent is not available on this gateway.")}, true
}

// Authorize serves the authorization endpoint (RFC 6749 §4.1, with PKCE,
// PAR and RFC 9207 iss on every redirect).
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) { s.settle(w, r, s.authorize) }

// answer is how a decided request is written.
type answer func(w http.ResponseWriter)

func (s *Server) authorize(r *http.Request) answer {
	ctx := r.Context()
	fail := func(ar fosite.AuthorizeRequester, err error) answer {
		return func(w http.ResponseWriter) {
			s.authorizeError(ctx, &issuerWriter{ResponseWriter: w, issuer: s.cfg.Issuer}, ar, err)
		}
	}
	if err := s.parForClient(ctx, r); err != nil {
		return fail(fosite.NewAuthorizeRequest(), err)
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		return fail(ar, err)
	}
	c := ar.GetClient().(*client)
	if c.p.RequirePAR && !strings.HasPrefix(r.Form.Get("request_uri"), parRequestURIBase) {
		return fail(ar, fosite.ErrInvalidRequest.WithHint("This partner must use a pushed authorization request (PAR)."))
	}
	if ar.GetRequestForm().Get("redirect_uri") != "" && !slices.Contains(c.p.RedirectURIs, ar.GetRequestForm().Get("redirect_uri")) {
		// fosite lets loopback redirect URIs vary by port; Kelisim matches exactly.
		return fail(fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The redirect_uri does not exactly match a registered one."))
	}
	if nonce := ar.GetRequestForm().Get("nonce"); nonce != "" && len(nonce) < minParameterEntropy {
		// fosite would refuse it only when the ID token is made, at the
		// code's exchange, long after the citizen consented.
		return fail(ar, fosite.ErrInvalidRequest.WithHintf("Parameter 'nonce' must have at least %d characters.", minParameterEntropy))
	}
	if slices.Contains(strings.Fields(ar.GetRequestForm().Get("prompt")), "none") {
		return fail(ar, fosite.ErrConsentRequired.WithHint("The citizen must consent interactively."))
	}
	if err := s.countPending(ctx); err != nil {
		return fail(ar, err)
	}
	ar.SetSession(NewSession())
	id := randomID()
	exp := s.now().Add(s.cfg.ConsentLifespan).UTC()
	ar.GetSession().SetExpiresAt(fosite.PushedAuthorizeRequestContext, exp)
	if err := s.rehearse(ctx, ar); err != nil {
		return fail(ar, err)
	}
	if err := s.keepPending(ctx, r, id, ar); err != nil {
		return fail(ar, err)
	}
	p := pending(id, ar)
	return func(w http.ResponseWriter) {
		// The consent prompt answers the browser itself, with no iss.
		if d, decided := s.consent.Prompt(w, r, p); decided {
			if err := s.Finish(w, r, id, func(context.Context) (Decision, error) { return d, nil }); err != nil {
				s.authorizeError(ctx, &issuerWriter{ResponseWriter: w, issuer: s.cfg.Issuer}, ar, err)
			}
		}
	}
}

// settle decides a request, then writes the answer. When a partner the
// decision read through the shared reader (which may serve a per-replica
// cache a moment behind the store) proves not to be as the store has it —
// the store refused a record decided on it, or shows another version — the
// request is decided once more with partners read from the store. So no
// replica acts on a partner state the admin API has already changed: not
// a suspended partner, a rotated secret, a removed redirect URI.
func (s *Server) settle(w http.ResponseWriter, r *http.Request, decide func(r *http.Request) answer) {
	r = r.WithContext(withRequestCache(r.Context()))
	write := decide(r)
	if s.stale(r.Context()) {
		cacheOf(r.Context()).reset()
		write = decide(r.WithContext(partners.Fresh(r.Context())))
	}
	write(w)
}

// stale reports whether the request was decided on a partner the store
// has otherwise. A partner nothing confirmed is read from the store once:
// that happens to refusals and to answers that stored nothing.
func (s *Server) stale(ctx context.Context) bool {
	changed, unconfirmed := cacheOf(ctx).stale()
	if changed {
		return true
	}
	if consent.StoreFailed(ctx, nil) {
		return false // the answer is a 503: asking the store again only delays it
	}
	for id, version := range unconfirmed {
		p, err := s.storage.partners.GetPartner(partners.Fresh(ctx), id)
		if errors.Is(err, partners.ErrNotFound) || (err == nil && p.Version != version) {
			return true
		}
	}
	return false
}

// keepPending stores the request that waits for the citizen, and uses up
// the pushed request_uri it came from, if any, in the same transaction:
// of two uses of one request_uri, one waits and the other gets
// invalid_request_uri; a request decided again finds it unused.
func (s *Server) keepPending(ctx context.Context, r *http.Request, id string, ar fosite.AuthorizeRequester) error {
	uri := r.Form.Get("request_uri")
	if !strings.HasPrefix(uri, parRequestURIBase) {
		if err := s.storage.create(ctx, KindPending, id, ar, fosite.PushedAuthorizeRequestContext); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
		return nil
	}
	tx, err := s.storage.store.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = s.storage.store.Rollback(tx) }()
	if err := s.storage.store.DeactivateRecord(tx, KindPAR, uri); errors.Is(err, ErrNotActive) {
		return fosite.ErrInvalidRequestURI.WithHint("The request_uri has already been used.")
	} else if err != nil {
		return err
	}
	if err := s.storage.create(tx, KindPending, id, ar, fosite.PushedAuthorizeRequestContext); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	return s.storage.store.Commit(tx)
}

// rehearse runs, before anybody is asked, every check fosite makes when
// it answers a request (PKCE, nonce, prompt, …): it answers a copy of the
// request as it will be stored, granting all it asks, with storage that
// keeps nothing. A request the partner got wrong goes back to the partner
// now, not after the citizen has typed a code.
func (s *Server) rehearse(ctx context.Context, ar fosite.AuthorizeRequester) error {
	data, err := encodeRequest(ar, KindPending)
	if err != nil {
		return err
	}
	ctx = context.WithValue(ctx, rehearsalKey{}, true)
	dry, err := s.storage.decodeAuthorize(ctx, data)
	if err != nil {
		return err
	}
	for _, sc := range dry.GetRequestedScopes() {
		dry.GrantScope(sc)
	}
	_, err = s.provider.NewAuthorizeResponse(ctx, dry, s.citizenSession(dry, "", ""))
	return err
}

// rehearsalKey marks a context in which the storage keeps nothing.
type rehearsalKey struct{}

// countPending counts one more waiting request against the client's
// address; past the bound the partner hears temporarily_unavailable.
func (s *Server) countPending(ctx context.Context) error {
	addr, ok := ctx.Value(clientAddressKey{}).(string)
	if s.cfg.PendingPerAddress <= 0 || s.cfg.Limiter == nil || !ok {
		return nil
	}
	m := hmac.New(sha256.New, s.secrets.Key("pending per address"))
	m.Write([]byte(addr))
	key := "authorize-ip:" + hex.EncodeToString(m.Sum(nil)[:16])
	err := s.cfg.Limiter.Hit(ctx, key, s.cfg.PendingPerAddress, s.cfg.ConsentLifespan, s.now())
	var limited *consent.RateLimitError
	if errors.As(err, &limited) {
		s.log.WarnContext(ctx, "authorization requests over the bound for one address", "retry_after", limited.RetryAfter)
		return fosite.ErrTemporarilyUnavailable.WithHint("Too many authorization requests from this address are waiting; try again later.")
	}
	return err
}

type clientAddressKey struct{}

// WithClientAddress tells the server the client's address, as the HTTP
// layer resolved it (through trusted proxies), for the bound on waiting
// authorization requests.
func WithClientAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddressKey{}, addr)
}

// parForClient refuses a pushed request_uri presented by a client other
// than the one that pushed it, before fosite reads it: fosite uses it up
// first and compares clients after, so a stranger could spoil it.
func (s *Server) parForClient(ctx context.Context, r *http.Request) error {
	uri := r.FormValue("request_uri")
	if !strings.HasPrefix(uri, parRequestURIBase) {
		return nil
	}
	rec, err := s.storage.store.GetRecord(ctx, KindPAR, uri)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // fosite says it is invalid
	case err != nil:
		return err
	case rec.ClientID != r.FormValue("client_id"):
		return fosite.ErrInvalidRequestURI.WithHint("The request_uri was pushed by another client.")
	}
	return nil
}

// Finish answers the pending authorization request id with the citizen's
// decision, made by decide inside the transaction that issues the code:
// what decide writes (the citizen's grant) commits with the code, or not at
// all, so no grant exists without a code. When decide itself fails (a wrong
// code), what it wrote is kept (the try is counted), the request stays
// open, nothing is written to w, and its error is returned. Otherwise
// Finish answers the browser, with a redirect to the partner (a code, or
// an error) or an error of its own, and returns nil. A request is
// answered once; an unknown or expired one gets an error without a
// redirect, since there is no validated place to send it.
func (s *Server) Finish(w http.ResponseWriter, r *http.Request, id string, decide func(ctx context.Context) (Decision, error)) error {
	// The partner is read from the store: the request is checked against
	// it as it is now, and the code stored only while it stays so.
	r = r.WithContext(partners.Fresh(withRequestCache(r.Context())))
	ctx := r.Context()
	if _, ok := w.(*issuerWriter); !ok {
		w = &issuerWriter{ResponseWriter: w, issuer: s.cfg.Issuer}
	}
	// A store that cannot be reached is returned, with nothing written,
	// for the caller to answer as it answers (a page in the citizen's
	// language); other failures are written here.
	fail := func(err error, write func()) error {
		if consent.StoreFailed(ctx, err) {
			return fmt.Errorf("finish the authorization: %w", consent.ErrUnavailable)
		}
		write()
		return nil
	}
	tx, err := s.storage.store.BeginTx(ctx)
	if err != nil {
		return fail(err, func() { s.authorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrServerError.WithWrap(err)) })
	}
	defer func() { _ = s.storage.store.Rollback(tx) }()
	ar, err := s.storage.getAuthorize(tx, KindPending, id)
	if err == nil {
		err = stillAllowed(ar)
	}
	if err != nil {
		return fail(err, func() { s.requestGone(ctx, w, err) })
	}
	if scopes := ar.GetClient().GetScopes(); !scopes.Has(ar.GetRequestedScopes()...) {
		s.authorizeError(ctx, w, ar, fosite.ErrInvalidScope.WithHint("The partner is no longer allowed everything it asked for; ask again."))
		return nil
	}
	d, err := decide(tx)
	if err != nil {
		if cerr := s.storage.store.Commit(tx); cerr != nil {
			return cerr
		}
		return err
	}
	if err := s.storage.store.DeactivateRecord(tx, KindPending, id); err != nil {
		return fail(err, func() { s.requestGone(ctx, w, err) }) // answered meanwhile by another request
	}
	if !d.Allow {
		if d.Err == nil {
			d.Err = fosite.ErrAccessDenied.WithHint("The citizen refused.")
		}
		if err := s.storage.store.Commit(tx); err != nil {
			return fail(err, func() { s.authorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err)) })
		}
		s.authorizeError(ctx, w, ar, d.Err)
		return nil
	}
	for _, sc := range d.Scopes {
		if !ar.GetRequestedScopes().Has(sc) {
			s.authorizeError(ctx, w, ar, fosite.ErrServerError.WithDebugf("consent granted scope %q that was not requested", sc))
			return nil
		}
		ar.GrantScope(sc)
	}
	resp, err := s.provider.NewAuthorizeResponse(tx, ar, s.citizenSession(ar, d.Citizen, d.GrantID))
	if err == nil {
		err = s.storage.store.Commit(tx)
	}
	if err != nil {
		return fail(err, func() { s.authorizeError(ctx, w, ar, err) })
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
	return nil
}

// stillAllowed refuses a waiting request whose redirect URI its partner
// no longer has: the answer must not go there.
func stillAllowed(ar fosite.AuthorizeRequester) error {
	if u := ar.GetRedirectURI(); u != nil && !slices.Contains(ar.GetClient().GetRedirectURIs(), u.String()) {
		return fosite.ErrNotFound.WithDebug("the redirect URI was removed")
	}
	return nil
}

// requestGone answers a request that cannot be finished: unknown, expired,
// already answered, or its partner gone.
func (s *Server) requestGone(ctx context.Context, w http.ResponseWriter, err error) {
	if s.storeDown(ctx, w, PathAuthorize, err) {
		return
	}
	if !errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, ErrNotActive) {
		s.log.ErrorContext(ctx, "finish authorization", "err", err)
	}
	s.authorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The authorization request is unknown, expired or already answered; start again from the partner's app."))
}

// citizenSession is the session a code is issued with: the citizen's
// pairwise subject for the partner, the grant, and ID token claims.
func (s *Server) citizenSession(ar fosite.AuthorizeRequester, citizen, grantID string) *Session {
	sub := s.secrets.PairwiseSubject(ar.GetClient().GetID(), citizen)
	sess := NewSession()
	sess.Subject = sub
	sess.Citizen = citizen
	sess.GrantID = grantID
	sess.Claims = &jwt.IDTokenClaims{
		Subject: sub,
		Issuer:  s.cfg.Issuer,
		// The citizen authenticated just now, with the code. fosite checks
		// auth_time against the wall clock, so it is stamped with it.
		AuthTime:    time.Now().UTC(),
		RequestedAt: ar.GetRequestedAt(),
		Extra:       map[string]interface{}{},
	}
	return sess
}

// PendingRequest returns a pending authorization request that has not been
// answered and has not expired; fosite.ErrNotFound otherwise.
func (s *Server) PendingRequest(ctx context.Context, id string) (Pending, error) {
	ar, err := s.storage.getAuthorize(ctx, KindPending, id)
	if err != nil {
		return Pending{}, err
	}
	return pending(id, ar), nil
}

func pending(id string, ar fosite.AuthorizeRequester) Pending {
	form := ar.GetRequestForm()
	return Pending{
		ID: id, ClientID: ar.GetClient().GetID(), Scopes: ar.GetRequestedScopes(),
		ExpiresAt: ar.GetSession().GetExpiresAt(fosite.PushedAuthorizeRequestContext),
		LoginHint: form.Get("login_hint"), UILocales: form.Get("ui_locales"), Params: form,
	}
}

func (s *Server) authorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if s.storeDown(ctx, w, PathAuthorize, err) {
		return
	}

	s.observeError(PathAuthorize, err)
	if ar == nil {
		ar = fosite.NewAuthorizeRequest()
	}
	s.provider.WriteAuthorizeError(ctx, w, ar, err)
}

// PAR serves the pushed authorization request endpoint (RFC 9126).
func (s *Server) PAR(w http.ResponseWriter, r *http.Request) { s.settle(w, r, s.par) }

func (s *Server) par(r *http.Request) answer {
	ctx := r.Context()
	fail := func(ar fosite.AuthorizeRequester, err error) answer {
		return func(w http.ResponseWriter) { s.parError(ctx, w, ar, err) }
	}
	ar, err := s.provider.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		return fail(ar, err)
	}
	c := ar.GetClient().(*client)
	if !slices.Contains(c.p.RedirectURIs, ar.GetRequestForm().Get("redirect_uri")) {
		return fail(ar, fosite.ErrInvalidRequest.WithHint("The redirect_uri does not exactly match a registered one."))
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

// Token serves the token endpoint: authorization_code, refresh_token and
// client_credentials. Client-credentials tokens act for no citizen and so
// never carry document, openid or offline_access scopes.
func (s *Server) Token(w http.ResponseWriter, r *http.Request) { s.settle(w, r, s.token) }

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
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		return fail(ar, err)
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
