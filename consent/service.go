package consent

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Store keeps challenges and grants.
type Store interface {
	Limiter
	// CreateChallenge stores a new challenge.
	CreateChallenge(ctx context.Context, c Challenge) error
	// GetChallenge returns ErrUnknownChallenge when there is none.
	GetChallenge(ctx context.Context, id string) (Challenge, error)
	// UpdateChallenge replaces the challenge whose Version is c.Version and
	// stores it with Version+1; ErrStale when it moved on meanwhile.
	UpdateChallenge(ctx context.Context, c Challenge) error
	// ApproveChallenge marks the challenge c (at c.Version) used and stores
	// g and its outbox entries, in one transaction; ErrStale when the
	// challenge moved on.
	ApproveChallenge(ctx context.Context, c Challenge, g Grant, outbox []OutboxEntry) error
	// ApproveAndReplace is ApproveChallenge and then ReplaceGrants(g,
	// g.CreatedAt, tell), in one transaction that a store may send at
	// once; it returns the grants g replaced. When the challenge moved on
	// (ErrStale) nothing is written and nothing replaced.
	ApproveAndReplace(ctx context.Context, c Challenge, g Grant, outbox []OutboxEntry, tell Tell) ([]Grant, error)
	// ApproveProved settles the code of a challenge as the browser carried
	// it (c: its tries and code hash unknown), without reading it first.
	// proof is the keyed hash of the code typed (as CodeHash is made). The
	// challenge is settled only while it is at c.Version (a try counted
	// since, or a resend, makes it stale, as for UpdateChallenge), pending,
	// asked by code, of c.Session and c.PendingID, and unexpired at now;
	// else nothing is written and ErrStale is returned. Then, when its
	// stored code hash is proof (which binds it to c's partner, citizen,
	// documents and days) and its citizen represents nobody, it is
	// ApproveAndReplace's: the lock on the citizen and partner is taken,
	// only then, the challenge used, g stored and the grants it replaces
	// ended; a right code of a citizen who represents minors is ErrStale
	// too (the caller asks whose documents). A wrong code counts a try
	// (*WrongCodeError; ErrCodeDead when it was the last of maxAttempts),
	// whoever's the challenge, and the try stays counted even when the
	// caller's transaction goes on. c.Lang
	// is the language of the grant's notice.
	ApproveProved(ctx context.Context, c Challenge, proof []byte, now time.Time, maxAttempts int, g Grant, outbox []OutboxEntry, tell Tell) ([]Grant, error)
	// ChangeGrant marks the challenge c (at c.Version) used and writes g
	// over the active grant of the same id, citizen and partner (a merge
	// or a replacement, as action says), with its outbox entries, in one
	// transaction. It records the change in the citizen's history (an
	// AccessEvent of kind action, at at), and a replacement ends the tokens
	// issued under the grant as it was. ErrGrantGone when the grant is no
	// longer active; ErrStale when the challenge moved on.
	ChangeGrant(ctx context.Context, c Challenge, g Grant, action GrantAction, at time.Time, outbox []OutboxEntry) error
	// ReplaceGrants ends the citizen's other active grants for g's partner
	// that g replaces — those covering one of g's holders, and those
	// given under other terms — and returns them. Of two grants approved
	// at once for one citizen and partner, the later ends the earlier.
	// The entries tell makes of them are written in the same transaction.
	ReplaceGrants(ctx context.Context, g Grant, at time.Time, tell Tell) ([]Grant, error)
	// GetGrant returns ErrGrantNotFound when there is none.
	GetGrant(ctx context.Context, id string) (Grant, error)
}

// ErrStale: a compare-and-swap lost to a concurrent writer.
var ErrStale = errors.New("changed concurrently")

// GrantOutbox is what consenting needs of the outbox: the deliveries a
// new grant needs, and what tells its partner of the grants it ends.
type GrantOutbox interface {
	ForGrant(ctx context.Context, g Grant) ([]OutboxEntry, Tell, error)
}

// ServiceConfig is what the consent Service is built from.
type ServiceConfig struct {
	Store    Store
	Registry Registry
	SMS      SMS
	Messages *Messages
	Key      []byte // secret key material for code hashes and lookup keys
	OTP      OTPConfig
	Terms    Terms // the current terms: version and text
	Outbox   GrantOutbox
	// Signatures checks citizens' digital signatures; nil: only SMS codes
	// are offered.
	Signatures SignatureCheck
	// Observer hears what becomes of the codes, for metrics; nil: nobody.
	Observer OTPObserver
	Now      func() time.Time
	Log      *slog.Logger
}

// OTPObserver hears what becomes of one-time codes, for the operator's
// metrics. It is told the event alone: nothing of whose code it was.
type OTPObserver interface {
	OTP(event string)
}

