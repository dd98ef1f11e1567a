package consent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// A push that fails is retried with exponential backoff (jittered in the
// upper half of each step), under the same Idempotency-Key, and dead after
// MaxAttempts posts; the operator's replay sends it once more, and a
// delivery lands in the citizen's history.
func TestOutboxBackoffAndDeadLetters(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig) // MaxAttempts 3, backoff 1 s doubling, cap 1 min
	ctx := context.Background()
	pushPartner(f, "pushbank")
	g := consentTo(t, f, "pushbank", 30)
	f.webhook.failWith(errors.New("502 from the partner"))

	pending := func() consent.OutboxEntry {
		t.Helper()
		out, err := f.store.ListDeliveries(ctx, consent.OutboxPending, 10)
		if out = partnerEntries(out); err != nil || len(out) != 1 {
			t.Fatalf("pending: %+v %v", out, err)
		}
		return out[0]
	}
	if n := f.outbox.DeliverDue(ctx); n != 2 {
		t.Fatalf("first round claimed %d, want the push and the citizen's notice", n)
	}
	e := pending()
	wait := e.NextAttemptAt.Sub(f.clock.now())
	if e.Attempts != 1 || wait < 500*time.Millisecond || wait > time.Second || e.LastError == "" {
		t.Fatalf("after one failure: attempts %d, retry in %s, error %q", e.Attempts, wait, e.LastError)
	}
	if n := f.outbox.DeliverDue(ctx); n != 0 {
		t.Fatalf("an entry not yet due was claimed")
	}
	f.clock.advance(wait)
	f.outbox.DeliverDue(ctx)
	e = pending()
	if wait := e.NextAttemptAt.Sub(f.clock.now()); e.Attempts != 2 || wait < time.Second || wait > 2*time.Second {
		t.Fatalf("after two failures: attempts %d, retry in %s (want 1–2 s)", e.Attempts, wait)
	}
	f.clock.advance(2 * time.Second)
	f.outbox.DeliverDue(ctx)
	dead, err := f.outbox.Deliveries(ctx, consent.OutboxDead, 10)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 3 || dead[0].ID != e.ID {
		t.Fatalf("after MaxAttempts failures: %+v %v", dead, err)
	}
	posts := f.webhook.sent()
	if len(posts) != 3 || posts[0].key != e.ID || posts[2].key != e.ID {
		t.Fatalf("posts: %+v, want 3 with key %s", posts, e.ID)
	}
	if h := uses(f.store.ListAccess(ctx, aidar, consent.HistoryCursor{}, 10)); len(h) != 0 {
		t.Errorf("a failed delivery is in the history: %+v", h)
	}

	f.webhook.failWith(nil)
	if _, err := f.outbox.Replay(ctx, "no-such-entry"); !errors.Is(err, consent.ErrDeliveryNotFound) {
		t.Errorf("replaying an unknown entry: %v", err)
	}
	if r, err := f.outbox.Replay(ctx, e.ID); err != nil || r.Status != consent.OutboxPending {
		t.Fatalf("replay: %+v %v", r, err)
	}
	f.outbox.DeliverDue(ctx)
	done, _ := f.outbox.Deliveries(ctx, consent.OutboxDelivered, 10)
	if done = partnerEntries(done); len(done) != 1 || f.webhook.sent()[3].key != e.ID {
		t.Fatalf("after the replay: %+v", done)
	}
	h := uses(f.store.ListAccess(ctx, aidar, consent.HistoryCursor{}, 10))
	if len(h) != 1 || h[0].Kind != consent.AccessDelivery || h[0].GrantID != g.ID {
		t.Errorf("history after the delivery: %+v", h)
	}
	// The metrics heard each attempt at the push: two to try again, the
	// dead letter, and the replay delivered.
	var pushes []string
	for _, e := range f.observed.await(t, 0) {
		if kind, outcome, _ := strings.Cut(e, " "); kind == consent.KindGrantDocuments {
			pushes = append(pushes, outcome)
		}
	}
	if want := []string{consent.DeliveryRetry, consent.DeliveryRetry, consent.DeliveryDead, consent.DeliveryDone}; !slices.Equal(pushes, want) {
		t.Errorf("the metrics heard %v of the push, want %v", pushes, want)
	}
}

