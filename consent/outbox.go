package consent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"time"
)

// The push part: an outbox of deliveries to partners' webhooks, written
// in the transaction of what caused it, worked by leases on any number of
// replicas, retried with backoff and dead-lettered after MaxAttempts.

// OutboxLibrary is what pushing needs of the Library.
type OutboxLibrary interface {
	Covered(ctx context.Context, g Grant, t DocumentType) ([]Document, error)
	Claims(aud string, sub IIN) map[string]any
	Sign(claims map[string]any, typ string) (string, error)
	DocumentJWS(aud string, g Grant, doc Document) (string, error)
	Seal(p PartnerInfo, jws string) (string, error)
	Subject(aud string, iin IIN) string
	Issuer() string
}

// OutboxConfig is what an Outbox is built from.
type OutboxConfig struct {
	Store    OutboxStore
	Access   AccessLog // deliveries land in the citizen's history
	Grants   GrantGetter
	Partners Partners
	Styles   map[string]DeliveryStyle // by PartnerInfo.Delivery
	Library  OutboxLibrary
	Webhook  Webhook // where revocations are announced
	// Receipts gives the partner's copy of a grant's receipt, which a
	// revocation's or expiry's event carries.
	Receipts PartnerReceipts
	// Notices sends the entries that are a citizen's notifications.
	Notices interface {
		Send(ctx context.Context, e OutboxEntry) error
	}

	// Observer hears each attempt's outcome, for metrics; nil: nobody.
	Observer DeliveryObserver

	MaxAttempts int           // before an entry is dead (8)
	Backoff     time.Duration // first retry delay; doubles, with jitter (2 s)
	MaxBackoff  time.Duration // (10 min)
	Lease       time.Duration // how long a worker holds an entry (1 min)
	// Parallel is how many entries of different grants one replica
	// attempts at once (DefaultOutboxParallel when 0).
	Parallel int

	Now func() time.Time
	Log *slog.Logger
}

// DeliveryObserver hears what became of each attempt at an outbox entry of
// kind: DeliveryDone, DeliveryRetry or DeliveryDead.
type DeliveryObserver interface {
	Delivery(kind, outcome string)
}

// Delivery outcomes.
const (
	DeliveryDone  = "delivered"
	DeliveryRetry = "retry" // failed; tried again later
	DeliveryDead  = "dead"  // failed for good: a dead letter, until an operator replays it
)

// Outbox pushes documents and revocations to partners.
type Outbox struct{ cfg OutboxConfig }

// NewOutbox checks cfg and returns the outbox.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Access": cfg.Access == nil, "Grants": cfg.Grants == nil,
		"Partners": cfg.Partners == nil, "Styles": len(cfg.Styles) == 0, "Library": cfg.Library == nil,
		"Webhook": cfg.Webhook == nil, "Receipts": cfg.Receipts == nil, "Notices": cfg.Notices == nil, "Now": cfg.Now == nil, "Log": cfg.Log == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewOutbox: %w", err)
	}
	// A Backoff above MaxBackoff is allowed: every wait is then capped.
	if cfg.MaxAttempts < 1 || cfg.Backoff <= 0 || cfg.MaxBackoff <= 0 || cfg.Lease <= 0 {
		return nil, errors.New("consent.NewOutbox: MaxAttempts, Backoff, MaxBackoff and Lease must be positive")
	}
	if cfg.Parallel < 0 {
		return nil, errors.New("consent.NewOutbox: Parallel must not be negative")
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = DefaultOutboxParallel
	}
	return &Outbox{cfg: cfg}, nil
}

// DefaultOutboxParallel is how many entries a replica attempts at once.
// One at a time, each entry's round trips (the lease, the notice's or the
// push's reads, the post, the outcome) waited behind the requests of a
// busy replica: in a burst of consent flows on two cores the citizens'
// notices went out at about 15 a second against 200 grants.
const DefaultOutboxParallel = 8

// claimBatch is how many due entries a replica claims at a time.
const claimBatch = 16

