package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kelisim/kelisim/consent"
)

var _ consent.SettingsStore = (*Store)(nil)

// CreateSession implements consent.SettingsStore.
func (s *Store) CreateSession(ctx context.Context, sess consent.CitizenSession) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO citizen_sessions (id, citizen, created_at, last_seen) VALUES ($1, $2, $3, $4)`,
		sess.ID, string(sess.Citizen), sess.CreatedAt, sess.LastSeen)
	return translate(err)
}

// GetSession implements consent.SettingsStore.
func (s *Store) GetSession(ctx context.Context, id string) (consent.CitizenSession, error) {
	sess := consent.CitizenSession{ID: id}
	var citizen string
	err := s.q(ctx).QueryRow(ctx, `SELECT citizen, created_at, last_seen FROM citizen_sessions WHERE id = $1`, id).
		Scan(&citizen, &sess.CreatedAt, &sess.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.CitizenSession{}, consent.ErrNoSession
	}
	sess.Citizen = consent.IIN(citizen)
	return sess, translate(err)
}

// TouchSession implements consent.SettingsStore.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.q(ctx).Exec(ctx, `UPDATE citizen_sessions SET last_seen = $2 WHERE id = $1`, id, at)
	return translate(err)
}

// DeleteSession implements consent.SettingsStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.q(ctx).Exec(ctx, `DELETE FROM citizen_sessions WHERE id = $1`, id)
	return translate(err)
}

// LastUsed implements consent.SettingsStore.
func (s *Store) LastUsed(ctx context.Context, citizen consent.IIN) (map[string]time.Time, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT g.id, u.at FROM grants g
		CROSS JOIN LATERAL (SELECT a.at FROM access_events a WHERE a.grant_id = g.id AND a.kind IN ('fetch', 'delivery', 'view')
			ORDER BY a.at DESC LIMIT 1) u
		WHERE g.citizen = $1`, string(citizen))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, translate(err)
		}
		out[id] = at
	}
	return out, translate(rows.Err())
}

// RevokeGrant implements consent.SettingsStore.
func (s *Store) RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []consent.OutboxEntry) (bool, error) {
	var revoked bool
	err := s.inTx(ctx, func(q querier) error {
		ended, err := queryGrants(ctx, q, `UPDATE grants SET status = 'revoked', status_changed_at = $2, status_by = $3, status_reason = $4
			WHERE id = $1 AND status = 'active' RETURNING `+grantColumns, id, at, by, reason)
		if err != nil {
			return err
		}
		if revoked = len(ended) == 1; !revoked {
			return nil
		}
		if err := insertAccess(ctx, q, []consent.AccessEvent{consent.GrantEvent(ended[0], consent.AccessRevocation, at)}); err != nil {
			return err
		}
		return insertOutbox(ctx, q, outbox)
	})
	return revoked, err
}

// AckRevocation implements consent.DeliveryStore.
func (s *Store) AckRevocation(ctx context.Context, grantID string, at time.Time) error {
	_, err := s.q(ctx).Exec(ctx, `UPDATE grants SET revocation_acked_at = $2 WHERE id = $1 AND revocation_acked_at IS NULL`, grantID, at)
	return translate(err)
}