// A push for a grant that ended meanwhile is dead at once: no use retrying.
func TestOutboxDropsWhatNoLongerMayGo(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	f.partners["pushbank"] = consent.PartnerInfo{ID: "pushbank", Delivery: "push"} // no webhook: no revocation notice
	g := consentTo(t, f, "pushbank", 30)
	if _, err := f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"); err != nil {
		t.Fatal(err)
	}
	f.outbox.DeliverDue(ctx)
	dead, _ := f.outbox.Deliveries(ctx, consent.OutboxDead, 10)
	if len(dead) != 1 || dead[0].Attempts != 1 || len(f.webhook.sent()) != 0 {
		t.Fatalf("a push for a revoked grant: dead %+v, posts %d", dead, len(f.webhook.sent()))
	}
}

// A renewed document reaches every partner that takes pushes under an
// active grant covering it, and no partner that fetches for itself.
func TestDocumentChangedReachesPushPartnersOnly(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	pushPartner(f, "pushbank")
	consentTo(t, f, "pushbank", 30)
	consentTo(t, f, "pullbank", 30)
	n, err := f.outbox.DocumentChanged(ctx, aidar, "id_card")
	if err != nil || n != 1 {
		t.Fatalf("queued %d, %v; want 1", n, err)
	}
	if n, _ := f.outbox.DocumentChanged(ctx, aidar, "diploma"); n != 0 {
		t.Errorf("a document no grant covers queued %d", n)
	}
}

// A first backoff above the cap is allowed (the operator may set one): every
// wait is then the cap, jittered in its upper half.
func TestBackoffAboveTheCapIsCapped(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	o, err := consent.NewOutbox(consent.OutboxConfig{Store: f.store, Access: f.store, Grants: f.store, Partners: f.partners, Receipts: f.receipts, Notices: f.notices,
		Styles: map[string]consent.DeliveryStyle{"push": pushStyle{f.webhook}}, Library: f.library, Webhook: f.webhook,
		MaxAttempts: 3, Backoff: time.Hour, MaxBackoff: 10 * time.Minute, Lease: time.Minute, Now: f.clock.now, Log: f.log})
	if err != nil {
		t.Fatalf("a backoff above the cap: %v", err)
	}
	pushPartner(f, "pushbank")
	consentTo(t, f, "pushbank", 30)
	f.webhook.failWith(errors.New("down"))
	o.DeliverDue(context.Background())
	e, _ := f.store.ListDeliveries(context.Background(), consent.OutboxPending, 1)
	if wait := e[0].NextAttemptAt.Sub(f.clock.now()); wait < 5*time.Minute || wait > 10*time.Minute {
		t.Errorf("retry in %s, want 5–10 min", wait)
	}
}

// uses are the uses of documents among a history's events.
func uses(events []consent.AccessEvent, _ error) []consent.AccessEvent {
	var out []consent.AccessEvent
	for _, e := range events {
		if consent.IsUse(e.Kind) {
			out = append(out, e)
		}
	}
	return out
}

// partnerEntries leaves out the citizen's notices.
func partnerEntries(entries []consent.OutboxEntry) []consent.OutboxEntry {
	var out []consent.OutboxEntry
	for _, e := range entries {
		if !consent.IsNotice(e.Kind) {
			out = append(out, e)
		}
	}
	return out
}

// inFlight is a notice sender and a push style that hold each attempt
// until want are in flight at once (or a moment passes), and record how
// many were, in all and for one grant.
type inFlight struct {
	want    int
	mu      sync.Mutex
	now     int
	most    int
	grants  map[string]int
	overlap []string // grants with two entries in flight at once
	all     chan struct{}
}

