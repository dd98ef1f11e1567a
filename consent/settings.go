package consent

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
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
var ErrNoSession = newError(KindUnauthorized, "", "not logged in")

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
	Erase(ctx context.Context, citizen IIN, pseudonym string, at time.Time) (map[string]int, error)
}

// LoginCodes is what the settings' log-in needs of the OTP engine: the
// same rules, limits and anti-enumeration as consent.
type LoginCodes interface {
	Start(ctx context.Context, r StartRequest) (Challenge, error)
	UseLoginCode(ctx context.Context, challengeID, session, code string) (Challenge, error)
	StartSigned(ctx context.Context, r StartRequest) (Challenge, error)
	VerifySignature(ctx context.Context, id, session string, signed []byte, docs []DocumentType, days int) (Challenge, error)
}

// RevocationOutbox is what revoking needs of the outbox: the partner's
// notification, stored with the revocation.
type RevocationOutbox interface {
	ForRevocation(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error)
}

// CitizenReports is what the settings need of error reports.
type CitizenReports interface {
	Report(ctx context.Context, citizen IIN, t DocumentType, description string) (ErrorReport, error)
	List(ctx context.Context, citizen IIN) ([]ErrorReport, error)
}

// SettingsConfig is what Settings are built from.
type SettingsConfig struct {
	Store    SettingsStore
	Codes    LoginCodes
	Registry Registry // names the holders of grants
	Outbox   RevocationOutbox
	Access   AccessLog
	Reports  CitizenReports
	Prefs    PrefsStore
	// Documents reads the citizen's own documents, with their signatures'
	// state.
	Documents interface {
		Own(ctx context.Context, citizen IIN) ([]ReadDocument, error)
	}
	Key []byte // keys sessions and pseudonyms
	// Terms is the version of the current terms.
	Terms string
	// Channels are the notification channels offered (Channels when
	// empty).
	Channels []string
	Now      func() time.Time
}

// Settings is the citizen's side: log-in, grants, revocation, history and
// erasure.
type Settings struct {
	store    SettingsStore
	codes    LoginCodes
	registry Registry
	outbox   RevocationOutbox
	access   AccessLog
	reports  CitizenReports
	prefs    PrefsStore
	docs     interface {
		Own(ctx context.Context, citizen IIN) ([]ReadDocument, error)
	}
	key      []byte
	terms    string
	channels []string
	now      func() time.Time
}

// NewSettings checks cfg and returns the citizen's settings service.
func NewSettings(cfg SettingsConfig) (*Settings, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Codes": cfg.Codes == nil, "Registry": cfg.Registry == nil,
		"Outbox": cfg.Outbox == nil, "Access": cfg.Access == nil, "Reports": cfg.Reports == nil, "Prefs": cfg.Prefs == nil, "Documents": cfg.Documents == nil, "Terms": cfg.Terms == "",
		"Key": len(cfg.Key) < 16, "Now": cfg.Now == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewSettings: %w", err)
	}
	return &Settings{store: cfg.Store, codes: cfg.Codes, registry: cfg.Registry, outbox: cfg.Outbox, access: cfg.Access,
		reports: cfg.Reports, prefs: cfg.Prefs, docs: cfg.Documents, key: cfg.Key, terms: cfg.Terms, channels: offered(cfg.Channels), now: cfg.Now}, nil
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
	return s.codes.Start(ctx, StartRequest{PartnerID: LoginPartner, PendingID: "login", PartnerName: "Kelisim",
		Session: session, IIN: iin, Phone: phone, Lang: lang, ClientIP: clientIP})
}

// LogIn checks the code and opens a session; it returns the token for the
// cookie.
//
// Returns ErrUnknownChallenge for a challenge that is not a log-in's (a
// consent's code logs nobody in), and the errors of a wrong code.
func (s *Settings) LogIn(ctx context.Context, challengeID, session, code string) (string, IIN, error) {
	c, err := s.codes.UseLoginCode(ctx, challengeID, session, code)
	if err != nil {
		return "", "", err
	}
	return s.open(ctx, c)
}