// OTP events.
const (
	OTPSent       = "sent"        // the SMS provider took a code
	OTPSendFailed = "send_failed" // the SMS provider refused it or did not answer
	OTPLimited    = "limited"     // a send refused by a rate limit
	OTPRight      = "right"       // a right code
	OTPWrong      = "wrong"       // a wrong code, with tries left
	OTPLocked     = "locked"      // a wrong code that spent the last try: the challenge is dead
)

// Service runs the citizen's consent: it checks who the citizen is, sends
// one-time passwords by SMS and records grants.
type Service struct {
	store    Store
	registry Registry
	sms      SMS
	messages *Messages
	key      []byte
	carrier  cipher.AEAD // seals carried challenges (CarryChallenge)
	cfg      OTPConfig
	terms    Terms
	outbox   GrantOutbox
	sig      SignatureCheck
	observer OTPObserver
	now      func() time.Time
	log      *slog.Logger
}

// NewService checks cfg and returns the consent service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Registry": cfg.Registry == nil, "SMS": cfg.SMS == nil,
		"Messages": cfg.Messages == nil, "Key": len(cfg.Key) < 16, "Terms": cfg.Terms.Version == "" || len(cfg.Terms.Text) == 0, "Outbox": cfg.Outbox == nil,
		"Now": cfg.Now == nil, "Log": cfg.Log == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewService: %w", err)
	}
	if err := cfg.OTP.validate(); err != nil {
		return nil, fmt.Errorf("consent.NewService: %w", err)
	}
	return &Service{store: cfg.Store, registry: cfg.Registry, sms: cfg.SMS, messages: cfg.Messages, key: cfg.Key, carrier: newCarrier(cfg.Key),
		cfg: cfg.OTP, terms: cfg.Terms, outbox: cfg.Outbox, sig: cfg.Signatures, observer: cfg.Observer, now: cfg.Now, log: cfg.Log}, nil
}

// TermsVersion is the version of the terms consents are given under now.
func (s *Service) TermsVersion() string { return s.terms.Version }

// Config returns the OTP rules.
func (s *Service) Config() OTPConfig { return s.cfg }

// SessionKey turns a browser session cookie into what is stored.
func (s *Service) SessionKey(cookie string) string { return keyed(s.key, "session", cookie) }

// StartRequest is the citizen's first answer on the consent page.
type StartRequest struct {
	PendingID   string
	PartnerID   string
	PartnerName string // in the citizen's language, for the SMS
	Session     string // the browser session cookie
	IIN         string // as typed
	Phone       string // as typed
	Documents   []DocumentType
	Days        int
	Lang        string
	ClientIP    string
	// NoDocuments allows a consent to no document: a first-party app's
	// access to the citizen's settings, or a merge that only extends.
	NoDocuments bool
	// Changes, when set, is the grant the request merges into or
	// replaces: only the citizen who gave it may consent.
	Changes string
}

// LoginPartner stands for the gateway itself in a challenge that logs a
// citizen in to their settings rather than consenting to a partner.
const LoginPartner = ""

// Start checks the IIN and phone and sends a code when they match the
// registry. It answers the same whether or not they matched, so nobody
// learns who is registered: without a match it returns a decoy challenge
// that no code verifies, and sends nothing.
//
// Returns *InputError for a malformed IIN or phone, ErrNoDocuments,
// *RateLimitError past the per-phone or per-IP limit,
// ErrRegistryUnavailable, and — for a request that changes a grant —
// ErrGrantGone or ErrOtherCitizen (before any code is sent).
func (s *Service) Start(ctx context.Context, r StartRequest) (Challenge, error) {
	iin, err := ParseIIN(r.IIN)
	if err != nil {
		return Challenge{}, &InputError{Field: "iin", Err: err}
	}
	phone, err := ParsePhone(r.Phone)
	if err != nil {
		return Challenge{}, &InputError{Field: "phone", Err: err}
	}
	if len(r.Documents) == 0 && r.PartnerID != LoginPartner && !r.NoDocuments {
		return Challenge{}, ErrNoDocuments
	}
	now := s.now()
	purpose := "consent"
	if r.PartnerID == LoginPartner {
		purpose = "login"
	}
	budget := keyed(s.key, "otp-"+purpose, string(iin)+"|"+string(phone))
	if err := s.count(ctx, budget, r.ClientIP, now); err != nil {
		return Challenge{}, err
	}
	if r.Changes != "" {
		if _, err := s.changing(ctx, r.Changes, r.PartnerID, iin); err != nil {
			return Challenge{}, err
		}
	}
	citizen, err := s.registry.Citizen(ctx, iin)
	switch {
	case errors.Is(err, ErrUnknownCitizen):
	case err != nil:
		return Challenge{}, fmt.Errorf("%w: %v", ErrRegistryUnavailable, err)
	}
	matched := err == nil && citizen.Phone != "" && hmac.Equal([]byte(citizen.Phone), []byte(phone))

	c := Challenge{
		ID: newID(), PendingID: r.PendingID, PartnerID: r.PartnerID, Session: s.SessionKey(r.Session), Budget: budget,
		Documents: r.Documents, Days: r.Days, Status: ChallengePending, Lang: r.Lang,
		CreatedAt: now, SentAt: now, ExpiresAt: now.Add(s.cfg.TTL), Version: 1,
	}
	code := newCode()
	if matched {
		c.Citizen, c.Represents = iin, minorsAt(citizen.Represents, now) // a representative's access ends at majority
	}
	c.CodeHash = codeHash(s.key, c, code)
	if !matched {
		c.CodeHash = codeHash(s.key, c, newID()) // no six-digit code matches
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return Challenge{}, err
	}
	if matched {
		s.sendAsync(ctx, c, phone, r.PartnerName, code)
	}
	s.log.InfoContext(ctx, "otp challenge started", "challenge", c.ID, "partner", r.PartnerID, "iin", iin.Masked())
	return c, nil
}