// Erase implements consent.SettingsStore.
func (s *Store) Erase(ctx context.Context, citizen consent.IIN, pseudonym string, at time.Time) (map[string]int, error) {
	counts := map[string]int{}
	err := s.inTx(ctx, func(q querier) error {
		for _, step := range []struct{ name, sql string }{
			{"sessions", `DELETE FROM citizen_sessions WHERE citizen = $1`},
			{"otp_records", `DELETE FROM otp_challenges WHERE citizen = $1`},
			{"tokens", `DELETE FROM oauth_records WHERE grant_id IN (SELECT id FROM grants WHERE citizen = $1)`},
			{"grants_pseudonymised", `UPDATE grants SET citizen = CASE WHEN citizen = $1 THEN $2 ELSE citizen END,
				holders = array_replace(holders, $1, $2) WHERE citizen = $1 OR holders @> ARRAY[$1::text]`},
			{"history_pseudonymised", `UPDATE access_events SET citizen = CASE WHEN citizen = $1 THEN $2 ELSE citizen END,
				holder = CASE WHEN holder = $1 THEN $2 ELSE holder END,
				detail = CASE WHEN detail->'holders' ? $1 THEN jsonb_set(detail, '{holders}',
					(SELECT jsonb_agg(CASE WHEN h = $1 THEN $2 ELSE h END) FROM jsonb_array_elements_text(detail->'holders') h)) ELSE detail END
				WHERE citizen = $1 OR (holder = $1 AND holder <> citizen)
					OR (detail IS NOT NULL AND detail->'holders' @> jsonb_build_array($1::text))`},
			{"reports_pseudonymised", `UPDATE error_reports SET citizen = $2 WHERE citizen = $1`},
			{"shares", `DELETE FROM shares WHERE citizen = $1 OR (holder = $1 AND holder <> citizen)`},
			// citizen <> '' lets a plan made for any citizen use the
			// partial index on the outbox's citizens.
			{"notifications", `DELETE FROM outbox WHERE citizen = $1 AND citizen <> ''`},
			{"notification_prefs", `DELETE FROM notification_prefs WHERE citizen = $1`},
		} {
			args := []any{string(citizen)}
			if strings.HasSuffix(step.name, "_pseudonymised") {
				args = append(args, pseudonym)
			}
			tag, err := q.Exec(ctx, step.sql, args...)
			if err != nil {
				return translate(err)
			}
			counts[step.name] = int(tag.RowsAffected())
		}
		return insertAccess(ctx, q, []consent.AccessEvent{{At: at, Citizen: consent.IIN(pseudonym), Holder: consent.IIN(pseudonym), Kind: consent.AccessErasure}})
	})
	return counts, err
}

// ConfirmDeletion implements consent.DeletionStore.
func (s *Store) ConfirmDeletion(ctx context.Context, id string, d consent.Deletion) error {
	detail, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		ended, err := queryGrants(ctx, q, `UPDATE grants SET deletion_at = $2, deletion_detail = $3::jsonb
			WHERE id = $1 AND status <> 'active' AND deletion_at IS NULL RETURNING `+grantColumns, id, d.At, string(detail))
		if err != nil {
			return err
		}
		if len(ended) == 0 {
			return consent.ErrDeletionConfirmed
		}
		g := ended[0]
		return insertAccess(ctx, q, []consent.AccessEvent{{At: d.At, Citizen: g.Citizen, Holder: g.Citizen, PartnerID: g.PartnerID,
			GrantID: g.ID, Kind: consent.AccessDeletion, By: g.PartnerID}})
	})
}

// OverdueDeletions implements consent.DeletionStore.
func (s *Store) OverdueDeletions(ctx context.Context, before time.Time, limit int) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE status <> 'active' AND deletion_at IS NULL AND status_changed_at < $1 ORDER BY status_changed_at LIMIT $2`, before, limit)
}

// GuardianGrants implements consent.MajorityStore.
func (s *Store) GuardianGrants(ctx context.Context) ([]consent.Grant, error) {
	return s.queryGrants(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE status = 'active' AND holders <> ARRAY[citizen] AND cardinality(holders) > 0`)
}

// NarrowGrant implements consent.MajorityStore.
func (s *Store) NarrowGrant(ctx context.Context, id string, holders []consent.IIN, by string, at time.Time, outbox []consent.OutboxEntry) error {
	return s.inTx(ctx, func(q querier) error {
		narrowed, err := queryGrants(ctx, q, `UPDATE grants SET holders = $2 WHERE id = $1 AND status = 'active' RETURNING `+grantColumns,
			id, iinStrings(holders))
		if err != nil {
			return err
		}
		if len(narrowed) == 0 {
			return consent.ErrGrantGone
		}
		e := consent.GrantEvent(narrowed[0], consent.AccessNarrowing, at)
		e.By = by
		if err := insertAccess(ctx, q, []consent.AccessEvent{e}); err != nil {
			return err
		}
		return insertOutbox(ctx, q, outbox)
	})
}

var _ consent.PrefsStore = (*Store)(nil)

// NotificationPrefs implements consent.PrefsStore.
func (s *Store) NotificationPrefs(ctx context.Context, citizen consent.IIN) (consent.NotificationPrefs, error) {
	var p consent.NotificationPrefs
	err := s.q(ctx).QueryRow(ctx, notificationPrefsSQL, string(citizen)).Scan(&p.Channels, &p.Lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.DefaultNotificationPrefs(), nil
	}
	return p, translate(err)
}

