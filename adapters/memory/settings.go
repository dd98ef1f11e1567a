package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.SettingsStore = (*Store)(nil)

// CreateSession implements consent.SettingsStore.
func (s *Store) CreateSession(ctx context.Context, sess consent.CitizenSession) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	put(t, s.sessions, sess.ID, sess)
	return nil
}

// GetSession implements consent.SettingsStore.
func (s *Store) GetSession(ctx context.Context, id string) (consent.CitizenSession, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return consent.CitizenSession{}, consent.ErrNoSession
	}
	return sess, nil
}

// TouchSession implements consent.SettingsStore.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if sess, ok := s.sessions[id]; ok {
		sess.LastSeen = at
		put(t, s.sessions, id, sess)
	}
	return nil
}

// DeleteSession implements consent.SettingsStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	remove(t, s.sessions, id)
	return nil
}

// ListGrants implements consent.SettingsStore.
func (s *Store) ListGrants(ctx context.Context, citizen consent.IIN) ([]consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.Grant
	for _, g := range s.grants {
		if g.Citizen == citizen {
			g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b consent.Grant) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// LastUsed implements consent.SettingsStore.
func (s *Store) LastUsed(ctx context.Context, citizen consent.IIN) (map[string]time.Time, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := map[string]time.Time{}
	for _, e := range s.access {
		if e.Citizen == citizen && consent.IsUse(e.Kind) && e.At.After(out[e.GrantID]) {
			out[e.GrantID] = e.At
		}
	}
	return out, nil
}

// RevokeGrant implements consent.SettingsStore.
func (s *Store) RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []consent.OutboxEntry) (bool, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	g, ok := s.grants[id]
	if !ok || g.Status != consent.GrantActive {
		return false, nil
	}
	g.Status, g.StatusChangedAt, g.StatusBy, g.StatusReason = consent.GrantRevoked, at, by, reason
	put(t, s.grants, id, g)
	s.recordEvent(t, consent.GrantEvent(g, consent.AccessRevocation, at))
	for _, e := range outbox {
		put(t, s.outbox, e.ID, outboxRow{entry: e})
	}
	return true, nil
}

// AckRevocation implements consent.DeliveryStore.
func (s *Store) AckRevocation(ctx context.Context, grantID string, at time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if g, ok := s.grants[grantID]; ok && g.RevocationAckedAt.IsZero() {
		g.RevocationAckedAt = at
		put(t, s.grants, grantID, g)
	}
	return nil
}

// Erase implements consent.SettingsStore.
func (s *Store) Erase(ctx context.Context, citizen consent.IIN, pseudonym string, at time.Time) (map[string]int, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	counts := map[string]int{}
	for id, sess := range s.sessions {
		if sess.Citizen == citizen {
			remove(t, s.sessions, id)
			counts["sessions"]++
		}
	}
	for id, c := range s.challenges {
		if c.Citizen == citizen {
			remove(t, s.challenges, id)
			counts["otp_records"]++
		}
	}
	grants := map[string]bool{}
	for id, g := range s.grants {
		if g.Citizen == citizen || slices.Contains(g.Holders, citizen) {
			if g.Citizen == citizen {
				grants[id] = true
				g.Citizen = consent.IIN(pseudonym)
			}
			g.Holders = slices.Clone(g.Holders)
			for i, h := range g.Holders {
				if h == citizen {
					g.Holders[i] = consent.IIN(pseudonym)
				}
			}
			put(t, s.grants, id, g)
			counts["grants_pseudonymised"]++
		}
	}
	for k, r := range s.records {
		if r.GrantID != "" && grants[r.GrantID] {
			remove(t, s.records, k)
			counts["tokens"]++
		}
	}
	for i, e := range s.access {
		if e.Citizen == citizen || e.Holder == citizen || (e.Grant != nil && slices.Contains(e.Grant.Holders, citizen)) {
			t.onRollback(func() { s.access[i] = e })
			if e.Citizen == citizen {
				s.access[i].Citizen = consent.IIN(pseudonym)
			}
			if e.Holder == citizen {
				s.access[i].Holder = consent.IIN(pseudonym)
			}
			if e.Grant != nil {
				state := *e.Grant
				state.Holders = slices.Clone(state.Holders)
				for j, h := range state.Holders {
					if h == citizen {
						state.Holders[j] = consent.IIN(pseudonym)
					}
				}
				s.access[i].Grant = &state
			}
			counts["history_pseudonymised"]++
		}
	}
	s.recordEvent(t, consent.AccessEvent{At: at, Citizen: consent.IIN(pseudonym), Holder: consent.IIN(pseudonym), Kind: consent.AccessErasure})
	for id, sh := range s.shares {
		if sh.Citizen == citizen || sh.Holder == citizen {
			remove(t, s.shares, id)
			counts["shares"]++
		}
	}
	for id, r := range s.reports {
		if r.Citizen == citizen {
			r.Citizen = consent.IIN(pseudonym)
			put(t, s.reports, id, r)
			counts["reports_pseudonymised"]++
		}
	}
	for id, r := range s.outbox {
		if r.entry.Citizen == citizen {
			remove(t, s.outbox, id)
			counts["notifications"]++
		}
	}
	if _, ok := s.prefs[citizen]; ok {
		remove(t, s.prefs, citizen)
		counts["notification_prefs"]++
	}
	return counts, nil
}

// ConfirmDeletion implements consent.DeletionStore.
func (s *Store) ConfirmDeletion(ctx context.Context, id string, d consent.Deletion) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	g, ok := s.grants[id]
	if !ok || g.Status == consent.GrantActive || g.Deletion != nil {
		return consent.ErrDeletionConfirmed
	}
	g.Deletion = &d
	put(t, s.grants, id, g)
	s.recordEvent(t, consent.AccessEvent{At: d.At, Citizen: g.Citizen, Holder: g.Citizen, PartnerID: g.PartnerID,
		GrantID: g.ID, Kind: consent.AccessDeletion, By: g.PartnerID})
	return nil
}