// count spends one code of each budget a send counts against (see
// OTPConfig): the client address's, and the challenge's from this address
// and from all, in one statement. Returns *RateLimitError past any of
// them, and then spends none (but a send that lost a race for one
// budget's last code may have spent the others').
func (s *Service) count(ctx context.Context, budget, clientIP string, now time.Time) error {
	hits := []RateHit{{keyed(s.key, "otp-ip", clientIP), s.cfg.IPLimit, s.cfg.IPWindow}}
	if budget != "" { // else a challenge from before budgets were kept with it
		hits = append(hits, RateHit{keyed(s.key, "otp-from", budget+"|"+clientIP), s.cfg.PhoneLimit, s.cfg.PhoneWindow},
			RateHit{budget, s.cfg.PhoneTotalLimit, s.cfg.PhoneWindow})
	}
	err := s.store.HitAll(ctx, hits, now)
	if errors.As(err, new(*RateLimitError)) {
		s.observe(OTPLimited)
	}
	return err
}

func (s *Service) observe(event string) {
	if s.observer != nil {
		s.observer.OTP(event)
	}
}

// sendAsync sends without making the caller wait, so a matched and an
// unmatched IIN/phone pair take the same time to answer, and a provider
// that hangs holds up nobody. Without a phone, it reads the citizen's from
// the registry there.
func (s *Service) sendAsync(ctx context.Context, c Challenge, phone Phone, partnerName, code string) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if phone == "" {
			citizen, err := s.registry.Citizen(ctx, c.Citizen)
			if err != nil {
				s.log.ErrorContext(ctx, "sms not sent: registry", "challenge", c.ID, "err", err)
				return
			}
			phone = citizen.Phone
		}
		s.send(ctx, c, phone, partnerName, code)
	}()
}

// send delivers the code. A failed delivery is logged (never the code);
// the citizen can ask for a new code.
func (s *Service) send(ctx context.Context, c Challenge, phone Phone, partnerName, code string) {
	l := s.messages.For(c.Lang)
	names := make([]string, len(c.Documents))
	for i, d := range c.Documents {
		names[i] = l.Document(d)
	}
	msg := "sms_text"
	if c.PartnerID == LoginPartner {
		msg = "sms_login_text"
	}
	text := l.T(msg, map[string]any{"Code": code, "Partner": partnerName, "Documents": strings.Join(names, ", ")})
	id := fmt.Sprintf("%s-%d", c.ID, c.Resends)
	if err := s.sms.Send(ctx, id, phone, text); err != nil {
		s.observe(OTPSendFailed)
		s.log.ErrorContext(ctx, "sms not delivered", "challenge", c.ID, "err", err)
		return
	}
	s.observe(OTPSent)
}

// Challenge returns the challenge id if it belongs to the browser session.
func (s *Service) Challenge(ctx context.Context, id, session string) (Challenge, error) {
	c, err := s.store.GetChallenge(ctx, id)
	if err != nil {
		return Challenge{}, err
	}
	if !hmac.Equal([]byte(c.Session), []byte(s.SessionKey(session))) {
		return Challenge{}, ErrUnknownChallenge
	}
	return c, nil
}

// usable reports why a challenge takes no code or resend, if it does not.
func (s *Service) usable(c Challenge) error {
	switch {
	case c.Method == MethodSignature:
		return ErrUnknownChallenge // a challenge to sign takes no code
	case c.Status == ChallengeUsed || c.Status == ChallengeVerified:
		return ErrCodeUsed
	case c.Status == ChallengeDead:
		return ErrCodeDead
	case !s.now().Before(c.ExpiresAt):
		return ErrCodeExpired
	}
	return nil
}