// notificationPrefsSQL is NotificationPrefs' statement.
const notificationPrefsSQL = `SELECT channels, lang FROM notification_prefs WHERE citizen = $1`

// SetNotificationPrefs implements consent.PrefsStore.
func (s *Store) SetNotificationPrefs(ctx context.Context, citizen consent.IIN, p consent.NotificationPrefs, at time.Time) error {
	channels := p.Channels
	if channels == nil {
		channels = []string{}
	}
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO notification_prefs (citizen, channels, lang, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (citizen) DO UPDATE SET channels = EXCLUDED.channels, lang = EXCLUDED.lang, updated_at = EXCLUDED.updated_at`,
		string(citizen), channels, p.Lang, at)
	return translate(err)
}

var _ consent.TermsTeller = (*Store)(nil)

// TellTerms implements consent.TermsTeller: one statement marks the
// grants; each citizen's notice is named by their first grant under older
// terms, so replicas that mark two of one citizen's grants at once write
// the same notice, which is kept once.
func (s *Store) TellTerms(ctx context.Context, version string, at time.Time, limit int) (int, error) {
	var told int
	err := s.inTx(ctx, func(q querier) error {
		// Only the newest terms published are told of: a replica still on
		// older ones (a rolling update) tells nobody.
		var newest string
		var olds []string
		if err := q.QueryRow(ctx, `SELECT (SELECT version FROM terms_texts ORDER BY published_at DESC, version DESC LIMIT 1),
				coalesce((SELECT array_agg(version) FROM terms_texts WHERE version <> $1), '{}')`, version).Scan(&newest, &olds); err != nil {
			return translate(err)
		}
		if newest != version || len(olds) == 0 {
			return nil
		}
		// A grant not yet told has its own (older) version as terms_told:
		// named as values, the index finds exactly those
		// (grants_terms_due_idx, whose predicate this search names:
		// migration 030), however many were told.
		// In the index's order, with the limit written into the statement:
		// planned for any arguments, a LIMIT of a parameter is guessed at
		// a tenth of the table, and one without an order reads the table
		// from its start.
		rows, err := q.Query(ctx, fmt.Sprintf(`WITH due AS (
				SELECT id FROM grants WHERE status = 'active' AND terms_told IS NOT NULL AND terms_told = ANY($3::text[])
					AND expires_at > $2
				ORDER BY terms_told, id LIMIT %d FOR UPDATE SKIP LOCKED),
			marked AS (UPDATE grants g SET terms_told = $1 FROM due WHERE g.id = due.id RETURNING g.id, g.citizen, g.partner_id)
			SELECT DISTINCT ON (m.citizen) f.id, f.citizen, f.partner_id FROM marked m
			JOIN grants f ON f.citizen = m.citizen AND f.status = 'active' AND f.expires_at > $2 AND f.terms_version <> $1
			WHERE NOT EXISTS (SELECT 1 FROM grants o WHERE o.citizen = m.citizen AND o.terms_told = $1 AND o.terms_version <> $1)
			ORDER BY m.citizen, f.id`, max(limit, 0)), version, at, olds)
		if err != nil {
			return translate(err)
		}
		var notices []consent.OutboxEntry
		for rows.Next() {
			var g consent.Grant
			var citizen string
			if err := rows.Scan(&g.ID, &citizen, &g.PartnerID); err != nil {
				rows.Close()
				return translate(err)
			}
			g.Citizen = consent.IIN(citizen)
			notices = append(notices, consent.TermsNotice(g, version, at))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		for _, e := range notices {
			tag, err := q.Exec(ctx, `INSERT INTO outbox (id, partner_id, grant_id, kind, citizen, status, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
				e.ID, e.PartnerID, e.GrantID, e.Kind, string(e.Citizen), e.Status, e.NextAttemptAt, e.CreatedAt)
			if err != nil {
				return translate(err)
			}
			told += int(tag.RowsAffected())
		}
		return nil
	})
	return told, err
}

var _ consent.TermsStore = (*Store)(nil)

