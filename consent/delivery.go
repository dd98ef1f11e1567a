package consent

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"time"
)

// AccessEvent is one entry of a citizen's access history: a partner
// fetched a document, or the gateway delivered it.
type AccessEvent struct {
	ID        int64        `json:"id"`
	At        time.Time    `json:"at"`
	Citizen   IIN          `json:"-"`
	Holder    IIN          `json:"-"` // whose document: the citizen or a minor
	PartnerID string       `json:"partner_id"`
	GrantID   string       `json:"grant_id"`
	Document  DocumentType `json:"document"`
	Kind      string       `json:"kind"` // fetch or delivery
}

// Access event kinds.
const (
	AccessFetch    = "fetch"
	AccessDelivery = "delivery"
)

// OutboxStatus is where a push delivery stands.
//
//	pending ──partner answers 2xx──▶ delivered
//	pending ──MaxAttempts-th failure──▶ dead ──operator replays──▶ pending
//
// A worker claims an entry for a lease, renews the lease right before each
// post, and posts for at most half a lease (a post never outlives the
// lease, even with the replicas' clocks somewhat apart); the attempt is
// counted, and the entry dead-lettered, by the store, and only by the
// worker that still holds the lease. So two workers never post one entry
// at once, and a dead letter comes after exactly MaxAttempts posts.
type OutboxStatus string

const (
	OutboxPending   OutboxStatus = "pending"
	OutboxDelivered OutboxStatus = "delivered"
	OutboxDead      OutboxStatus = "dead"
)

