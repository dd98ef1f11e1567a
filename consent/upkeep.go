package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The upkeep part: the background round that expires grants (telling
// partners), forwards error reports that waited, and purges what is past
// retention.

// Janitor is the store's upkeep: what the background job asks of it.
type Janitor interface {
	// DueGrants returns at most limit active grants past their expiry at
	// now, those that expired first first, passing over those another
	// transaction holds.
	DueGrants(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// ExpireGrants marks those of the grants ids that are still active
	// and past their expiry at now as expired, and returns them; their
	// history and the entries tell makes of them are written in the same
	// transaction. A grant another transaction holds is left to a later
	// call.
	ExpireGrants(ctx context.Context, ids []string, now time.Time, tell Tell) ([]Grant, error)
	// Purge deletes what is past retention: expired tokens, codes and
	// authorization requests, OTP challenges older than otpRetention,
	// spent rate-limit events, dead sessions and old delivered outbox
	// entries. It returns how many rows it deleted, by kind. However
	// many are due, it deletes them in statements of bounded size, so
	// that a backlog (after an outage of the upkeep, or a burst of
	// short-lived tokens) is worked off within the store's deadline of
	// each call instead of timing out, rolled back, round after round.
	Purge(ctx context.Context, now time.Time, otpRetention time.Duration) (map[string]int, error)
	// PrepareMonths makes room for the history's and the audit log's rows
	// of now's month and the ahead months after it, and returns what it
	// created.
	PrepareMonths(ctx context.Context, now time.Time, ahead int) ([]string, error)
	// DropMonths drops the history's and the audit log's months that
	// ended before before, whole, and returns what it dropped. The
	// history's log keeps their leaves.
	DropMonths(ctx context.Context, before time.Time) ([]string, error)
}

// MonthsAhead is how many months after the current one the upkeep keeps
// ready for the history and the audit log.
const MonthsAhead = 3

// Upkeep runs the background work that keeps grants and the store honest:
// expiry (partners are told as for a revocation) and purges. It is safe
// on several replicas at once: each step is idempotent, and the expiry's
// and the purge's batches skip rows another transaction holds (an expiry
// batch another replica took first all the same ends the round's expiry
// here, and that replica goes on).
type Upkeep struct{ cfg UpkeepConfig }

// EndedNotifier tells partners of grants that ended or narrowed.
type EndedNotifier interface {
	TellEnded(ctx context.Context, partners []string, now time.Time) (Tell, error)
	MajorityNotifier
}

// ReportForwarder forwards error reports their sources could not take.
type ReportForwarder interface {
	ForwardReceived(ctx context.Context) error
}

// UpkeepConfig is what the Upkeep is built from.
type UpkeepConfig struct {
	Store        Janitor
	Outbox       EndedNotifier
	Reports      ReportForwarder
	OTPRetention time.Duration // how long spent OTP records are kept
	// HistoryRetention is how long the history and the operators' audit
	// log are kept: a month is dropped once it ended that long ago (0:
	// kept for ever).
	HistoryRetention time.Duration
	// Deletions are the partners' deletion confirmations; one not given
	// DeletionDeadline after its grant ended is overdue, and counted to
	// Observer each round.
	// Majority narrows or ends the grants of minors who came of age.
	Majority         MajorityStore
	Deletions        DeletionStore
	DeletionDeadline time.Duration
	// Terms tells citizens of new terms (TermsVersion) while they have
	// grants under older ones.
	Terms        TermsTeller
	TermsVersion string
	Observer     UpkeepObserver
	// ExpireBatch is how many grants one transaction expires
	// (DefaultExpireBatch when zero); a round goes on until none is due,
	// or a batch ends none (another replica took it).
	ExpireBatch int
	Now         func() time.Time
	Log         *slog.Logger
}

// DefaultExpireBatch is how many grants one transaction of the upkeep
// expires, with their history rows: a day's backlog of a national
// service (some 330,000 grants) is then about 660 short transactions.
const DefaultExpireBatch = 500

// UpkeepObserver counts what an upkeep round finds.
type UpkeepObserver interface {
	OverdueDeletions(n int)
}

// MaxOverdueListed bounds the overdue confirmations counted and listed.
const MaxOverdueListed = 1000

// NewUpkeep checks cfg and returns the background job.
func NewUpkeep(cfg UpkeepConfig) (*Upkeep, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Outbox": cfg.Outbox == nil, "Reports": cfg.Reports == nil,
		"Deletions": cfg.Deletions == nil, "Majority": cfg.Majority == nil, "DeletionDeadline": cfg.DeletionDeadline <= 0, "Observer": cfg.Observer == nil,
		"Terms": cfg.Terms == nil, "TermsVersion": cfg.TermsVersion == "", "Now": cfg.Now == nil, "Log": cfg.Log == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewUpkeep: %w", err)
	}
	if cfg.OTPRetention < 0 || cfg.HistoryRetention < 0 || cfg.ExpireBatch < 0 {
		return nil, errors.New("consent.NewUpkeep: retentions and the expiry batch must not be negative")
	}
	if cfg.ExpireBatch == 0 {
		cfg.ExpireBatch = DefaultExpireBatch
	}
	return &Upkeep{cfg: cfg}, nil
}

// Once runs one round.
func (u *Upkeep) Once(ctx context.Context) (err error) {
	now := u.cfg.Now()
	// The coming months first, and the rest whatever they did: without
	// them the history and the audit log take no rows.
	monthsErr := u.months(ctx, now)
	defer func() { err = errors.Join(monthsErr, err) }()
	expired, err := u.expire(ctx, now)
	if err != nil {
		return err
	}
	came, err := majority(ctx, u.cfg.Majority, u.cfg.Outbox, now)
	if err != nil {
		return err
	}
	if came > 0 {
		u.cfg.Log.InfoContext(ctx, "representatives' access ended at majority", "grants", came)
	}
	if err := u.cfg.Reports.ForwardReceived(ctx); err != nil {
		return err
	}
	told, err := u.cfg.Terms.TellTerms(ctx, u.cfg.TermsVersion, now, 500)
	if err != nil {
		return err
	}
	if told > 0 {
		u.cfg.Log.InfoContext(ctx, "citizens told of new terms", "citizens", told, "terms", u.cfg.TermsVersion)
	}
	purged, err := u.cfg.Store.Purge(ctx, now, u.cfg.OTPRetention)
	if err != nil {
		return err
	}
	if expired > 0 || len(purged) > 0 {
		u.cfg.Log.Info("upkeep", "grants_expired", expired, "purged", purged)
	}
	overdue, err := u.Overdue(ctx)
	if err != nil {
		return err
	}
	u.cfg.Observer.OverdueDeletions(len(overdue))
	return nil
}

// expire expires every grant due, a batch a transaction, and returns how
// many it ended. Each batch's partners are read first, so that the
// notifications telling them are written in the batch's transaction: an
// expiry is never committed without them.
func (u *Upkeep) expire(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		due, err := u.cfg.Store.DueGrants(ctx, now, u.cfg.ExpireBatch)
		if err != nil || len(due) == 0 {
			return total, err
		}
		ids, partners := make([]string, len(due)), make([]string, len(due))
		for i, g := range due {
			ids[i], partners[i] = g.ID, g.PartnerID
		}
		tell, err := u.cfg.Outbox.TellEnded(ctx, partners, now)
		if err != nil {
			return total, err
		}
		ended, err := u.cfg.Store.ExpireGrants(ctx, ids, now, tell)
		if err != nil {
			return total, err
		}
		total += len(ended)
		// None ended: another replica holds (or just ended) them; the
		// rest is its round's, or the next one's.
		if len(due) < u.cfg.ExpireBatch || len(ended) == 0 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// months keeps the coming months ready and drops those past retention,
// each tried whatever the other did.
func (u *Upkeep) months(ctx context.Context, now time.Time) error {
	created, err := u.cfg.Store.PrepareMonths(ctx, now, MonthsAhead)
	if len(created) > 0 {
		u.cfg.Log.InfoContext(ctx, "months prepared", "partitions", created)
	}
	if u.cfg.HistoryRetention == 0 {
		return err
	}
	dropped, derr := u.cfg.Store.DropMonths(ctx, now.Add(-u.cfg.HistoryRetention))
	if len(dropped) > 0 {
		u.cfg.Log.InfoContext(ctx, "months past retention dropped", "partitions", dropped)
	}
	return errors.Join(err, derr)
}

// Overdue lists the grants whose partner has not confirmed deletion
// DeletionDeadline after they ended, oldest first (at most
// MaxOverdueListed).
func (u *Upkeep) Overdue(ctx context.Context) ([]Grant, error) {
	return u.cfg.Deletions.OverdueDeletions(ctx, u.cfg.Now().Add(-u.cfg.DeletionDeadline), MaxOverdueListed)
}

// Run does a round every interval until ctx ends.
func (u *Upkeep) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := u.Once(ctx); err != nil && ctx.Err() == nil {
			u.cfg.Log.Error("upkeep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
