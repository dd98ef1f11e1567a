package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// Finishing a pending request: the citizen's decision is made inside the
// transaction that issues the code, so no grant exists without one, and
// the browser goes back to the partner.

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
//
// The partner is read as Server.settle reads it: through the shared
// reader first. The code is stored only while the partner is at the
// version read, and an answer that stores no code asks the store once;
// when the store has the partner otherwise, what was written is rolled
// back and the answer made again with the partner read from the store.
func (s *Server) Finish(w http.ResponseWriter, r *http.Request, p Pending, decide func(ctx context.Context) (Decision, error)) error {
	r = r.WithContext(partners.Once(withRequestCache(r.Context())))
	again, err := s.finish(w, r, p, decide)
	if again {
		cacheOf(r.Context()).reset()
		_, err = s.finish(w, r.WithContext(partners.Fresh(r.Context())), p, decide)
	}
	return err
}

// finish is one try of Finish. again is true when it found the partner
// not as the store has it before it answered: then it wrote nothing, to
// the store or to w.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, p Pending, decide func(ctx context.Context) (Decision, error)) (again bool, err error) {
	id := p.ID
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
	// A request read by PendingRequest (or carried by the browser) is
	// not read again: it is used up below only while it is active. Its
	// partner is read through the shared reader, before the transaction.
	var ar *fosite.AuthorizeRequest
	var decoded error
	if p.rec != nil {
		ar, decoded = s.storage.authorizeFrom(ctx, *p.rec)
	}
	tx, err := s.storage.store.BeginTx(ctx)
	if err != nil {
		return false, fail(err, func() { s.authorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrServerError.WithWrap(err)) })
	}
	defer func() { _ = s.storage.store.Rollback(tx) }()
	// stale, where the answer would go out without a code stored against
	// the partner's version, asks the store (in the transaction) whether
	// the partner read through the shared reader is as it has it.
	stale := func() bool { return !partners.WantsFresh(ctx) && s.stale(tx) }
	if err = decoded; p.rec == nil {
		ar, err = s.storage.getAuthorize(tx, KindPending, id)
	}
	if err == nil {
		err = stillAllowed(ar)
	}
	if err != nil {
		if !consent.StoreFailed(ctx, err) && stale() {
			return true, nil
		}
		return false, fail(err, func() { s.requestGone(ctx, w, err) })
	}
	if scopes := ar.GetClient().GetScopes(); !scopes.Has(ar.GetRequestedScopes()...) {
		if stale() {
			return true, nil
		}
		s.authorizeError(ctx, w, ar, fosite.ErrInvalidScope.WithHint("The partner is no longer allowed everything it asked for; ask again."))
		return false, nil
	}
	d, err := decide(tx)
	if err != nil {
		if cerr := s.storage.store.Commit(tx); cerr != nil {
			return false, cerr
		}
		return false, err
	}
	if !d.Allow {
		if d.Err == nil {
			d.Err = fosite.ErrAccessDenied.WithHint("The citizen refused.")
		}
		if stale() {
			return true, nil
		}
		if err := s.storage.store.UseRecord(tx, KindPending, id, answered, nil); err != nil {
			return false, fail(err, func() { s.requestGone(ctx, w, err) }) // answered meanwhile by another request
		}
		if err := s.storage.store.Commit(tx); err != nil {
			return false, fail(err, func() { s.authorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err)) })
		}
		s.storage.pending.forget(id)
		s.authorizeError(ctx, w, ar, d.Err)
		return false, nil
	}
	asked := append(fosite.Arguments{}, ar.GetRequestedScopes()...)
	asked = append(asked, detailScopes(ar)...) // documents asked for as authorization_details
	for _, sc := range d.Kept {
		if ar.GetClient().GetScopes().Has(sc) {
			asked = append(asked, sc)
		}
	}
	for _, sc := range d.Scopes {
		if !asked.Has(sc) {
			s.authorizeError(ctx, w, ar, fosite.ErrServerError.WithDebugf("consent granted scope %q that was not requested", sc))
			return false, nil
		}
		ar.GrantScope(sc)
	}
	// The code, its PKCE challenge and its OpenID request are written as
	// one record (see requestCache.foldCode), in the statement that uses
	// up the request, sent with the commit; nothing after waits for a
	// flush.
	defer cacheOf(ctx).stopDeferring()
	resp, err := s.provider.NewAuthorizeResponse(deferCreates(tx), ar, s.citizenSession(ar, d))
	if err == nil {
		err = s.storage.flushAndCommit(tx, KindPending, id, answered)
		if errors.Is(err, ErrNotActive) {
			return false, fail(err, func() { s.requestGone(ctx, w, err) }) // answered meanwhile by another request
		}
		if errors.Is(err, ErrPartnerChanged) && !partners.WantsFresh(ctx) {
			return true, nil // rolled back
		}
	}
	if err != nil {
		return false, fail(err, func() { s.authorizeError(ctx, w, ar, err) })
	}
	s.storage.pending.forget(id)
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
	return false, nil
}

// answered drops a pending request as it is answered: once answered it is
// never read again, and a row deleted costs the store less than one kept
// inactive (whose every index takes the new version).
var answered = []Kind{KindPending}

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
func (s *Server) citizenSession(ar fosite.AuthorizeRequester, d Decision) *Session {
	citizen, grantID := d.Citizen, d.GrantID
	sub := s.secrets.PairwiseSubject(ar.GetClient().GetID(), citizen)
	sess := NewSession()
	sess.Subject = sub
	sess.Citizen = citizen
	sess.GrantID = grantID
	sess.JKT = ar.GetRequestForm().Get("dpop_jkt") // the code is bound to it, if set
	if d.AuthorizationDetails != nil {
		if raw, err := json.Marshal(d.AuthorizationDetails); err == nil && string(raw) != "null" {
			sess.AuthorizationDetails = raw
		}
	}
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

// PendingRequest returns a pending authorization request that has not
// expired; fosite.ErrNotFound otherwise. carried is what the browser
// carries of it (Pending.Carried), if anything: then the store is not
// read, and the request may have been answered meanwhile, which Finish
// finds. Otherwise the store is read, and an answered request is not
// found either.
func (s *Server) PendingRequest(ctx context.Context, id, carried string) (Pending, error) {
	rec, ok := s.carried(id, carried)
	if !ok {
		var err error
		if rec, err = s.storage.store.GetRecord(ctx, KindPending, id); errors.Is(err, ErrNotFound) {
			return Pending{}, fosite.ErrNotFound
		} else if err != nil {
			return Pending{}, err
		}
		carried = ""
	}
	ar, err := s.storage.authorizeFrom(ctx, rec)
	if err != nil {
		return Pending{}, err
	}
	p := pending(id, ar)
	p.rec, p.Carried = &rec, carried
	return p, nil
}

func pending(id string, ar fosite.AuthorizeRequester) Pending {
	form := ar.GetRequestForm()
	return Pending{
		ID: id, ClientID: ar.GetClient().GetID(), Scopes: ar.GetRequestedScopes(),
		ExpiresAt: ar.GetSession().GetExpiresAt(fosite.PushedAuthorizeRequestContext),
		LoginHint: form.Get("login_hint"), UILocales: form.Get("ui_locales"), Params: form,
	}
}
