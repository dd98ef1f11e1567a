package consent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Notifications tell a citizen what happened to their documents: a partner
// was granted access, used it, lost it. They are outbox entries written by
// the store in the statement that writes the history row they tell of
// (see Notices), so nothing told is lost and nothing is told twice, and
// they are sent by the outbox's workers with its leases and retries.
//
// A use (a fetch, a delivery, a view) is told in batches: every use under a
// grant in one clock hour is one entry, sent when the hour is over, so a
// citizen hears from a partner at most once an hour however often it
// fetches. No notification carries a code, an IIN or a document's content:
// the partner's name, the names of the document types, dates and a link.

// Notice kinds: outbox entries for the citizen, not for a partner.
const (
	NoticeGranted = "notice.granted" // consent, merge, replace: with the receipt's link
	NoticeEnded   = "notice.ended"   // revocation, expiry
	NoticeUsed    = "notice.used"    // an hour's fetches, deliveries and views
)

// IsNotice reports whether an outbox entry of kind is the citizen's.
func IsNotice(kind string) bool { return strings.HasPrefix(kind, "notice.") }

// Notification channels a citizen may choose.
const (
	ChannelSMS = "sms" // the phone registered in the mobile citizens' database
	ChannelApp = "app" // the citizens' mobile app, by push
)

// Channels lists the channels in display order.
var Channels = []string{ChannelSMS, ChannelApp}

// NoticeSettle is how long after its hour a batch of uses is sent, so a
// use written at the hour's last moment is counted in it.
const NoticeSettle = time.Minute

// NotificationPrefs is how a citizen wants to be told.
type NotificationPrefs struct {
	Channels []string // none: the citizen asked not to be told
	Lang     string   // the language the citizen last used in the settings
}

// DefaultNotificationPrefs are a citizen's until they choose: by SMS, the
// one channel every citizen with a registered phone has.
func DefaultNotificationPrefs() NotificationPrefs {
	return NotificationPrefs{Channels: []string{ChannelSMS}}
}

// ErrBadChannel: a channel the service does not have.
var ErrBadChannel = newError(KindInvalid, "err_bad_channel", "unknown notification channel")

// Validate checks the channels and language.
func (p NotificationPrefs) Validate() error {
	for i, c := range p.Channels {
		if !slices.Contains(Channels, c) || slices.Contains(p.Channels[:i], c) {
			return ErrBadChannel
		}
	}
	if p.Lang != "" && !slices.Contains(Languages, p.Lang) {
		return ErrBadChannel
	}
	return nil
}

// PrefsStore keeps citizens' notification preferences.
type PrefsStore interface {
	// NotificationPrefs returns the citizen's preferences, or
	// DefaultNotificationPrefs when they never chose.
	NotificationPrefs(ctx context.Context, citizen IIN) (NotificationPrefs, error)
	SetNotificationPrefs(ctx context.Context, citizen IIN, p NotificationPrefs, at time.Time) error
	// SetNotificationLang sets only the language, leaving the channels as
	// they are (the default for a citizen who never chose). One
	// statement, so a choice of channels made meanwhile is never undone.
	SetNotificationLang(ctx context.Context, citizen IIN, lang string, at time.Time) error
	// NoticePrefs returns the citizen's preferences as a notice needs
	// them, having first made lang their language if they have none yet
	// (and lang is not empty): one statement for the two.
	NoticePrefs(ctx context.Context, citizen IIN, lang string, at time.Time) (NotificationPrefs, error)
	// NoticePrefsWithGrant is NoticePrefs with the grant grantID, read
	// in the same statement: ErrGrantNotFound when there is none (the
	// preferences' first language is set all the same).
	NoticePrefsWithGrant(ctx context.Context, citizen IIN, lang, grantID string, at time.Time) (NotificationPrefs, Grant, error)
	// NoticeReads is NoticePrefs, or NoticePrefsWithGrant for a read that
	// names a grant, for each of reads, in order, in as few round trips
	// as the store can: one result each.
	NoticeReads(ctx context.Context, reads []NoticeRead, at time.Time) []NoticeReadResult
}

