package consent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The pull part: partners list and fetch the documents a grant covers,
// and every fetch lands in the citizen's access history.

// AccessEvent is one entry of a citizen's access history: a partner
// fetched a document, the gateway delivered it, or a verifier viewed it.
type AccessEvent struct {
	ID        int64        `json:"id"`
	At        time.Time    `json:"at"`
	Citizen   IIN          `json:"-"`
	Holder    IIN          `json:"-"` // whose document: the citizen or a minor
	PartnerID string       `json:"partner_id"`
	GrantID   string       `json:"grant_id"`
	Document  DocumentType `json:"document"`
	Kind      string       `json:"kind"` // a use (fetch, delivery, view) or a grant's lifecycle (consent, merge, …)
	// By is who ended a grant (a revocation's).
	By string `json:"by,omitempty"`
	// Grant is a lifecycle event's grant as it left it: what its receipt
	// says.
	Grant *GrantState `json:"grant,omitempty"`
	// Seal is where the event stands in the history's log, once sealed.
	Seal *Seal `json:"-"`
	// Lang is the language the citizen used, when the event came from a
	// page (a consent): its notice speaks it. Not kept in the history.
	Lang string `json:"-"`
}

// GrantState is a grant as one event of its lifecycle left it.
type GrantState struct {
	Receipt      string         `json:"receipt"` // the id of the event's receipt
	Documents    []DocumentType `json:"documents"`
	Holders      []IIN          `json:"holders"`
	Purpose      string         `json:"purpose,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	ExpiresAt    time.Time      `json:"expires_at"`
	TermsVersion string         `json:"terms_version"`
	TermsDigest  string         `json:"terms_digest,omitempty"`
	Status       GrantStatus    `json:"status"`
	Method       Method         `json:"method,omitempty"` // how the latest consent was given
}

// GrantEvent is the history's record of grant g's lifecycle event kind at
// at, with the grant as the event left it and a new receipt id.
func GrantEvent(g Grant, kind string, at time.Time) AccessEvent {
	holders := g.Holders
	if len(holders) == 0 {
		holders = []IIN{g.Citizen}
	}
	e := AccessEvent{At: at, Citizen: g.Citizen, Holder: g.Citizen, PartnerID: g.PartnerID, GrantID: g.ID, Kind: kind,
		Grant: &GrantState{Receipt: newID(), Documents: slices.Clone(g.Documents), Holders: slices.Clone(holders), Purpose: g.Purpose,
			CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt, TermsVersion: g.TermsVersion, TermsDigest: g.TermsDigest, Status: g.Status, Method: g.Method.OrDefault()}}
	if g.Status != GrantActive {
		e.By = g.StatusBy
	}
	return e
}

// Access event kinds.
const (
	AccessFetch    = "fetch"
	AccessDelivery = "delivery"
	AccessView     = "view"   // a third party viewed a shared document
	AccessViewed   = "viewed" // the citizen viewed another's shared document
	// A grant's lifecycle (no document): given, merged into or replaced
	// by a consent, revoked, expired; and a citizen's erasure.
	AccessConsent    = "consent"
	AccessMerge      = string(GrantMerge)
	AccessReplace    = string(GrantReplace)
	AccessRevocation = "revocation"
	AccessExpiry     = "expiry"
	AccessErasure    = "erasure"
	AccessDeletion   = "deletion" // the partner confirmed it deleted what it received
)

// IsUse reports whether an event of kind is a use of a document (a fetch,
// a delivery, a view) rather than a change of the grant.
func IsUse(kind string) bool {
	return kind == AccessFetch || kind == AccessDelivery || kind == AccessView
}

// AccessLog keeps the access history.
type AccessLog interface {
	RecordAccess(ctx context.Context, e AccessEvent) error
	// ListAccess returns the citizen's history (as holder or as the one
	// who consented), newest first (by time, then by ID): up to limit
	// events before the cursor (the newest when it is zero).
	ListAccess(ctx context.Context, citizen IIN, before HistoryCursor, limit int) ([]AccessEvent, error)
}

// A HistoryCursor is where a page of a citizen's history ends: the time
// and ID of its last event. The next page holds the events before it,
// in time and then in ID, so a store keeping the history in months reads
// only the months a page covers. The zero cursor is the newest.
type HistoryCursor struct {
	At time.Time
	ID int64
}

// CursorOf is the cursor just past e: the next page starts before it.
func CursorOf(e AccessEvent) HistoryCursor { return HistoryCursor{At: e.At, ID: e.ID} }

// IsZero reports whether c is the zero cursor, the newest.
func (c HistoryCursor) IsZero() bool { return c.ID == 0 && c.At.IsZero() }

// Before reports whether e comes after the cursor in a page's order, that
// is, before it in time: earlier, or as early with a smaller ID.
func (c HistoryCursor) Before(e AccessEvent) bool {
	if c.IsZero() {
		return true
	}
	if d := e.At.Compare(c.At); d != 0 {
		return d < 0
	}
	return e.ID < c.ID
}

// String is the cursor as a link carries it: the microseconds since
// 1970 (the history keeps its times to the microsecond) and the ID,
// joined by a dot; "" for the zero cursor.
func (c HistoryCursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseHistoryCursor reads a cursor as String writes it: both numbers
// positive decimals.
func ParseHistoryCursor(s string) (HistoryCursor, error) {
	at, id, ok := strings.Cut(s, ".")
	micros, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || micros <= 0 || n <= 0 || micros >= maxCursorMicros ||
		!decimal(at) || !decimal(id) {
		return HistoryCursor{}, &InputError{Field: "before", Err: errors.New("must be the cursor of a page, as a next link gives it")}
	}
	return HistoryCursor{At: time.UnixMicro(micros).UTC(), ID: n}, nil
}

// maxCursorMicros is the year 10000: no event is as late.
var maxCursorMicros = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// decimal reports whether s is digits alone (ParseInt takes a sign too).
func decimal(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// GrantGetter reads grants.
type GrantGetter interface {
	// GetGrant returns ErrGrantNotFound for an unknown id.
	GetGrant(ctx context.Context, id string) (Grant, error)
}

// PartnerInfo is what serving documents needs to know of a partner.
type PartnerInfo struct {
	ID            string
	Name          string            // the name it was admitted under
	Names         map[string]string // as citizens read it, by language
	Delivery      string            // the style's name: pull, push, …
	WebhookURL    string
	EncryptionJWK []byte // set: documents are encrypted to it
}

// Partners looks partners up for delivery.
type Partners interface {
	PartnerInfo(ctx context.Context, id string) (PartnerInfo, error)
}

// Token is what a partner's access token says.
type Token struct {
	ClientID string
	Subject  string // pairwise
	Citizen  IIN
	GrantID  string
	Scopes   []string

	// Grant and Partner, when set, were read with the token in this
	// request; the fetch then does not read them again.
	Grant   *Grant
	Partner *PartnerInfo
}

// Summary describes one document a grant covers, without its contents.
type Summary struct {
	Type     DocumentType `json:"type"`
	Status   string       `json:"status"`
	Expires  string       `json:"expires,omitempty"`
	Relation string       `json:"relation"`
	// Holder names whose document it is, as the partner knows them: the
	// pairwise subject of the citizen or of the minor.
	Holder string `json:"holder"`
}

// FetchLibrary is what fetching needs of the Library.
type FetchLibrary interface {
	Covered(ctx context.Context, g Grant, t DocumentType) ([]Document, error)
	SignDocument(p PartnerInfo, g Grant, doc Document) (string, error)
	Subject(aud string, iin IIN) string
}

// FetcherConfig is what a Fetcher is built from.
type FetcherConfig struct {
	Grants   GrantGetter
	Partners Partners
	Library  FetchLibrary
	Access   AccessLog
	Now      func() time.Time
}

// Fetcher serves documents to partners that fetch them (pull).
type Fetcher struct{ cfg FetcherConfig }

// NewFetcher checks cfg and returns the fetcher.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if err := required(map[string]bool{"Grants": cfg.Grants == nil, "Partners": cfg.Partners == nil,
		"Library": cfg.Library == nil, "Access": cfg.Access == nil, "Now": cfg.Now == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewFetcher: %w", err)
	}
	return &Fetcher{cfg: cfg}, nil
}

// grantFor returns the active grant behind a token; ErrGrantEnded when
// there is none.
func (f *Fetcher) grantFor(ctx context.Context, tok Token) (Grant, error) {
	g := Grant{}
	if tok.Grant != nil && tok.Grant.ID == tok.GrantID {
		g = *tok.Grant
	} else {
		var err error
		g, err = f.cfg.Grants.GetGrant(ctx, tok.GrantID)
		if errors.Is(err, ErrGrantNotFound) {
			return Grant{}, ErrGrantEnded
		}
		if err != nil {
			return Grant{}, err
		}
	}
	if !g.ActiveAt(f.cfg.Now()) || g.PartnerID != tok.ClientID || g.Citizen != tok.Citizen {
		return Grant{}, ErrGrantEnded
	}
	return g, nil
}

// List returns the documents the token's grant covers.
func (f *Fetcher) List(ctx context.Context, tok Token) ([]Summary, error) {
	g, err := f.grantFor(ctx, tok)
	if err != nil {
		return nil, err
	}
	docs, err := f.cfg.Library.Covered(ctx, g, "")
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(docs))
	for _, doc := range docs {
		if !slices.Contains(tok.Scopes, doc.Type.Scope()) {
			continue
		}
		out = append(out, Summary{Type: doc.Type, Status: doc.Status, Expires: doc.Expires, Relation: doc.Relation,
			Holder: f.cfg.Library.Subject(tok.ClientID, doc.Holder.IIN)})
	}
	return out, nil
}

// Fetch returns document t of the token's grant, signed for the partner
// (and encrypted when it registered a key), and records the fetch. holder,
// when set, picks a minor's document by its pairwise holder id; else the
// citizen's own is preferred.
//
// Returns ErrNotGranted for a type the grant or token does not cover,
// ErrNoDocument when there is no such document, ErrSourceUnavailable.
func (f *Fetcher) Fetch(ctx context.Context, tok Token, t DocumentType, holder string) (string, error) {
	g, err := f.grantFor(ctx, tok)
	if err != nil {
		return "", err
	}
	if !slices.Contains(g.Documents, t) || !slices.Contains(tok.Scopes, t.Scope()) {
		return "", ErrNotGranted
	}
	docs, err := f.cfg.Library.Covered(ctx, g, t)
	if err != nil {
		return "", err
	}
	var doc *Document
	for i := range docs {
		ref := f.cfg.Library.Subject(tok.ClientID, docs[i].Holder.IIN)
		if (holder == "" && (doc == nil || docs[i].Relation == RelationSelf)) || holder == ref {
			doc = &docs[i]
		}
	}
	if doc == nil {
		return "", ErrNoDocument
	}
	p, err := f.partnerOf(ctx, tok, g)
	if err != nil {
		return "", err
	}
	out, err := f.cfg.Library.SignDocument(p, g, *doc)
	if err != nil {
		return "", err
	}
	if err := f.cfg.Access.RecordAccess(ctx, AccessEvent{At: f.cfg.Now(), Citizen: g.Citizen, Holder: doc.Holder.IIN,
		PartnerID: g.PartnerID, GrantID: g.ID, Document: t, Kind: AccessFetch}); err != nil {
		return "", err
	}
	return out, nil
}

// partnerOf returns the partner of the token's grant.
func (f *Fetcher) partnerOf(ctx context.Context, tok Token, g Grant) (PartnerInfo, error) {
	if tok.Partner != nil && tok.Partner.ID == g.PartnerID {
		return *tok.Partner, nil
	}
	return f.cfg.Partners.PartnerInfo(ctx, g.PartnerID)
}

// NameIn is the partner's name as a citizen reading lang sees it.
func (p PartnerInfo) NameIn(lang string) string { return cmp.Or(p.Names[lang], p.Name) }
