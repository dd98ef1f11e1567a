package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// Kind tells what a Record holds.
type Kind string

const (
	KindCode    Kind = "code"    // authorization code, keyed by its HMAC signature
	KindAccess  Kind = "access"  // access token, keyed by its HMAC signature
	KindRefresh Kind = "refresh" // refresh token, keyed by its HMAC signature
	KindPKCE    Kind = "pkce"    // PKCE challenge of a code
	KindOIDC    Kind = "oidc"    // OpenID Connect request of a code
	KindPAR     Kind = "par"     // pushed authorization request, keyed by request_uri
	KindPending Kind = "pending" // authorization request waiting for the citizen's consent
	KindJTI     Kind = "jti"     // a client assertion's jti, kept to refuse its replay
)

// Record is one stored OAuth artefact. Tokens are stored only under their
// signature, so the store never holds a usable token.
type Record struct {
	Kind      Kind
	Signature string
	RequestID string // shared by every token of one authorization (a family)
	ClientID  string
	GrantID   string // the citizen's grant the tokens were issued under, if any
	Active    bool
	ExpiresAt time.Time
	Request   []byte // the serialised fosite request (JSON)

	// PartnerEpoch is the partner's epoch when the record was made; the
	// record is void once the partner's epoch moved on (a suspension).
	PartnerEpoch int
	// PartnerVersion, when set, is the version of the partner the record
	// was decided on: CreateRecord stores the record only if the partner
	// is still at that version and active, and returns ErrPartnerChanged
	// otherwise. Not stored.
	PartnerVersion int
}

// TokenRecord is the record of an access or refresh token read together
// with what every use of the token checks: its partner and the citizen's
// grant it was issued under.
type TokenRecord struct {
	Record
	Partner *partners.Partner // nil when the partner is gone
	Grant   *consent.Grant    // nil when the record names no grant or the grant is gone
}

// Store keeps Records and signing keys. Both the PostgreSQL and the memory
// adapter implement it and pass the same contract tests.
type Store interface {
	// CreateRecord returns ErrConflict when (Kind, Signature) exists, and
	// ErrPartnerChanged when r.PartnerVersion is set and the partner is
	// no longer at it, or not active.
	CreateRecord(ctx context.Context, r Record) error
	// GetRecord returns ErrNotFound when there is none, active or not.
	GetRecord(ctx context.Context, kind Kind, signature string) (Record, error)
	// GetRecords returns the records of kinds under one signature, in one
	// read; those there are none of are absent.
	GetRecords(ctx context.Context, signature string, kinds ...Kind) (map[Kind]Record, error)
	// UseRecord deactivates the active record (kind, signature), deletes
	// the records of the kinds in drop under the same signature, and
	// stores create: one write, all of it or nothing. With kind itself in
	// drop the used record is deleted instead of kept inactive (nothing
	// asks for it once used: a pending request's answer, unlike a code,
	// whose reuse revokes what it issued). Nothing is written
	// when the record is not active (ErrNotActive), a record to create has
	// a partner that changed (ErrPartnerChanged) or a key that is taken
	// (ErrConflict). Of two concurrent uses of one record exactly one
	// succeeds. It needs no transaction: a code's exchange is this one
	// write.
	UseRecord(ctx context.Context, kind Kind, signature string, drop []Kind, create []Record) error
	// UseRecordAndCommit is UseRecord in ctx's transaction, then Commit:
	// when UseRecord fails (with its errors) the transaction is rolled
	// back instead. Either way the transaction is over. A store may send
	// the two at once.
	UseRecordAndCommit(ctx context.Context, kind Kind, signature string, drop []Kind, create []Record) error
	// GetToken returns a token's record with its partner and grant in one
	// read: a token is checked on every request, so this is the hottest
	// read of the gateway. Returns ErrNotFound when there is no record.
	GetToken(ctx context.Context, kind Kind, signature string) (TokenRecord, error)
	// DeleteRecord removes a record; a missing one is no error.
	DeleteRecord(ctx context.Context, kind Kind, signature string) error
	// DeactivateRecord flips an active record to inactive. Returns
	// ErrNotActive when no active record matched, so of two concurrent
	// callers exactly one succeeds.
	DeactivateRecord(ctx context.Context, kind Kind, signature string) error
	// DeactivateRequest deactivates every record of kind in one family.
	DeactivateRequest(ctx context.Context, kind Kind, requestID string) error
	// DeactivateClient deactivates every token of one client.
	DeactivateClient(ctx context.Context, clientID string) error

	// BeginTx starts a transaction that travels in the returned context:
	// the methods above called with it take part in it until Commit or
	// Rollback. Rollback after Commit is harmless.
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// SigningKeys returns every signing key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// EnsureSigningKey stores the key made by generate unless a key that is
	// not retired exists; safe when several replicas start at once.
	EnsureSigningKey(ctx context.Context, generate func() (SigningKey, error)) error
	// RotateSigningKey stores k and retires, at k.ActivatesAt, every key
	// not yet retired, in one transaction.
	RotateSigningKey(ctx context.Context, k SigningKey) error

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
}

// UseRecordThenCommit is Store.UseRecordAndCommit made of st's UseRecord
// and Commit, for a store that sends nothing over a network: on an error
// the transaction is rolled back.
func UseRecordThenCommit(ctx context.Context, st Store, kind Kind, signature string, drop []Kind, create []Record) error {
	if err := st.UseRecord(ctx, kind, signature, drop, create); err != nil {
		_ = st.Rollback(ctx)
		return err
	}
	return st.Commit(ctx)
}

// Errors a Store returns.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("already exists")
	ErrNotActive = errors.New("not active")
	// ErrPartnerChanged: the partner a record was decided on changed
	// before it was stored (see Record.PartnerVersion).
	ErrPartnerChanged = errors.New("the partner changed")
)

// SigningKey is a gateway signing key. Private is the key sealed with the
// gateway secret, never the key in the clear.
type SigningKey struct {
	KID         string
	Alg         string
	Private     []byte
	CreatedAt   time.Time
	ActivatesAt time.Time // signs from then on
	RetiredAt   time.Time // zero while the key may sign; then only verifies
}
