package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

func consentTests() []namedTest {
	return []namedTest{
		{"RateLimitSlidingWindow", testRateLimit},
		{"RateLimitsAllOrNone", testHitAll},
		{"ChallengeCompareAndSwap", testChallengeCAS},
		{"ApproveChallengeCreatesGrant", testApprove},
		{"ApprovalRolledBack", testApprovalRolledBack},
		{"ReplaceGrantsByHolderAndTerms", testReplaceGrants},
		{"ChangeGrantMergeAndReplace", testChangeGrant},
		{"ReplaceGrantsAtOnce", func(t *testing.T, s Store) { testReplaceAtOnce(t, s, false) }},
		{"ApproveAndReplace", testApproveAndReplace},
		{"ApproveAndReplaceAtOnce", func(t *testing.T, s Store) { testReplaceAtOnce(t, s, true) }},
		{"ApproveProved", testApproveProved},
		{"ApproveProvedAtOnce", testApproveProvedAtOnce},
		{"GuardianGrantsNarrowed", testNarrowGrant},
	}
}

// An event counted against several limits at once: all of them, or, when
// one is full, none, with the longest wait; at once from many callers, no
// limit is passed.
func testHitAll(t *testing.T, s Store) {
	ctx := context.Background()
	ip, phone := consent.RateHit{Key: "ip", Limit: 3, Window: time.Hour}, consent.RateHit{Key: "phone", Limit: 1, Window: 10 * time.Minute}
	if err := s.HitAll(ctx, []consent.RateHit{ip, phone}, t0); err != nil {
		t.Fatal(err)
	}
	var rl *consent.RateLimitError
	if err := s.HitAll(ctx, []consent.RateHit{ip, phone}, t0.Add(time.Minute)); !errors.As(err, &rl) || rl.RetryAfter != 19*time.Minute {
		t.Fatalf("with the phone's limit reached: %v, want a retry after 19m", err)
	}
	// The refused event did not spend the address's room: two remain.
	for i := range 2 {
		if err := s.HitAll(ctx, []consent.RateHit{ip}, t0.Add(2*time.Minute)); err != nil {
			t.Errorf("the address's room %d: %v", i, err)
		}
	}
	if err := s.HitAll(ctx, []consent.RateHit{ip}, t0.Add(2*time.Minute)); !errors.As(err, &rl) {
		t.Errorf("past the address's limit: %v", err)
	}

	const limit = 6
	if passed := atOnce(t, 40, func(i int) error {
		return s.HitAll(ctx, []consent.RateHit{{Key: "burst-ip", Limit: 1000, Window: time.Hour}, {Key: "burst", Limit: limit, Window: time.Hour}},
			t0.Add(time.Duration(i)*time.Millisecond))
	}); passed != limit {
		t.Errorf("%d of 40 concurrent events passed a limit of %d", passed, limit)
	}
}

// atOnce runs hit(0…n-1) at once, as from many replicas, and returns how
// many were counted; anything but a refusal fails t.
func atOnce(t *testing.T, n int, hit func(i int) error) int {
	var wg sync.WaitGroup
	var passed atomic.Int32
	for i := range n {
		wg.Go(func() {
			if err := hit(i); err == nil {
				passed.Add(1)
			} else if !errors.As(err, new(*consent.RateLimitError)) {
				t.Errorf("hit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return int(passed.Load())
}

func testRateLimit(t *testing.T, s Store) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("hit %d: %v", i, err)
		}
	}
	// t0 starts an hour's window. Full now: counted again once the next
	// window carries at most 2 of these 3 (a third of the way into it).
	err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(10*time.Minute))
	var rl *consent.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 70*time.Minute {
		t.Fatalf("fourth hit: %v, want a RateLimitError retrying after 70m", err)
	}
	if err := s.Hit(ctx, "other", 3, time.Hour, t0.Add(10*time.Minute)); err != nil {
		t.Errorf("another key was limited: %v", err)
	}
	if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Hour+19*time.Minute)); !errors.As(err, &rl) || rl.RetryAfter != time.Minute {
		t.Errorf("the previous window still carrying all 3: %v, want a retry after 1m", err)
	}
	if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Hour+20*time.Minute)); err != nil {
		t.Errorf("the previous window carrying 2 of 3: %v", err)
	}
	if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Hour+21*time.Minute)); err == nil {
		t.Error("a refused hit was counted, or the window forgot events")
	}
	// Two windows on, nothing is carried.
	for i := range 3 {
		if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(3*time.Hour+time.Duration(i)*time.Second)); err != nil {
			t.Errorf("hit %d two windows on: %v", i, err)
		}
	}

	// Hits at once, as from many replicas: exactly the limit gets through.
	const limit = 10
	if passed := atOnce(t, 60, func(i int) error {
		return s.Hit(ctx, "burst", limit, time.Hour, t0.Add(time.Duration(i)*time.Millisecond))
	}); passed != limit {
		t.Errorf("%d of 60 concurrent hits passed a limit of %d", passed, limit)
	}
}