// Resend sends a new code for the challenge, bound to docs and days (the
// citizen may have changed the selection). The old code stops working. It
// counts against the same budgets as the first code, from clientIP, and
// answers without waiting for the SMS, as Start does. Returns
// *TooSoonError (ErrResendTooSoon, with the wait), ErrNoResendsLeft, *RateLimitError, or
// why the challenge is not usable.
func (s *Service) Resend(ctx context.Context, id, session, partnerName string, docs []DocumentType, days int, clientIP string) (Challenge, time.Duration, error) {
	counted := false
	for {
		c, err := s.Challenge(ctx, id, session)
		if err == nil && len(docs) == 0 && len(c.Documents) > 0 {
			return Challenge{}, 0, ErrNoDocuments
		}
		if err != nil {
			return Challenge{}, 0, err
		}
		if c.Status == ChallengePending && c.Resends >= s.cfg.MaxResends {
			return c, 0, ErrNoResendsLeft
		}
		if err := s.usable(c); err != nil && !errors.Is(err, ErrCodeExpired) {
			return c, 0, err
		}
		if wait := c.SentAt.Add(s.cfg.ResendAfter).Sub(s.now()); wait > 0 {
			return c, wait, &TooSoonError{Wait: wait}
		}
		now := s.now()
		if !counted { // once, however often a concurrent change makes it retry
			if err := s.count(ctx, c.Budget, clientIP, now); err != nil {
				return c, 0, err
			}
			counted = true
		}
		code := newCode()
		c.Resends++
		c.Documents, c.Days = docs, days
		c.SentAt, c.ExpiresAt = now, now.Add(s.cfg.TTL)
		c.CodeHash = codeHash(s.key, c, code)
		if c.Citizen == "" {
			c.CodeHash = codeHash(s.key, c, newID())
		}
		err = s.store.UpdateChallenge(ctx, c)
		if errors.Is(err, ErrStale) {
			continue
		}
		if err != nil {
			return c, 0, err
		}
		c.Version++
		if c.Citizen != "" {
			s.sendAsync(ctx, c, "", partnerName, code)
		}
		return c, 0, nil
	}
}

// checkCode returns the challenge when code is right for it and for the
// selection; a wrong code spends a try, the last one kills the challenge.
//
// c is the challenge as last read (its session checked); it is read again
// only when a concurrent try changed it.
func (s *Service) checkCode(ctx context.Context, c Challenge, session, code string, docs []DocumentType, days int) (Challenge, error) {
	for first := true; ; first = false {
		if !first {
			var err error
			if c, err = s.Challenge(ctx, c.ID, session); err != nil {
				return Challenge{}, err
			}
		}
		if err := s.usable(c); err != nil {
			return Challenge{}, err
		}
		if !sameSelection(c.Documents, c.Days, docs, days) {
			return Challenge{}, ErrSelectionChanged
		}
		if hmac.Equal(c.CodeHash, codeHash(s.key, c, strings.TrimSpace(code))) {
			s.observe(OTPRight)
			return c, nil
		}
		c.Attempts++
		if c.Attempts >= s.cfg.MaxAttempts {
			c.Status = ChallengeDead
		}
		err := s.store.UpdateChallenge(ctx, c)
		if errors.Is(err, ErrStale) {
			continue // a concurrent try: count this one against the new state
		}
		if err != nil {
			return Challenge{}, err
		}
		if c.Status == ChallengeDead {
			s.observe(OTPLocked)
			return Challenge{}, ErrCodeDead
		}
		s.observe(OTPWrong)
		return Challenge{}, &WrongCodeError{AttemptsLeft: s.cfg.MaxAttempts - c.Attempts}
	}
}

// UseLoginCode checks the code of a log-in challenge and marks it used.
// Returns ErrUnknownChallenge for a challenge that is not a log-in's (a
// consent's code logs nobody in), and the errors of a wrong code.
func (s *Service) UseLoginCode(ctx context.Context, challengeID, session, code string) (Challenge, error) {
	read, err := s.Challenge(ctx, challengeID, session)
	if err != nil {
		return Challenge{}, err
	} else if read.PartnerID != LoginPartner {
		return Challenge{}, ErrUnknownChallenge
	}
	for {
		c, err := s.checkCode(ctx, read, session, code, nil, 0)
		if err != nil {
			return Challenge{}, err
		}
		c.Status = ChallengeUsed
		if err := s.store.UpdateChallenge(ctx, c); errors.Is(err, ErrStale) {
			if read, err = s.Challenge(ctx, challengeID, session); err != nil {
				return Challenge{}, err
			}
			continue
		} else if err != nil {
			return Challenge{}, err
		}
		return c, nil
	}
}

// Grant returns ErrGrantNotFound for an unknown id.
func (s *Service) Grant(ctx context.Context, id string) (Grant, error) {
	return s.store.GetGrant(ctx, id)
}
