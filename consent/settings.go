package consent

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"time"
)

// CitizenSession is a citizen logged in to their settings. The browser
// holds a random token; the store holds only its keyed hash.
type CitizenSession struct {
	ID        string // keyed hash of the token
	Citizen   IIN
	CreatedAt time.Time
	LastSeen  time.Time
}

// Session timeouts.
const (
	SessionIdle     = 15 * time.Minute
	SessionAbsolute = 12 * time.Hour
)

// ErrNoSession: the session is unknown, idle too long, or too old.
var ErrNoSession = errors.New("not logged in")

// SettingsStore keeps what the citizen's settings need.
type SettingsStore interface {
	CreateSession(ctx context.Context, s CitizenSession) error
	// GetSession returns ErrNoSession when there is none.
	GetSession(ctx context.Context, id string) (CitizenSession, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// ListGrants returns every grant of the citizen, newest first.
	ListGrants(ctx context.Context, citizen IIN) ([]Grant, error)
	// LastUsed returns, per grant of the citizen, when a partner last
	// fetched or was delivered a document under it.
	LastUsed(ctx context.Context, citizen IIN) (map[string]time.Time, error)
	// RevokeGrant moves an active grant to revoked and stores outbox (the
	// partner's notification) in the same transaction. It reports false,
	// changing nothing, when the grant was not active.
	RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []OutboxEntry) (bool, error)
	// Erase deletes the citizen's sessions and OTP records and the tokens of
	// their grants, and replaces their IIN by pseudonym in grants and
	// history. It returns how many rows of each kind it deleted or changed.
	Erase(ctx context.Context, citizen IIN, pseudonym string) (map[string]int, error)
}

// Settings is the citizen's side: log-in, grants, revocation, history and
// erasure.
type Settings struct {
	consents  *Service
	store     SettingsStore
	deliverer *Deliverer
	reports   *Reports
	key       []byte
	now       func() time.Time
}

// NewSettings returns the citizen's settings service.
func NewSettings(consents *Service, store SettingsStore, deliverer *Deliverer, reports *Reports, key []byte, now func() time.Time) *Settings {
	return &Settings{consents: consents, store: store, deliverer: deliverer, reports: reports, key: key, now: now}
}

// Report records an error report on one of the citizen's documents and
// forwards it to the document's source.
func (s *Settings) Report(ctx context.Context, citizen IIN, t DocumentType, description string) (ErrorReport, error) {
	return s.reports.Report(ctx, citizen, t, description)
}

// Reports lists the citizen's error reports.
func (s *Settings) Reports(ctx context.Context, citizen IIN) ([]ErrorReport, error) {
	return s.reports.List(ctx, citizen)
}

// StartLogin sends a log-in code when IIN and phone match, with the same
// rules, limits and anti-enumeration as consent.
func (s *Settings) StartLogin(ctx context.Context, session, iin, phone, lang, clientIP string) (Challenge, error) {
	return s.consents.Start(ctx, StartRequest{PartnerID: LoginPartner, PendingID: "login", PartnerName: "Kelisim",
		Session: session, IIN: iin, Phone: phone, Lang: lang, ClientIP: clientIP})
}

// LogIn checks the code and opens a session; it returns the token for the
// cookie.
//
// Returns ErrUnknownChallenge for a challenge that is not a log-in's (a
// consent's code logs nobody in), and checkCode's errors.
func (s *Settings) LogIn(ctx context.Context, challengeID, session, code string) (string, IIN, error) {
	if c, err := s.consents.Challenge(ctx, challengeID, session); err != nil {
		return "", "", err
	} else if c.PartnerID != LoginPartner {
		return "", "", ErrUnknownChallenge
	}
	for {
		c, err := s.consents.checkCode(ctx, challengeID, session, code, nil, 0)
		if err != nil {
			return "", "", err
		}
		c.Status = ChallengeUsed
		if err := s.consents.store.UpdateChallenge(ctx, c); errors.Is(err, ErrStale) {
			continue
		} else if err != nil {
			return "", "", err
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		token := base64.RawURLEncoding.EncodeToString(b)
		now := s.now()
		if err := s.store.CreateSession(ctx, CitizenSession{ID: s.sessionID(token), Citizen: c.Citizen, CreatedAt: now, LastSeen: now}); err != nil {
			return "", "", err
		}
		return token, c.Citizen, nil
	}
}

func (s *Settings) sessionID(token string) string { return keyed(s.key, "citizen-session", token) }

// Citizen returns who a session token belongs to, and keeps the session
// alive. Returns ErrNoSession when it is unknown, idle longer than
// SessionIdle or older than SessionAbsolute.
func (s *Settings) Citizen(ctx context.Context, token string) (IIN, error) {
	if token == "" {
		return "", ErrNoSession
	}
	sess, err := s.store.GetSession(ctx, s.sessionID(token))
	if err != nil {
		return "", err
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > SessionIdle || now.Sub(sess.CreatedAt) > SessionAbsolute {
		_ = s.store.DeleteSession(ctx, sess.ID)
		return "", ErrNoSession
	}
	if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
		return "", err
	}
	return sess.Citizen, nil
}

// LogOut ends a session.
func (s *Settings) LogOut(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, s.sessionID(token))
}

