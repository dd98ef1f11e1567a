package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ChallengeStatus is where a one-time-password challenge stands.
//
//	pending ──correct code──▶ used
//	pending ──correct code, the citizen represents minors──▶ verified
//	verified ──the citizen names whose documents──▶ used
//	pending ──MaxAttempts-th wrong code──▶ dead
//
// A challenge past its ExpiresAt is expired: that state is read from the
// clock, never stored. used and dead are final; only a pending, unexpired
// challenge accepts a code or a resend, and only a verified, unexpired one
// the choice of holders.
type ChallengeStatus string

const (
	ChallengePending  ChallengeStatus = "pending"
	ChallengeVerified ChallengeStatus = "verified"
	ChallengeUsed     ChallengeStatus = "used"
	ChallengeDead     ChallengeStatus = "dead"
)

// Challenge is one SMS code sent for one consent. The code itself is never
// stored: only a keyed hash bound to the challenge and to what is being
// consented to (partner, documents, duration), so that a code cannot
// approve anything else.
type Challenge struct {
	ID        string
	PendingID string // the authorization request being consented to
	PartnerID string
	Session   string // keyed hash of the browser session that asked
	// Citizen is empty for a decoy: a challenge made when the IIN and phone
	// did not match the registry, so the page answers the same, but no SMS
	// goes and no code verifies.
	Citizen IIN
	// Represents are the minors the citizen represented when the code was
	// sent, according to the registry: whose documents the citizen may
	// choose to share besides their own.
	Represents []IIN
	// Budget is the keyed hash of what the challenge's sends count
	// against: the purpose (consent or log-in) with the IIN and phone as
	// typed, the same whether or not they matched.
	Budget    string
	Documents []DocumentType
	Days      int // how long the grant will last
	CodeHash  []byte
	Attempts  int // wrong codes so far
	Resends   int
	Status    ChallengeStatus
	Lang      string
	CreatedAt time.Time
	SentAt    time.Time
	ExpiresAt time.Time
	Version   int // for compare-and-swap updates
	// Method is how the citizen proves who they are: by the code
	// (MethodSMS), or by signing the challenge (MethodSignature), when no
	// code is sent and none verifies.
	Method Method
}

// OTPConfig holds the rules of one-time passwords.
//
// Every code asked for — a first send or a resend, sent or not — counts
// against three budgets, each a sliding window in the store:
//
//   - the client address: IPLimit per IPWindow, whatever is asked;
//   - the IIN and phone typed, from this address: PhoneLimit per
//     PhoneWindow;
//   - the IIN and phone typed, from every address: PhoneTotalLimit per
//     PhoneWindow.
//
// Consent and the settings log-in have budgets of their own. For a
// registered pair the last two are the phone's budget (nobody reaches that
// phone without that IIN), so strangers who pair other IINs with a phone
// never touch its budget, and a stranger at one address, even with the
// right IIN, uses only that address's share: the owner elsewhere still gets
// codes. Whether the pair is registered never changes which budget is
// counted, so a refusal tells nothing about it.
type OTPConfig struct {
	TTL             time.Duration // how long a code works (5 min)
	MaxAttempts     int           // wrong codes before the challenge dies (5)
	ResendAfter     time.Duration // earliest resend (60 s)
	MaxResends      int           // resends per challenge (3)
	PhoneLimit      int           // codes per IIN and phone from one address per PhoneWindow (5)
	PhoneTotalLimit int           // codes per IIN and phone from all addresses per PhoneWindow (15)
	PhoneWindow     time.Duration // (1 h)
	IPLimit         int           // codes per client address per IPWindow (30)
	IPWindow        time.Duration // (1 h)
}

// DefaultOTPConfig is the rule set of the service.
var DefaultOTPConfig = OTPConfig{
	TTL: 5 * time.Minute, MaxAttempts: 5, ResendAfter: time.Minute, MaxResends: 3,
	PhoneLimit: 5, PhoneTotalLimit: 15, PhoneWindow: time.Hour, IPLimit: 30, IPWindow: time.Hour,
}

// validate says what is wrong with a rule set, if anything.
func (c OTPConfig) validate() error {
	if c.TTL <= 0 || c.MaxAttempts < 1 || c.ResendAfter < 0 || c.MaxResends < 0 || c.PhoneLimit < 1 ||
		c.PhoneTotalLimit < c.PhoneLimit || c.PhoneWindow <= 0 || c.IPLimit < 1 || c.IPWindow <= 0 {
		return fmt.Errorf("OTP rules: every limit and window must be positive, and PhoneTotalLimit ≥ PhoneLimit: %+v", c)
	}
	return nil
}