// StartSignatureLogin makes the one-time challenge a citizen signs to log
// in with their digital signature. Returns ErrNoSignatureCA when
// signatures are not offered, and the errors of Service.StartSigned.
func (s *Settings) StartSignatureLogin(ctx context.Context, session, iin, lang, clientIP string) (Challenge, error) {
	return s.codes.StartSigned(ctx, StartRequest{PartnerID: LoginPartner, PendingID: "login", Session: session, IIN: iin,
		Lang: lang, ClientIP: clientIP})
}

// LogInBySignature checks the citizen's signature of the challenge and
// opens a session; it returns the token for the cookie. Returns the
// errors of Service.VerifySignature.
func (s *Settings) LogInBySignature(ctx context.Context, challengeID, session string, signed []byte) (string, IIN, error) {
	c, err := s.codes.VerifySignature(ctx, challengeID, session, signed, nil, 0)
	if err != nil {
		return "", "", err
	}
	if c.PartnerID != LoginPartner {
		return "", "", ErrUnknownChallenge
	}
	return s.open(ctx, c)
}

// open opens a session for the citizen of a used log-in challenge.
func (s *Settings) open(ctx context.Context, c Challenge) (string, IIN, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	if err := s.store.CreateSession(ctx, CitizenSession{ID: s.sessionID(token), Citizen: c.Citizen, CreatedAt: now, LastSeen: now}); err != nil {
		return "", "", err
	}
	// Notices not caused from a page (a revocation's, an expiry's) speak
	// the language the citizen last used here.
	if c.Lang != "" {
		if err := s.prefs.SetNotificationLang(ctx, c.Citizen, c.Lang, now); err != nil {
			return "", "", err
		}
	}
	return token, c.Citizen, nil
}

// Documents returns the citizen's documents and those of the minors they
// represent, each with its status and the state of its issuer signature.
// Returns ErrSourceUnavailable when a state system does not answer.
func (s *Settings) Documents(ctx context.Context, citizen IIN) ([]ReadDocument, error) {
	return s.docs.Own(ctx, citizen)
}

// Channels are the notification channels offered.
func (s *Settings) Channels() []string { return slices.Clone(s.channels) }

// NotificationPrefs returns how the citizen wants to be told.
func (s *Settings) NotificationPrefs(ctx context.Context, citizen IIN) (NotificationPrefs, error) {
	return s.prefs.NotificationPrefs(ctx, citizen)
}

