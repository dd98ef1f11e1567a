package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func deliveryTests() []namedTest {
	return []namedTest{
		{"OutboxWithGrantLeaseAndReplay", testOutbox},
		{"AccessHistory", testAccessHistory},
		{"ActiveGrantsAndEnqueue", testActiveGrantsAndEnqueue},
		{"Upkeep", testUpkeep},
		{"ExpireInBatches", testExpireInBatches},
		{"EndedAndTold", testEndedAndTold},
		{"SettingsStore", testSettingsStore},
		{"Shares", testShares},
	}
}

func testOutbox(t *testing.T, s Store) {
	ctx := context.Background()
	c := challenge("c1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	e := consent.OutboxEntry{ID: "o1", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantDocuments,
		Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}
	c.Status = consent.ChallengeUsed
	if err := s.ApproveChallenge(ctx, c, g, []consent.OutboxEntry{e}); err != nil {
		t.Fatal(err)
	}
	claimed, err := partnerOnly(s.ClaimDeliveries(ctx, t0, time.Minute, 10, "w1"))
	if err != nil || len(claimed) != 1 || claimed[0].ID != "o1" || claimed[0].GrantID != "g1" || claimed[0].Claim != "w1" {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	// Leased: another worker gets nothing until the lease ends; renewing
	// it keeps the entry.
	if again, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(30*time.Second), time.Minute, 10, "w2")); err != nil || len(again) != 0 {
		t.Errorf("a leased entry was claimed twice: %+v", again)
	}
	if err := s.RenewDelivery(ctx, "o1", "w1", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if again, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(61*time.Second), time.Minute, 10, "w2")); err != nil || len(again) != 0 {
		t.Errorf("a renewed lease was claimed: %+v", again)
	}
	// Once it runs out another worker claims it, and the first can neither
	// renew nor record an attempt.
	if again, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(91*time.Second), time.Minute, 10, "w2")); err != nil || len(again) != 1 {
		t.Fatalf("an expired lease was not claimable again: %+v", again)
	}
	if err := s.RenewDelivery(ctx, "o1", "w1", t0.Add(2*time.Minute)); !errors.Is(err, consent.ErrLeaseLost) {
		t.Errorf("renewing a lost lease: %v", err)
	}
	fail := consent.DeliveryOutcome{Error: "status 503", At: t0.Add(2 * time.Minute), RetryAt: t0.Add(5 * time.Minute), MaxAttempts: 3}
	if _, err := s.FinishDelivery(ctx, "o1", "w1", fail); !errors.Is(err, consent.ErrLeaseLost) {
		t.Errorf("finishing under a lost lease: %v", err)
	}
	e, err = s.FinishDelivery(ctx, "o1", "w2", fail)
	if err != nil || e.Attempts != 1 || e.Status != consent.OutboxPending || !e.NextAttemptAt.Equal(t0.Add(5*time.Minute)) || e.LastError != "status 503" {
		t.Fatalf("first failure: %+v %v", e, err)
	}
	if _, err := s.FinishDelivery(ctx, "o1", "w2", fail); !errors.Is(err, consent.ErrLeaseLost) {
		t.Errorf("a finished attempt was recorded twice: %v", err)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(4*time.Minute), time.Minute, 10, "w3")); err != nil || len(due) != 0 {
		t.Error("claimed before its next attempt")
	}
	// The store counts attempts: the third failure is the dead letter.
	for i, at := range []time.Time{t0.Add(5 * time.Minute), t0.Add(10 * time.Minute)} {
		due, err := partnerOnly(s.ClaimDeliveries(ctx, at, time.Minute, 10, fmt.Sprint("w", 4+i)))
		check(t, err)
		if len(due) != 1 || due[0].Attempts != 1+i {
			t.Fatalf("claim %d: %+v", i, due)
		}
		fail.At, fail.RetryAt = at, at.Add(5*time.Minute)
		e, err = s.FinishDelivery(ctx, "o1", due[0].Claim, fail)
		if err != nil {
			t.Fatal(err)
		}
	}
	if e.Status != consent.OutboxDead || e.Attempts != 3 {
		t.Errorf("after the third failure: %+v, want dead after 3 attempts", e)
	}
	dead, err := s.ListDeliveries(ctx, consent.OutboxDead, 10)
	check(t, err)
	if len(dead) != 1 || dead[0].Attempts != 3 || dead[0].LastError != "status 503" {
		t.Fatalf("dead letters: %+v", dead)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(time.Hour), time.Minute, 10, "w6")); err != nil || len(due) != 0 {
		t.Error("a dead entry was claimed")
	}
	replayed, err := s.ReplayDelivery(ctx, "o1", t0.Add(2*time.Hour))
	if err != nil || replayed.Status != consent.OutboxPending || replayed.Attempts != 0 {
		t.Fatalf("replay: %+v %v", replayed, err)
	}
	if _, err := s.ReplayDelivery(ctx, "o1", t0.Add(2*time.Hour)); !errors.Is(err, consent.ErrDeliveryNotFound) {
		t.Errorf("replaying a pending entry: %v", err)
	}
	due, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(2*time.Hour), time.Minute, 10, "w7"))
	check(t, err)
	if len(due) != 1 {
		t.Fatal("a replayed entry is not due")
	}
	if _, err := s.FinishDelivery(ctx, "o1", "w7", consent.DeliveryOutcome{Delivered: true, At: t0.Add(2 * time.Hour), MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
	if done, err := s.ListDeliveries(ctx, consent.OutboxDelivered, 10); err != nil || len(done) != 1 || !done[0].DeliveredAt.Equal(t0.Add(2*time.Hour)) || done[0].Attempts != 1 {
		t.Errorf("delivered: %+v", done)
	}
	// Deliveries stored together, each at its time, only where the claim
	// still holds: o4's lease ran out and another worker has it.
	check(t, s.EnqueueDeliveries(ctx, []consent.OutboxEntry{
		{ID: "o3", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantDocuments, Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0},
		{ID: "o4", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantDocuments, Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}}))
	t4 := t0.Add(4 * time.Hour)
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t4, time.Minute, 10, "w9")); err != nil || len(due) != 2 {
		t.Fatalf("claim o3 and o4: %+v %v", due, err)
	}
	check(t, s.RenewDelivery(ctx, "o3", "w9", t4.Add(2*time.Minute)))
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t4.Add(61*time.Second), time.Minute, 10, "w10")); err != nil || len(due) != 1 || due[0].ID != "o4" {
		t.Fatalf("claim o4 again: %+v %v", due, err)
	}
	stored, err := s.FinishDelivered(ctx, "w9", []consent.Delivered{{ID: "o3", At: t4.Add(time.Second)}, {ID: "o4", At: t4.Add(2 * time.Second)}})
	if err != nil || !slices.Equal(stored, []string{"o3"}) {
		t.Fatalf("finish o3 and o4 under w9: %v %v", stored, err)
	}
	done, err := s.ListDeliveries(ctx, consent.OutboxDelivered, 10)
	check(t, err)
	if len(done) != 2 || done[1].ID != "o3" || !done[1].DeliveredAt.Equal(t4.Add(time.Second)) || done[1].Attempts != 1 || done[1].Claim != "" {
		t.Errorf("delivered together: %+v", done)
	}
	if stored, err := s.FinishDelivered(ctx, "w9", []consent.Delivered{{ID: "o3", At: t4}}); err != nil || len(stored) != 0 {
		t.Errorf("a delivery stored twice: %v %v", stored, err)
	}
	if stored, err := s.FinishDelivered(ctx, "w10", []consent.Delivered{{ID: "o4", At: t4.Add(time.Minute)}}); err != nil || !slices.Equal(stored, []string{"o4"}) {
		t.Errorf("o4 under w10: %v %v", stored, err)
	}
	// A final failure (the grant ended) dead-letters at once.
	check(t, s.EnqueueDeliveries(ctx, []consent.OutboxEntry{{ID: "o2", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantDocuments,
		Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}}))
	due, err = partnerOnly(s.ClaimDeliveries(ctx, t0.Add(3*time.Hour), time.Minute, 10, "w8"))
	check(t, err)
	if e, err := s.FinishDelivery(ctx, "o2", "w8", consent.DeliveryOutcome{Final: true, Error: "grant ended", At: t0.Add(3 * time.Hour), MaxAttempts: 3}); err != nil || e.Status != consent.OutboxDead || e.Attempts != 1 || len(due) != 1 {
		t.Errorf("final failure: %+v %v", e, err)
	}
}