func (f *inFlight) hold(e consent.OutboxEntry) {
	f.mu.Lock()
	f.now++
	f.most = max(f.most, f.now)
	f.grants[e.GrantID]++
	if f.grants[e.GrantID] > 1 {
		f.overlap = append(f.overlap, e.GrantID)
	}
	if f.now == f.want {
		close(f.all)
	}
	f.mu.Unlock()
	select {
	case <-f.all:
	case <-time.After(500 * time.Millisecond):
	}
	f.mu.Lock()
	f.now--
	f.grants[e.GrantID]--
	f.mu.Unlock()
}

func (f *inFlight) Send(_ context.Context, e consent.OutboxEntry) error { f.hold(e); return nil }

func (f *inFlight) OnGrant(consent.PartnerInfo) []string { return []string{consent.KindGrantDocuments} }
func (f *inFlight) Deliver(_ context.Context, _ consent.PartnerInfo, e consent.OutboxEntry, _ []byte) error {
	f.hold(e)
	return nil
}

// The outbox attempts the entries of different grants at once, so that a
// burst of consents does not queue the citizens' notices one round trip
// after another; the entries of one grant go one after another.
func TestOutboxAttemptsGrantsAtOnceAndEachGrantInTurn(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	for _, id := range []string{"bank1", "bank2", "bank3"} {
		f.partners[id] = consent.PartnerInfo{ID: id, Delivery: "pull"}
		consentTo(t, f, id, 30)
	}
	f.partners["pushbank"] = consent.PartnerInfo{ID: "pushbank", Delivery: "push"}
	consentTo(t, f, "pushbank", 30) // a push and a notice: one grant, two entries
	// Held until all five entries are in flight at once, which only an
	// outbox that sends one grant's two together reaches.
	held := &inFlight{want: 5, grants: map[string]int{}, all: make(chan struct{})}
	o, err := consent.NewOutbox(consent.OutboxConfig{Store: f.store, Access: f.store, Grants: f.store, Partners: f.partners,
		Receipts: f.receipts, Notices: held, Styles: map[string]consent.DeliveryStyle{"pull": pullStyle{}, "push": held},
		Library: f.library, Webhook: f.webhook, MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, Lease: time.Minute,
		Now: f.clock.now, Log: f.log})
	if err != nil {
		t.Fatal(err)
	}
	if n := o.DeliverDue(ctx); n != 5 {
		t.Fatalf("claimed %d entries, want 5", n)
	}
	if held.most != 4 || len(held.overlap) != 0 {
		t.Fatalf("at most %d entries in flight at once (want one for each of the 4 grants), grants overlapping: %v", held.most, held.overlap)
	}
	if done, _ := f.outbox.Deliveries(ctx, consent.OutboxDelivered, 10); len(done) != 5 {
		t.Errorf("%d delivered, want 5", len(done))
	}
}

// finishCounter is an outbox store that records when each delivered
// entry was stored (by the clock) and how far each lease reached.
type finishCounter struct {
	consent.OutboxStore
	clock     *fakeClock
	mu        sync.Mutex
	together  [][]string           // the IDs of each FinishDelivered
	storedAt  map[string]time.Time // when each was stored delivered
	leaseTill map[string]time.Time // the lease each had then
	one       int                  // FinishDelivery calls
}

func (s *finishCounter) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, claim string) ([]consent.OutboxEntry, error) {
	out, err := s.OutboxStore.ClaimDeliveries(ctx, now, lease, limit, claim)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range out {
		s.leaseTill[e.ID] = now.Add(lease)
	}
	return out, err
}

func (s *finishCounter) RenewDelivery(ctx context.Context, id, claim string, until time.Time) error {
	s.mu.Lock()
	s.leaseTill[id] = until
	s.mu.Unlock()
	return s.OutboxStore.RenewDelivery(ctx, id, claim, until)
}