// ForGrant returns the entries a new grant needs, by its partner's style,
// and what tells the partner of the grants it ends (replaces): one read
// of the partner serves both.
func (o *Outbox) ForGrant(ctx context.Context, g Grant) ([]OutboxEntry, Tell, error) {
	p, err := o.cfg.Partners.PartnerInfo(ctx, g.PartnerID)
	if err != nil {
		return nil, nil, err
	}
	style, ok := o.cfg.Styles[p.Delivery]
	if !ok {
		return nil, nil, fmt.Errorf("partner %s: no delivery style %q", p.ID, p.Delivery)
	}
	var out []OutboxEntry
	for _, kind := range style.OnGrant(p) {
		out = append(out, OutboxEntry{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: kind,
			Status: OutboxPending, NextAttemptAt: g.CreatedAt, CreatedAt: g.CreatedAt})
	}
	return out, tellEnded(map[string]bool{p.ID: p.WebhookURL != ""}, g.CreatedAt), nil
}

// Tell makes the entries that tell partners of grants that just ended
// (expired or replaced), as for a revocation. A store calls it inside the
// transaction that ends them, so that the grants end and their partners'
// notifications are written together or not at all; it does no I/O.
type Tell func(ended []Grant) []OutboxEntry

// TellEnded reads the partners once and returns what tells them of their
// grants that end: a Security Event Token to each that has a webhook.
func (o *Outbox) TellEnded(ctx context.Context, partners []string, now time.Time) (Tell, error) {
	hooks := map[string]bool{}
	for _, id := range partners {
		if _, read := hooks[id]; read {
			continue
		}
		p, err := o.cfg.Partners.PartnerInfo(ctx, id)
		if err != nil {
			return nil, err
		}
		hooks[id] = p.WebhookURL != ""
	}
	return tellEnded(hooks, now), nil
}

// tellEnded tells the partners hooks says have a webhook. A grant of a
// partner it was not told of is told too: an entry that cannot be
// delivered is the operator's to see, a notification never made is lost.
func tellEnded(hooks map[string]bool, now time.Time) Tell {
	return func(ended []Grant) []OutboxEntry {
		var out []OutboxEntry
		for _, g := range ended {
			if hook, known := hooks[g.PartnerID]; known && !hook {
				continue
			}
			out = append(out, OutboxEntry{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: KindGrantRevoked,
				Status: OutboxPending, NextAttemptAt: now, CreatedAt: now})
		}
		return out
	}
}

// ForRevocation returns the notification a revocation of g needs: a
// Security Event Token to the partner's webhook, when it has one.
func (o *Outbox) ForRevocation(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error) {
	tell, err := o.TellEnded(ctx, []string{g.PartnerID}, now)
	if err != nil {
		return nil, err
	}
	return tell([]Grant{g}), nil
}

// ForNarrowing returns the notification a grant narrowed to g needs: a
// Security Event Token to the partner's webhook, when it has one.
func (o *Outbox) ForNarrowing(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error) {
	p, err := o.cfg.Partners.PartnerInfo(ctx, g.PartnerID)
	if err != nil || p.WebhookURL == "" {
		return nil, err
	}
	return []OutboxEntry{{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: KindGrantNarrowed,
		Status: OutboxPending, NextAttemptAt: now, CreatedAt: now}}, nil
}

// DocumentChanged is told by a document source that a citizen's document
// was renewed or changed: every active grant covering it whose partner
// takes pushes gets the new version through the outbox. It returns how many
// deliveries it queued.
func (o *Outbox) DocumentChanged(ctx context.Context, citizen IIN, t DocumentType) (int, error) {
	now := o.cfg.Now()
	grants, err := o.cfg.Store.ActiveGrants(ctx, citizen, t, now)
	if err != nil {
		return 0, err
	}
	var out []OutboxEntry
	for _, g := range grants {
		p, err := o.cfg.Partners.PartnerInfo(ctx, g.PartnerID)
		if err != nil {
			return 0, err
		}
		if style, ok := o.cfg.Styles[p.Delivery]; !ok || len(style.OnGrant(p)) == 0 {
			continue // this partner fetches for itself
		}
		out = append(out, OutboxEntry{ID: newID(), PartnerID: g.PartnerID, GrantID: g.ID, Kind: KindDocumentChanged,
			Document: t, Status: OutboxPending, NextAttemptAt: now, CreatedAt: now})
	}
	return len(out), o.cfg.Store.EnqueueDeliveries(ctx, out)
}

// Deliveries lists outbox entries by status, for the operator.
func (o *Outbox) Deliveries(ctx context.Context, status OutboxStatus, limit int) ([]OutboxEntry, error) {
	return o.cfg.Store.ListDeliveries(ctx, status, limit)
}

