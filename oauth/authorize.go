package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// The authorization endpoint: a validated request waits for the citizen
// (Pending), the consent pages answer it (Finish), and the answer goes back
// to the partner.

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
	// Carried is the request sealed for the browser to carry between the
	// consent pages and hand back to PendingRequest; empty when it is too
	// long to carry.
	Carried string

	rec *Record // as stored, when it was read or made here
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
	// AuthorizationDetails, when the partner asked with them (RFC 9396),
	// are what the citizen granted, in the same form; they travel with the
	// tokens.
	AuthorizationDetails any
	// Kept are the scopes of a grant the request merged into that it did
	// not ask for again: the tokens carry them too, while the partner is
	// still allowed them.
	Kept []string
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
	pushed := strings.HasPrefix(r.Form.Get("request_uri"), parRequestURIBase)
	if c.p.RequirePAR && !pushed {
		return fail(ar, fosite.ErrInvalidRequest.WithHint("This partner must use a pushed authorization request (PAR)."))
	}
	if !pushed {
		ar.SetID(newRequestID()) // a pushed request brought the ID it was given
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
	if err := checkDPoPJKT(ar); err != nil {
		return fail(ar, err)
	}
	if err := checkAuthorizationDetails(ar, c.p); err != nil {
		return fail(ar, err)
	}
	if err := s.checkGrantManagement(ctx, ar); err != nil {
		return fail(ar, err)
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
	data, err := s.rehearse(ctx, ar)
	if err != nil {
		return fail(ar, err)
	}
	rec, err := s.keepPending(ctx, r, id, ar, data)
	if err != nil {
		return fail(ar, err)
	}
	p := pending(id, ar)
	p.rec, p.Carried = &rec, s.carry(rec)
	if p.Carried != "" {
		s.storage.pending.keep(id, p.Carried, &rec, nil, nil, nil) // sealed here: the consent page need not open it
	}
	return func(w http.ResponseWriter) {
		// The consent prompt answers the browser itself, with no iss.
		if d, decided := s.consent.Prompt(w, r, p); decided {
			if err := s.Finish(w, r, p, func(context.Context) (Decision, error) { return d, nil }); err != nil {
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
func (s *Server) keepPending(ctx context.Context, r *http.Request, id string, ar fosite.AuthorizeRequester, data []byte) (Record, error) {
	uri := r.Form.Get("request_uri")
	if !strings.HasPrefix(uri, parRequestURIBase) {
		rec, err := s.storage.createEncoded(ctx, KindPending, id, ar, fosite.PushedAuthorizeRequestContext, data)
		if err != nil {
			return Record{}, fosite.ErrServerError.WithWrap(err)
		}
		return rec, nil
	}
	tx, err := s.storage.store.BeginTx(ctx)
	if err != nil {
		return Record{}, err
	}
	defer func() { _ = s.storage.store.Rollback(tx) }()
	if err := s.storage.store.DeactivateRecord(tx, KindPAR, uri); errors.Is(err, ErrNotActive) {
		return Record{}, fosite.ErrInvalidRequestURI.WithHint("The request_uri has already been used.")
	} else if err != nil {
		return Record{}, err
	}
	rec, err := s.storage.createEncoded(tx, KindPending, id, ar, fosite.PushedAuthorizeRequestContext, data)
	if err != nil {
		return Record{}, fosite.ErrServerError.WithWrap(err)
	}
	return rec, s.storage.store.Commit(tx)
}

// rehearse runs, before anybody is asked, every check fosite makes when
// it answers a request (PKCE, nonce, prompt, …): it answers a copy of the
// request as it will be stored, granting all it asks, with storage that
// keeps nothing. A request the partner got wrong goes back to the partner
// now, not after the citizen has typed a code. It returns the request
// encoded as it is stored.
func (s *Server) rehearse(ctx context.Context, ar fosite.AuthorizeRequester) ([]byte, error) {
	data, err := encodeRequest(ar, KindPending)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, rehearsalKey{}, true)
	dry, err := s.storage.decodeAuthorize(ctx, data)
	if err != nil {
		return nil, err
	}
	for _, sc := range dry.GetRequestedScopes() {
		dry.GrantScope(sc)
	}
	if _, err := s.provider.NewAuthorizeResponse(ctx, dry, s.citizenSession(dry, Decision{})); err != nil {
		return nil, err
	}
	return data, nil
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