// OverdueDeletions implements consent.DeletionStore.
func (s *Store) OverdueDeletions(ctx context.Context, before time.Time, limit int) ([]consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.Grant
	for _, g := range s.grants {
		if g.Status != consent.GrantActive && g.Deletion == nil && g.StatusChangedAt.Before(before) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b consent.Grant) int { return a.StatusChangedAt.Compare(b.StatusChangedAt) })
	return out[:min(limit, len(out))], nil
}

// GuardianGrants implements consent.MajorityStore.
func (s *Store) GuardianGrants(ctx context.Context) ([]consent.Grant, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []consent.Grant
	for _, id := range slices.Sorted(maps.Keys(s.grants)) {
		g := s.grants[id]
		if g.Status == consent.GrantActive && slices.ContainsFunc(g.Holders, func(h consent.IIN) bool { return h != g.Citizen }) {
			g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
			out = append(out, g)
		}
	}
	return out, nil
}

// NarrowGrant implements consent.MajorityStore.
func (s *Store) NarrowGrant(ctx context.Context, id string, holders []consent.IIN, by string, at time.Time, outbox []consent.OutboxEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	g, ok := s.grants[id]
	if !ok || g.Status != consent.GrantActive {
		return consent.ErrGrantGone
	}
	g.Holders = slices.Clone(holders)
	put(t, s.grants, id, g)
	for _, e := range outbox {
		put(t, s.outbox, e.ID, outboxRow{entry: e})
	}
	e := consent.GrantEvent(g, consent.AccessNarrowing, at)
	e.By = by
	s.recordEvent(t, e)
	return nil
}

var _ consent.PrefsStore = (*Store)(nil)

// NotificationPrefs implements consent.PrefsStore.
func (s *Store) NotificationPrefs(ctx context.Context, citizen consent.IIN) (consent.NotificationPrefs, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	p, ok := s.prefs[citizen]
	if !ok {
		return consent.DefaultNotificationPrefs(), nil
	}
	p.Channels = slices.Clone(p.Channels)
	return p, nil
}

// SetNotificationPrefs implements consent.PrefsStore.
func (s *Store) SetNotificationPrefs(ctx context.Context, citizen consent.IIN, p consent.NotificationPrefs, _ time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	p.Channels = slices.Clone(p.Channels)
	if p.Channels == nil {
		p.Channels = []string{}
	}
	put(t, s.prefs, citizen, p)
	return nil
}

