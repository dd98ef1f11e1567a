package consent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Share is open access to one document for a third party (Rules §15–19):
// a six-digit short code and a QR code, valid for a few minutes.
//
//	open ──citizen closes──▶ closed
//	open ──ExpiresAt passes──▶ expired (read from the clock)
//
// The citizen may extend an open share up to MaxShareLife from opening.
// The short code and the QR token are derived from the share's id with a
// secret key, so neither is stored: the store keeps only their keyed
// hashes, for lookup.
type Share struct {
	ID        string
	Citizen   IIN // who opened it
	Holder    IIN // whose document: the citizen, or a minor they represent
	Document  DocumentType
	CodeKey   string
	TokenKey  string
	CreatedAt time.Time
	ExpiresAt time.Time
	Status    string // open or closed
	ClosedAt  time.Time
}

// Share rules.
const (
	ShareTTL      = 5 * time.Minute  // validity when opened, and each extension
	MaxShareLife  = 30 * time.Minute // from opening, extensions included
	ShareOpen     = "open"
	ShareClosed   = "closed"
	VerifyScope   = "verify"
	verifyWindow  = time.Minute
	verifyRetries = 5 // tries to find a free short code
)

// Share errors.
var (
	ErrShareNotFound = newError(KindNotFound, "err_request_gone", "no open share has this code or id")
	ErrShareMaxed    = newError(KindConflict, "", "a share lasts at most 30 minutes from opening")
)

// ShareStore keeps shares.
type ShareStore interface {
	// CreateShare stores an open share; ErrShareCodeTaken when an open,
	// unexpired share has the same short code.
	CreateShare(ctx context.Context, s Share, now time.Time) error
	// GetShare returns ErrShareNotFound for an unknown id.
	GetShare(ctx context.Context, id string) (Share, error)
	// ShareBy returns the open share whose code or token key is key;
	// ErrShareNotFound when none.
	ShareBy(ctx context.Context, codeKey, tokenKey string) (Share, error)
	// UpdateShare stores new expiry, status and closing time.
	UpdateShare(ctx context.Context, s Share) error
	// ListShares returns the citizen's shares, newest first.
	ListShares(ctx context.Context, citizen IIN, limit int) ([]Share, error)
	// ViewsBy returns the views a verifier made, newest first.
	ViewsBy(ctx context.Context, partnerID string, limit int) ([]AccessEvent, error)
}

// ErrShareCodeTaken: the short code belongs to another open share.
var ErrShareCodeTaken = errors.New("short code taken")

// Releaser gives back an event a Hit counted.
type Releaser interface {
	// Release takes back one event counted for key at at in windows of
	// length window; none left is no error.
	Release(ctx context.Context, key string, window time.Duration, at time.Time) error
}

// VerifyLimits bound guessing of short codes. A short code is six digits,
// so with N shares open a guess finds one with odds N in 1,000,000: what
// bounds a guesser is how many guesses are looked up.
type VerifyLimits struct {
	PerVerifier int // wrong codes or tokens one verifier may try per minute
	All         int // wrong short codes all verifiers together may try per minute
}

// ShareLimits is what bounds guessing needs of the store: counters that
// hold across replicas, and a way to give back a count that was no guess.
type ShareLimits interface {
	Limiter
	Releaser
}

// ShareLibrary is what shares need of the Library.
type ShareLibrary interface {
	Current(ctx context.Context, citizen, holder IIN, t DocumentType) (ReadDocument, error)
	Sharable(ctx context.Context, citizen IIN) ([]Sharable, error)
	Claims(aud string, sub IIN) map[string]any
	Sign(claims map[string]any, typ string) (string, error)
}

// SharesConfig is what Shares are built from.
type SharesConfig struct {
	Store   ShareStore
	Limits  ShareLimits
	Library ShareLibrary
	Access  AccessLog // views land in the citizen's history
	// Registry names who views and who shared, for a view by a person.
	Registry Registry
	Key      []byte // derives short codes and QR tokens
	Issuer   string // the QR code's URL starts with it
	Wrong    VerifyLimits
	Now      func() time.Time
}

