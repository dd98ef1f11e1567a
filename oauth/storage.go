package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"

	"github.com/kelisim/kelisim/partners"
)

// PartnerGetter is what the OAuth server needs of the partner registry.
type PartnerGetter interface {
	// GetPartner returns partners.ErrNotFound for an unknown id.
	GetPartner(ctx context.Context, id string) (partners.Partner, error)
}

// fositeStorage implements every storage interface fosite asks for on top of
// the small record Store, so the two store adapters stay free of fosite.
type fositeStorage struct {
	store    Store
	partners PartnerGetter
	now      func() time.Time
	decoded  decodedTokens
	pending  decodedPending
}

var (
	_ fosite.Storage                     = (*fositeStorage)(nil)
	_ oauth2.CoreStorage                 = (*fositeStorage)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStorage)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStorage)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStorage)(nil)
	_ fosite.PARStorage                  = (*fositeStorage)(nil)
	_ storage.Transactional              = (*fositeStorage)(nil)
)

func (s *fositeStorage) partner(ctx context.Context, id string) (partners.Partner, error) {
	cache := cacheOf(ctx)
	if p, ok := cache.partner(id); ok {
		return p, nil
	}
	p, err := s.partners.GetPartner(ctx, id)
	switch {
	case err != nil:
	case partners.WantsFresh(ctx):
		cache.put(&p, nil)
	default:
		cache.fromReader(p)
	}
	return p, err
}

// GetClient returns the partner as a fosite client. A suspended partner is
// not found: it cannot authenticate, and tokens issued to it stop working.
func (s *fositeStorage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	p, err := s.partner(ctx, id)
	if errors.Is(err, partners.ErrNotFound) {
		return nil, fosite.ErrNotFound.WithDebug("no such partner")
	}
	if err != nil {
		return nil, err
	}
	if p.Status != partners.StatusActive {
		return nil, fosite.ErrNotFound.WithDebug("the partner is suspended")
	}
	return &client{p: p, now: s.now()}, nil
}