// ReadNotices makes reads one by one, with NoticePrefs and
// NoticePrefsWithGrant: PrefsStore.NoticeReads for a store that has no
// quicker way.
func ReadNotices(ctx context.Context, st PrefsStore, reads []NoticeRead, at time.Time) []NoticeReadResult {
	out := make([]NoticeReadResult, len(reads))
	for i, r := range reads {
		if r.GrantID == "" {
			out[i].Prefs, out[i].Err = st.NoticePrefs(ctx, r.Citizen, r.Lang, at)
		} else {
			out[i].Prefs, out[i].Grant, out[i].Err = st.NoticePrefsWithGrant(ctx, r.Citizen, r.Lang, r.GrantID, at)
		}
	}
	return out
}

// NoticeRead is what a notice reads before it is sent: the citizen's
// preferences (their first language set to Lang if they have none) and,
// when GrantID is set, the grant.
type NoticeRead struct {
	Citizen IIN
	Lang    string
	GrantID string
}

// NoticeReadResult is what a NoticeRead read, or the error its read
// returned.
type NoticeReadResult struct {
	Prefs NotificationPrefs
	Grant Grant
	Err   error
}

// Notices returns the notifications the history events ask for. The store
// calls it when it writes events and stores what it returns with them,
// keeping an entry whose ID it already has: IDs are derived from the event
// (a lifecycle event's receipt; a use's grant and hour), which is what
// batches uses and makes a retried write harmless.
func Notices(events []AccessEvent) []OutboxEntry {
	var out []OutboxEntry
	for _, e := range events {
		n := OutboxEntry{PartnerID: e.PartnerID, GrantID: e.GrantID, Citizen: e.Citizen, Lang: e.Lang,
			Status: OutboxPending, NextAttemptAt: e.At, CreatedAt: e.At}
		switch e.Kind {
		case AccessConsent, AccessMerge, AccessReplace:
			n.Kind = NoticeGranted
		case AccessRevocation, AccessExpiry:
			n.Kind = NoticeEnded
		case AccessFetch, AccessDelivery, AccessView:
			hour := e.At.UTC().Truncate(time.Hour)
			n.Kind, n.CreatedAt, n.NextAttemptAt = NoticeUsed, hour, hour.Add(time.Hour+NoticeSettle)
		default:
			continue
		}
		if e.GrantID == "" || e.Citizen == "" {
			continue // nobody to tell, or nothing to tell of
		}
		n.ID = noticeID(e, n)
		out = append(out, n)
	}
	return out
}

// noticeID names a notice by what it tells, never by whom it tells: the ID
// is shown to the operator and the providers.
func noticeID(e AccessEvent, n OutboxEntry) string {
	var basis string
	switch {
	case n.Kind == NoticeUsed:
		basis = "used|" + e.GrantID + "|" + strconv.FormatInt(n.CreatedAt.Unix(), 10)
	case e.Grant != nil:
		basis = "receipt|" + e.Grant.Receipt
	default:
		basis = n.Kind + "|" + e.GrantID + "|" + e.Kind
	}
	sum := sha256.Sum256([]byte(basis))
	return "ntf-" + hex.EncodeToString(sum[:16])
}

// Notice is one notification as a channel sends it.
type Notice struct {
	// ID is the same on every attempt, per channel: the provider's
	// Idempotency-Key.
	ID      string
	Channel string
	Kind    string
	Phone   Phone  // ChannelSMS: where to
	Subject string // ChannelApp: the citizen as the app knows them (pairwise)
	Lang    string
	Text    string
	Link    string // where the citizen reads more (the settings)
}

// Notifier sends notices over one channel. An error is retried by the
// outbox with the same notice ID.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// NotifierConfig is what a NoticeSender is built from.
type NotifierConfig struct {
	Prefs    PrefsStore
	Registry Registry // the citizen's phone
	Partners Partners
	Access   AccessLog // what an hour's uses were
	Messages *Messages
	// Channels are the notifiers by channel: SMS always, the app when a
	// push service is configured. A citizen's choice of a channel not
	// offered (any more) is skipped.
	Channels map[string]Notifier
	// AppSubject is the citizen's subject at the mobile app.
	AppSubject func(IIN) string
	BaseURL    string // the gateway's public URL, for links
	// List and TermsVersion tell a citizen how many of their grants are
	// under terms older than the current ones.
	List interface {
		ListGrants(ctx context.Context, citizen IIN) ([]Grant, error)
	}
	TermsVersion string
	Now          func() time.Time
	Log          *slog.Logger
}

// NoticeSender writes and sends a citizen's notifications.
type NoticeSender struct{ cfg NotifierConfig }