// Shares runs open access for third parties.
type Shares struct {
	store    ShareStore
	limits   ShareLimits
	library  ShareLibrary
	access   AccessLog
	registry Registry
	key      []byte
	issuer   string
	wrong    VerifyLimits
	now      func() time.Time
}

// NewShares checks cfg and returns the share service.
func NewShares(cfg SharesConfig) (*Shares, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Limits": cfg.Limits == nil, "Library": cfg.Library == nil,
		"Access": cfg.Access == nil, "Registry": cfg.Registry == nil, "Key": len(cfg.Key) < 16, "Issuer": cfg.Issuer == "", "Now": cfg.Now == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewShares: %w", err)
	}
	if cfg.Wrong.PerVerifier < 1 || cfg.Wrong.All < 1 {
		return nil, errors.New("consent.NewShares: both verify limits must be positive")
	}
	return &Shares{store: cfg.Store, limits: cfg.Limits, library: cfg.Library, access: cfg.Access, registry: cfg.Registry, key: cfg.Key,
		issuer: cfg.Issuer, wrong: cfg.Wrong, now: cfg.Now}, nil
}

// Code is the six-digit short code of share id.
func (s *Shares) Code(id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("share-code\x00" + id))
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(m.Sum(nil)[:8])%1_000_000)
}