// KeepTerms implements consent.TermsStore.
func (s *Store) KeepTerms(ctx context.Context, t consent.Terms, at time.Time) error {
	// Two statements: a replica starting at the same moment as another
	// waits for the other's insert, and the second statement's snapshot
	// then sees its row.
	if _, err := s.q(ctx).Exec(ctx, `INSERT INTO terms_texts (version, digest, body, published_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (version) DO NOTHING`, t.Version, t.Digest(), t.Text, at); err != nil {
		return translate(err)
	}
	var digest string
	if err := s.q(ctx).QueryRow(ctx, `SELECT digest FROM terms_texts WHERE version = $1`, t.Version).Scan(&digest); err != nil {
		return translate(err)
	}
	if digest != t.Digest() {
		return consent.ErrTermsRewritten
	}
	return nil
}

// TermsText implements consent.TermsStore.
func (s *Store) TermsText(ctx context.Context, version string) (consent.Terms, error) {
	t := consent.Terms{Version: version}
	err := s.q(ctx).QueryRow(ctx, `SELECT body FROM terms_texts WHERE version = $1`, version).Scan(&t.Text)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Terms{}, consent.ErrTermsUnknown
	}
	return t, translate(err)
}

// NoticePrefs implements consent.PrefsStore in one statement: the row is
// read, and written only when it has no language yet, so a notice to a
// citizen who has one locks and writes nothing. Its read sees the table as
// the statement began, so in the one race that leaves it nothing (another
// notice of the citizen's set their first language meanwhile) a second
// statement reads what that one wrote.
func (s *Store) NoticePrefs(ctx context.Context, citizen consent.IIN, lang string, at time.Time) (consent.NotificationPrefs, error) {
	if lang == "" {
		return s.NotificationPrefs(ctx, citizen)
	}
	var p consent.NotificationPrefs
	err := s.q(ctx).QueryRow(ctx, noticePrefsSQL, string(citizen), consent.DefaultNotificationPrefs().Channels, lang, at).Scan(&p.Channels, &p.Lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.NotificationPrefs(ctx, citizen)
	}
	return p, translate(err)
}

// noticePrefsSQL is NoticePrefs' statement, for a language ($3) that is
// not empty.
const noticePrefsSQL = `WITH kept AS (SELECT channels, lang FROM notification_prefs WHERE citizen = $1),
		chosen AS (
			INSERT INTO notification_prefs (citizen, channels, lang, updated_at)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT FROM kept WHERE lang <> '')
			ON CONFLICT (citizen) DO UPDATE SET lang = EXCLUDED.lang, updated_at = EXCLUDED.updated_at
			WHERE notification_prefs.lang = ''
			RETURNING channels, lang)
		SELECT channels, lang FROM chosen
		UNION ALL
		SELECT channels, lang FROM kept WHERE NOT EXISTS (SELECT FROM chosen)`

// NoticePrefsWithGrant implements consent.PrefsStore: NoticePrefs'
// statement reads the grant too. A citizen without preferences (a notice
// without a language, or one whose first language another notice set
// meanwhile) has them read by a second statement.
func (s *Store) NoticePrefsWithGrant(ctx context.Context, citizen consent.IIN, lang, grantID string, at time.Time) (consent.NotificationPrefs, consent.Grant, error) {
	return s.noticeWithGrant(ctx, citizen, s.q(ctx).QueryRow(ctx, noticePrefsWithGrantSQL,
		string(citizen), consent.DefaultNotificationPrefs().Channels, lang, at, grantID))
}

// noticePrefsWithGrantSQL is NoticePrefsWithGrant's statement.
var noticePrefsWithGrantSQL = `WITH kept AS (SELECT channels, lang FROM notification_prefs WHERE citizen = $1),
		chosen AS (
			INSERT INTO notification_prefs (citizen, channels, lang, updated_at)
			SELECT $1, $2, $3, $4 WHERE $3 <> '' AND NOT EXISTS (SELECT FROM kept WHERE lang <> '')
			ON CONFLICT (citizen) DO UPDATE SET lang = EXCLUDED.lang, updated_at = EXCLUDED.updated_at
			WHERE notification_prefs.lang = ''
			RETURNING channels, lang),
		p AS (
			SELECT channels, lang FROM chosen
			UNION ALL
			SELECT channels, lang FROM kept WHERE NOT EXISTS (SELECT FROM chosen))
		SELECT p.channels, p.lang, ` + qualify("g", grantColumns) + `
		FROM grants g LEFT JOIN p ON true WHERE g.id = $5`

// noticeWithGrant reads row, of noticePrefsWithGrantSQL.
func (s *Store) noticeWithGrant(ctx context.Context, citizen consent.IIN, row pgx.Row) (consent.NotificationPrefs, consent.Grant, error) {
	var n noticeRow
	n.err = row.Scan(n.dest()...)
	return s.noticeRead(ctx, citizen, n)
}