func challenge(id string) consent.Challenge {
	return consent.Challenge{
		ID: id, PendingID: "pend", PartnerID: "p1", Session: "session:abc", Citizen: "850315300128", Budget: "otp-consent:0123",
		Documents: []consent.DocumentType{"id_card", "diploma"}, Days: 30, CodeHash: []byte{1, 2, 3},
		Status: consent.ChallengePending, Lang: "kk", CreatedAt: t0, SentAt: t0, ExpiresAt: t0.Add(5 * time.Minute), Version: 1,
	}
}

func testChallengeCAS(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.GetChallenge(ctx, "nope"); !errors.Is(err, consent.ErrUnknownChallenge) {
		t.Errorf("unknown challenge: %v", err)
	}
	c := challenge("c1")
	decoy := challenge("c2")
	decoy.Citizen = ""
	for _, ch := range []consent.Challenge{c, decoy} {
		if err := s.CreateChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.GetChallenge(ctx, "c2"); err != nil || got.Citizen != "" {
		t.Errorf("decoy citizen %q", got.Citizen)
	}
	got, err := s.GetChallenge(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Citizen != c.Citizen || got.Budget != c.Budget || len(got.Documents) != 2 || got.Days != 30 || got.Lang != "kk" || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Version != 1 {
		t.Errorf("got %+v", got)
	}
	got.Attempts = 1
	if err := s.UpdateChallenge(ctx, got); err != nil {
		t.Fatal(err)
	}
	stale := got // still at version 1
	stale.Attempts = 2
	if err := s.UpdateChallenge(ctx, stale); !errors.Is(err, consent.ErrStale) {
		t.Errorf("stale update: %v, want ErrStale", err)
	}
	now, err := s.GetChallenge(ctx, "c1")
	check(t, err)
	if now.Attempts != 1 || now.Version != 2 || now.Budget != c.Budget {
		t.Errorf("after updates: attempts %d version %d, want 1 and 2", now.Attempts, now.Version)
	}
}

func testApprove(t *testing.T, s Store) {
	ctx := context.Background()
	c := challenge("c1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, Purpose: "loan",
		CreatedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	c.Status = consent.ChallengeUsed
	if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetGrant(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Citizen != g.Citizen || got.Purpose != "loan" || len(got.Documents) != 2 || got.TermsVersion != "v1" ||
		got.ChallengeID != "c1" || got.Status != consent.GrantActive || !got.ExpiresAt.Equal(g.ExpiresAt) {
		t.Errorf("grant %+v", got)
	}
	// A second approval of the same (now stale) challenge stores nothing.
	g2 := g
	g2.ID = "g2"
	if err := s.ApproveChallenge(ctx, c, g2, nil); !errors.Is(err, consent.ErrStale) {
		t.Errorf("second approval: %v, want ErrStale", err)
	}
	if _, err := s.GetGrant(ctx, "g2"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a refused approval stored a grant: %v", err)
	}
	if ch, err := s.GetChallenge(ctx, "c1"); err != nil || ch.Status != consent.ChallengeUsed {
		t.Errorf("challenge status %s, want used", ch.Status)
	}
}

// An approval inside a transaction that is rolled back leaves nothing: no
// grant, no outbox entry, no superseded grant, and the challenge as it was
// (the gateway approves in the transaction that issues the code, so a
// grant never exists without one).
func testApprovalRolledBack(t *testing.T, s Store) {
	ctx := context.Background()
	old := consent.Grant{ID: "g0", Citizen: "850315300128", PartnerID: "p1", Documents: []consent.DocumentType{"id_card"},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v0", ChallengeID: "c0", Status: consent.GrantActive}
	c0 := challenge("c0")
	check(t, s.CreateChallenge(ctx, c0))
	c0.Status = consent.ChallengeUsed
	if err := s.ApproveChallenge(ctx, c0, old, nil); err != nil {
		t.Fatal(err)
	}
	c := challenge("c1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Rollback(tx) }()
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	c.Status = consent.ChallengeUsed
	out := []consent.OutboxEntry{{ID: "o1", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantDocuments,
		Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}}
	if err := s.ApproveChallenge(tx, c, g, out); err != nil {
		t.Fatal(err)
	}
	if ended, err := s.ReplaceGrants(tx, g, t0, nil); err != nil || len(ended) != 1 {
		t.Fatalf("replace in the transaction: %v, %v", ended, err)
	}
	if err := s.Rollback(tx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGrant(ctx, "g1"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("grant after rollback: %v, want ErrGrantNotFound", err)
	}
	if g0, err := s.GetGrant(ctx, "g0"); err != nil || g0.Status != consent.GrantActive {
		t.Errorf("superseded grant after rollback: %s, want active", g0.Status)
	}
	if ch, err := s.GetChallenge(ctx, "c1"); err != nil || ch.Status != consent.ChallengePending || ch.Version != 1 {
		t.Errorf("challenge after rollback: %s v%d, want pending v1", ch.Status, ch.Version)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0, time.Minute, 10, "w")); err != nil || len(due) != 0 {
		t.Errorf("outbox after rollback: %v", due)
	}
}

// A new grant ends the citizen's other active grants for the same partner
// that cover one of its holders or were given under other terms; grants
// for other holders, other partners and other citizens stay.
func testReplaceGrants(t *testing.T, s Store) {
	ctx := context.Background()
	const parent, child, other = consent.IIN("850315300128"), consent.IIN("150101500012"), consent.IIN("900101300011")
	mk := func(id string, citizen consent.IIN, partner, terms string, holders ...consent.IIN) consent.Grant {
		c := challenge("c" + id)
		c.Citizen = citizen
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: id, Citizen: citizen, PartnerID: partner, Holders: holders, Documents: c.Documents, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), TermsVersion: terms, ChallengeID: c.ID, Status: consent.GrantActive}
		check(t, s.ApproveChallenge(ctx, c, g, nil))
		return g
	}
	mk("self", parent, "p1", "v1", parent)
	mk("legacy", parent, "p1", "v1") // from before holders were kept: covers its citizen
	mk("both", parent, "p1", "v1", parent, child)
	mk("child", parent, "p1", "v1", child)
	mk("oldterms", parent, "p1", "v0", child)
	mk("p2", parent, "p2", "v1", parent)
	mk("stranger", other, "p1", "v1", other)
	g := mk("new", parent, "p1", "v1", parent)
	ended, err := s.ReplaceGrants(ctx, g, t0.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range ended {
		ids = append(ids, e.ID)
		if e.Status != consent.GrantRevoked || e.StatusBy != consent.EndedByReplacement || !e.StatusChangedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("replaced grant %s: %s by %q at %v", e.ID, e.Status, e.StatusBy, e.StatusChangedAt)
		}
	}
	slices.Sort(ids)
	if want := []string{"both", "legacy", "oldterms", "self"}; !slices.Equal(ids, want) {
		t.Errorf("replaced %v, want %v", ids, want)
	}
	for _, id := range []string{"new", "child", "p2", "stranger"} {
		if got, err := s.GetGrant(ctx, id); err != nil || got.Status != consent.GrantActive {
			t.Errorf("grant %s: %s %v, want it active", id, got.Status, err)
		}
	}
	// Each end is in the history, with the grant as it left it.
	history, err := s.ListAccess(ctx, parent, consent.HistoryCursor{}, 50)
	ends := map[string]bool{}
	for _, e := range history {
		if e.Kind == consent.AccessRevocation && e.By == consent.EndedByReplacement && e.Grant != nil && e.Grant.Status == consent.GrantRevoked {
			ends[e.GrantID] = true
		}
	}
	if err != nil || len(ends) != 4 || !ends["legacy"] {
		t.Errorf("the history's ends: %v %v", ends, err)
	}
}

// A merge or a replacement writes the grant over its active self with the
// challenge used, in the citizen's history; a replacement ends the tokens
// issued under the grant as it was. A grant no longer active, or another
// citizen's, is not changed, and the challenge stays as it was.
func testChangeGrant(t *testing.T, s Store) {
	ctx := context.Background()
	c := challenge("c1")
	check(t, s.CreateChallenge(ctx, c))
	c.Status = consent.ChallengeUsed
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Holders: []consent.IIN{c.Citizen}, Documents: []consent.DocumentType{"id_card"},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	check(t, s.ApproveChallenge(ctx, c, g, nil))
	check(t, s.CreateRecord(ctx, record(oauth.KindAccess, "before", "r1", "p1")))
	check(t, s.CreateRecord(ctx, record(oauth.KindRefresh, "before-r", "r1", "p1")))
	other := record(oauth.KindAccess, "elsewhere", "r2", "p1")
	other.GrantID = "g2"
	check(t, s.CreateRecord(ctx, other))

	change := func(id string, action consent.GrantAction, at time.Time, mutate func(*consent.Grant)) (consent.Challenge, error) {
		c := challenge(id)
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		changed := g
		changed.ChallengeID = id
		mutate(&changed)
		return c, s.ChangeGrant(ctx, c, changed, action, at, []consent.OutboxEntry{{ID: "o-" + id, PartnerID: "p1", GrantID: "g1",
			Kind: consent.KindGrantDocuments, Status: consent.OutboxPending, NextAttemptAt: at, CreatedAt: at}})
	}
	if _, err := change("c2", consent.GrantMerge, t0.Add(time.Minute), func(g *consent.Grant) {
		g.Documents = []consent.DocumentType{"id_card", "diploma"}
		g.ExpiresAt = t0.Add(2 * time.Hour)
	}); err != nil {
		t.Fatalf("merge: %v", err)
	}
	got, err := s.GetGrant(ctx, "g1")
	if err != nil || len(got.Documents) != 2 || !got.ExpiresAt.Equal(t0.Add(2*time.Hour)) || got.ChallengeID != "c2" || !got.CreatedAt.Equal(t0) {
		t.Errorf("merged grant: %+v %v", got, err)
	}
	if ch, err := s.GetChallenge(ctx, "c2"); err != nil || ch.Status != consent.ChallengeUsed {
		t.Errorf("merge's challenge: %s %v", ch.Status, err)
	}
	if r, err := s.GetRecord(ctx, oauth.KindAccess, "before"); err != nil || !r.Active {
		t.Errorf("a merge ended the grant's tokens: %+v %v", r, err)
	}
	if _, err := change("c3", consent.GrantReplace, t0.Add(2*time.Minute), func(g *consent.Grant) {
		g.Documents = []consent.DocumentType{"diploma"}
	}); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got, err := s.GetGrant(ctx, "g1"); err != nil || !slices.Equal(got.Documents, []consent.DocumentType{"diploma"}) {
		t.Errorf("replaced grant: %+v %v", got, err)
	}
	for _, sig := range []string{"before", "before-r"} {
		kind := oauth.KindAccess
		if sig == "before-r" {
			kind = oauth.KindRefresh
		}
		if r, err := s.GetRecord(ctx, kind, sig); err != nil || r.Active {
			t.Errorf("token %s after a replacement: active %v %v, want ended", sig, r.Active, err)
		}
	}
	if r, err := s.GetRecord(ctx, oauth.KindAccess, "elsewhere"); err != nil || !r.Active {
		t.Errorf("another grant's token after the replacement: %+v %v", r, err)
	}
	history, err := s.ListAccess(ctx, g.Citizen, consent.HistoryCursor{}, 10)
	if err != nil || len(history) != 3 || history[0].Kind != consent.AccessReplace || history[1].Kind != consent.AccessMerge ||
		history[2].Kind != consent.AccessConsent || history[0].GrantID != "g1" || !history[0].At.Equal(t0.Add(2*time.Minute)) ||
		history[0].Grant == nil || !slices.Equal(history[0].Grant.Documents, []consent.DocumentType{"diploma"}) ||
		history[1].Grant == nil || len(history[1].Grant.Documents) != 2 || history[0].Grant.Receipt == history[1].Grant.Receipt {
		t.Errorf("history: %+v %v", history, err)
	}
	if used, err := s.LastUsed(ctx, g.Citizen); err != nil || !used["g1"].IsZero() {
		t.Errorf("a change counted as a use of the grant: %v %v", used, err)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(time.Hour), time.Minute, 10, "w")); err != nil || len(due) != 2 {
		t.Errorf("outbox of the changes: %+v %v", due, err)
	}

	// Another citizen's grant, then an ended one: nothing changes.
	if c, err := change("c4", consent.GrantMerge, t0.Add(3*time.Minute), func(g *consent.Grant) { g.Citizen = "900101300011" }); !errors.Is(err, consent.ErrGrantGone) {
		t.Errorf("change of another citizen's grant: %v, want ErrGrantGone", err)
	} else if ch, _ := s.GetChallenge(ctx, c.ID); ch.Status != consent.ChallengePending {
		t.Errorf("a refused change used its challenge: %s", ch.Status)
	}
	if _, err := s.RevokeGrant(ctx, "g1", "citizen", "revoked", t0.Add(4*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := change("c5", consent.GrantMerge, t0.Add(5*time.Minute), func(*consent.Grant) {}); !errors.Is(err, consent.ErrGrantGone) {
		t.Errorf("change of a revoked grant: %v, want ErrGrantGone", err)
	}
	if got, _ := s.GetGrant(ctx, "g1"); got.Status != consent.GrantRevoked || got.ChallengeID != "c3" {
		t.Errorf("revoked grant after a refused change: %s %s", got.Status, got.ChallengeID)
	}
	// The grant's lifecycle, oldest first, and each event by its receipt.
	life, err := s.GrantHistory(ctx, "g1")
	var kinds []string
	for _, e := range life {
		kinds = append(kinds, e.Kind)
	}
	if err != nil || !slices.Equal(kinds, []string{"consent", "merge", "replace", "revocation"}) {
		t.Fatalf("the grant's lifecycle: %v %v", kinds, err)
	}
	if e, err := s.ReceiptEvent(ctx, life[1].Grant.Receipt); err != nil || e.Kind != "merge" || e.GrantID != "g1" {
		t.Errorf("the merge by its receipt: %+v %v", e, err)
	}
	if _, err := s.ReceiptEvent(ctx, "nope"); !errors.Is(err, consent.ErrReceiptNotFound) {
		t.Errorf("an unknown receipt: %v", err)
	}
}

// Approving and replacing in one call: the grants the new one replaces
// end, in the history too, and are returned; a challenge that moved on
// writes nothing and ends nothing, even in a transaction that goes on to
// commit (as the gateway's does after a refused answer).
func testApproveAndReplace(t *testing.T, s Store) {
	ctx := context.Background()
	mk := func(id string) (consent.Challenge, consent.Grant) {
		c := challenge("c" + id)
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		return c, consent.Grant{ID: id, Citizen: c.Citizen, PartnerID: "p1", Holders: []consent.IIN{c.Citizen}, Documents: c.Documents,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
	}
	c1, g1 := mk("first")
	if ended, err := s.ApproveAndReplace(ctx, c1, g1, nil, nil); err != nil || len(ended) != 0 {
		t.Fatalf("the first grant: %v ended, %v", ended, err)
	}
	c2, g2 := mk("second")
	g2.CreatedAt = t0.Add(time.Minute)
	ended, err := s.ApproveAndReplace(ctx, c2, g2, nil, nil)
	if err != nil || len(ended) != 1 || ended[0].ID != "first" || ended[0].Status != consent.GrantRevoked ||
		ended[0].StatusBy != consent.EndedByReplacement || !ended[0].StatusChangedAt.Equal(g2.CreatedAt) {
		t.Fatalf("the second grant: %+v, %v", ended, err)
	}
	if got, err := s.GetGrant(ctx, "second"); err != nil || got.Status != consent.GrantActive {
		t.Errorf("the new grant: %s %v", got.Status, err)
	}
	if kinds, want := grantEvents(t, s, g1.Citizen), []string{"first consent", "first revocation", "second consent"}; !slices.Equal(kinds, want) {
		t.Errorf("history %v, want %v", kinds, want)
	}

	// The second challenge again, now stale, in a transaction that commits.
	g3 := g2
	g3.ID, g3.CreatedAt = "third", t0.Add(2*time.Minute)
	tx, err := s.BeginTx(ctx)
	check(t, err)
	defer func() { _ = s.Rollback(tx) }()
	if ended, err := s.ApproveAndReplace(tx, c2, g3, nil, nil); !errors.Is(err, consent.ErrStale) || len(ended) != 0 {
		t.Errorf("a stale challenge: %v ended, %v, want ErrStale", ended, err)
	}
	check(t, s.Commit(tx))
	if got, err := s.GetGrant(ctx, "second"); err != nil || got.Status != consent.GrantActive {
		t.Errorf("a stale approval ended the grant it would have replaced: %s %v", got.Status, err)
	}
	if _, err := s.GetGrant(ctx, "third"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a stale approval stored a grant: %v", err)
	}
}

// Approvals for one citizen and partner at once, each in its own
// transaction as the gateway approves: whatever the interleaving, one
// grant stays active, not a stack. together approves and replaces in one
// call (ApproveAndReplace), else in two.
func testReplaceAtOnce(t *testing.T, s Store, together bool) {
	ctx := context.Background()
	const rounds, n = 8, 6 // a race is not lost every time: several rounds make losing it likely
	for round := range rounds {
		partner := fmt.Sprintf("p-at-once-%d", round)
		var wg sync.WaitGroup
		for i := range n {
			id := fmt.Sprintf("g%d-%d", round, i)
			c := challenge("c" + id)
			check(t, s.CreateChallenge(ctx, c))
			wg.Go(func() {
				tx, err := s.BeginTx(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer func() { _ = s.Rollback(tx) }()
				c.Status = consent.ChallengeUsed
				g := consent.Grant{ID: id, Citizen: c.Citizen, PartnerID: partner, Holders: []consent.IIN{c.Citizen}, Documents: c.Documents,
					CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
				if together {
					if _, err := s.ApproveAndReplace(tx, c, g, nil, nil); err != nil {
						t.Error(err)
						return
					}
				} else {
					if err := s.ApproveChallenge(tx, c, g, nil); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.ReplaceGrants(tx, g, t0, nil); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.Commit(tx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		active := 0
		for i := range n {
			if g, err := s.GetGrant(ctx, fmt.Sprintf("g%d-%d", round, i)); err == nil && g.Status == consent.GrantActive {
				active++
			}
		}
		if active != 1 {
			t.Errorf("round %d: %d grants active after %d approvals at once, want 1", round, active, n)
		}
	}
}

// The grants naming someone besides their citizen are the guardian
// grants; narrowing one keeps it active for the rest, in the history, and
// a grant no longer active is not narrowed.
func testNarrowGrant(t *testing.T, s Store) {
	ctx := context.Background()
	const parent, child = consent.IIN("900101400559"), consent.IIN("150612601232")
	for id, holders := range map[string][]consent.IIN{"self": {parent}, "both": {parent, child}, "child": {child}, "legacy": nil} {
		c := challenge("c" + id)
		c.Citizen = parent
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		check(t, s.ApproveChallenge(ctx, c, consent.Grant{ID: id, Citizen: parent, PartnerID: "p" + id, Holders: holders, Documents: c.Documents,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}, nil))
	}
	guardian, err := s.GuardianGrants(ctx)
	var ids []string
	for _, g := range guardian {
		ids = append(ids, g.ID)
	}
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"both", "child"}) {
		t.Fatalf("guardian grants: %v %v", ids, err)
	}
	check(t, s.NarrowGrant(ctx, "both", []consent.IIN{parent}, consent.EndedByMajority, t0.Add(time.Minute), nil))
	if g, err := s.GetGrant(ctx, "both"); err != nil || !slices.Equal(g.Holders, []consent.IIN{parent}) || g.Status != consent.GrantActive {
		t.Errorf("narrowed: %+v %v", g, err)
	}
	life, err := s.GrantHistory(ctx, "both")
	if err != nil || len(life) != 2 || life[1].Kind != consent.AccessNarrowing || life[1].By != consent.EndedByMajority || len(life[1].Grant.Holders) != 1 {
		t.Errorf("the narrowing in the history: %+v %v", life, err)
	}
	if _, err := s.RevokeGrant(ctx, "child", consent.EndedByMajority, "came of age", t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.NarrowGrant(ctx, "child", nil, consent.EndedByMajority, t0, nil); !errors.Is(err, consent.ErrGrantGone) {
		t.Errorf("narrowing a revoked grant: %v", err)
	}
}

// A carried challenge's code is settled only as the challenge was when it
// was carried: at that version, pending, asked by code, of the session
// and request that carried it, unexpired, for a citizen who represents
// nobody. Anything else writes nothing and is stale (the caller reads the
// challenge). Settled, a right code approves and replaces as
// ApproveAndReplace does; a wrong one counts a try, which stays counted,
// and the last kills the challenge.
func testApproveProved(t *testing.T, s Store) {
	ctx := context.Background()
	proof := []byte{1, 2, 3} // challenge's code hash
	const maxAttempts = 5
	grant := func(id string, c consent.Challenge) consent.Grant {
		return consent.Grant{ID: id, Citizen: c.Citizen, PartnerID: c.PartnerID, Holders: []consent.IIN{c.Citizen}, Documents: c.Documents,
			CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive,
			Method: consent.MethodSMS}
	}
	for _, tc := range []struct {
		name   string
		stored func(c *consent.Challenge)
		asked  func(c *consent.Challenge) // what the browser carried
		at     time.Time
	}{
		{name: "a try counted since", stored: func(c *consent.Challenge) { c.Attempts, c.Version = 1, 2 }},
		{name: "another session", asked: func(c *consent.Challenge) { c.Session = "session:other" }},
		{name: "another request", asked: func(c *consent.Challenge) { c.PendingID = "other" }},
		{name: "expired", at: t0.Add(5 * time.Minute)},
		{name: "used", stored: func(c *consent.Challenge) { c.Status = consent.ChallengeUsed }},
		{name: "verified", stored: func(c *consent.Challenge) { c.Status = consent.ChallengeVerified }},
		{name: "dead", stored: func(c *consent.Challenge) { c.Status = consent.ChallengeDead }},
		{name: "to sign", stored: func(c *consent.Challenge) { c.Method = consent.MethodSignature }},
	} {
		for _, code := range [][]byte{proof, {1, 2, 4}} { // neither a right code nor a wrong one is settled
			c := challenge(fmt.Sprintf("proved-%s-%x", tc.name, code))
			if tc.stored != nil {
				tc.stored(&c)
			}
			check(t, s.CreateChallenge(ctx, c))
			asked := challenge(c.ID)
			if tc.asked != nil {
				tc.asked(&asked)
			}
			at := t0.Add(time.Minute)
			if !tc.at.IsZero() {
				at = tc.at
			}
			g := grant("g-"+c.ID, asked)
			if ended, err := s.ApproveProved(ctx, asked, code, at, maxAttempts, g, nil, nil); !errors.Is(err, consent.ErrStale) || len(ended) != 0 {
				t.Errorf("%s, code %x: %v ended, %v; want ErrStale", tc.name, code, ended, err)
			}
			if _, err := s.GetGrant(ctx, g.ID); !errors.Is(err, consent.ErrGrantNotFound) {
				t.Errorf("%s: a grant was stored: %v", tc.name, err)
			}
			if got, err := s.GetChallenge(ctx, c.ID); err != nil || got.Status != c.Status || got.Version != c.Version || got.Attempts != c.Attempts {
				t.Errorf("%s: the challenge became %s at version %d with %d tries, %v", tc.name, got.Status, got.Version, got.Attempts, err)
			}
		}
	}

	// A representative's right code is left to the caller, who asks whose
	// documents; a wrong one counts as anyone's.
	rep := challenge("proved-representative")
	rep.Represents = []consent.IIN{"150101500015"}
	check(t, s.CreateChallenge(ctx, rep))
	if _, err := s.ApproveProved(ctx, rep, proof, t0.Add(time.Minute), maxAttempts, grant("g-rep", rep), nil, nil); !errors.Is(err, consent.ErrStale) {
		t.Errorf("a representative's right code: %v, want ErrStale", err)
	}
	if got, err := s.GetChallenge(ctx, rep.ID); err != nil || got.Version != 1 || got.Status != consent.ChallengePending {
		t.Errorf("after a representative's right code: %+v, %v", got, err)
	}
	var repWrong *consent.WrongCodeError
	if _, err := s.ApproveProved(ctx, rep, []byte{9}, t0.Add(time.Minute), maxAttempts, grant("g-rep", rep), nil, nil); !errors.As(err, &repWrong) ||
		repWrong.AttemptsLeft != maxAttempts-1 {
		t.Errorf("a representative's wrong code: %v, want a try counted", err)
	}
	if _, err := s.GetGrant(ctx, "g-rep"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a representative's answer stored a grant: %v", err)
	}

	// A wrong code counts a try, in a transaction of its own too; the
	// last kills the challenge.
	w := challenge("proved-wrong")
	w.Attempts, w.Version = maxAttempts-2, 4
	check(t, s.CreateChallenge(ctx, w))
	var wrong *consent.WrongCodeError
	if _, err := s.ApproveProved(ctx, w, []byte{9}, t0.Add(time.Minute), maxAttempts, grant("g-wrong", w), nil, nil); !errors.As(err, &wrong) || wrong.AttemptsLeft != 1 {
		t.Errorf("a wrong code: %v, want one try left", err)
	}
	if got, err := s.GetChallenge(ctx, w.ID); err != nil || got.Attempts != maxAttempts-1 || got.Version != 5 || got.Status != consent.ChallengePending {
		t.Errorf("after a wrong code: %+v, %v", got, err)
	}
	w.Version = 5
	if _, err := s.ApproveProved(ctx, w, []byte{9}, t0.Add(time.Minute), maxAttempts, grant("g-wrong", w), nil, nil); !errors.Is(err, consent.ErrCodeDead) {
		t.Errorf("the last wrong code: %v, want ErrCodeDead", err)
	}
	if got, err := s.GetChallenge(ctx, w.ID); err != nil || got.Attempts != maxAttempts || got.Status != consent.ChallengeDead {
		t.Errorf("after the last wrong code: %+v, %v", got, err)
	}
	if _, err := s.GetGrant(ctx, "g-wrong"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a wrong code stored a grant: %v", err)
	}

	// Right: used, the grant stored with its history, the citizen's
	// earlier grant for the partner replaced.
	first := challenge("proved-first")
	check(t, s.CreateChallenge(ctx, first))
	if _, err := s.ApproveProved(ctx, first, proof, t0.Add(time.Minute), maxAttempts, grant("proved-first", first), nil, nil); err != nil {
		t.Fatal(err)
	}
	c := challenge("proved-second")
	c.Attempts, c.Version = 2, 3 // two wrong codes before it was carried: the right one still proves it
	check(t, s.CreateChallenge(ctx, c))
	g := grant("proved-second", c)
	g.CreatedAt = t0.Add(2 * time.Minute)
	carried := consent.Challenge{ID: c.ID, PendingID: c.PendingID, PartnerID: c.PartnerID, Citizen: c.Citizen, Session: c.Session,
		Documents: c.Documents, Days: c.Days, ExpiresAt: c.ExpiresAt, Lang: c.Lang, Version: c.Version}
	ended, err := s.ApproveProved(ctx, carried, proof, g.CreatedAt, maxAttempts, g, nil, nil)
	if err != nil || len(ended) != 1 || ended[0].ID != "proved-first" || ended[0].StatusBy != consent.EndedByReplacement {
		t.Fatalf("the second grant: %+v, %v", ended, err)
	}
	got, err := s.GetChallenge(ctx, c.ID)
	if err != nil || got.Status != consent.ChallengeUsed || got.Version != 4 || got.Attempts != 2 || got.Days != 30 || len(got.Documents) != 2 {
		t.Errorf("the challenge proved: %+v, %v", got, err)
	}
	if stored, err := s.GetGrant(ctx, g.ID); err != nil || stored.Status != consent.GrantActive || stored.Citizen != c.Citizen ||
		!stored.ExpiresAt.Equal(g.ExpiresAt) || stored.Method != consent.MethodSMS {
		t.Errorf("the grant: %+v, %v", stored, err)
	}
	if kinds, want := grantEvents(t, s, c.Citizen), []string{"proved-first consent", "proved-first revocation", "proved-second consent"}; !slices.Equal(kinds, want) {
		t.Errorf("history %v, want %v", kinds, want)
	}
	// Once used, the same proof settles nothing.
	again := grant("proved-again", c)
	if _, err := s.ApproveProved(ctx, carried, proof, g.CreatedAt, maxAttempts, again, nil, nil); !errors.Is(err, consent.ErrStale) {
		t.Errorf("a used challenge proved again: %v", err)
	}
}

// Answers carrying one version sent at once, the right code among wrong
// ones, each in its own transaction as the gateway answers: one settles
// its code (as one compare-and-swap does when each answer read the
// challenge first), the others are stale and read it. Which one settles
// does not depend on which code is right.
func testApproveProvedAtOnce(t *testing.T, s Store) {
	ctx := context.Background()
	for round := range 4 {
		c := challenge(fmt.Sprintf("proved-at-once-%d", round))
		c.PartnerID = fmt.Sprintf("p-proved-%d", round)
		check(t, s.CreateChallenge(ctx, c))
		var wg sync.WaitGroup
		var settled atomic.Int32
		for i := range 6 {
			wg.Go(func() {
				tx, err := s.BeginTx(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer func() { _ = s.Rollback(tx) }()
				g := consent.Grant{ID: fmt.Sprintf("%s-%d", c.ID, i), Citizen: c.Citizen, PartnerID: c.PartnerID, Holders: []consent.IIN{c.Citizen},
					Documents: c.Documents, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
				code := []byte{1, 2, byte(3 + i%3)} // two answers of six carry the right code
				_, err = s.ApproveProved(tx, c, code, t0.Add(time.Minute), 5, g, nil, nil)
				if cerr := s.Commit(tx); err == nil {
					err = cerr
				}
				switch {
				case err == nil || errors.As(err, new(*consent.WrongCodeError)):
					settled.Add(1)
				case !errors.Is(err, consent.ErrStale):
					t.Errorf("answer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if n := settled.Load(); n != 1 {
			t.Errorf("round %d: six answers at one version settled %d codes, want 1", round, n)
		}
		got, err := s.GetChallenge(ctx, c.ID)
		if err != nil || got.Version != 2 {
			t.Errorf("round %d: the challenge is at version %d, %v", round, got.Version, err)
		}
	}
}

// grantEvents are a citizen's first ten history events as "grant kind",
// sorted.
func grantEvents(t *testing.T, s Store, citizen consent.IIN) []string {
	t.Helper()
	history, err := s.ListAccess(context.Background(), citizen, consent.HistoryCursor{}, 10)
	check(t, err)
	var kinds []string
	for _, e := range history {
		kinds = append(kinds, e.GrantID+" "+e.Kind)
	}
	slices.Sort(kinds)
	return kinds
}