// ClientAssertionJWTValid returns fosite.ErrJTIKnown for a jti seen before
// and not yet expired, by another request: one decided again (see
// Server.settle) meets its own.
func (s *fositeStorage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	if cacheOf(ctx).ownJTI(jti) {
		return nil
	}
	r, err := s.store.GetRecord(ctx, KindJTI, jti)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.ExpiresAt.After(s.now()) {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT remembers a jti until exp. Of two concurrent uses of
// one jti, one gets fosite.ErrJTIKnown.
func (s *fositeStorage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if cacheOf(ctx).ownJTI(jti) {
		return nil
	}
	rec := Record{Kind: KindJTI, Signature: jti, Active: true, ExpiresAt: exp}
	err := s.store.CreateRecord(ctx, rec)
	if err == nil {
		cacheOf(ctx).storedJTI(jti)
	}
	if !errors.Is(err, ErrConflict) {
		return err
	}
	old, err := s.store.GetRecord(ctx, KindJTI, jti)
	if err != nil {
		return err
	}
	if old.ExpiresAt.After(s.now()) {
		return fosite.ErrJTIKnown
	}
	// An expired entry is no longer needed: replace it. A concurrent
	// replacement makes the second create conflict, which is a reuse.
	if err := s.store.DeleteRecord(ctx, KindJTI, jti); err != nil {
		return err
	}
	if err := s.store.CreateRecord(ctx, rec); errors.Is(err, ErrConflict) {
		return fosite.ErrJTIKnown
	} else if err != nil {
		return err
	}
	cacheOf(ctx).storedJTI(jti)
	return nil
}

// create stores req under (kind, signature), expiring when the session says
// the artefact of type use expires.
func (s *fositeStorage) create(ctx context.Context, kind Kind, signature string, req fosite.Requester, use fosite.TokenType) error {
	_, err := s.createRecord(ctx, kind, signature, req, use)
	return err
}

// createRecord is create, returning the record it stored.
func (s *fositeStorage) createRecord(ctx context.Context, kind Kind, signature string, req fosite.Requester, use fosite.TokenType) (Record, error) {
	return s.createEncoded(ctx, kind, signature, req, use, nil)
}

// createEncoded is createRecord for req encoded as data (by
// encodeRequest, for kind), or encoded here when data is nil.
func (s *fositeStorage) createEncoded(ctx context.Context, kind Kind, signature string, req fosite.Requester, use fosite.TokenType, data []byte) (Record, error) {
	if ctx.Value(rehearsalKey{}) != nil {
		return Record{}, nil // a rehearsal keeps nothing (see Server.rehearse)
	}
	exp := req.GetSession().GetExpiresAt(use)
	if exp.IsZero() {
		exp = s.now().Add(defaultRecordLifespan)
	}
	var grantID string
	if sess, ok := req.GetSession().(*Session); ok {
		grantID = sess.GrantID
	}
	rec := Record{
		Kind: kind, Signature: signature, RequestID: req.GetID(), ClientID: req.GetClient().GetID(),
		GrantID: grantID, Active: true, ExpiresAt: exp.UTC(),
	}
	// Stored only while the partner is as it was when this was decided:
	// a replica whose partner cache lags never issues on old state.
	c, ok := req.GetClient().(*client)
	if ok {
		rec.PartnerVersion, rec.PartnerEpoch = c.p.Version, c.p.Epoch
	}
	if (kind == KindCode || kind == KindPKCE || kind == KindOIDC) && cacheOf(ctx).foldCode(rec, req) {
		return rec, nil // written by flush, the three as one record
	}
	if data == nil {
		var err error
		if data, err = encodeRequest(req, kind); err != nil {
			return Record{}, err
		}
	}
	rec.Request = data
	if cacheOf(ctx).deferring(rec) {
		return rec, nil // written by flush, with the others
	}
	err := s.store.CreateRecord(ctx, rec)
	s.created(ctx, rec, err)
	return rec, err
}

// created notes what storing rec said of its partner.
func (s *fositeStorage) created(ctx context.Context, rec Record, err error) {
	switch {
	case errors.Is(err, ErrPartnerChanged):
		cacheOf(ctx).markChanged()
	case err == nil && rec.PartnerVersion != 0:
		cacheOf(ctx).confirm(rec.ClientID, rec.PartnerVersion)
	}
}

// deferCreates makes the records created with the returned context wait
// for flush, which writes them in one statement: the code, its PKCE
// challenge and its OpenID request, created one by one by fosite.
func deferCreates(ctx context.Context) context.Context {
	ctx = withRequestCache(ctx)
	c := cacheOf(ctx)
	c.mu.Lock()
	c.deferred = new([]Record)
	c.mu.Unlock()
	return ctx
}

// flushAndCommit writes the deferred records in ctx's transaction,
// using up the active record (kind, signature) in the same statement and
// dropping the records of the kinds in drop, then commits it
// (Store.UseRecordAndCommit): ErrNotActive when the record is not active,
// and then, as on every failure, the transaction is rolled back.
func (s *fositeStorage) flushAndCommit(ctx context.Context, kind Kind, signature string, drop []Kind) error {
	recs, err := cacheOf(ctx).takeDeferred()
	if err != nil {
		return err
	}
	err = s.store.UseRecordAndCommit(ctx, kind, signature, drop, recs)
	for _, rec := range recs {
		s.created(ctx, rec, err)
	}
	return err
}

// codeRecord reads one of a code's records (KindCode, KindPKCE or
// KindOIDC, all under the code's signature) and decodes its request: the
// first read of the request reads all three, the others are served from
// it. A challenge or an OpenID request held by the code's record (see
// foldCode) is there while the code is active, as one stored apart is
// until the code's exchange drops it; the exchange itself reads them
// from the code as it read it, before its use.
func (s *fositeStorage) codeRecord(ctx context.Context, kind Kind, signature string) (Record, storedRequest, error) {
	c := cacheOf(ctx)
	recs, ok := c.codeRecords(signature)
	if !ok {
		var err error
		if recs, err = s.store.GetRecords(ctx, signature, KindCode, KindPKCE, KindOIDC); err != nil {
			return Record{}, storedRequest{}, err
		}
		c.keepCodeRecords(signature, recs)
	}
	var sr storedRequest
	if rec, ok := recs[kind]; ok && kind != KindCode {
		if err := json.Unmarshal(rec.Request, &sr); err != nil {
			return Record{}, storedRequest{}, fmt.Errorf("decode %s record: %w", kind, err)
		}
		sr.Also = nil
		return rec, sr, nil
	}
	rec, ok := recs[KindCode]
	if !ok {
		return Record{}, storedRequest{}, ErrNotFound
	}
	sr, err := c.codeRequest(signature, rec)
	if err != nil {
		return Record{}, storedRequest{}, err
	}
	if kind == KindCode {
		sr.Also = nil
		return rec, sr, nil
	}
	if !rec.Active {
		return Record{}, storedRequest{}, ErrNotFound
	}
	form, ok := sr.Also[kind]
	if !ok {
		return Record{}, storedRequest{}, ErrNotFound
	}
	sr.Form, sr.Also = cloneForm(form), nil
	rec.Kind = kind
	return rec, sr, nil
}

// defaultRecordLifespan bounds a record whose session names no expiry.
const defaultRecordLifespan = time.Hour

// get loads a record and rebuilds its request with a live client. An
// unknown record, or one whose partner was removed or suspended, is
// fosite.ErrNotFound. A token is read with its partner and grant in one
// round trip, and never outlives the grant it was issued under.
func (s *fositeStorage) get(ctx context.Context, kind Kind, signature string, session fosite.Session) (*fosite.Request, bool, error) {
	var rec Record
	var sr storedRequest
	var decoded, grantEnded bool
	if kind == KindAccess || kind == KindRefresh {
		tok, err := s.store.GetToken(ctx, kind, signature)
		if errors.Is(err, ErrNotFound) {
			return nil, false, fosite.ErrNotFound
		}
		if err != nil {
			return nil, false, err
		}
		rec = tok.Record
		cacheOf(ctx).put(tok.Partner, tok.Grant)
		grantEnded = rec.GrantID != "" && (tok.Grant == nil || !tok.Grant.ActiveAt(s.now()))
	} else {
		var err error
		if kind == KindCode || kind == KindPKCE || kind == KindOIDC {
			rec, sr, err = s.codeRecord(ctx, kind, signature)
			decoded = err == nil
		} else {
			rec, err = s.store.GetRecord(ctx, kind, signature)
		}
		if errors.Is(err, ErrNotFound) {
			return nil, false, fosite.ErrNotFound
		}
		if err != nil {
			return nil, false, err
		}
	}
	var req *fosite.Request
	if sess, ok := session.(*Session); ok && kind == KindAccess && sess != nil && sess.DefaultSession != nil {
		e, err := s.decoded.decode(signature, rec.Request)
		if err != nil {
			return nil, false, fmt.Errorf("decode %s record: %w", kind, err)
		}
		e.fill(sess)
		if req, err = s.decodeRequest(ctx, e.storedCopy(), sess); err != nil {
			return nil, false, err
		}
	} else {
		if !decoded {
			if err := json.Unmarshal(rec.Request, &sr); err != nil {
				return nil, false, fmt.Errorf("decode %s record: %w", kind, err)
			}
		}
		var err error
		if req, err = s.decodeRequest(ctx, sr, session); err != nil {
			return nil, false, err
		}
	}
	if c, ok := req.Client.(*client); ok && c.p.Epoch != rec.PartnerEpoch {
		grantEnded = true // issued before a suspension: never works again
	}
	switch {
	case grantEnded && kind == KindAccess:
		return nil, false, fosite.ErrInactiveToken
	case grantEnded:
		return nil, false, fosite.ErrNotFound.WithDebug("the grant is no longer active")
	}
	return req, rec.Active, nil
}

func (s *fositeStorage) getAuthorize(ctx context.Context, kind Kind, signature string) (*fosite.AuthorizeRequest, error) {
	rec, err := s.store.GetRecord(ctx, kind, signature)
	if errors.Is(err, ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.authorizeFrom(ctx, rec)
}

// authorizeFrom rebuilds the authorization request of rec, unless it
// was used, has expired or its partner was suspended since.
func (s *fositeStorage) authorizeFrom(ctx context.Context, rec Record) (*fosite.AuthorizeRequest, error) {
	kind := rec.Kind
	if !rec.Active || !rec.ExpiresAt.After(s.now()) {
		return nil, fosite.ErrNotFound.WithDebug("the request expired or was used")
	}
	var ar *fosite.AuthorizeRequest
	var err error
	if kind == KindPending {
		ar, err = s.decodePending(ctx, rec.Signature, rec.Request)
	} else {
		ar, err = s.decodeAuthorize(ctx, rec.Request)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s record: %w", kind, err)
	}
	if ar.Client.(*client).p.Epoch != rec.PartnerEpoch {
		return nil, fosite.ErrNotFound.WithDebug("the partner was suspended since")
	}
	return ar, nil
}

// decodeAuthorize rebuilds an authorization request from its stored form,
// with a live client.
func (s *fositeStorage) decodeAuthorize(ctx context.Context, data []byte) (*fosite.AuthorizeRequest, error) {
	var sr storedRequest
	if err := json.Unmarshal(data, &sr); err != nil {
		return nil, err
	}
	return s.authorizeOf(ctx, sr, NewSession())
}

// decodePending is decodeAuthorize for pending request id, decoding
// data only when this replica has not decoded it before.
func (s *fositeStorage) decodePending(ctx context.Context, id string, data []byte) (*fosite.AuthorizeRequest, error) {
	sr, session, ok := s.pending.decoded(id, data)
	if ok {
		return s.authorizeOf(ctx, sr, session)
	}
	if err := json.Unmarshal(data, &sr); err != nil {
		return nil, err
	}
	ar, err := s.authorizeOf(ctx, sr, NewSession())
	if err != nil {
		return nil, err
	}
	s.pending.keep(id, "", nil, data, &sr, ar.GetSession().(*Session))
	return ar, nil
}

// authorizeOf rebuilds the authorization request stored as sr, with a
// live client, into session; it keeps sr's slices.
func (s *fositeStorage) authorizeOf(ctx context.Context, sr storedRequest, session *Session) (*fosite.AuthorizeRequest, error) {
	req, err := s.decodeRequest(ctx, sr, session)
	if err != nil {
		return nil, err
	}
	ar := &fosite.AuthorizeRequest{
		Request:              *req,
		ResponseTypes:        sr.ResponseTypes,
		State:                sr.State,
		ResponseMode:         fosite.ResponseModeType(sr.ResponseMode),
		DefaultResponseMode:  fosite.ResponseModeType(sr.DefaultResponseMode),
		HandledResponseTypes: fosite.Arguments{},
	}
	if sr.RedirectURI != "" {
		if ar.RedirectURI, err = url.Parse(sr.RedirectURI); err != nil {
			return nil, err
		}
	}
	return ar, nil
}

// storedRequest is the JSON form of a fosite request.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"requested_scope"`
	GrantedScope      []string        `json:"granted_scope"`
	RequestedAudience []string        `json:"requested_audience,omitempty"`
	GrantedAudience   []string        `json:"granted_audience,omitempty"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
	// Also are the forms of the code's PKCE challenge and OpenID request,
	// which a code's record holds (see foldCode): fosite stores each
	// apart, as the same request with another form.
	Also map[Kind]url.Values `json:"also,omitempty"`

	// Authorization requests only.
	ResponseTypes       []string `json:"response_types,omitempty"`
	RedirectURI         string   `json:"redirect_uri,omitempty"`
	State               string   `json:"state,omitempty"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	DefaultResponseMode string   `json:"default_response_mode,omitempty"`
}

// secretFormKeys are never stored with a request, whatever fosite passes.
var secretFormKeys = []string{"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "password", "token"}

// accessSession is what an access token's record keeps of its session:
// every use of the token reads it, and nothing reads an ID token's claims
// from an access token (they travel with codes and refresh tokens), so
// they are left out.
type accessSession struct {
	ExpiresAt map[fosite.TokenType]time.Time `json:"expires_at"`
	Subject   string                         `json:"subject,omitempty"`
	Citizen   string                         `json:"citizen,omitempty"`
	GrantID   string                         `json:"grant_id,omitempty"`
	JKT       string                         `json:"cnf_jkt,omitempty"`
	// AuthorizationDetails travel with the access token for introspection.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

func encodeRequest(req fosite.Requester, kind Kind) ([]byte, error) {
	return encodeWith(req, kind, nil)
}

// storedForm is req's form as it is stored: without its secrets.
func storedForm(req fosite.Requester) url.Values {
	form := url.Values{}
	for k, v := range req.GetRequestForm() {
		form[k] = v
	}
	for _, k := range secretFormKeys {
		form.Del(k)
	}
	return form
}

// encodeWith encodes req with also, the forms of the records it holds
// besides its own.
func encodeWith(req fosite.Requester, kind Kind, also map[Kind]url.Values) ([]byte, error) {
	var session any = req.GetSession()
	if s, ok := session.(*Session); ok && kind == KindAccess && s.DefaultSession != nil {
		session = accessSession{ExpiresAt: s.ExpiresAt, Subject: s.Subject, Citizen: s.Citizen, GrantID: s.GrantID, JKT: s.JKT,
			AuthorizationDetails: s.AuthorizationDetails}
	}
	sess, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	sr := storedRequest{
		ID: req.GetID(), RequestedAt: req.GetRequestedAt(), ClientID: req.GetClient().GetID(),
		RequestedScope: req.GetRequestedScopes(), GrantedScope: req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(), GrantedAudience: req.GetGrantedAudience(),
		Form: storedForm(req), Session: sess, Also: also,
	}
	if ar, ok := req.(fosite.AuthorizeRequester); ok {
		sr.ResponseTypes = ar.GetResponseTypes()
		if u := ar.GetRedirectURI(); u != nil {
			sr.RedirectURI = u.String()
		}
		sr.State = ar.GetState()
		sr.ResponseMode = string(ar.GetResponseMode())
		sr.DefaultResponseMode = string(ar.GetDefaultResponseMode())
	}
	return json.Marshal(sr)
}

func (s *fositeStorage) decodeRequest(ctx context.Context, sr storedRequest, session fosite.Session) (*fosite.Request, error) {
	c, err := s.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	if session == nil {
		session = NewSession()
	}
	if len(sr.Session) > 0 {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, fmt.Errorf("decode session: %w", err)
		}
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c,
		RequestedScope: sr.RequestedScope, GrantedScope: sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: session,
	}, nil
}
