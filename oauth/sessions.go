package oauth

import (
	"context"
	"errors"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// The fosite storage interfaces, one artefact kind at a time: each is a
// thin wrapper over create, get and the store's record operations.

// BeginTX opens a transaction in the store, or, in a code's exchange,
// one that writes at its commit (see withExchange).
func (s *fositeStorage) BeginTX(ctx context.Context) (context.Context, error) {
	if exchangeOf(ctx) != nil {
		return nil, errors.New("oauth: a code's exchange is open already")
	}
	if x, _ := ctx.Value(exchangeKey{}).(*exchange); x.begin() {
		return deferCreates(ctx), nil
	}
	return s.store.BeginTx(ctx)
}

func (s *fositeStorage) Commit(ctx context.Context) error {
	if x := exchangeOf(ctx); x != nil {
		return s.commitExchange(ctx, x)
	}
	return s.store.Commit(ctx)
}

func (s *fositeStorage) Rollback(ctx context.Context) error {
	if x := exchangeOf(ctx); x != nil {
		x.end()
		cacheOf(ctx).stopDeferring()
		return nil
	}
	return s.store.Rollback(ctx)
}

// Authorization codes.

func (s *fositeStorage) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, KindCode, code, req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession returns the request together with
// fosite.ErrInvalidatedAuthorizeCode for a used code, so that fosite can
// revoke what was issued from it.
func (s *fositeStorage) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, KindCode, code, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code used, with the tokens it
// issues. At the token endpoint (see withExchange) that waits for the
// commit, where one statement uses the code, drops its PKCE challenge and
// OpenID request and stores the tokens; a request decided again
// (Server.settle) or rolled back finds the code as it was. Of two
// exchanges of one code at once exactly one issues; the other gets
// errCodeUsedAtOnce. Elsewhere the code and its PKCE challenge are
// written at once, in the caller's transaction.
func (s *fositeStorage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	if x := exchangeOf(ctx); x != nil {
		x.use(code) // with the tokens, at the commit
		return nil
	}
	err := s.store.DeactivateRecord(ctx, KindCode, code)
	if errors.Is(err, ErrNotActive) {
		return errCodeUsedAtOnce
	}
	if err != nil {
		return err
	}
	return s.store.DeleteRecord(ctx, KindPKCE, code)
}

// errCodeUsedAtOnce: another exchange of the same code got there first.
var errCodeUsedAtOnce = errors.New("the authorization code was exchanged by a concurrent request")

// Access tokens.

func (s *fositeStorage) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.create(ctx, KindAccess, signature, req, fosite.AccessToken)
}

func (s *fositeStorage) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, KindAccess, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, fosite.ErrInactiveToken
	}
	return req, nil
}

func (s *fositeStorage) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.store.DeleteRecord(ctx, KindAccess, signature)
}

// Refresh tokens.

func (s *fositeStorage) CreateRefreshTokenSession(ctx context.Context, signature, _ string, req fosite.Requester) error {
	return s.create(ctx, KindRefresh, signature, req, fosite.RefreshToken)
}

// GetRefreshTokenSession returns the request together with
// fosite.ErrInactiveToken for a rotated or revoked token, so that fosite
// detects reuse and revokes the whole family.
func (s *fositeStorage) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.get(ctx, KindRefresh, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

func (s *fositeStorage) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.store.DeleteRecord(ctx, KindRefresh, signature)
}

// RotateRefreshToken retires the refresh token being used and every access
// token of its family. Of two concurrent refreshes with one token, the second
// gets fosite.ErrSerializationFailure.
func (s *fositeStorage) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if err := s.store.DeactivateRecord(ctx, KindRefresh, signature); errors.Is(err, ErrNotActive) {
		return fosite.ErrSerializationFailure
	} else if err != nil {
		return err
	}
	return s.store.DeactivateRequest(ctx, KindAccess, requestID)
}

func (s *fositeStorage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.store.DeactivateRequest(ctx, KindRefresh, requestID)
}

func (s *fositeStorage) RevokeRefreshTokenMaybeGracePeriod(ctx context.Context, requestID, _ string) error {
	return s.RevokeRefreshToken(ctx, requestID)
}

func (s *fositeStorage) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.store.DeactivateRequest(ctx, KindAccess, requestID)
}

// RevokeClientTokens ends every token of one client.
func (s *fositeStorage) RevokeClientTokens(ctx context.Context, clientID string) error {
	return s.store.DeactivateClient(ctx, clientID)
}

// PKCE.

func (s *fositeStorage) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.create(ctx, KindPKCE, signature, req, fosite.AuthorizeCode)
}

func (s *fositeStorage) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.get(ctx, KindPKCE, signature, session)
	return req, err
}

// DeletePKCERequestSession does nothing: fosite calls it while checking the
// exchange, outside its transaction; the challenge goes with the code's
// use (InvalidateAuthorizeCodeSession).
func (s *fositeStorage) DeletePKCERequestSession(context.Context, string) error { return nil }

// OpenID Connect.

// fosite names a code's OpenID request by the code itself; it is stored
// under the code's signature, as the code and its PKCE challenge are: the
// store never holds a usable code, and the three are read at once.

func (s *fositeStorage) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, KindOIDC, codeSignature(code), req, fosite.AuthorizeCode)
}

func (s *fositeStorage) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	out, _, err := s.get(ctx, KindOIDC, codeSignature(code), req.GetSession())
	if errors.Is(err, fosite.ErrNotFound) {
		// A code issued by the version before, which keyed the request by
		// the code itself (for as long as such a code lives).
		out, _, err = s.get(ctx, KindOIDC, code, req.GetSession())
	}
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, openid.ErrNoSessionFound
	}
	return out, err
}

func (s *fositeStorage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	if !cacheOf(ctx).dropped(codeSignature(code)) { // not gone with the exchange
		if err := s.store.DeleteRecord(ctx, KindOIDC, codeSignature(code)); err != nil {
			return err
		}
	}
	if recs, ok := cacheOf(ctx).codeRecords(code); ok && len(recs) > 0 { // one from before the upgrade
		return s.store.DeleteRecord(ctx, KindOIDC, code)
	}
	return nil
}

// codeSignature is the signature part of an HMAC authorization code
// (fosite's "key.signature"), by which its records are stored.
func codeSignature(code string) string {
	if i := strings.LastIndexByte(code, '.'); i >= 0 {
		return code[i+1:]
	}
	return code
}

// Pushed authorization requests.

func (s *fositeStorage) CreatePARSession(ctx context.Context, requestURI string, req fosite.AuthorizeRequester) error {
	return s.create(ctx, KindPAR, requestURI, req, fosite.PushedAuthorizeRequestContext)
}

func (s *fositeStorage) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	return s.getAuthorize(ctx, KindPAR, requestURI)
}

// DeletePARSession uses a request_uri up. Of two uses at once, the second
// gets errPARUsedAtOnce.
// DeletePARSession does nothing: fosite calls it before the request is
// fully checked; the authorization endpoint uses the request_uri up in the
// transaction that stores the waiting request (Server.keepPending).
func (s *fositeStorage) DeletePARSession(context.Context, string) error { return nil }