func (s *finishCounter) FinishDelivery(ctx context.Context, id, claim string, o consent.DeliveryOutcome) (consent.OutboxEntry, error) {
	s.mu.Lock()
	s.one++
	s.mu.Unlock()
	return s.OutboxStore.FinishDelivery(ctx, id, claim, o)
}

func (s *finishCounter) FinishDelivered(ctx context.Context, claim string, done []consent.Delivered) ([]string, error) {
	s.mu.Lock()
	var ids []string
	for _, d := range done {
		ids = append(ids, d.ID)
		s.storedAt[d.ID] = s.clock.now()
	}
	s.together = append(s.together, ids)
	s.mu.Unlock()
	return s.OutboxStore.FinishDelivered(ctx, claim, done)
}

// slowNotices sends notices, the clock moving on by slow[n] during the
// nth (from 1).
type slowNotices struct {
	clock *fakeClock
	slow  map[int]time.Duration
	mu    sync.Mutex
	n     int
}

func (s *slowNotices) Send(context.Context, consent.OutboxEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.clock.advance(s.slow[s.n])
	return nil
}

// A claim's deliveries are stored together, in one statement, not one
// each: in a burst of consents, a commit less a notice. An entry delivered
// early waits to be stored at most until an attempt ends a quarter of a
// lease after the claim, never past its lease, so no other replica claims
// and sends it again meanwhile; each entry is stored delivered at the time
// it was.
func TestOutboxStoresAClaimsDeliveriesTogetherWithinTheLease(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		slow map[int]time.Duration
		want int // FinishDelivered calls
	}{
		{"fast", nil, 1},
		// Attempt 2 ends 40 s after the claim (the first two are stored
		// then); attempt 4, under a renewed lease, 80 s after it.
		{"slow", map[int]time.Duration{2: 40 * time.Second, 4: 40 * time.Second}, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, consent.DefaultOTPConfig)
			for _, id := range []string{"bank1", "bank2", "bank3", "bank4", "bank5"} {
				f.partners[id] = consent.PartnerInfo{ID: id, Delivery: "pull"}
				consentTo(t, f, id, 30) // a notice each
			}
			store := &finishCounter{OutboxStore: f.store, clock: f.clock, storedAt: map[string]time.Time{}, leaseTill: map[string]time.Time{}}
			notices := &slowNotices{clock: f.clock, slow: c.slow}
			o, err := consent.NewOutbox(consent.OutboxConfig{Store: store, Access: f.store, Grants: f.store, Partners: f.partners,
				Receipts: f.receipts, Notices: notices, Styles: map[string]consent.DeliveryStyle{"pull": pullStyle{}},
				Library: f.library, Webhook: f.webhook, MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, Lease: time.Minute,
				Parallel: 1, Now: f.clock.now, Log: f.log})
			if err != nil {
				t.Fatal(err)
			}
			if n := o.DeliverDue(ctx); n != 5 {
				t.Fatalf("claimed %d entries, want 5", n)
			}
			if store.one != 0 || len(store.together) != c.want {
				t.Errorf("stored by %d FinishDelivery and %d FinishDelivered %v, want %d FinishDelivered", store.one, len(store.together), store.together, c.want)
			}
			for id, at := range store.storedAt {
				if !at.Before(store.leaseTill[id]) {
					t.Errorf("%s stored delivered at %s, its lease ended at %s", id, at.Format(time.TimeOnly), store.leaseTill[id].Format(time.TimeOnly))
				}
			}
			done, _ := f.outbox.Deliveries(ctx, consent.OutboxDelivered, 10)
			if len(done) != 5 {
				t.Fatalf("%d delivered, want 5", len(done))
			}
			times := map[time.Time]bool{}
			for _, e := range done {
				times[e.DeliveredAt] = true
			}
			if c.slow != nil && len(times) != 3 { // at 0, 40 and 80 s
				t.Errorf("delivered at %d different times, want 3: each at its own", len(times))
			}
		})
	}
}