// SetNotificationChannels keeps the citizen's choice of channels, and lang
// as their language. Returns ErrBadChannel for a channel the service does
// not have.
func (s *Settings) SetNotificationChannels(ctx context.Context, citizen IIN, channels []string, lang string) error {
	p := NotificationPrefs{Channels: channels, Lang: lang}
	if err := p.Validate(); err != nil {
		return err
	}
	for _, c := range channels {
		if !slices.Contains(s.channels, c) {
			return ErrBadChannel
		}
	}
	return s.prefs.SetNotificationPrefs(ctx, citizen, p, s.now())
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
	// OlderTerms: active, and given under terms other than the current
	// ones (see UnderOlderTerms).
	OlderTerms bool
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
		c, _ := s.registry.Citizen(ctx, iin)
		names[iin] = c.Name
		return c.Name
	}
	out := make([]GrantView, len(grants))
	for i, g := range grants {
		out[i] = GrantView{Grant: g, LastUsed: used[g.ID], Expired: g.Status == GrantExpired || (g.Status == GrantActive && !now.Before(g.ExpiresAt)),
			OlderTerms: g.ActiveAt(now) && g.TermsVersion != s.terms}
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

// ErrNothingToRevoke: a revocation that names no grant, no partner and
// not everything.
var ErrNothingToRevoke = newError(KindInvalid, "err_grant_gone", "name a grant, a partner or all")

// Revocation says what to revoke: one grant, all grants of a partner, or
// everything, and optionally why (one of RevocationReasons).
type Revocation struct {
	GrantID   string
	PartnerID string
	All       bool
	Reason    string
}

// RevocationReasons are the reasons a citizen may give, by code, with the
// words the partner's event carries. A reason is a choice, not free text,
// so no personal data travels with it.
var RevocationReasons = map[string]string{
	"no_longer_needed": "the citizen no longer needs the service",
	"not_me":           "the citizen did not give this consent",
	"too_much":         "the partner asks for more than it needs",
	"other":            "another reason",
}

// ErrBadReason: a revocation reason not in RevocationReasons.
var ErrBadReason = newError(KindInvalid, "err_bad_reason", "unknown revocation reason")

// Revoke revokes the citizen's active grants that r names, notifying each
// partner through the outbox. Revoking what is already revoked is
// harmless. Returns ErrNothingToRevoke for an empty r, and
// ErrGrantNotFound when r names a grant that is not
// this citizen's, changing nothing.
func (s *Settings) Revoke(ctx context.Context, citizen IIN, r Revocation, by string) (int, error) {
	if r.GrantID == "" && r.PartnerID == "" && !r.All {
		return 0, ErrNothingToRevoke
	}
	reason := "revoked by the citizen"
	if r.Reason != "" {
		why, ok := RevocationReasons[r.Reason]
		if !ok {
			return 0, ErrBadReason
		}
		reason += ": " + why
	}
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
		out, err := s.outbox.ForRevocation(ctx, g, now)
		if err != nil {
			return n, err
		}
		ok, err := s.store.RevokeGrant(ctx, g.ID, by, reason, now, out)
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
// documents: consents and their changes, fetches and deliveries, views,
// revocations, expiries, erasure; newest first. A grant past its end that
// the upkeep has not yet marked shows as expired already.
func (s *Settings) History(ctx context.Context, citizen IIN, limit int) ([]Event, error) {
	out, _, err := s.HistoryPage(ctx, citizen, HistoryCursor{}, limit)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// HistoryPage returns a page of the history, newest first: at most limit
// entries of what the history holds before the cursor before (zero: from
// the newest), and the cursor of the next page (zero after the last). The first
// page also shows the grants past their end the upkeep has not yet marked,
// as History does, in place of as many stored entries; the pages after it
// read the history alone.
func (s *Settings) HistoryPage(ctx context.Context, citizen IIN, before HistoryCursor, limit int) ([]Event, HistoryCursor, error) {
	var out []Event
	if before.IsZero() {
		grants, err := s.store.ListGrants(ctx, citizen)
		if err != nil {
			return nil, HistoryCursor{}, err
		}
		now := s.now()
		for _, g := range grants {
			if g.Status == GrantActive && !now.Before(g.ExpiresAt) && len(out) < limit-1 {
				out = append(out, Event{At: g.ExpiresAt, Kind: AccessExpiry, PartnerID: g.PartnerID, GrantID: g.ID})
			}
		}
	}
	stored := limit - len(out)
	access, err := s.access.ListAccess(ctx, citizen, before, stored)
	if err != nil {
		return nil, HistoryCursor{}, err
	}
	var next HistoryCursor
	if len(access) == stored {
		next = CursorOf(access[len(access)-1])
	}
	adult := citizen.AdultFrom()
	for _, e := range access {
		if e.Holder == citizen && e.Citizen != citizen && e.At.Before(adult) {
			continue // the representative's, from before the citizen came of age: their history starts clean
		}
		ev := Event{At: e.At, Kind: e.Kind, PartnerID: e.PartnerID, GrantID: e.GrantID, Document: e.Document, By: e.By}
		switch {
		case e.PartnerID == PersonViewer:
			// a person who checked a shared document, or whose the viewer
			// checked: by their shortened name
		case IsUse(e.Kind):
			ev.By = e.PartnerID
		case e.Kind == AccessConsent || e.Kind == AccessMerge || e.Kind == AccessReplace:
			ev.By = "citizen"
		}
		out = append(out, ev)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	return out, next, nil
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
	counts, err := s.store.Erase(ctx, citizen, Pseudonym(s.key, citizen), s.now())
	if err != nil {
		return Erasure{}, err
	}
	return Erasure{Revoked: n, Deleted: counts, Kept: []string{"grants", "history", "reports"}}, nil
}

// offered is the channels given, or every channel.
func offered(channels []string) []string {
	if len(channels) == 0 {
		return Channels
	}
	return slices.Clone(channels)
}
