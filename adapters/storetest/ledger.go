package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

func ledgerTests() []namedTest {
	return []namedTest{{"LedgerSealsAndProves", testLedger}}
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