// Replay sends a dead entry again, with the same Idempotency-Key.
func (o *Outbox) Replay(ctx context.Context, id string) (OutboxEntry, error) {
	return o.cfg.Store.ReplayDelivery(ctx, id, o.cfg.Now())
}

// Run delivers due outbox entries until ctx ends. Several replicas may
// run it: each entry is leased to one at a time.
func (o *Outbox) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for o.DeliverDue(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue makes one attempt at each due entry it can claim, and
// returns how many it claimed. Entries of different grants are attempted
// at once (Parallel at most); those of one grant one after another, in the
// order they were made, so a partner hears of a grant's changes in turn.
// Each post has a lease of its own (see OutboxStatus).
func (o *Outbox) DeliverDue(ctx context.Context) int {
	claim, claimed := newID(), o.cfg.Now()
	entries, err := o.cfg.Store.ClaimDeliveries(ctx, claimed, o.cfg.Lease, claimBatch, claim)
	if err != nil {
		if ctx.Err() == nil {
			o.cfg.Log.ErrorContext(ctx, "claim deliveries", "err", err)
		}
		return 0
	}
	// One queue a grant, in the order of the claim's first entry of each.
	var queues [][]OutboxEntry
	byGrant := map[string]int{}
	for _, e := range entries {
		key := e.GrantID
		if key == "" {
			key = "\x00" + e.ID // an entry of no grant is a queue of its own
		}
		i, ok := byGrant[key]
		if !ok {
			i = len(queues)
			byGrant[key] = i
			queues = append(queues, nil)
		}
		queues[i] = append(queues[i], e)
	}
	if p, ok := o.cfg.Notices.(interface {
		Prefetch(ctx context.Context, entries []OutboxEntry) context.Context
	}); ok {
		ctx = p.Prefetch(ctx, entries) // what the claim's notices read, in one round trip
	}
	f := &finisher{o: o, claim: claim, claimed: claimed}
	slots := make(chan struct{}, o.cfg.Parallel)
	var wg sync.WaitGroup
	for _, q := range queues {
		slices.SortStableFunc(q, func(a, b OutboxEntry) int { return a.CreatedAt.Compare(b.CreatedAt) })
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, e := range q {
				if ctx.Err() != nil {
					return // the lease runs out; another worker takes the rest
				}
				o.deliver(ctx, f, e)
			}
		})
	}
	wg.Wait()
	f.flush(ctx)
	return len(entries)
}

// deliver makes one attempt at e, leased under f's claim, and stores what
// became of it: a failure at once, a delivery with the claim's others (see
// finisher). The lease is renewed first unless the claim is so fresh that
// the attempt (at most Lease/2) ends within it.
func (o *Outbox) deliver(ctx context.Context, f *finisher, e OutboxEntry) {
	log := o.cfg.Log
	if now := o.cfg.Now(); now.Sub(f.claimed) >= o.cfg.Lease/4 {
		f.flush(ctx) // before the renewal's round trip (see finisher)
		if err := o.cfg.Store.RenewDelivery(ctx, e.ID, f.claim, now.Add(o.cfg.Lease)); err != nil {
			if !errors.Is(err, ErrLeaseLost) {
				log.ErrorContext(ctx, "renew delivery lease", "delivery", e.ID, "err", err)
			}
			return
		}
	}
	pctx, cancel := context.WithTimeout(ctx, o.cfg.Lease/2)
	err := o.attempt(pctx, e)
	cancel()
	now := o.cfg.Now()
	if err == nil {
		f.delivered(e, now)
	}
	if now.Sub(f.claimed) >= o.cfg.Lease/4 {
		// An attempt in flight a quarter of a lease after the claim ends
		// by three quarters of one (it takes half at most), and one that
		// begins later first stores what is kept: from a quarter on, what
		// the claim delivered is stored as each attempt ends or begins,
		// before any other round trip, inside the claim's lease.
		f.flush(ctx)
	}
	if err == nil {
		return
	}
	out := DeliveryOutcome{At: now, MaxAttempts: o.cfg.MaxAttempts, Final: errors.Is(err, errNoLongerDeliverable),
		Error: err.Error(), RetryAt: now.Add(o.backoff(e.Attempts + 1))}
	// The outcome is stored even when ctx ends, so it is not repeated.
	stored, ferr := o.cfg.Store.FinishDelivery(context.WithoutCancel(ctx), e.ID, f.claim, out)
	switch {
	case errors.Is(ferr, ErrLeaseLost):
		log.WarnContext(ctx, "delivery lease lost before the attempt was recorded", "delivery", e.ID)
	case ferr != nil:
		log.ErrorContext(ctx, "finish delivery", "delivery", e.ID, "err", ferr)
	case stored.Status == OutboxDead:
		o.observe(e.Kind, DeliveryDead)
		log.WarnContext(ctx, "delivery dead-lettered", "delivery", e.ID, "partner", e.PartnerID, "attempts", stored.Attempts, "err", err)
	default:
		o.observe(e.Kind, DeliveryRetry)
	}
}