// Token is the QR token of share id: 256 bits, not the short code.
func (s *Shares) Token(id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("share-token\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// URL is what the QR code encodes.
func (s *Shares) URL(id string) string { return s.issuer + "/v/" + s.Token(id) }

func (s *Shares) codeKey(code string) string   { return keyed(s.key, "share-code", code) }
func (s *Shares) tokenKey(token string) string { return keyed(s.key, "share-token", token) }

// Open opens access to document t of holder (the citizen, or a minor the
// citizen represents). Returns ErrNoDocument when there is no such document
// or it has expired.
func (s *Shares) Open(ctx context.Context, citizen, holder IIN, t DocumentType) (Share, error) {
	if holder == "" {
		holder = citizen
	}
	if _, err := s.document(ctx, citizen, holder, t); err != nil {
		return Share{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // as the store keeps it
	for range verifyRetries {
		sh := Share{ID: newID(), Citizen: citizen, Holder: holder, Document: t, CreatedAt: now, ExpiresAt: now.Add(ShareTTL), Status: ShareOpen}
		sh.CodeKey, sh.TokenKey = s.codeKey(s.Code(sh.ID)), s.tokenKey(s.Token(sh.ID))
		err := s.store.CreateShare(ctx, sh, now)
		if errors.Is(err, ErrShareCodeTaken) {
			continue // another open share has this code: draw again
		}
		return sh, err
	}
	return Share{}, errors.New("no free short code")
}

// document returns the shared document as the source has it now: a share
// of a document that expired or is gone stops working.
func (s *Shares) document(ctx context.Context, citizen, holder IIN, t DocumentType) (ReadDocument, error) {
	return s.library.Current(ctx, citizen, holder, t)
}

// mine returns the citizen's open, unexpired share id.
func (s *Shares) mine(ctx context.Context, citizen IIN, id string) (Share, error) {
	sh, err := s.store.GetShare(ctx, id)
	if err != nil {
		return Share{}, err
	}
	if sh.Citizen != citizen {
		return Share{}, ErrShareNotFound
	}
	return sh, nil
}

// Get returns one of the citizen's shares.
func (s *Shares) Get(ctx context.Context, citizen IIN, id string) (Share, error) {
	return s.mine(ctx, citizen, id)
}

// Left is how long the share still works.
func (s *Shares) Left(sh Share) time.Duration { return max(0, sh.ExpiresAt.Sub(s.now())) }

// Active reports whether the share can be used now.
func (s *Shares) Active(sh Share) bool {
	return sh.Status == ShareOpen && s.now().Before(sh.ExpiresAt)
}

// Extend adds ShareTTL, never past MaxShareLife from opening. Returns
// ErrShareMaxed when the share already lasts as long as it may, and
// ErrShareNotFound when it is not open.
func (s *Shares) Extend(ctx context.Context, citizen IIN, id string) (Share, error) {
	sh, err := s.mine(ctx, citizen, id)
	if err != nil {
		return Share{}, err
	}
	if !s.Active(sh) {
		return Share{}, ErrShareNotFound
	}
	limit := sh.CreatedAt.Add(MaxShareLife)
	if !sh.ExpiresAt.Before(limit) {
		return Share{}, ErrShareMaxed
	}
	sh.ExpiresAt = sh.ExpiresAt.Add(ShareTTL)
	if sh.ExpiresAt.After(limit) {
		sh.ExpiresAt = limit
	}
	return sh, s.store.UpdateShare(ctx, sh)
}

// Close ends a share early; closing twice is harmless.
func (s *Shares) Close(ctx context.Context, citizen IIN, id string) (Share, error) {
	sh, err := s.mine(ctx, citizen, id)
	if err != nil {
		return Share{}, err
	}
	if sh.Status == ShareOpen {
		sh.Status, sh.ClosedAt = ShareClosed, s.now()
		err = s.store.UpdateShare(ctx, sh)
	}
	return sh, err
}

// List returns the citizen's recent shares.
func (s *Shares) List(ctx context.Context, citizen IIN) ([]Share, error) {
	return s.store.ListShares(ctx, citizen, 20)
}

// Verify is a verifier presenting a short code or a QR token. It returns
// the document signed for the verifier and records the view in the
// histories of the citizen and of the verifier. A wrong code reveals
// nothing (ErrShareNotFound, as for an expired or closed share).
//
// Each attempt is counted as wrong before the lookup, in the store, and
// given back when it finds an open share: so no more than the limits are
// ever looked up, however many replicas the attempts reach at once. Past
// VerifyLimits.PerVerifier attempts a minute the verifier gets
// *RateLimitError, right code or wrong; past VerifyLimits.All short codes
// a minute from all verifiers, every verifier's short codes do (a QR token
// cannot be guessed and is never held back by others' guesses).
func (s *Shares) Verify(ctx context.Context, verifier, code, token string) (string, Share, error) {
	sh, doc, err := s.find(ctx, "verify-wrong:"+verifier, code, token)
	if err != nil {
		return "", Share{}, err
	}
	claims := s.library.Claims(verifier, sh.Holder)
	claims["share_id"], claims["document"] = sh.ID, doc.Document
	jws, err := s.library.Sign(claims, TypeDocument)
	if err != nil {
		return "", Share{}, err
	}
	if err := s.access.RecordAccess(ctx, AccessEvent{At: s.now(), Citizen: sh.Citizen, Holder: sh.Holder, PartnerID: verifier,
		GrantID: sh.ID, Document: sh.Document, Kind: AccessView}); err != nil {
		return "", Share{}, err
	}
	return jws, sh, nil
}

// find looks up the open share a short code or QR token names, under the
// limits (see Verify), counting wrong attempts under limitKey, and reads
// its document as the source has it now.
func (s *Shares) find(ctx context.Context, limitKey, code, token string) (Share, ReadDocument, error) {
	now := s.now()
	reserved := []string{limitKey}
	limits := []int{s.wrong.PerVerifier}
	var codeKey, tokenKey string
	switch {
	case token != "":
		tokenKey = s.tokenKey(token)
	default:
		if len(code) == 6 {
			codeKey = s.codeKey(code)
		}
		reserved, limits = append(reserved, "verify-wrong-all"), append(limits, s.wrong.All)
	}
	for i, key := range reserved {
		if err := s.limits.Hit(ctx, key, limits[i], verifyWindow, now); err != nil {
			s.release(ctx, reserved[:i], now)
			return Share{}, ReadDocument{}, err
		}
	}
	sh, err := s.store.ShareBy(ctx, codeKey, tokenKey)
	if err == nil && !s.Active(sh) {
		err = ErrShareNotFound
	}
	if err != nil {
		if !errors.Is(err, ErrShareNotFound) {
			s.release(ctx, reserved, now) // not a guess that was looked at
		}
		return Share{}, ReadDocument{}, err
	}
	s.release(ctx, reserved, now)
	doc, err := s.document(ctx, sh.Citizen, sh.Holder, sh.Document)
	if errors.Is(err, ErrNoDocument) {
		sh.Status, sh.ClosedAt = ShareClosed, now // the document is gone or expired at its source
		_ = s.store.UpdateShare(ctx, sh)
		return Share{}, ReadDocument{}, ErrShareNotFound
	}
	if err != nil {
		return Share{}, ReadDocument{}, err
	}
	return sh, doc, nil
}

// PersonViewer is the "partner" of a view by a person: a citizen logged in
// to the settings, not an onboarded verifier.
const PersonViewer = "person"

// PersonView is what a citizen who checks a shared document sees.
type PersonView struct {
	Document  Document
	Signature SignatureState
	SharedBy  string // who shared it: the holder, or their representative
	Share     Share
}

// ViewAsPerson is a citizen logged in to the settings presenting a short
// code or a QR token (Rules §18–19): the document, verified, with who
// shared it and until when. The view lands in the history of the
// document's holder ("viewed by …", with the viewer's name shortened) and
// in the viewer's own ("you viewed …"). The same limits as an onboarded
// verifier's hold, counted per viewer.
func (s *Shares) ViewAsPerson(ctx context.Context, viewer IIN, code, token string) (PersonView, error) {
	sh, doc, err := s.find(ctx, keyed(s.key, "verify-wrong:person", string(viewer)), code, token)
	if err != nil {
		return PersonView{}, err
	}
	who, err := s.registry.Citizen(ctx, viewer)
	if err != nil {
		return PersonView{}, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	by, err := s.registry.Citizen(ctx, sh.Citizen)
	if err != nil {
		return PersonView{}, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	now := s.now()
	if err := s.access.RecordAccess(ctx, AccessEvent{At: now, Citizen: sh.Citizen, Holder: sh.Holder, PartnerID: PersonViewer,
		GrantID: sh.ID, Document: sh.Document, Kind: AccessView, By: ShortName(who.Name)}); err != nil {
		return PersonView{}, err
	}
	if err := s.access.RecordAccess(ctx, AccessEvent{At: now, Citizen: viewer, Holder: viewer, PartnerID: PersonViewer,
		GrantID: sh.ID, Document: sh.Document, Kind: AccessViewed, By: ShortName(doc.Holder.Name)}); err != nil {
		return PersonView{}, err
	}
	return PersonView{Document: doc.Document, Signature: doc.Signature, SharedBy: by.Name, Share: sh}, nil
}

// ShortName is a name as another person's history shows it: the first
// word whole, the others by their initial ("Aigerim N.").
func ShortName(name string) string {
	words := strings.Fields(name)
	for i := 1; i < len(words); i++ {
		r, _ := utf8.DecodeRuneInString(words[i])
		words[i] = string(r) + "."
	}
	return strings.Join(words, " ")
}

// release gives back attempts counted for keys at now: they were not wrong.
func (s *Shares) release(ctx context.Context, keys []string, now time.Time) {
	for _, k := range keys {
		_ = s.limits.Release(context.WithoutCancel(ctx), k, verifyWindow, now)
	}
}

// Views returns the views a verifier made, for its own history.
func (s *Shares) Views(ctx context.Context, verifier string) ([]AccessEvent, error) {
	return s.store.ViewsBy(ctx, verifier, 200)
}

// Sharable lists the citizen's valid documents and those of the minors
// they represent.
func (s *Shares) Sharable(ctx context.Context, citizen IIN) ([]Sharable, error) {
	return s.library.Sharable(ctx, citizen)
}