// Errors of the OTP engine; pages show each in the citizen's language.
var (
	ErrUnknownChallenge = newError(KindNotFound, "err_request_gone", "no such code request")
	ErrCodeExpired      = newError(KindInvalid, "err_code_expired", "the code expired")
	ErrCodeUsed         = newError(KindInvalid, "err_code_used", "the code was already used")
	ErrCodeDead         = newError(KindInvalid, "err_code_dead", "too many wrong codes")
	ErrSelectionChanged = newError(KindInvalid, "err_selection_changed", "the documents or duration changed after the code was sent")
	ErrResendTooSoon    = newError(KindRateLimited, "err_resend_too_soon", "a new code can be sent a little later")
	ErrNoResendsLeft    = newError(KindInvalid, "err_no_resends", "no more codes can be sent for this request")
	ErrNoDocuments      = newError(KindInvalid, "err_no_documents", "no document was chosen")
)

// WrongCodeError says a code was wrong and how many tries remain.
type WrongCodeError struct{ AttemptsLeft int }

func (e *WrongCodeError) Error() string {
	return fmt.Sprintf("wrong code, %d attempts left", e.AttemptsLeft)
}

func (e *WrongCodeError) Kind() Kind        { return KindInvalid }
func (e *WrongCodeError) MessageID() string { return "err_wrong_code" }
func (e *WrongCodeError) MessageCount() int { return e.AttemptsLeft }

// RateLimitError says a limit was reached and when to try again.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many requests; retry after %s", e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Kind() Kind                        { return KindRateLimited }
func (e *RateLimitError) MessageID() string                 { return "err_rate_limited" }
func (e *RateLimitError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// TooSoonError says a new code can be sent after Wait; it is
// ErrResendTooSoon.
type TooSoonError struct{ Wait time.Duration }

func (e *TooSoonError) Error() string                     { return ErrResendTooSoon.Error() }
func (e *TooSoonError) Unwrap() error                     { return ErrResendTooSoon }
func (e *TooSoonError) RetryAfterDuration() time.Duration { return e.Wait }

// MessageCount is the wait in whole seconds, rounded up.
func (e *TooSoonError) MessageCount() int { return int((e.Wait + time.Second - 1) / time.Second) }

// InputError is a field the citizen typed wrongly.
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }
func (e *InputError) Kind() Kind    { return KindInvalid }

// Fields names the field and what is wrong with it.
func (e *InputError) Fields() []FieldError {
	return []FieldError{{Field: e.Field, Message: e.Err.Error()}}
}

// newCode returns six uniformly random digits from crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// codeHash binds a code to its challenge and to what it approves.
func codeHash(key []byte, c Challenge, code string) []byte {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{c.ID, c.PartnerID, string(c.Citizen), selectionKey(c.Documents, c.Days), code} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return m.Sum(nil)
}

// selectionKey is the canonical form of a choice of documents and duration.
func selectionKey(docs []DocumentType, days int) string {
	s := make([]string, len(docs))
	for i, d := range docs {
		s[i] = string(d)
	}
	slices.Sort(s)
	return strings.Join(s, ",") + "|" + strconv.Itoa(days)
}

func sameSelection(a []DocumentType, aDays int, b []DocumentType, bDays int) bool {
	return selectionKey(a, aDays) == selectionKey(b, bDays)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// keyed returns a keyed hash of personal data (a phone, an IP, a session),
// for use as a lookup key that does not reveal it.
func keyed(key []byte, kind, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return kind + ":" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Limiter counts events per key in the store, so the limits hold across
// replicas, with two fixed-window counters per key (see RateWindow).
type Limiter interface {
	// Hit counts one event for key unless the current window's count plus
	// the previous window's carry (RateCarry) has reached limit; then it
	// counts nothing and returns a *RateLimitError saying when an event
	// would be counted (RateRetry). One statement, no lock held across
	// statements.
	Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) error
	// HitAll counts one event against each of hits (their keys distinct)
	// when every one has room, in one statement; when one has none it
	// counts nothing and returns a *RateLimitError with the longest wait
	// of those full. Two calls racing for the last room of a key: the
	// loser may have counted against the others' keys, never past a limit.
	HitAll(ctx context.Context, hits []RateHit, now time.Time) error
}

// RateHit is one limit an event counts against.
type RateHit struct {
	Key    string
	Limit  int
	Window time.Duration
}
