package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
)

// The grants a document's change is delivered under are read in one
// round trip, however many the citizen has: not a search, then each
// grant on its own.
func TestActiveGrantsReadAtOnce(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 1})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	citizen := consent.IIN("850315300128")
	for i := range 4 {
		c := consent.Challenge{
			ID: fmt.Sprintf("at-once-%d", i), PendingID: "pend", PartnerID: "p1", Session: "session:abc", Citizen: citizen,
			Documents: []consent.DocumentType{"id_card"}, Days: 30, CodeHash: []byte{1, 2, 3}, Status: consent.ChallengePending,
			Lang: "kk", CreatedAt: now, SentAt: now, ExpiresAt: now.Add(5 * time.Minute), Version: 1,
		}
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Status = consent.ChallengeUsed
		expires := now.Add(time.Hour)
		if i == 3 {
			expires = now.Add(-time.Minute) // expired, not yet swept
		}
		g := consent.Grant{ID: "g-" + c.ID, Citizen: citizen, PartnerID: fmt.Sprintf("p%d", i), Documents: c.Documents,
			CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: expires, TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
		if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ActiveGrants(ctx, citizen, "id_card", now); err != nil { // its statement prepared
		t.Fatal(err)
	}
	before := proxy.Sent()
	got, err := s.ActiveGrants(ctx, citizen, "id_card", now)
	if err != nil {
		t.Fatal(err)
	}
	if sent := proxy.Sent() - before; sent != 1 {
		t.Errorf("three active grants read in %d round trips, want 1", sent)
	}
	if len(got) != 3 || got[0].ID != "g-at-once-0" || got[2].ID != "g-at-once-2" || got[1].PartnerID != "p1" || len(got[1].Documents) != 1 {
		t.Errorf("the active grants: %+v", got)
	}
}

// A batch of deliveries is marked delivered through the outbox's key
// however the outbox has grown since the connection first marked one: a
// statement planned once, while the outbox was nearly empty (a new
// database), read the whole outbox at every batch after.
func TestFinishDeliveredFollowsTheOutboxGrowth(t *testing.T) {
	url := pgtest.URL(t)
	s := openAt(t, url, postgres.Options{MaxConns: 1}) // one connection: it plans every statement here
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	now := time.Now().UTC().Truncate(time.Second)
	due := func(id string) {
		t.Helper()
		if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, partner_id, grant_id, kind, status, next_attempt_at, created_at)
			VALUES ($1, 'p1', 'g1', 'grant', 'pending', $2, $2)`, id, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func(claim, id string) {
		t.Helper()
		if got, err := s.ClaimDeliveries(ctx, now, time.Minute, 8, claim); err != nil || len(got) != 1 || got[0].ID != id {
			t.Fatalf("claimed %v, %v; want %s", got, err, id)
		}
		if stored, err := s.FinishDelivered(ctx, claim, []consent.Delivered{{ID: id, At: now}}); err != nil || len(stored) != 1 {
			t.Fatalf("finished %v, %v", stored, err)
		}
	}
	// seqScans are the outbox's sequential scans so far, as the store's
	// connection has reported them (it reports them before answering).
	seqScans := func() int {
		t.Helper()
		if _, err := s.Scalar(ctx, `pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'outbox'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	due("first")
	deliver("w1", "first") // planned on an outbox of one row
	if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, partner_id, grant_id, kind, status, next_attempt_at, created_at, delivered_at)
		SELECT 'old-' || n, 'p1', 'g1', 'grant', 'delivered', $1, $1, $1 FROM generate_series(1, 5000) n`, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	due("second")
	before := seqScans()
	deliver("w2", "second")
	if n := seqScans() - before; n != 0 {
		t.Errorf("delivering one entry of 5000 read the outbox whole %d times", n)
	}
}