// noticeRow is a row of noticePrefsWithGrantSQL as scanned, or the error
// scanning it returned.
type noticeRow struct {
	channels []string
	chosen   pgtype.Text // the citizen's language; NULL: no preferences yet
	g        grantRow
	err      error
}

func (n *noticeRow) dest() []any { return append([]any{&n.channels, &n.chosen}, n.g.dest()...) }

// noticeRead is what n read. A citizen without preferences has them read
// by a second statement.
func (s *Store) noticeRead(ctx context.Context, citizen consent.IIN, n noticeRow) (consent.NotificationPrefs, consent.Grant, error) {
	if errors.Is(n.err, pgx.ErrNoRows) {
		return consent.NotificationPrefs{}, consent.Grant{}, consent.ErrGrantNotFound
	}
	if n.err != nil {
		return consent.NotificationPrefs{}, consent.Grant{}, translate(n.err)
	}
	p := consent.NotificationPrefs{Channels: n.channels, Lang: n.chosen.String}
	if !n.chosen.Valid {
		var err error
		if p, err = s.NotificationPrefs(ctx, citizen); err != nil {
			return consent.NotificationPrefs{}, consent.Grant{}, err
		}
	}
	return p, *n.g.grant(), nil
}

// NoticeReads implements consent.PrefsStore: the reads' statements (as
// NoticePrefs and NoticePrefsWithGrant send them) go in one batch, one
// round trip. What a read then needs (the preferences of a citizen who
// has none yet) is read after, one by one. When the batch fails, every
// read returns its error.
func (s *Store) NoticeReads(ctx context.Context, reads []consent.NoticeRead, at time.Time) []consent.NoticeReadResult {
	if len(reads) < 2 {
		return consent.ReadNotices(ctx, s, reads, at)
	}
	b := &pgx.Batch{}
	channels := consent.DefaultNotificationPrefs().Channels
	for _, r := range reads {
		switch {
		case r.GrantID != "":
			b.Queue(noticePrefsWithGrantSQL, string(r.Citizen), channels, r.Lang, at, r.GrantID)
		case r.Lang != "":
			b.Queue(noticePrefsSQL, string(r.Citizen), channels, r.Lang, at)
		default:
			b.Queue(notificationPrefsSQL, string(r.Citizen))
		}
	}
	// Every row is scanned before anything else is sent: the batch holds
	// its connection until it is closed.
	rows := make([]noticeRow, len(reads))
	br := s.q(ctx).SendBatch(ctx, b)
	for i, r := range reads {
		n := &rows[i]
		if r.GrantID != "" {
			n.err = br.QueryRow().Scan(n.dest()...)
		} else {
			var lang string
			if n.err = br.QueryRow().Scan(&n.channels, &lang); n.err == nil {
				n.chosen = pgtype.Text{String: lang, Valid: true}
			}
		}
	}
	err := br.Close()
	out := make([]consent.NoticeReadResult, len(reads))
	for i, r := range reads {
		switch n := rows[i]; {
		case err != nil:
			out[i].Err = translate(err)
		case r.GrantID != "":
			out[i].Prefs, out[i].Grant, out[i].Err = s.noticeRead(ctx, r.Citizen, n)
		case errors.Is(n.err, pgx.ErrNoRows) && r.Lang == "":
			out[i].Prefs = consent.DefaultNotificationPrefs() // never chose
		case errors.Is(n.err, pgx.ErrNoRows):
			out[i].Prefs, out[i].Err = s.NotificationPrefs(ctx, r.Citizen) // another notice set the language meanwhile
		default:
			out[i].Prefs, out[i].Err = consent.NotificationPrefs{Channels: n.channels, Lang: n.chosen.String}, translate(n.err)
		}
	}
	return out
}

// SetNotificationLang implements consent.PrefsStore.
func (s *Store) SetNotificationLang(ctx context.Context, citizen consent.IIN, lang string, at time.Time) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO notification_prefs (citizen, channels, lang, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (citizen) DO UPDATE SET lang = EXCLUDED.lang, updated_at = EXCLUDED.updated_at`,
		string(citizen), consent.DefaultNotificationPrefs().Channels, lang, at)
	return translate(err)
}
