package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func consentTests() []namedTest {
	return []namedTest{
		{"RateLimitSlidingWindow", testRateLimit},
		{"ChallengeCompareAndSwap", testChallengeCAS},
		{"ApproveChallengeCreatesGrant", testApprove},
		{"ApprovalRolledBack", testApprovalRolledBack},
	}
}

func testRateLimit(t *testing.T, s Store) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("hit %d: %v", i, err)
		}
	}
	err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(10*time.Minute))
	var rl *consent.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 50*time.Minute {
		t.Fatalf("fourth hit: %v, want a RateLimitError retrying after 50m", err)
	}
	if err := s.Hit(ctx, "other", 3, time.Hour, t0.Add(10*time.Minute)); err != nil {
		t.Errorf("another key was limited: %v", err)
	}
	// The first event leaves the window an hour after it happened.
	if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Hour+time.Second)); err != nil {
		t.Errorf("after the window slid: %v", err)
	}
	if err := s.Hit(ctx, "k", 3, time.Hour, t0.Add(time.Hour+2*time.Second)); err == nil {
		t.Error("a refused hit was counted, or the window forgot events")
	}

	// Hits at once, as from many replicas: exactly the limit gets through.
	const n, limit = 60, 10
	var wg sync.WaitGroup
	var passed atomic.Int32
	for i := range n {
		wg.Go(func() {
			err := s.Hit(ctx, "burst", limit, time.Hour, t0.Add(time.Duration(i)*time.Millisecond))
			if err == nil {
				passed.Add(1)
			} else if !errors.As(err, new(*consent.RateLimitError)) {
				t.Errorf("hit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if passed.Load() != limit {
		t.Errorf("%d of %d concurrent hits passed a limit of %d", passed.Load(), n, limit)
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
	if ended, err := s.SupersedeGrants(tx, c.Citizen, "p1", "v1", t0); err != nil || len(ended) != 1 {
		t.Fatalf("supersede in the transaction: %v, %v", ended, err)
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
	if due, err := s.ClaimDeliveries(ctx, t0, time.Minute, 10, "w"); err != nil || len(due) != 0 {
		t.Errorf("outbox after rollback: %v", due)
	}
}
