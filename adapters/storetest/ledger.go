package storetest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

func ledgerTests() []namedTest {
	return []namedTest{{"LedgerSealsAndProves", testLedger}, {"LedgerAcrossRetention", testLedgerAcrossRetention}}
}

type noLedgerObserver struct{}

func (noLedgerObserver) Checkpointed(int64) {}
func (noLedgerObserver) Tampered()          {}

type plainSigner struct{}

func (plainSigner) Sign(payload []byte, typ string) (string, error) {
	return typ + ":" + string(payload), nil
}

// The ledger over the store: events written at once by many requests are
// sealed in rounds of a batch, each publishing a head; a chain's export
// proves every entry; heads are consistent; a second round at the same
// moment (another replica) does nothing.
func testLedger(t *testing.T, s Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	ledger, err := consent.NewLedger(consent.LedgerConfig{Store: s, Signer: plainSigner{}, Key: []byte("0123456789abcdef0123456789abcdef"),
		Issuer: "https://kelisim.test", Observer: noLedgerObserver{}, Batch: 7, Audit: 5, Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	check(t, err)
	citizens := []consent.IIN{"850315300128", "900101400559", "150612601232"}
	for i := range 20 {
		c := citizens[i%3]
		check(t, s.RecordAccess(ctx, consent.AccessEvent{At: t0.Add(time.Duration(i) * time.Second), Citizen: c, Holder: c,
			PartnerID: "p1", GrantID: fmt.Sprintf("g%d", i%3), Document: "id_card", Kind: consent.AccessFetch}))
	}
	var heads []consent.Checkpoint
	for range 3 {
		cp, err := ledger.Round(ctx)
		check(t, err)
		heads = append(heads, cp)
	}
	if heads[0].Size != 7 || heads[1].Size != 14 || heads[2].Size != 20 {
		t.Fatalf("heads: %d %d %d", heads[0].Size, heads[1].Size, heads[2].Size)
	}
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 20 {
		t.Errorf("a round with nothing new: %d %v", cp.Size, err)
	}
	for _, first := range heads[:2] {
		proof, err := ledger.Consistency(ctx, first.Size, 20)
		if err != nil || merkle.VerifyConsistency(first.Size, 20, first.Root, heads[2].Root, proof) != nil {
			t.Errorf("consistency %d→20: %v", first.Size, err)
		}
	}
	x, err := ledger.Export(ctx, citizens[1])
	check(t, err)
	if len(x.Entries) != 7 {
		t.Fatalf("the chain's export: %d entries", len(x.Entries))
	}
	for _, e := range x.Entries {
		if err := merkle.VerifyInclusion(e.Index, 20, merkle.LeafHash(e.Leaf), e.Proof, heads[2].Root); err != nil {
			t.Errorf("entry %d: %v", e.Index, err)
		}
	}
	// Two rounds at once, as from two replicas: one seals, and the log
	// stays one.
	for i := range 6 {
		check(t, s.RecordAccess(ctx, consent.AccessEvent{At: t0.Add(time.Minute + time.Duration(i)*time.Second), Citizen: citizens[0],
			Holder: citizens[0], PartnerID: "p1", GrantID: "g0", Document: "id_card", Kind: consent.AccessFetch}))
	}
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := ledger.Round(ctx); done <- err }()
	}
	check(t, <-done)
	check(t, <-done)
	latest, err := s.LatestCheckpoint(ctx)
	if cp, _ := ledger.Round(ctx); err != nil || latest.Size != 26 || cp.Size != 26 {
		t.Errorf("after rounds at once: %d %v", latest.Size, err)
	}
}

// Retention drops whole months of the history and of the audit log; the
// log keeps their leaves, so the rounds' audits over the cut, the next
// seals and the chains' exports all hold.
func testLedgerAcrossRetention(t *testing.T, s Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	ledger, err := consent.NewLedger(consent.LedgerConfig{Store: s, Signer: plainSigner{}, Key: []byte("0123456789abcdef0123456789abcdef"),
		Issuer: "https://kelisim.test", Observer: noLedgerObserver{}, Batch: 1000, Audit: 1000, Retention: 60 * 24 * time.Hour, Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	check(t, err)
	citizens := []consent.IIN{"850315300128", "900101400559"}
	first := time.Date(2026, 7, 10, 0, 0, 0, 0, time.UTC)
	record := func(from time.Time, n int) {
		for i := range n {
			c := citizens[i%2]
			check(t, s.RecordAccess(ctx, consent.AccessEvent{At: from.Add(time.Duration(i) * 5 * 24 * time.Hour), Citizen: c, Holder: c,
				PartnerID: "p1", GrantID: "g1", Document: "id_card", Kind: consent.AccessFetch}))
		}
	}
	_, err = s.PrepareMonths(ctx, first, 5)
	check(t, err)
	record(first, 26) // 10 July to 14 November
	for _, at := range []time.Time{first, t0} {
		e := audit("p1", "partner.created")
		e.At = at
		check(t, s.AppendAudit(ctx, e))
	}
	kept := func(c consent.IIN) int {
		events, err := s.ListAccess(ctx, c, consent.HistoryCursor{}, 100)
		check(t, err)
		return len(events)
	}
	if kept(citizens[0])+kept(citizens[1]) != 26 {
		t.Fatalf("%d events kept", kept(citizens[0])+kept(citizens[1]))
	}
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 26 {
		t.Fatalf("sealed: %d %v", cp.Size, err)
	}
	dropped, err := s.DropMonths(ctx, time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC))
	check(t, err)
	if len(dropped) == 0 {
		t.Fatal("nothing dropped")
	}
	// July and August are gone: 11 events of the first 26 stayed before 1 September.
	if n := kept(citizens[0]) + kept(citizens[1]); n != 15 {
		t.Errorf("after July and August were dropped: %d events kept", n)
	}
	if entries, err := s.ListAudit(ctx, "", 10); err != nil || len(entries) != 1 || !entries[0].At.Equal(t0) {
		t.Errorf("the audit log after the cut: %v %v", entries, err)
	}
	record(t0, 4)
	now = t0.Add(30 * 24 * time.Hour)
	cp, err := ledger.Round(ctx)
	if err != nil || cp.Size != 30 {
		t.Fatalf("a round auditing across the cut: %d %v", cp.Size, err)
	}
	if _, err := ledger.Round(ctx); err != nil {
		t.Errorf("the next round's audit: %v", err)
	}
	for _, c := range citizens {
		x, err := ledger.Export(ctx, c)
		check(t, err)
		if len(x.Entries) != kept(c) {
			t.Errorf("the export holds %d of %d kept events", len(x.Entries), kept(c))
		}
		// As a verifier reads it: from the chain's last dropped leaf, in
		// the head, each entry after the one before.
		if x.Retained == nil || merkle.VerifyInclusion(x.Retained.Index, cp.Size, x.Retained.Hash, x.Retained.Proof, cp.Root) != nil {
			t.Fatalf("the chain's last leaf before the cut: %+v", x.Retained)
		}
		prev := hex.EncodeToString(x.Retained.Hash)
		for _, e := range x.Entries {
			var leaf consent.Leaf
			if err := json.Unmarshal(e.Leaf, &leaf); err != nil || leaf.Prev != prev {
				t.Errorf("entry %d does not follow the one before: %v", e.Index, err)
			}
			if err := merkle.VerifyInclusion(e.Index, cp.Size, merkle.LeafHash(e.Leaf), e.Proof, cp.Root); err != nil {
				t.Errorf("entry %d after the cut: %v", e.Index, err)
			}
			prev = hex.EncodeToString(merkle.LeafHash(e.Leaf))
		}
	}
}