// GrantView is a grant as the citizen sees it.
type GrantView struct {
	Grant
	LastUsed time.Time
	Expired  bool // past ExpiresAt, whether or not marked yet
	// HolderNames are whose documents the grant covers, as the registry
	// names them (the relation only, when it does not answer).
	HolderNames []HolderChoice
}

// Grants returns every grant of the citizen, newest first.
func (s *Settings) Grants(ctx context.Context, citizen IIN) ([]GrantView, error) {
	grants, err := s.store.ListGrants(ctx, citizen)
	if err != nil {
		return nil, err
	}
	used, err := s.store.LastUsed(ctx, citizen)
	if err != nil {
		return nil, err
	}
	now := s.now()
	names := map[IIN]string{}
	name := func(iin IIN) string {
		if n, ok := names[iin]; ok {
			return n
		}
		// A failure is remembered too: a registry that does not answer
		// costs the page one wait, not one per grant.
		c, _ := s.consents.registry.Citizen(ctx, iin)
		names[iin] = c.Name
		return c.Name
	}
	out := make([]GrantView, len(grants))
	for i, g := range grants {
		out[i] = GrantView{Grant: g, LastUsed: used[g.ID], Expired: g.Status == GrantExpired || (g.Status == GrantActive && !now.Before(g.ExpiresAt))}
		holders := g.Holders
		if len(holders) == 0 {
			holders = []IIN{g.Citizen}
		}
		for _, h := range holders {
			rel := RelationRepresented
			if h == citizen {
				rel = RelationSelf
			}
			out[i].HolderNames = append(out[i].HolderNames, HolderChoice{IIN: h, Name: name(h), Relation: rel})
		}
	}
	return out, nil
}

// Revocation says what to revoke: one grant, all grants of a partner, or
// everything.
type Revocation struct {
	GrantID   string
	PartnerID string
	All       bool
}