// finisher stores a claim's deliveries together, in one statement: when
// all the claim's entries have been attempted, or as each attempt ends or
// begins from a quarter of a lease after the claim on. Until then each
// entry delivered is inside the lease of its claim, so no other replica
// takes it meanwhile;
// a replica that stops before it stores them leaves them to be sent again
// under the same notice ID or Idempotency-Key, as a replica that stopped
// between a post and its outcome always did. One outcome a claim instead
// of one an entry: in a burst of consents, a commit less a notice.
type finisher struct {
	o       *Outbox
	claim   string
	claimed time.Time

	mu   sync.Mutex
	kept []OutboxEntry // delivered, not yet stored; DeliveredAt set
}

// delivered keeps e as delivered at at.
func (f *finisher) delivered(e OutboxEntry, at time.Time) {
	e.DeliveredAt = at
	f.mu.Lock()
	f.kept = append(f.kept, e)
	f.mu.Unlock()
}

// flush stores the deliveries kept so far, even when ctx ends, so they
// are not repeated.
func (f *finisher) flush(ctx context.Context) {
	f.mu.Lock()
	kept := f.kept
	f.kept = nil
	f.mu.Unlock()
	if len(kept) == 0 {
		return
	}
	done := make([]Delivered, len(kept))
	for i, e := range kept {
		done[i] = Delivered{ID: e.ID, At: e.DeliveredAt}
	}
	stored, err := f.o.cfg.Store.FinishDelivered(context.WithoutCancel(ctx), f.claim, done)
	if err != nil {
		// Kept for the claim's next flush; if none succeeds in the lease,
		// they are claimed and sent again (at least once).
		f.o.cfg.Log.ErrorContext(ctx, "finish deliveries", "deliveries", len(kept), "err", err)
		f.mu.Lock()
		f.kept = append(f.kept, kept...)
		f.mu.Unlock()
		return
	}
	for _, e := range kept {
		if slices.Contains(stored, e.ID) {
			f.o.observe(e.Kind, DeliveryDone)
		} else {
			f.o.cfg.Log.WarnContext(ctx, "delivery lease lost before the attempt was recorded", "delivery", e.ID)
		}
	}
}

func (o *Outbox) observe(kind, outcome string) {
	if o.cfg.Observer != nil {
		o.cfg.Observer.Delivery(kind, outcome)
	}
}

var errNoLongerDeliverable = errors.New("the grant is no longer active")

// attempt builds and sends one entry.
func (o *Outbox) attempt(ctx context.Context, e OutboxEntry) error {
	if IsNotice(e.Kind) {
		return o.cfg.Notices.Send(ctx, e)
	}
	g, err := o.cfg.Grants.GetGrant(ctx, e.GrantID)
	if err != nil {
		return err
	}
	p, err := o.cfg.Partners.PartnerInfo(ctx, e.PartnerID)
	if err != nil {
		return err
	}
	switch e.Kind {
	case KindGrantRevoked:
		return o.sendRevocation(ctx, p, g, e)
	case KindGrantNarrowed:
		return o.sendNarrowing(ctx, p, g, e)
	}
	if !g.ActiveAt(o.cfg.Now()) {
		return errNoLongerDeliverable
	}
	style, ok := o.cfg.Styles[p.Delivery]
	if !ok {
		return fmt.Errorf("no delivery style %q", p.Delivery)
	}
	lib := o.cfg.Library
	docs, err := lib.Covered(ctx, g, e.Document)
	if err != nil {
		return err
	}
	signed := make([]string, len(docs))
	for i, doc := range docs {
		if signed[i], err = lib.DocumentJWS(p.ID, g, doc); err != nil {
			return err
		}
	}
	c := lib.Claims(p.ID, g.Citizen)
	c["grant_id"], c["jti"], c["event"], c["documents"] = g.ID, e.ID, e.Kind, signed
	body, err := lib.Sign(c, TypeDelivery)
	if err != nil {
		return err
	}
	if body, err = lib.Seal(p, body); err != nil {
		return err
	}
	if err := style.Deliver(ctx, p, e, []byte(body)); err != nil {
		return err
	}
	for _, doc := range docs {
		if err := o.cfg.Access.RecordAccess(ctx, AccessEvent{At: o.cfg.Now(), Citizen: g.Citizen, Holder: doc.Holder.IIN,
			PartnerID: g.PartnerID, GrantID: g.ID, Document: doc.Type, Kind: AccessDelivery}); err != nil {
			o.cfg.Log.ErrorContext(ctx, "record delivery", "delivery", e.ID, "err", err)
		}
	}
	return nil
}