var _ consent.TermsTeller = (*Store)(nil)

// TellTerms implements consent.TermsTeller.
func (s *Store) TellTerms(ctx context.Context, version string, at time.Time, limit int) (int, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	if len(s.termsOrder) == 0 || s.termsOrder[len(s.termsOrder)-1] != version {
		return 0, nil // only the newest terms published are told of
	}
	ids := make([]string, 0, len(s.grants))
	for id := range s.grants {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	told := map[consent.IIN]bool{}
	for _, g := range s.grants {
		if s.termsTold[g.ID] == version {
			told[g.Citizen] = true
		}
	}
	n := 0
	for _, id := range ids {
		g := s.grants[id]
		if limit == 0 {
			break
		}
		if g.Status != consent.GrantActive || !at.Before(g.ExpiresAt) || g.TermsVersion == version || s.termsTold[id] == version {
			continue
		}
		limit--
		put(t, s.termsTold, id, version)
		if !told[g.Citizen] {
			told[g.Citizen] = true
			first := g // the citizen's first grant under older terms names the notice, as in PostgreSQL
			for _, other := range ids {
				o := s.grants[other]
				if o.Citizen == g.Citizen && o.Status == consent.GrantActive && at.Before(o.ExpiresAt) && o.TermsVersion != version {
					first = o
					break
				}
			}
			e := consent.TermsNotice(first, version, at)
			put(t, s.outbox, e.ID, outboxRow{entry: e})
			n++
		}
	}
	return n, nil
}

var _ consent.TermsStore = (*Store)(nil)

// KeepTerms implements consent.TermsStore.
func (s *Store) KeepTerms(ctx context.Context, t consent.Terms, _ time.Time) error {
	unlock, tx := s.lock(ctx)
	defer unlock()
	if kept, ok := s.terms[t.Version]; ok {
		if kept.Digest() != t.Digest() {
			return consent.ErrTermsRewritten
		}
		return nil
	}
	t.Text = slices.Clone(t.Text)
	put(tx, s.terms, t.Version, t)
	appendTo(tx, &s.termsOrder, t.Version)
	return nil
}

// TermsText implements consent.TermsStore.
func (s *Store) TermsText(ctx context.Context, version string) (consent.Terms, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	t, ok := s.terms[version]
	if !ok {
		return consent.Terms{}, consent.ErrTermsUnknown
	}
	return t, nil
}

// NoticePrefs implements consent.PrefsStore.
func (s *Store) NoticePrefs(ctx context.Context, citizen consent.IIN, lang string, _ time.Time) (consent.NotificationPrefs, error) {
	unlock, t := s.lock(ctx)
	defer unlock()
	p, ok := s.prefs[citizen]
	if !ok {
		p = consent.DefaultNotificationPrefs()
	}
	if p.Lang == "" && lang != "" {
		p.Lang = lang
		put(t, s.prefs, citizen, p)
	}
	p.Channels = slices.Clone(p.Channels)
	return p, nil
}

// NoticePrefsWithGrant implements consent.PrefsStore.
func (s *Store) NoticePrefsWithGrant(ctx context.Context, citizen consent.IIN, lang, grantID string, at time.Time) (consent.NotificationPrefs, consent.Grant, error) {
	p, err := s.NoticePrefs(ctx, citizen, lang, at)
	if err != nil {
		return consent.NotificationPrefs{}, consent.Grant{}, err
	}
	g, err := s.GetGrant(ctx, grantID)
	if err != nil {
		return consent.NotificationPrefs{}, consent.Grant{}, err
	}
	return p, g, nil
}

// NoticeReads implements consent.PrefsStore, one read after another.
func (s *Store) NoticeReads(ctx context.Context, reads []consent.NoticeRead, at time.Time) []consent.NoticeReadResult {
	return consent.ReadNotices(ctx, s, reads, at)
}

// SetNotificationLang implements consent.PrefsStore.
func (s *Store) SetNotificationLang(ctx context.Context, citizen consent.IIN, lang string, _ time.Time) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	p, ok := s.prefs[citizen]
	if !ok {
		p = consent.DefaultNotificationPrefs()
	}
	p.Lang = lang
	put(t, s.prefs, citizen, p)
	return nil
}