// Revoke revokes the citizen's active grants that r names, notifying each
// partner through the outbox. Revoking what is already revoked is
// harmless. Returns ErrGrantNotFound when r names a grant that is not
// this citizen's, changing nothing.
func (s *Settings) Revoke(ctx context.Context, citizen IIN, r Revocation, by string) (int, error) {
	grants, err := s.store.ListGrants(ctx, citizen)
	if err != nil {
		return 0, err
	}
	var targets []Grant
	for _, g := range grants {
		if r.All || (r.GrantID != "" && g.ID == r.GrantID) || (r.PartnerID != "" && g.PartnerID == r.PartnerID) {
			targets = append(targets, g)
		}
	}
	if len(targets) == 0 && !r.All {
		return 0, ErrGrantNotFound
	}
	n := 0
	now := s.now()
	for _, g := range targets {
		if g.Status != GrantActive {
			continue
		}
		out, err := s.deliverer.revocationOutbox(ctx, g, now)
		if err != nil {
			return n, err
		}
		ok, err := s.store.RevokeGrant(ctx, g.ID, by, "revoked by the citizen", now, out)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// Event is one entry of the citizen's timeline.
type Event struct {
	At        time.Time
	Kind      string // consent, fetch, delivery, revocation, expiry
	PartnerID string
	GrantID   string
	Document  DocumentType
	By        string
}

// History returns the timeline of everything done with the citizen's
// documents: consents, fetches and deliveries, revocations, expiries;
// newest first.
func (s *Settings) History(ctx context.Context, citizen IIN, limit int) ([]Event, error) {
	grants, err := s.store.ListGrants(ctx, citizen)
	if err != nil {
		return nil, err
	}
	access, err := s.deliverer.History(ctx, citizen, limit)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Event
	for _, g := range grants {
		out = append(out, Event{At: g.CreatedAt, Kind: "consent", PartnerID: g.PartnerID, GrantID: g.ID, By: "citizen"})
		switch {
		case g.Status == GrantRevoked:
			out = append(out, Event{At: g.StatusChangedAt, Kind: "revocation", PartnerID: g.PartnerID, GrantID: g.ID, By: g.StatusBy})
		case g.Status == GrantExpired || !now.Before(g.ExpiresAt):
			out = append(out, Event{At: g.ExpiresAt, Kind: "expiry", PartnerID: g.PartnerID, GrantID: g.ID})
		}
	}
	for _, e := range access {
		out = append(out, Event{At: e.At, Kind: e.Kind, PartnerID: e.PartnerID, GrantID: e.GrantID, Document: e.Document, By: e.PartnerID})
	}
	slices.SortStableFunc(out, func(a, b Event) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Erasure reports what deleting a citizen's data did.
type Erasure struct {
	Revoked int
	Deleted map[string]int // what was deleted, by kind
	Kept    []string       // what was kept, and why
}

// Erase revokes every grant of the citizen (partners are notified), then
// deletes the personal data the gateway holds — sessions, one-time
// password records, tokens — and keeps only pseudonymised records the law
// requires.
func (s *Settings) Erase(ctx context.Context, citizen IIN) (Erasure, error) {
	n, err := s.Revoke(ctx, citizen, Revocation{All: true}, "citizen")
	if err != nil {
		return Erasure{}, err
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("pseudonym\x00" + string(citizen)))
	pseudonym := "p-" + hex.EncodeToString(m.Sum(nil)[:10])
	counts, err := s.store.Erase(ctx, citizen, pseudonym)
	if err != nil {
		return Erasure{}, err
	}
	return Erasure{Revoked: n, Deleted: counts, Kept: []string{"grants", "history", "reports"}}, nil
}

// Janitor is the store's upkeep: what the background job asks of it.
type Janitor interface {
	// ExpireGrants marks active grants past their expiry as expired and
	// returns them.
	ExpireGrants(ctx context.Context, now time.Time) ([]Grant, error)
	// Purge deletes what is past retention: expired tokens, codes and
	// authorization requests, OTP challenges older than otpRetention,
	// spent rate-limit events, dead sessions and old delivered outbox
	// entries. It returns how many rows it deleted, by kind.
	Purge(ctx context.Context, now time.Time, otpRetention time.Duration) (map[string]int, error)
	// SupersedeGrants ends the citizen's active grants for partner given
	// under terms other than terms, and returns them.
	SupersedeGrants(ctx context.Context, citizen IIN, partnerID, terms string, at time.Time) ([]Grant, error)
}

// Upkeep runs the background work that keeps grants and the store honest:
// expiry (partners are told as for a revocation) and purges. It is safe
// on several replicas at once: each step is one idempotent statement.
type Upkeep struct {
	store        Janitor
	deliverer    *Deliverer
	reports      *Reports
	otpRetention time.Duration
	now          func() time.Time
	log          interface {
		Error(string, ...any)
		Info(string, ...any)
	}
}

// NewUpkeep returns the background job.
func NewUpkeep(store Janitor, deliverer *Deliverer, reports *Reports, otpRetention time.Duration, now func() time.Time, log interface {
	Error(string, ...any)
	Info(string, ...any)
}) *Upkeep {
	return &Upkeep{store: store, deliverer: deliverer, reports: reports, otpRetention: otpRetention, now: now, log: log}
}

// Once runs one round.
func (u *Upkeep) Once(ctx context.Context) error {
	now := u.now()
	expired, err := u.store.ExpireGrants(ctx, now)
	if err != nil {
		return err
	}
	if err := u.deliverer.notifyEnded(ctx, expired, now); err != nil {
		return err
	}
	if err := u.reports.ForwardReceived(ctx); err != nil {
		return err
	}
	purged, err := u.store.Purge(ctx, now, u.otpRetention)
	if err != nil {
		return err
	}
	if len(expired) > 0 || len(purged) > 0 {
		u.log.Info("upkeep", "grants_expired", len(expired), "purged", purged)
	}
	return nil
}

// Run does a round every interval until ctx ends.
func (u *Upkeep) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := u.Once(ctx); err != nil && ctx.Err() == nil {
			u.log.Error("upkeep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