// NewNoticeSender checks cfg and returns the sender.
func NewNoticeSender(cfg NotifierConfig) (*NoticeSender, error) {
	if err := required(map[string]bool{"Prefs": cfg.Prefs == nil, "Registry": cfg.Registry == nil,
		"Partners": cfg.Partners == nil, "Access": cfg.Access == nil, "Messages": cfg.Messages == nil,
		"AppSubject": cfg.AppSubject == nil, "Now": cfg.Now == nil, "Log": cfg.Log == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewNoticeSender: %w", err)
	}
	for c := range cfg.Channels {
		if !slices.Contains(Channels, c) {
			return nil, fmt.Errorf("consent.NewNoticeSender: no channel %s", c)
		}
	}
	if cfg.Channels[ChannelSMS] == nil {
		return nil, errors.New("consent.NewNoticeSender: no notifier for SMS")
	}
	return &NoticeSender{cfg: cfg}, nil
}

// errNothingToTell: a notice whose events are gone (erased) or empty.
var errNothingToTell = errors.New("nothing to tell")

// Send tells the citizen what e is about, on each channel they chose. A
// citizen who chose none, or was erased, is told nothing and the entry is
// done.
func (s *NoticeSender) Send(ctx context.Context, e OutboxEntry) error {
	var prefs NotificationPrefs
	var g Grant
	var err error
	if r, ok := prefetched(ctx, e.ID); ok {
		prefs, g, err = r.Prefs, r.Grant, r.Err
	} else {
		r := s.read(ctx, []OutboxEntry{e})[0]
		prefs, g, err = r.Prefs, r.Grant, r.Err
	}
	if errors.Is(err, ErrGrantNotFound) {
		return nil // erased: nothing to tell
	}
	if err != nil {
		return err
	}
	if len(prefs.Channels) == 0 {
		return nil
	}
	// The language of the page that caused the notice, else the one the
	// citizen last used.
	lang := cmp.Or(e.Lang, prefs.Lang)
	text, err := s.text(ctx, e, g, s.cfg.Messages.For(lang))
	if errors.Is(err, errNothingToTell) {
		return nil
	}
	if err != nil {
		return err
	}
	var phone Phone
	for _, ch := range prefs.Channels {
		if s.cfg.Channels[ch] == nil {
			continue // no longer offered
		}
		n := Notice{ID: e.ID + "-" + ch, Channel: ch, Kind: e.Kind, Lang: lang, Text: text, Link: s.cfg.BaseURL + "/my/"}
		switch ch {
		case ChannelSMS:
			if phone == "" {
				c, err := s.cfg.Registry.Citizen(ctx, e.Citizen)
				if errors.Is(err, ErrUnknownCitizen) {
					continue
				}
				if err != nil {
					return err
				}
				phone = c.Phone
			}
			if phone == "" {
				continue // no registered phone: nothing to send to
			}
			n.Phone = phone
		case ChannelApp:
			n.Subject = s.cfg.AppSubject(e.Citizen)
		}
		// A channel that failed is retried with the others: each notice ID
		// lets its provider drop what it already has.
		if err := s.cfg.Channels[ch].Notify(ctx, n); err != nil {
			return fmt.Errorf("notify by %s: %w", ch, err)
		}
	}
	return nil
}

// Prefetch reads what the notices among entries need before they are
// sent (NoticeRead), all at once, and returns a context in which Send
// takes each entry's from there instead of reading it: a claim of the
// outbox reads its notices in one round trip, not one each. A read that
// failed is made again by Send.
func (s *NoticeSender) Prefetch(ctx context.Context, entries []OutboxEntry) context.Context {
	var notices []OutboxEntry
	for _, e := range entries {
		if IsNotice(e.Kind) {
			notices = append(notices, e)
		}
	}
	if len(notices) < 2 {
		return ctx
	}
	read := map[string]NoticeReadResult{}
	for i, r := range s.read(ctx, notices) {
		if r.Err == nil || errors.Is(r.Err, ErrGrantNotFound) {
			read[notices[i].ID] = r
		}
	}
	return context.WithValue(ctx, prefetchedKey{}, read)
}

// read reads what entries, notices, need: the first page the citizen
// used (a consent's) names their language for the notices no page
// causes (uses, expiries). A notice of a grant reads it with the
// preferences; a use may be under a share, which is no grant.
func (s *NoticeSender) read(ctx context.Context, entries []OutboxEntry) []NoticeReadResult {
	reads := make([]NoticeRead, len(entries))
	for i, e := range entries {
		reads[i] = NoticeRead{Citizen: e.Citizen, Lang: e.Lang}
		if e.Kind != NoticeUsed {
			reads[i].GrantID = e.GrantID
		}
	}
	return s.cfg.Prefs.NoticeReads(ctx, reads, s.cfg.Now())
}

type prefetchedKey struct{}

func prefetched(ctx context.Context, id string) (NoticeReadResult, bool) {
	read, _ := ctx.Value(prefetchedKey{}).(map[string]NoticeReadResult)
	r, ok := read[id]
	return r, ok
}

// text is the notice in the citizen's language; g is its grant (none for
// a use).
func (s *NoticeSender) text(ctx context.Context, e OutboxEntry, g Grant, l *Localizer) (string, error) {
	partner := l.T("notice_a_person", nil) // a citizen who checked a shared document
	if e.PartnerID != PersonViewer {
		p, err := s.cfg.Partners.PartnerInfo(ctx, e.PartnerID)
		if err != nil {
			return "", err
		}
		partner = p.NameIn(l.Lang)
	}
	kz := time.FixedZone("UTC+5", 5*3600)
	data := map[string]any{"Partner": partner, "Link": s.cfg.BaseURL + "/my/"}
	names := func(docs []DocumentType) string {
		out := make([]string, len(docs))
		for i, d := range docs {
			out[i] = l.Document(d)
		}
		return strings.Join(out, ", ")
	}
	switch e.Kind {
	case NoticeGranted:
		data["Documents"], data["Until"] = names(g.Documents), g.ExpiresAt.In(kz).Format("02.01.2006")
		return l.T("notice_granted", data), nil
	case NoticeEnded:
		data["Documents"] = names(g.Documents)
		switch {
		case g.Status == GrantExpired:
			return l.T("notice_expired", data), nil
		case g.StatusBy == "citizen":
			return l.T("notice_revoked", data), nil
		case g.StatusBy == EndedByReplacement:
			return "", errNothingToTell // the consent that replaced it was told of
		case g.StatusBy == EndedByPartner:
			return l.T("notice_ended_by_partner", data), nil
		case g.StatusBy == EndedByMajority:
			return l.T("notice_ended_majority", data), nil
		}
		return l.T("notice_ended_by_operator", data), nil
	case NoticeTerms:
		if s.cfg.List == nil {
			return "", errNothingToTell
		}
		grants, err := s.cfg.List.ListGrants(ctx, e.Citizen)
		if err != nil {
			return "", err
		}
		n := 0
		for _, g := range grants {
			if g.ActiveAt(s.cfg.Now()) && g.TermsVersion != s.cfg.TermsVersion {
				n++
			}
		}
		if n == 0 {
			return "", errNothingToTell // declined or ended meanwhile
		}
		data["Count"], data["Version"], data["Link"] = n, s.cfg.TermsVersion, s.cfg.BaseURL+"/my/terms"
		return l.T("notice_terms", data, n), nil
	case NoticeUsed:
		from := e.CreatedAt
		to := from.Add(time.Hour)
		events, err := s.cfg.Access.ListAccess(ctx, e.Citizen, HistoryCursor{}, 1000)
		if err != nil {
			return "", err
		}
		var docs []DocumentType
		uses, views := 0, 0
		for _, a := range events {
			if a.GrantID != e.GrantID || a.At.Before(from) || !a.At.Before(to) {
				continue
			}
			switch a.Kind {
			case AccessFetch, AccessDelivery:
				uses++
			case AccessView:
				views++
			default:
				continue
			}
			if !slices.Contains(docs, a.Document) {
				docs = append(docs, a.Document)
			}
		}
		if uses+views == 0 {
			return "", errNothingToTell
		}
		data["Documents"], data["From"], data["To"] = names(docs), from.In(kz).Format("02.01.2006 15:04"), to.In(kz).Format("15:04")
		data["Count"] = uses + views
		if uses == 0 {
			return l.T("notice_viewed", data, views), nil
		}
		return l.T("notice_used", data, uses+views), nil
	}
	return "", fmt.Errorf("unknown notice kind %q", e.Kind)
}