// sendRevocation posts the Security Event Token (RFC 8417) of a revoked
// grant and records the partner's acknowledgement.
func (o *Outbox) sendRevocation(ctx context.Context, p PartnerInfo, g Grant, e OutboxEntry) error {
	lib := o.cfg.Library
	set := map[string]any{
		"iss": lib.Issuer(), "aud": p.ID, "iat": o.cfg.Now().Unix(), "jti": e.ID,
		"sub_id": map[string]string{"format": "opaque", "id": lib.Subject(p.ID, g.Citizen)},
		"events": map[string]any{SessionRevoked: map[string]any{
			"event_timestamp":   g.StatusChangedAt.Unix(),
			"initiating_entity": map[bool]string{true: "user", false: "policy"}[g.StatusBy == "citizen"],
			"reason_admin":      map[string]string{"en": g.StatusReason},
			"grant_id":          g.ID,
		}},
	}
	receipt, err := o.cfg.Receipts.ForPartner(ctx, p.ID, g.ID)
	if err != nil {
		return err
	}
	set["events"].(map[string]any)[SessionRevoked].(map[string]any)["receipt"] = receipt
	body, err := lib.Sign(set, "secevent+jwt")
	if err != nil {
		return err
	}
	if err := o.cfg.Webhook.Post(ctx, p.WebhookURL, "application/secevent+jwt", e.ID, []byte(body)); err != nil {
		return err
	}
	return o.cfg.Store.AckRevocation(ctx, g.ID, o.cfg.Now())
}

// sendNarrowing posts the Security Event Token of a grant that covers
// fewer people now: who remain, by the subjects the partner knows, and the
// receipt of the change.
func (o *Outbox) sendNarrowing(ctx context.Context, p PartnerInfo, g Grant, e OutboxEntry) error {
	lib := o.cfg.Library
	var holders []string
	for _, h := range g.Holders {
		holders = append(holders, lib.Subject(p.ID, h))
	}
	receipt, err := o.cfg.Receipts.ForPartner(ctx, p.ID, g.ID)
	if err != nil {
		return err
	}
	set := map[string]any{
		"iss": lib.Issuer(), "aud": p.ID, "iat": o.cfg.Now().Unix(), "jti": e.ID,
		"sub_id": map[string]string{"format": "opaque", "id": lib.Subject(p.ID, g.Citizen)},
		"events": map[string]any{GrantNarrowed: map[string]any{
			"event_timestamp": e.CreatedAt.Unix(), "grant_id": g.ID, "holders": holders,
			"reason_admin": map[string]string{"en": "a minor the grant covered came of age"}, "receipt": receipt,
		}},
	}
	body, err := lib.Sign(set, "secevent+jwt")
	if err != nil {
		return err
	}
	return o.cfg.Webhook.Post(ctx, p.WebhookURL, "application/secevent+jwt", e.ID, []byte(body))
}

// backoff is the wait before attempt n+1: exponential with full jitter in
// its upper half, capped.
func (o *Outbox) backoff(n int) time.Duration {
	wait := o.cfg.Backoff << min(n-1, 30)
	if wait <= 0 || wait > o.cfg.MaxBackoff {
		wait = o.cfg.MaxBackoff
	}
	half := int64(wait / 2)
	j, _ := rand.Int(rand.Reader, big.NewInt(half+1))
	return time.Duration(half + j.Int64())
}
