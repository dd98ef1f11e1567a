package consent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Majority: a legal representative's access to a minor's documents ends
// on the minor's 18th birthday, read from the IIN. From that day the
// representation is not honoured anywhere (consents, fetches, shares),
// whatever the registry still says; the upkeep narrows or ends the grants
// that named the new adult, with a receipt, and tells their partners.

// AgeOfMajority is when a minor's representation ends.
const AgeOfMajority = 18

// almaty is where birthdays are counted: a minor comes of age at midnight
// in Kazakhstan (UTC+5).
var almaty = time.FixedZone("Asia/Almaty", 5*60*60)

// BirthDate is the birth date the IIN encodes: YYMMDD, with the century
// in its seventh digit (1–2: 1800s, 3–4: 1900s, 5–6: 2000s).
func (n IIN) BirthDate() (time.Time, bool) {
	if len(n) != 12 {
		return time.Time{}, false
	}
	yy, err1 := strconv.Atoi(string(n[0:2]))
	mm, err2 := strconv.Atoi(string(n[2:4]))
	dd, err3 := strconv.Atoi(string(n[4:6]))
	if err1 != nil || err2 != nil || err3 != nil {
		return time.Time{}, false
	}
	var century int
	switch n[6] {
	case '1', '2':
		century = 1800
	case '3', '4':
		century = 1900
	case '5', '6':
		century = 2000
	default:
		return time.Time{}, false
	}
	d := time.Date(century+yy, time.Month(mm), dd, 0, 0, 0, 0, almaty)
	if d.Month() != time.Month(mm) || d.Day() != dd {
		return time.Time{}, false
	}
	return d, true
}

// AdultFrom is when the person comes of age; the zero time when the IIN
// says no birth date (such a person is not treated as a minor).
func (n IIN) AdultFrom() time.Time {
	born, ok := n.BirthDate()
	if !ok {
		return time.Time{}
	}
	return born.AddDate(AgeOfMajority, 0, 0)
}

// MinorAt reports whether the person is under age at t.
func (n IIN) MinorAt(t time.Time) bool { return t.Before(n.AdultFrom()) }

// minorsAt are those of represents still under age at t.
func minorsAt(represents []IIN, t time.Time) []IIN {
	var out []IIN
	for _, m := range represents {
		if m.MinorAt(t) {
			out = append(out, m)
		}
	}
	return out
}

// MajorityStore is what the majority step needs of the store.
type MajorityStore interface {
	// GuardianGrants returns the active grants naming a holder other than
	// their citizen.
	GuardianGrants(ctx context.Context) ([]Grant, error)
	// NarrowGrant writes holders over active grant id, records the
	// change (an AccessEvent of kind narrowing, by by) and the outbox
	// entries; ErrGrantGone when the grant is no longer active.
	NarrowGrant(ctx context.Context, id string, holders []IIN, by string, at time.Time, outbox []OutboxEntry) error
	// RevokeGrant moves an active grant to revoked (see SettingsStore).
	RevokeGrant(ctx context.Context, id, by, reason string, at time.Time, outbox []OutboxEntry) (bool, error)
}

// EndedByMajority is who ends a representative's access at majority.
const EndedByMajority = "majority"

// AccessNarrowing: a grant lost a holder who came of age.
const AccessNarrowing = "narrowing"

// MajorityNotifier gives the notifications a narrowed or ended grant
// needs.
type MajorityNotifier interface {
	ForRevocation(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error)
	ForNarrowing(ctx context.Context, g Grant, now time.Time) ([]OutboxEntry, error)
}

// majority narrows each active grant that names a holder who came of age
// (or ends it, when nobody else is left), and returns how many it changed.
func majority(ctx context.Context, store MajorityStore, notify MajorityNotifier, now time.Time) (int, error) {
	grants, err := store.GuardianGrants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range grants {
		var keep []IIN
		for _, h := range g.Holders {
			if h == g.Citizen || h.MinorAt(now) {
				keep = append(keep, h)
			}
		}
		if len(keep) == len(g.Holders) {
			continue
		}
		if len(keep) == 0 {
			g.Status, g.StatusBy, g.StatusChangedAt = GrantRevoked, EndedByMajority, now
			out, err := notify.ForRevocation(ctx, g, now)
			if err != nil {
				return n, err
			}
			if _, err := store.RevokeGrant(ctx, g.ID, EndedByMajority, "the minor came of age", now, out); err != nil {
				return n, err
			}
		} else {
			narrowed := g
			narrowed.Holders = slices.Clone(keep)
			out, err := notify.ForNarrowing(ctx, narrowed, now)
			if err != nil {
				return n, err
			}
			if err := store.NarrowGrant(ctx, g.ID, keep, EndedByMajority, now, out); err != nil && err != ErrGrantGone {
				return n, fmt.Errorf("narrow grant %s: %w", g.ID, err)
			}
		}
		n++
	}
	return n, nil
}
