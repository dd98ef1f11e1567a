package consent

import (
	"context"
	"time"
)

// The public register's numbers: for each partner and month, how many
// grants were active, how many documents it received, how many grants
// were revoked. Counts only; nothing about anybody.

// PartnerMonth is one partner's activity in one month.
type PartnerMonth struct {
	PartnerID    string `json:"-"`
	Month        string `json:"month"` // YYYY-MM
	ActiveGrants int    `json:"active_grants"`
	Fetches      int    `json:"fetches"` // documents received: fetched, delivered or viewed
	Revocations  int    `json:"revocations"`
}

// ActivityStore counts partners' activity.
type ActivityStore interface {
	// PartnerActivity returns every partner's counts for each month from
	// since's to now's (months in UTC), oldest first.
	PartnerActivity(ctx context.Context, since, now time.Time) ([]PartnerMonth, error)
}

// Months is the register's window of months, the current one included.
const Months = 12

// MonthsBack is the first day of the register's window before now.
func MonthsBack(now time.Time) time.Time {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m-Months+1, 1, 0, 0, 0, 0, time.UTC)
}
