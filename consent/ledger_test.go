package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
)

type ledgerCounts struct{ size, tampered atomic.Int64 }

func (c *ledgerCounts) Checkpointed(size int64) { c.size.Store(size) }
func (c *ledgerCounts) Tampered()               { c.tampered.Add(1) }

// editedStore is the memory store with one sealed event read back
// changed, as a row edited in the database would be.
type editedStore struct {
	consent.LedgerStore
	edit func(*consent.AccessEvent)
}

func (s editedStore) Sealed(ctx context.Context, from, to int64) ([]consent.AccessEvent, error) {
	events, err := s.LedgerStore.Sealed(ctx, from, to)
	for i := range events {
		s.edit(&events[i])
	}
	return events, err
}

func newLedger(t *testing.T, f *fixture, store consent.LedgerStore, counts *ledgerCounts) *consent.Ledger {
	return must(consent.NewLedger(consent.LedgerConfig{Store: store, Signer: fakeSigner{}, Key: []byte("0123456789abcdef0123456789abcdef"),
		Issuer: "https://kelisim.test", Observer: counts, Settle: time.Second, Batch: 3, Audit: 4, Now: f.clock.now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
}

// checkExport verifies an export as a citizen's verifier would: each
// leaf follows the one before in the chain and is in the tree of the head.
func checkExport(t *testing.T, x consent.HistoryExport, cp consent.Checkpoint) int {
	t.Helper()
	prev := ""
	for _, e := range x.Entries {
		var leaf consent.Leaf
		if err := json.Unmarshal(e.Leaf, &leaf); err != nil || leaf.Chain != x.Chain || leaf.Prev != prev {
			t.Fatalf("entry %d does not follow the chain: %s", e.Index, e.Leaf)
		}
		h := merkle.LeafHash(e.Leaf)
		if err := merkle.VerifyInclusion(e.Index, cp.Size, h, e.Proof, cp.Root); err != nil {
			t.Fatalf("entry %d is not in the head of size %d: %v", e.Index, cp.Size, err)
		}
		prev = hexOf(h)
	}
	return len(x.Entries)
}

// The history is sealed into the log once settled, in rounds that each
// publish a head; a citizen's export proves every entry under the latest
// head, heads are consistent with each other, an erasure keeps the log
// intact, and a history edited after sealing is caught by the next round.
func TestLedger(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	counts := &ledgerCounts{}
	ledger := newLedger(t, f, f.store, counts)
	g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
	must(give(t, f, ask{partner: "shop", docs: idCard, days: 30}))
	if cp, err := ledger.Round(ctx); err != nil || cp.Size != 0 {
		t.Fatalf("a round before anything settled: %+v %v", cp, err)
	}
	f.clock.advance(2 * time.Second)
	for range 3 {
		must(f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""))
	}
	first := must(ledger.Round(ctx)) // the two consents settled; the fetches not yet
	if first.Size != 2 || counts.size.Load() != 2 {
		t.Fatalf("the first head: %d", first.Size)
	}
	f.clock.advance(2 * time.Second)
	second := must(ledger.Round(ctx))
	if second.Size != 5 {
		t.Fatalf("the second head: %d", second.Size)
	}
	proof := must(ledger.Consistency(ctx, first.Size, second.Size))
	if err := merkle.VerifyConsistency(first.Size, second.Size, first.Root, second.Root, proof); err != nil {
		t.Errorf("the heads are not consistent: %v", err)
	}
	if _, err := ledger.Consistency(ctx, 3, 5); !errors.Is(err, consent.ErrNoCheckpoint) {
		t.Errorf("consistency from a size never published: %v", err)
	}
	x := must(ledger.Export(ctx, aidar))
	if n := checkExport(t, x, second); n != 5 || x.Checkpoint != second.Signed {
		t.Errorf("aidar's export: %d entries", n)
	}

	// Erased, the citizen's rows change to the pseudonym: the log holds.
	must(f.settings.Erase(ctx, aidar))
	f.clock.advance(2 * time.Second)
	third, err := ledger.Round(ctx)
	if err != nil || third.Size != 8 || counts.tampered.Load() != 0 {
		t.Fatalf("the round after an erasure: %d %v", third.Size, err)
	}

	// A sealed row read back changed: caught, and no head over it.
	for name, edit := range map[string]func(*consent.AccessEvent){
		"a document changed": func(e *consent.AccessEvent) {
			if e.Kind == consent.AccessFetch {
				e.Document = "diploma"
			}
		},
		"a row removed": func(e *consent.AccessEvent) {
			if e.Seal.Index == 5 {
				e.Seal = nil
			}
		},
		"two rows swapped": func(e *consent.AccessEvent) {
			switch e.Seal.Index {
			case 4:
				e.Seal = &consent.Seal{Index: 5, Chain: e.Seal.Chain, Hash: e.Seal.Hash}
			case 5:
				e.Seal = &consent.Seal{Index: 4, Chain: e.Seal.Chain, Hash: e.Seal.Hash}
			}
		},
	} {
		before := counts.tampered.Load()
		edited := newLedger(t, f, editedStore{f.store, edit}, counts)
		if _, err := edited.Round(ctx); !errors.Is(err, consent.ErrTampered) || counts.tampered.Load() != before+1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if latest := must(f.store.LatestCheckpoint(ctx)); latest.Size != third.Size {
		t.Errorf("a head was published over an edited history: %d", latest.Size)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// A history loaded in bulk is sealed by BulkSealer as rounds would seal
// it: a round audits every leaf and subtree it wrote, seals what came
// after, and publishes a head every citizen's export verifies under.
func TestBulkSealer(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
	must(give(t, f, ask{partner: "shop", docs: idCard, days: 30}))
	for range 19 {
		must(f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""))
	}
	f.clock.advance(2 * time.Second)
	events := must(f.store.Unsealed(ctx, f.clock.now(), 1000))
	if len(events) != 21 {
		t.Fatalf("%d events", len(events))
	}
	counts := &ledgerCounts{}
	ledger := must(consent.NewLedger(consent.LedgerConfig{Store: f.store, Signer: fakeSigner{}, Key: []byte("0123456789abcdef0123456789abcdef"),
		Issuer: "https://kelisim.test", Observer: counts, Settle: time.Second, Audit: 1000, Now: f.clock.now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	bulk := ledger.Bulk()
	seals, nodes := map[int64]consent.Seal{}, map[merkle.ID][]byte{}
	for _, e := range events[:len(events)-3] { // the last three are left to a round
		seal, ids, hashes := bulk.Add(e)
		seals[e.ID] = seal
		for i, id := range ids {
			nodes[id] = hashes[i]
		}
	}
	if len(nodes) != 16 { // 9 + 4 + 2 + 1 above 18 leaves
		t.Fatalf("%d subtrees", len(nodes))
	}
	if err := f.store.SealEvents(ctx, seals); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutNodes(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if loaded := must(bulk.Publish(ctx)); loaded.Size != 18 || counts.size.Load() != 18 {
		t.Fatalf("the bulk's head: %d", loaded.Size)
	}
	cp := must(ledger.Round(ctx))
	if cp.Size != 21 {
		t.Fatalf("the head after the bulk: %d", cp.Size)
	}
	if again, err := ledger.Round(ctx); err != nil || again.Size != 21 || counts.tampered.Load() != 0 {
		t.Fatalf("the audit of the bulk: %+v %v (tampered %d)", again, err, counts.tampered.Load())
	}
	if n := checkExport(t, must(ledger.Export(ctx, aidar)), cp); n != 21 {
		t.Errorf("aidar's export: %d entries", n)
	}
}