// OutboxEntry is one delivery to make to a partner. It is written in the
// same transaction as what caused it (a grant), so a crash loses nothing;
// its ID is the Idempotency-Key the partner sees on every attempt.
type OutboxEntry struct {
	ID            string       `json:"id"`
	PartnerID     string       `json:"client_id"`
	GrantID       string       `json:"grant_id"`
	Kind          string       `json:"kind"`
	Document      DocumentType `json:"document,omitempty"` // for document.changed: which one
	Status        OutboxStatus `json:"status"`
	Attempts      int          `json:"attempts"`
	NextAttemptAt time.Time    `json:"next_attempt_at"`
	LastError     string       `json:"last_error,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	DeliveredAt   time.Time    `json:"delivered_at,omitzero"`
	// Claim names the lease a worker holds on the entry, if any.
	Claim string `json:"-"`
}

// DeliveryOutcome is what one attempt at an outbox entry came to.
type DeliveryOutcome struct {
	Delivered   bool
	Final       bool // no use retrying: dead now, whatever the count
	Error       string
	At          time.Time
	RetryAt     time.Time // the next attempt, when one is due
	MaxAttempts int       // the failure that reaches it dead-letters the entry
}

// ErrLeaseLost: the worker's lease on an outbox entry ran out and another
// worker claimed it.
var ErrLeaseLost = errors.New("the delivery lease was lost")

// Outbox entry kinds.
const (
	// KindGrantDocuments delivers the documents of a new grant.
	KindGrantDocuments = "grant.documents"
	// KindDocumentChanged delivers a covered document that was renewed or
	// changed at its source.
	KindDocumentChanged = "document.changed"
	// KindGrantRevoked notifies the partner that a grant was revoked, with
	// a Security Event Token (RFC 8417).
	KindGrantRevoked = "grant.revoked"
)

// SessionRevoked is the CAEP event type a revocation is announced with.
const SessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

// ErrDeliveryNotFound: no outbox entry with that id.
var ErrDeliveryNotFound = errors.New("delivery not found")

// DeliveryStore keeps the access history and the outbox.
type DeliveryStore interface {
	RecordAccess(ctx context.Context, e AccessEvent) error
	// ListAccess returns the citizen's history (as holder or as the one
	// who consented), newest first.
	ListAccess(ctx context.Context, citizen IIN, limit int) ([]AccessEvent, error)
	// ClaimDeliveries leases up to limit pending entries due at now to
	// the caller, under claim, until now+lease; another worker skips them
	// meanwhile.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, claim string) ([]OutboxEntry, error)
	// RenewDelivery extends the lease on entry id held under claim until
	// until. Returns ErrLeaseLost when another worker holds it now, or it
	// is no longer pending.
	RenewDelivery(ctx context.Context, id, claim string, until time.Time) error
	// FinishDelivery counts an attempt at entry id (one more, in the
	// store), stores its outcome and ends the lease, if claim still holds
	// it: the entry is delivered, dead (a final failure, or the one that
	// reaches MaxAttempts) or pending until RetryAt. It returns the entry
	// as stored, or ErrLeaseLost.
	FinishDelivery(ctx context.Context, id, claim string, o DeliveryOutcome) (OutboxEntry, error)
	// ListDeliveries returns entries with the status, oldest first.
	ListDeliveries(ctx context.Context, status OutboxStatus, limit int) ([]OutboxEntry, error)
	// ReplayDelivery makes a dead entry pending again, due at now.
	// Returns ErrDeliveryNotFound for an unknown or not dead entry.
	ReplayDelivery(ctx context.Context, id string, now time.Time) (OutboxEntry, error)
	// ActiveGrants returns the grants of citizen active at now that cover
	// document t.
	ActiveGrants(ctx context.Context, citizen IIN, t DocumentType, now time.Time) ([]Grant, error)
	// EnqueueDeliveries stores new outbox entries.
	EnqueueDeliveries(ctx context.Context, entries []OutboxEntry) error
	// AckRevocation records when the partner acknowledged a revocation.
	AckRevocation(ctx context.Context, grantID string, at time.Time) error
}

// Webhook posts to partners' webhooks.
type Webhook interface {
	// Post sends body; any 2xx is success. key is the Idempotency-Key.
	Post(ctx context.Context, url, contentType, key string, body []byte) error
}

// PartnerInfo is what delivery needs to know of a partner.
type PartnerInfo struct {
	ID            string
	Delivery      string // the style's name: pull, push, …
	WebhookURL    string
	EncryptionJWK []byte // set: documents are encrypted to it
}

// Partners looks partners up for delivery.
type Partners interface {
	PartnerInfo(ctx context.Context, id string) (PartnerInfo, error)
}

// DeliveryStyle is how documents reach one kind of partner. Each style is
// one adapter; a partner names its style at onboarding.
type DeliveryStyle interface {
	// OnGrant returns the kinds of outbox entries a new grant needs.
	OnGrant(p PartnerInfo) []string
	// Deliver sends the signed body of one outbox entry. An error makes
	// the entry retry later.
	Deliver(ctx context.Context, p PartnerInfo, e OutboxEntry, body []byte) error
}

// GrantGetter reads grants.
type GrantGetter interface {
	// GetGrant returns ErrGrantNotFound for an unknown id.
	GetGrant(ctx context.Context, id string) (Grant, error)
}

// Signer signs payloads as compact JWS with a key in the published JWKS.
type Signer interface {
	Sign(payload []byte, typ string) (string, error)
}

// Token is what a partner's access token says.
type Token struct {
	ClientID string
	Subject  string // pairwise
	Citizen  IIN
	GrantID  string
	Scopes   []string

	// Grant and Partner, when set, were read with the token in this
	// request; the delivery then does not read them again.
	Grant   *Grant
	Partner *PartnerInfo
}

// DeliveryConfig tunes signing and retries.
type DeliveryConfig struct {
	Issuer      string
	DocumentTTL time.Duration // exp of a signed document (5 min)
	MaxAttempts int           // before an entry is dead (8)
	Backoff     time.Duration // first retry delay; doubles, with jitter (2 s)
	MaxBackoff  time.Duration // (10 min)
	Lease       time.Duration // how long a worker holds an entry (1 min)
}

// JWS types of what the gateway signs.
const (
	TypeDocument = "kelisim-document+jwt"
	TypeDelivery = "kelisim-delivery+jwt"
)

// Deliverer serves documents to partners: fetched (pull) or delivered
// through the outbox (push), always signed, always recorded in the
// citizen's history.
type Deliverer struct {
	cfg      DeliveryConfig
	store    DeliveryStore
	grants   GrantGetter
	registry Registry
	source   DocumentSource
	partners Partners
	styles   map[string]DeliveryStyle
	signer   Signer
	webhook  Webhook
	encrypt  func(jws string, jwk []byte) (string, error)
	pairwise func(clientID, citizen string) string
	now      func() time.Time
	log      *slog.Logger
}

// NewDeliverer wires the document delivery.
func NewDeliverer(cfg DeliveryConfig, store DeliveryStore, grants interface {
	GetGrant(context.Context, string) (Grant, error)
},
	registry Registry, source DocumentSource, partners Partners, styles map[string]DeliveryStyle, signer Signer, webhook Webhook,
	encrypt func(string, []byte) (string, error), pairwise func(string, string) string, now func() time.Time, log *slog.Logger) *Deliverer {
	return &Deliverer{cfg: cfg, store: store, grants: grants, registry: registry, source: source, partners: partners,
		styles: styles, signer: signer, webhook: webhook, encrypt: encrypt, pairwise: pairwise, now: now, log: log}
}

// revocationOutbox returns the notification a revocation of g needs: a
// Security Event Token to the partner's webhook, when it has one.
func (d *Deliverer) revocationOutbox(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error) {
	p, err := d.partners.PartnerInfo(ctx, g.PartnerID)
	if err != nil {
		return nil, err
	}
	if p.WebhookURL == "" {
		return nil, nil
	}
	return []OutboxEntry{{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: KindGrantRevoked,
		Status: OutboxPending, NextAttemptAt: now, CreatedAt: now}}, nil
}

// notifyEnded queues the Security Event Tokens telling partners that
// grants ended (expired or superseded), as for a revocation.
func (d *Deliverer) notifyEnded(ctx context.Context, ended []Grant, now time.Time) error {
	var out []OutboxEntry
	for _, g := range ended {
		e, err := d.revocationOutbox(ctx, g, now)
		if err != nil {
			return err
		}
		out = append(out, e...)
	}
	if len(out) == 0 {
		return nil
	}
	return d.store.EnqueueDeliveries(ctx, out)
}

// sendRevocation posts the Security Event Token (RFC 8417) of a revoked
// grant and records the partner's acknowledgement.
func (d *Deliverer) sendRevocation(ctx context.Context, p PartnerInfo, g Grant, e OutboxEntry) error {
	set := map[string]any{
		"iss": d.cfg.Issuer, "aud": p.ID, "iat": d.now().Unix(), "jti": e.ID,
		"sub_id": map[string]string{"format": "opaque", "id": d.pairwise(p.ID, string(g.Citizen))},
		"events": map[string]any{SessionRevoked: map[string]any{
			"event_timestamp":   g.StatusChangedAt.Unix(),
			"initiating_entity": map[bool]string{true: "user", false: "policy"}[g.StatusBy == "citizen"],
			"reason_admin":      map[string]string{"en": g.StatusReason},
			"grant_id":          g.ID,
		}},
	}
	body, err := d.sign(set, "secevent+jwt")
	if err != nil {
		return err
	}
	if err := d.webhook.Post(ctx, p.WebhookURL, "application/secevent+jwt", e.ID, []byte(body)); err != nil {
		return err
	}
	return d.store.AckRevocation(ctx, g.ID, d.now())
}

// Outbox returns the entries a new grant for partner needs.
func (d *Deliverer) Outbox(ctx context.Context, g Grant) ([]OutboxEntry, error) {
	p, err := d.partners.PartnerInfo(ctx, g.PartnerID)
	if err != nil {
		return nil, err
	}
	style, ok := d.styles[p.Delivery]
	if !ok {
		return nil, fmt.Errorf("partner %s: no delivery style %q", p.ID, p.Delivery)
	}
	var out []OutboxEntry
	for _, kind := range style.OnGrant(p) {
		out = append(out, OutboxEntry{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: kind,
			Status: OutboxPending, NextAttemptAt: g.CreatedAt, CreatedAt: g.CreatedAt})
	}
	return out, nil
}

// covered returns the documents grant g lets its partner see, of type t
// (all covered types when t is empty): those of the holders the grant
// names, the citizen's own and those of minors the registry says the
// citizen still represents.
func (d *Deliverer) covered(ctx context.Context, g Grant, t DocumentType) ([]Document, error) {
	citizen, err := d.registry.Citizen(ctx, g.Citizen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSourceUnavailable, err)
	}
	var out []Document
	now := d.now()
	for i, holder := range append([]IIN{g.Citizen}, citizen.Represents...) {
		if !g.Covers(holder) {
			continue // not named in the grant, or no longer represented
		}
		docs, err := d.source.Documents(ctx, holder)
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			if !slices.Contains(g.Documents, doc.Type) || (t != "" && doc.Type != t) {
				continue
			}
			doc.Status = doc.statusOn(now)
			doc.Relation = RelationSelf
			if i > 0 {
				doc.Relation = RelationRepresented
			}
			out = append(out, doc)
		}
	}
	return out, nil
}

// grantFor returns the active grant behind a token.
func (d *Deliverer) grantFor(ctx context.Context, tok Token) (Grant, error) {
	if tok.Grant != nil && tok.Grant.ID == tok.GrantID {
		return d.checkGrant(*tok.Grant, tok)
	}
	g, err := d.grants.GetGrant(ctx, tok.GrantID)
	if err != nil {
		return Grant{}, err
	}
	return d.checkGrant(g, tok)
}

func (d *Deliverer) checkGrant(g Grant, tok Token) (Grant, error) {
	if !g.ActiveAt(d.now()) || g.PartnerID != tok.ClientID || g.Citizen != tok.Citizen {
		return Grant{}, ErrGrantNotFound
	}
	return g, nil
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

// List returns the documents the token's grant covers.
func (d *Deliverer) List(ctx context.Context, tok Token) ([]Summary, error) {
	g, err := d.grantFor(ctx, tok)
	if err != nil {
		return nil, err
	}
	docs, err := d.covered(ctx, g, "")
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(docs))
	for _, doc := range docs {
		if !slices.Contains(tok.Scopes, doc.Type.Scope()) {
			continue
		}
		out = append(out, Summary{Type: doc.Type, Status: doc.Status, Expires: doc.Expires, Relation: doc.Relation,
			Holder: d.pairwise(tok.ClientID, string(doc.Holder.IIN))})
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
func (d *Deliverer) Fetch(ctx context.Context, tok Token, t DocumentType, holder string) (string, error) {
	g, err := d.grantFor(ctx, tok)
	if err != nil {
		return "", err
	}
	if !slices.Contains(g.Documents, t) || !slices.Contains(tok.Scopes, t.Scope()) {
		return "", ErrNotGranted
	}
	docs, err := d.covered(ctx, g, t)
	if err != nil {
		return "", err
	}
	var doc *Document
	for i := range docs {
		ref := d.pairwise(tok.ClientID, string(docs[i].Holder.IIN))
		if (holder == "" && (doc == nil || docs[i].Relation == RelationSelf)) || holder == ref {
			doc = &docs[i]
		}
	}
	if doc == nil {
		return "", ErrNoDocument
	}
	p, err := d.partnerOf(ctx, tok, g)
	if err != nil {
		return "", err
	}
	out, err := d.signDocument(p, g, *doc)
	if err != nil {
		return "", err
	}
	if err := d.store.RecordAccess(ctx, AccessEvent{At: d.now(), Citizen: g.Citizen, Holder: doc.Holder.IIN,
		PartnerID: g.PartnerID, GrantID: g.ID, Document: t, Kind: AccessFetch}); err != nil {
		return "", err
	}
	return out, nil
}

// partnerOf returns the partner of the token's grant.
func (d *Deliverer) partnerOf(ctx context.Context, tok Token, g Grant) (PartnerInfo, error) {
	if tok.Partner != nil && tok.Partner.ID == g.PartnerID {
		return *tok.Partner, nil
	}
	return d.partners.PartnerInfo(ctx, g.PartnerID)
}

func (d *Deliverer) claims(p PartnerInfo, g Grant) map[string]any {
	now := d.now()
	return map[string]any{
		"iss": d.cfg.Issuer, "aud": p.ID, "sub": d.pairwise(p.ID, string(g.Citizen)),
		"iat": now.Unix(), "exp": now.Add(d.cfg.DocumentTTL).Unix(), "jti": newID(), "grant_id": g.ID,
	}
}

// signDocument is one document as a partner receives it: a JWS, wrapped in
// a JWE when the partner registered an encryption key.
func (d *Deliverer) signDocument(p PartnerInfo, g Grant, doc Document) (string, error) {
	c := d.claims(p, g)
	c["document"] = doc
	jws, err := d.sign(c, TypeDocument)
	if err != nil {
		return "", err
	}
	return d.seal(p, jws)
}

func (d *Deliverer) sign(claims map[string]any, typ string) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return d.signer.Sign(payload, typ)
}

func (d *Deliverer) seal(p PartnerInfo, jws string) (string, error) {
	if len(p.EncryptionJWK) == 0 {
		return jws, nil
	}
	return d.encrypt(jws, p.EncryptionJWK)
}

// RunOutbox delivers due outbox entries until ctx ends. Several replicas
// may run it: each entry is leased to one at a time.
func (d *Deliverer) RunOutbox(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for d.DeliverDue(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue makes one attempt at each due entry it can claim, and
// returns how many it claimed. Each post has a lease of its own (see
// OutboxStatus).
func (d *Deliverer) DeliverDue(ctx context.Context) int {
	claim := newID()
	entries, err := d.store.ClaimDeliveries(ctx, d.now(), d.cfg.Lease, 16, claim)
	if err != nil {
		if ctx.Err() == nil {
			d.log.ErrorContext(ctx, "claim deliveries", "err", err)
		}
		return 0
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			break // the lease runs out; another worker takes the rest
		}
		if err := d.store.RenewDelivery(ctx, e.ID, claim, d.now().Add(d.cfg.Lease)); err != nil {
			if !errors.Is(err, ErrLeaseLost) {
				d.log.ErrorContext(ctx, "renew delivery lease", "delivery", e.ID, "err", err)
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, d.cfg.Lease/2)
		err := d.attempt(pctx, e)
		cancel()
		now := d.now()
		o := DeliveryOutcome{Delivered: err == nil, At: now, MaxAttempts: d.cfg.MaxAttempts}
		if err != nil {
			o.Final, o.Error, o.RetryAt = errors.Is(err, errNoLongerDeliverable), err.Error(), now.Add(d.backoff(e.Attempts+1))
		}
		// The outcome is stored even when ctx ends, so it is not repeated.
		stored, ferr := d.store.FinishDelivery(context.WithoutCancel(ctx), e.ID, claim, o)
		switch {
		case errors.Is(ferr, ErrLeaseLost):
			d.log.WarnContext(ctx, "delivery lease lost before the attempt was recorded", "delivery", e.ID)
		case ferr != nil:
			d.log.ErrorContext(ctx, "finish delivery", "delivery", e.ID, "err", ferr)
		case stored.Status == OutboxDead:
			d.log.WarnContext(ctx, "delivery dead-lettered", "delivery", e.ID, "partner", e.PartnerID, "attempts", stored.Attempts, "err", err)
		}
	}
	return len(entries)
}

var errNoLongerDeliverable = errors.New("the grant is no longer active")

// attempt builds and sends one entry.
func (d *Deliverer) attempt(ctx context.Context, e OutboxEntry) error {
	g, err := d.grants.GetGrant(ctx, e.GrantID)
	if err != nil {
		return err
	}
	p, err := d.partners.PartnerInfo(ctx, e.PartnerID)
	if err != nil {
		return err
	}
	if e.Kind == KindGrantRevoked {
		return d.sendRevocation(ctx, p, g, e)
	}
	if !g.ActiveAt(d.now()) {
		return errNoLongerDeliverable
	}
	style, ok := d.styles[p.Delivery]
	if !ok {
		return fmt.Errorf("no delivery style %q", p.Delivery)
	}
	docs, err := d.covered(ctx, g, e.Document)
	if err != nil {
		return err
	}
	signed := make([]string, len(docs))
	for i, doc := range docs {
		c := d.claims(p, g)
		c["document"] = doc
		if signed[i], err = d.sign(c, TypeDocument); err != nil {
			return err
		}
	}
	c := d.claims(p, g)
	c["jti"], c["event"], c["documents"] = e.ID, e.Kind, signed
	body, err := d.sign(c, TypeDelivery)
	if err != nil {
		return err
	}
	if body, err = d.seal(p, body); err != nil {
		return err
	}
	if err := style.Deliver(ctx, p, e, []byte(body)); err != nil {
		return err
	}
	for _, doc := range docs {
		if err := d.store.RecordAccess(ctx, AccessEvent{At: d.now(), Citizen: g.Citizen, Holder: doc.Holder.IIN,
			PartnerID: g.PartnerID, GrantID: g.ID, Document: doc.Type, Kind: AccessDelivery}); err != nil {
			d.log.ErrorContext(ctx, "record delivery", "delivery", e.ID, "err", err)
		}
	}
	return nil
}

// backoff is the wait before attempt n+1: exponential with full jitter in
// its upper half, capped.
func (d *Deliverer) backoff(n int) time.Duration {
	wait := d.cfg.Backoff << min(n-1, 30)
	if wait <= 0 || wait > d.cfg.MaxBackoff {
		wait = d.cfg.MaxBackoff
	}
	half := int64(wait / 2)
	j, _ := rand.Int(rand.Reader, big.NewInt(half+1))
	return time.Duration(half + j.Int64())
}

// DocumentChanged is told by a document source that a citizen's document
// was renewed or changed: every active grant covering it whose partner
// takes pushes gets the new version through the outbox. It returns how many
// deliveries it queued.
func (d *Deliverer) DocumentChanged(ctx context.Context, citizen IIN, t DocumentType) (int, error) {
	now := d.now()
	grants, err := d.store.ActiveGrants(ctx, citizen, t, now)
	if err != nil {
		return 0, err
	}
	var out []OutboxEntry
	for _, g := range grants {
		p, err := d.partners.PartnerInfo(ctx, g.PartnerID)
		if err != nil {
			return 0, err
		}
		if style, ok := d.styles[p.Delivery]; !ok || len(style.OnGrant(p)) == 0 {
			continue // this partner fetches for itself
		}
		out = append(out, OutboxEntry{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: KindDocumentChanged,
			Document: t, Status: OutboxPending, NextAttemptAt: now, CreatedAt: now})
	}
	return len(out), d.store.EnqueueDeliveries(ctx, out)
}

// Deliveries lists outbox entries by status, for the operator.
func (d *Deliverer) Deliveries(ctx context.Context, status OutboxStatus, limit int) ([]OutboxEntry, error) {
	return d.store.ListDeliveries(ctx, status, limit)
}

// Replay sends a dead entry again, with the same Idempotency-Key.
func (d *Deliverer) Replay(ctx context.Context, id string) (OutboxEntry, error) {
	return d.store.ReplayDelivery(ctx, id, d.now())
}

// History returns the citizen's access history, newest first.
func (d *Deliverer) History(ctx context.Context, citizen IIN, limit int) ([]AccessEvent, error) {
	return d.store.ListAccess(ctx, citizen, limit)
}
