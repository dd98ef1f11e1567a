package consent

import (
	"context"
	"errors"
	"time"
)

// The vocabulary of push delivery: where an outbox entry stands, what an
// attempt came to, the store that keeps the outbox, and the adapters that
// post (Webhook) and decide what a grant needs (DeliveryStyle).

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
	ID        string       `json:"id"`
	PartnerID string       `json:"client_id"`
	GrantID   string       `json:"grant_id"`
	Kind      string       `json:"kind"`
	Document  DocumentType `json:"document,omitempty"` // for document.changed: which one
	// Citizen is who a notice (a Notice* kind) is for; Lang the language
	// they last used, when known.
	Citizen       IIN          `json:"-"`
	Lang          string       `json:"-"`
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

// Delivered is an outbox entry that was delivered, and when.
type Delivered struct {
	ID string
	At time.Time
}

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
	// KindGrantNarrowed notifies the partner that a grant covers fewer
	// people (a minor came of age), with a Security Event Token.
	KindGrantNarrowed = "grant.narrowed"
)

// GrantNarrowed is the event type a narrowed grant is announced with.
const GrantNarrowed = "https://kelisim.kz/secevent/grant-narrowed"

// SessionRevoked is the CAEP event type a revocation is announced with.
const SessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

// Outbox errors.
var (
	// ErrLeaseLost: the worker's lease on an outbox entry ran out and
	// another worker claimed it.
	ErrLeaseLost = errors.New("the delivery lease was lost")
	// ErrDeliveryNotFound: no outbox entry with that id.
	ErrDeliveryNotFound = newError(KindNotFound, "", "no dead delivery with that id")
)

// OutboxStore keeps the outbox.
type OutboxStore interface {
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
	// FinishDelivered stores that the entries were delivered, each at its
	// time (an attempt more each, the lease ended), for those claim still
	// holds, and returns their IDs: the others' leases were lost.
	FinishDelivered(ctx context.Context, claim string, done []Delivered) ([]string, error)
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

// DeliveryStore keeps the access history and the outbox: what a store
// offers the documents' parts.
type DeliveryStore interface {
	AccessLog
	OutboxStore
}

// Webhook posts to partners' webhooks.
type Webhook interface {
	// Post sends body; any 2xx is success. key is the Idempotency-Key.
	Post(ctx context.Context, url, contentType, key string, body []byte) error
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