func testAccessHistory(t *testing.T, s Store) {
	ctx := context.Background()
	for i, e := range []consent.AccessEvent{
		{Citizen: "900101400559", Holder: "900101400559", Document: "id_card"},
		{Citizen: "900101400559", Holder: "150612601232", Document: "birth_certificate"},
		{Citizen: "850315300128", Holder: "850315300128", Document: "diploma"},
	} {
		e.At, e.PartnerID, e.GrantID, e.Kind = t0.Add(time.Duration(i)*time.Minute), "p1", "g1", consent.AccessFetch
		if err := s.RecordAccess(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mother, err := s.ListAccess(ctx, "900101400559", consent.HistoryCursor{}, 10)
	check(t, err)
	if len(mother) != 2 || mother[0].Document != "birth_certificate" || mother[1].Document != "id_card" {
		t.Errorf("the representative's history: %+v", mother)
	}
	// The minor's history shows the view of their document too.
	child, err := s.ListAccess(ctx, "150612601232", consent.HistoryCursor{}, 10)
	check(t, err)
	if len(child) != 1 || child[0].Holder != "150612601232" || !child[0].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("the minor's history: %+v", child)
	}

	// Many fetches at once: each one acknowledged is in the history.
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// Two at each second, and written in no order: a page's order
			// is by time and then by ID, whatever the order of writing.
			errs <- s.RecordAccess(ctx, consent.AccessEvent{At: t0.Add(time.Duration(n-i/2) * time.Second), Citizen: "870412300415",
				Holder: "870412300415", PartnerID: "p1", GrantID: fmt.Sprintf("g%d", i), Document: "id_card", Kind: consent.AccessFetch})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAccess(ctx, "870412300415", consent.HistoryCursor{}, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.GrantID] = true
	}
	if len(got) != n || len(seen) != n {
		t.Errorf("%d concurrent fetches acknowledged, %d in the history (%d distinct)", n, len(got), len(seen))
	}
	for i := 1; i < len(got); i++ {
		if a, b := got[i-1], got[i]; !consent.CursorOf(a).Before(b) {
			t.Fatalf("entry %d (%v, id %d) is not older than the one before it (%v, id %d)", i, b.At, b.ID, a.At, a.ID)
		}
	}
	// Read in pages, each before the last one's oldest: the same history,
	// newest first, nothing twice and nothing left out.
	var paged []consent.AccessEvent
	for before := (consent.HistoryCursor{}); ; {
		page, err := s.ListAccess(ctx, "870412300415", before, 63)
		check(t, err)
		paged = append(paged, page...)
		if len(page) < 63 {
			break
		}
		before = consent.CursorOf(page[len(page)-1])
	}
	if len(paged) != len(got) {
		t.Fatalf("pages of 63 held %d of %d events", len(paged), len(got))
	}
	for i := range paged {
		if paged[i].ID != got[i].ID {
			t.Fatalf("page entry %d: id %d, the whole history's %d", i, paged[i].ID, got[i].ID)
		}
	}
	// Events within one microsecond (a revocation of every grant at once
	// writes them so), paged through the cursor as a link carries it: none
	// skipped, none repeated.
	at := t0.Add(time.Hour).Add(123456100 * time.Nanosecond)
	for i := range 5 {
		check(t, s.RecordAccess(ctx, consent.AccessEvent{At: at.Add(time.Duration(4-i) * 100 * time.Nanosecond), Citizen: "870412300416",
			Holder: "870412300416", PartnerID: "p1", GrantID: fmt.Sprintf("same%d", i), Document: "id_card", Kind: consent.AccessFetch}))
	}
	var paged2 []string
	for before := (consent.HistoryCursor{}); ; {
		page, err := s.ListAccess(ctx, "870412300416", before, 2)
		check(t, err)
		for _, e := range page {
			paged2 = append(paged2, e.GrantID)
		}
		if len(page) < 2 {
			break
		}
		if before, err = consent.ParseHistoryCursor(consent.CursorOf(page[len(page)-1]).String()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"same4", "same3", "same2", "same1", "same0"}; !slices.Equal(paged2, want) {
		t.Errorf("events within one microsecond, paged by links: %v, want %v", paged2, want)
	}
	// A cursor within a representative's history: what is before it, as
	// holder and as the one who consented.
	if older, err := s.ListAccess(ctx, "900101400559", consent.CursorOf(mother[0]), 10); err != nil || len(older) != 1 || older[0].ID != mother[1].ID {
		t.Errorf("the representative's history before %d: %+v %v", mother[0].ID, older, err)
	}
}

func testActiveGrantsAndEnqueue(t *testing.T, s Store) {
	ctx := context.Background()
	for i, docs := range [][]consent.DocumentType{{"id_card"}, {"diploma"}, {"id_card", "diploma"}} {
		c := challenge(string(rune('a' + i)))
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: "g" + c.ID, Citizen: "850315300128", PartnerID: "p1", Documents: docs, CreatedAt: t0.Add(time.Duration(i) * time.Minute),
			ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
		if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ActiveGrants(ctx, "850315300128", "id_card", t0.Add(10*time.Minute))
	if err != nil || len(got) != 2 || got[0].ID != "ga" || got[1].ID != "gc" {
		t.Fatalf("active grants covering id_card: %+v %v", got, err)
	}
	if got, err := s.ActiveGrants(ctx, "850315300128", "id_card", t0.Add(2*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("expired grants returned: %+v", got)
	}
	e := consent.OutboxEntry{ID: "o9", PartnerID: "p1", GrantID: "ga", Kind: consent.KindDocumentChanged, Document: "id_card",
		Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}
	if err := s.EnqueueDeliveries(ctx, []consent.OutboxEntry{e}); err != nil {
		t.Fatal(err)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0, time.Minute, 10, "w")); err != nil || len(due) != 1 || due[0].Document != "id_card" || due[0].Kind != consent.KindDocumentChanged {
		t.Errorf("enqueued: %+v", due)
	}
}

func testUpkeep(t *testing.T, s Store) {
	ctx := context.Background()
	mk := func(id string, partner, terms string, exp time.Time) {
		c := challenge("c" + id)
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: id, Citizen: "850315300128", PartnerID: partner, Documents: c.Documents, CreatedAt: t0,
			ExpiresAt: exp, TermsVersion: terms, ChallengeID: c.ID, Status: consent.GrantActive}
		if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	mk("old", "p1", "v1", t0.Add(time.Hour))
	mk("fresh", "p1", "v1", t0.Add(48*time.Hour))
	mk("other", "p2", "v1", t0.Add(48*time.Hour))
	expired, err := expire(ctx, s, t0.Add(2*time.Hour), 100)
	if err != nil || len(expired) != 1 || expired[0].ID != "old" || expired[0].Status != consent.GrantExpired {
		t.Fatalf("expire: %+v %v", expired, err)
	}
	if again, err := expire(ctx, s, t0.Add(2*time.Hour), 100); err != nil || len(again) != 0 {
		t.Errorf("expired twice: %+v", again)
	}
	// Asked to expire grants not due, or ended already, it ends none.
	if none, err := s.ExpireGrants(ctx, []string{"old", "fresh"}, t0.Add(2*time.Hour), nil); err != nil || len(none) != 0 {
		t.Errorf("expired what was not due: %+v %v", none, err)
	}
	if h, err := s.ListAccess(ctx, "850315300128", consent.HistoryCursor{}, 10); err != nil || h[0].Kind != consent.AccessExpiry || h[0].GrantID != "old" ||
		!h[0].At.Equal(t0.Add(time.Hour)) || h[0].Grant.Status != consent.GrantExpired {
		t.Errorf("the expiry in the history: %+v %v", h, err)
	}
	ended, err := s.ReplaceGrants(ctx, consent.Grant{ID: "new", Citizen: "850315300128", PartnerID: "p1", TermsVersion: "v2"}, t0.Add(3*time.Hour), nil)
	if err != nil || len(ended) != 1 || ended[0].ID != "fresh" {
		t.Fatalf("supersede: %+v %v", ended, err)
	}
	if g, err := s.GetGrant(ctx, "other"); err != nil || g.Status != consent.GrantActive {
		t.Error("another partner's grant was superseded")
	}
	check(t, s.CreateRecord(ctx, record("access", "gone", "r1", "p1")))
	check(t, s.CreateSession(ctx, consent.CitizenSession{ID: "s1", Citizen: "850315300128", CreatedAt: t0, LastSeen: t0}))
	check(t, s.Hit(ctx, "k", 10, time.Hour, t0))
	purged, err := s.Purge(ctx, t0.Add(72*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"oauth_records", "otp_challenges", "sessions", "rate_counters"} {
		if purged[kind] == 0 {
			t.Errorf("nothing purged of %s: %v", kind, purged)
		}
	}
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, consent.ErrNoSession) {
		t.Error("a dead session survived the purge")
	}
}

// A backlog of expiries is worked off in bounded batches, those that
// expired first first, each grant ended once; a grant not yet due stays.
func testExpireInBatches(t *testing.T, s Store) {
	ctx := context.Background()
	// Made in an order other than their expiries' and their ids'.
	for _, h := range []int{3, 1, 5, 2, 4, 9} {
		c := challenge(fmt.Sprintf("c%d", h))
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: fmt.Sprintf("g%d", 10-h), Citizen: "850315300128", PartnerID: fmt.Sprintf("p%d", h), Documents: c.Documents,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Duration(h) * time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
		check(t, s.ApproveChallenge(ctx, c, g, nil))
	}
	now := t0.Add(6 * time.Hour)
	var got [][]string
	for range 4 {
		batch, err := expire(ctx, s, now, 2)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range batch {
			if g.Status != consent.GrantExpired || !g.StatusChangedAt.Equal(g.ExpiresAt) {
				t.Errorf("%s came back %s at %v", g.ID, g.Status, g.StatusChangedAt)
			}
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		got = append(got, ids)
	}
	// g9 expired at 1h, g8 at 2h, g7 at 3h, g6 at 4h, g5 at 5h; g1 at 9h.
	if want := [][]string{{"g8", "g9"}, {"g6", "g7"}, {"g5"}, nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	if g, err := s.GetGrant(ctx, "g1"); err != nil || g.Status != consent.GrantActive {
		t.Errorf("the grant not yet due: %+v %v", g, err)
	}
}

// expire expires the first limit grants due at now, as the upkeep does.
func expire(ctx context.Context, s Store, now time.Time, limit int) ([]consent.Grant, error) {
	due, err := s.DueGrants(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(due))
	for i, g := range due {
		ids[i] = g.ID
	}
	return s.ExpireGrants(ctx, ids, now, nil)
}

// The notifications of grants that end go in the transaction that ends
// them: an expiry or a replacement rolled back leaves none, and one
// committed leaves them all.
func testEndedAndTold(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		c := challenge("c" + id)
		check(t, s.CreateChallenge(ctx, c))
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: id, Citizen: "850315300128", PartnerID: "p-" + id, Documents: c.Documents, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
		check(t, s.ApproveChallenge(ctx, c, g, nil))
	}
	var asked []string
	tell := func(ended []consent.Grant) []consent.OutboxEntry {
		var out []consent.OutboxEntry
		for _, g := range ended {
			asked = append(asked, g.ID)
			out = append(out, consent.OutboxEntry{ID: "told-" + g.ID, PartnerID: g.PartnerID, GrantID: g.ID, Kind: consent.KindGrantRevoked,
				Status: consent.OutboxPending, NextAttemptAt: t0.Add(2 * time.Hour), CreatedAt: t0.Add(2 * time.Hour)})
		}
		return out
	}
	told := func() []string {
		entries, err := s.ListDeliveries(ctx, consent.OutboxPending, 100)
		check(t, err)
		var ids []string
		for _, e := range entries {
			if e.Kind == consent.KindGrantRevoked {
				ids = append(ids, e.GrantID)
			}
		}
		slices.Sort(ids)
		return ids
	}

	tx, err := s.BeginTx(ctx)
	check(t, err)
	if ended, err := s.ExpireGrants(tx, []string{"a", "b"}, t0.Add(2*time.Hour), tell); err != nil || len(ended) != 2 {
		t.Fatalf("expire: %+v %v", ended, err)
	}
	check(t, s.Rollback(tx))
	if got := told(); len(got) != 0 {
		t.Errorf("an expiry rolled back told partners of %v", got)
	}
	if g, err := s.GetGrant(ctx, "a"); err != nil || g.Status != consent.GrantActive {
		t.Errorf("an expiry rolled back: %+v %v", g, err)
	}

	if ended, err := s.ExpireGrants(ctx, []string{"a", "b"}, t0.Add(2*time.Hour), tell); err != nil || len(ended) != 2 {
		t.Fatalf("expire: %+v %v", ended, err)
	}
	if got := told(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("expiry told partners of %v, want [a b]", got)
	}
	asked = nil
	// A replacement tells of what it ended, and of nothing when it ended
	// nothing.
	g := consent.Grant{ID: "new", Citizen: "850315300128", PartnerID: "p-c", TermsVersion: "v2"}
	if ended, err := s.ReplaceGrants(ctx, g, t0.Add(30*time.Minute), tell); err != nil || len(ended) != 1 {
		t.Fatalf("replace: %+v %v", ended, err)
	}
	if ended, err := s.ReplaceGrants(ctx, g, t0.Add(40*time.Minute), tell); err != nil || len(ended) != 0 {
		t.Fatalf("replaced again: %+v %v", ended, err)
	}
	if got := told(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("told partners of %v, want [a b c]", got)
	}
	if !reflect.DeepEqual(asked, []string{"c"}) {
		t.Errorf("tell was asked of %v, want [c]", asked)
	}
}

func testSettingsStore(t *testing.T, s Store) {
	ctx := context.Background()
	c := challenge("c1")
	check(t, s.CreateChallenge(ctx, c))
	c.Status = consent.ChallengeUsed
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
		t.Fatal(err)
	}
	set := consent.OutboxEntry{ID: "set1", PartnerID: "p1", GrantID: "g1", Kind: consent.KindGrantRevoked, Status: consent.OutboxPending, NextAttemptAt: t0, CreatedAt: t0}
	if ok, err := s.RevokeGrant(ctx, "g1", "citizen", "why", t0.Add(time.Minute), []consent.OutboxEntry{set}); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	set.ID = "set2"
	if ok, err := s.RevokeGrant(ctx, "g1", "citizen", "why", t0.Add(2*time.Minute), []consent.OutboxEntry{set}); ok || err != nil {
		t.Errorf("second revoke: %v %v", ok, err)
	}
	if due, err := partnerOnly(s.ClaimDeliveries(ctx, t0.Add(time.Hour), time.Minute, 10, "w")); err != nil || len(due) != 1 || due[0].ID != "set1" {
		t.Errorf("notifications queued: %+v, want only the first revocation's", due)
	}
	check(t, s.AckRevocation(ctx, "g1", t0.Add(3*time.Minute)))
	got, err := s.ListGrants(ctx, c.Citizen)
	check(t, err)
	if len(got) != 1 || got[0].Status != consent.GrantRevoked || !got[0].StatusChangedAt.Equal(t0.Add(time.Minute)) ||
		got[0].StatusBy != "citizen" || !got[0].RevocationAckedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("grant after revoke: %+v", got)
	}
	check(t, s.CreateSession(ctx, consent.CitizenSession{ID: "s1", Citizen: c.Citizen, CreatedAt: t0, LastSeen: t0}))
	check(t, s.TouchSession(ctx, "s1", t0.Add(time.Minute)))
	if sess, err := s.GetSession(ctx, "s1"); err != nil || !sess.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("session %+v %v", sess, err)
	}
	check(t, s.RecordAccess(ctx, consent.AccessEvent{At: t0, Citizen: c.Citizen, Holder: c.Citizen, PartnerID: "p1", GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}))
	if used, err := s.LastUsed(ctx, c.Citizen); err != nil || !used["g1"].Equal(t0) {
		t.Errorf("last used %v", used)
	}
	check(t, s.CreateRecord(ctx, record("access", "tok", "r1", "p1"))) // grant g1
	counts, err := s.Erase(ctx, c.Citizen, "p-x", t0.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if counts["sessions"] != 1 || counts["otp_records"] != 1 || counts["tokens"] != 1 || counts["grants_pseudonymised"] != 1 || counts["history_pseudonymised"] != 3 {
		t.Errorf("erase counts %v", counts)
	}
	// The history keeps the consent, the revocation and the fetch under the
	// pseudonym, the grant's holders too, and says the citizen erased;
	// in time order, though the fetch was written after the revocation.
	h, err := s.ListAccess(ctx, "p-x", consent.HistoryCursor{}, 10)
	if err != nil || len(h) != 4 || h[0].Kind != consent.AccessErasure || !h[0].At.Equal(t0.Add(4*time.Minute)) ||
		h[1].Kind != consent.AccessRevocation || h[1].By != "citizen" || h[2].Kind != consent.AccessFetch || h[3].Kind != consent.AccessConsent ||
		h[3].Grant == nil || !slices.Equal(h[3].Grant.Holders, []consent.IIN{"p-x"}) || h[3].Grant.Receipt == "" {
		t.Errorf("history after erasure: %+v %v", h, err)
	}
	if got, err := s.ListGrants(ctx, c.Citizen); err != nil || len(got) != 0 {
		t.Error("grants still listed under the IIN")
	}
	if h, err := s.ListAccess(ctx, c.Citizen, consent.HistoryCursor{}, 10); err != nil || len(h) != 0 {
		t.Error("history still under the IIN")
	}
	if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, consent.ErrNoSession) {
		t.Error("session survived erasure")
	}

	// A representative's consent that named a minor the grant no longer
	// covers (narrowed, or replaced, since): the minor's erasure still
	// reaches that row.
	const guardian, minor consent.IIN = "900101400559", "150612601232"
	check(t, s.RecordAccess(ctx, consent.AccessEvent{At: t0, Citizen: guardian, Holder: guardian, PartnerID: "p1", GrantID: "narrowed",
		Kind: consent.AccessConsent, Grant: &consent.GrantState{Receipt: "r-minor", Holders: []consent.IIN{guardian, minor}, Status: consent.GrantActive}}))
	if _, err := s.Erase(ctx, minor, "p-minor", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	theirs, err := s.ListAccess(ctx, guardian, consent.HistoryCursor{}, 10)
	if err != nil || len(theirs) != 1 || theirs[0].Grant == nil || !slices.Equal(theirs[0].Grant.Holders, []consent.IIN{guardian, "p-minor"}) {
		t.Errorf("the representative's consent after the minor's erasure: %+v %v", theirs, err)
	}
}

func testShares(t *testing.T, s Store) {
	ctx := context.Background()
	sh := consent.Share{ID: "s1", Citizen: "850315300128", Holder: "850315300128", Document: "id_card", CodeKey: "c1", TokenKey: "t1",
		CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute), Status: consent.ShareOpen}
	if err := s.CreateShare(ctx, sh, t0); err != nil {
		t.Fatal(err)
	}
	dup := sh
	dup.ID, dup.TokenKey = "s2", "t2"
	if err := s.CreateShare(ctx, dup, t0.Add(time.Minute)); !errors.Is(err, consent.ErrShareCodeTaken) {
		t.Errorf("same open code: %v, want ErrShareCodeTaken", err)
	}
	// Once the first has expired its code is free again.
	if err := s.CreateShare(ctx, dup, t0.Add(6*time.Minute)); err != nil {
		t.Errorf("code of an expired share: %v", err)
	}
	if got, err := s.ShareBy(ctx, "", "t2"); err != nil || got.ID != "s2" {
		t.Errorf("by token: %+v %v", got, err)
	}
	if got, err := s.ShareBy(ctx, "c1", ""); err != nil || got.ID != "s2" {
		t.Errorf("by code: %+v %v", got, err)
	}
	if _, err := s.ShareBy(ctx, "", ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("by nothing: %v", err)
	}
	got, err := s.GetShare(ctx, "s2")
	check(t, err)
	got.Status, got.ClosedAt = consent.ShareClosed, t0.Add(7*time.Minute)
	check(t, s.UpdateShare(ctx, got))
	if _, err := s.ShareBy(ctx, "c1", ""); !errors.Is(err, consent.ErrShareNotFound) {
		t.Errorf("a closed share was found: %v", err)
	}
	if list, err := s.ListShares(ctx, "850315300128", 10); err != nil || len(list) != 2 {
		t.Errorf("list: %+v", list)
	}
	for i := range 3 {
		check(t, s.Hit(ctx, "v", 3, time.Minute, t0.Add(time.Duration(i)*time.Second)))
	}
	var rl *consent.RateLimitError
	if err := s.Hit(ctx, "v", 3, time.Minute, t0.Add(10*time.Second)); !errors.As(err, &rl) {
		t.Errorf("hit over the limit: %v", err)
	}
	// An event given back frees its place; in a window with nothing
	// counted a release is no error and frees nothing.
	if err := s.Release(ctx, "v", time.Minute, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "v", time.Minute, t0.Add(-time.Hour)); err != nil {
		t.Errorf("releasing what is gone: %v", err)
	}
	if err := s.Hit(ctx, "v", 3, time.Minute, t0.Add(11*time.Second)); err != nil {
		t.Errorf("hit after a release: %v", err)
	}
	if err := s.Hit(ctx, "v", 3, time.Minute, t0.Add(12*time.Second)); !errors.As(err, &rl) {
		t.Errorf("a release freed two places: %v", err)
	}
	check(t, s.RecordAccess(ctx, consent.AccessEvent{At: t0, Citizen: "850315300128", Holder: "850315300128", PartnerID: "verifier", GrantID: "s1", Document: "id_card", Kind: consent.AccessView}))
	if views, err := s.ViewsBy(ctx, "verifier", 10); err != nil || len(views) != 1 || views[0].GrantID != "s1" {
		t.Errorf("views %+v", views)
	}
}

// partnerOnly leaves the citizens' notices out of claimed entries.
func partnerOnly(entries []consent.OutboxEntry, err error) ([]consent.OutboxEntry, error) {
	var out []consent.OutboxEntry
	for _, e := range entries {
		if !consent.IsNotice(e.Kind) {
			out = append(out, e)
		}
	}
	return out, err
}
