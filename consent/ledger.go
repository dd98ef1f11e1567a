package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/kelisim/kelisim/consent/merkle"
)

// The ledger part: the history is a tamper-evident log. Each event, once
// a few seconds old, becomes a leaf of one Merkle tree (RFC 9162) that
// also links it to the previous event of the same citizen (a hash chain
// per citizen); each round publishes a signed checkpoint — the tree's head
// — and keeps the old ones. A citizen gets their chain with an inclusion
// proof for every entry; anybody gets a consistency proof between two
// heads. Before sealing more, each round checks a window of what it sealed
// before against the stored tree: an edited, removed or reordered row is
// reported (logged, counted) and no head is published over it.

// TypeCheckpoint is the JWS typ of a signed tree head.
const TypeCheckpoint = "kelisim-checkpoint+jwt"

// LeafVersion names the leaf format.
const LeafVersion = 1

// Seal is where an event stands in the log.
type Seal struct {
	Index int64  // its leaf index
	Chain string // the citizen's chain, by pseudonym
	Hash  []byte // its leaf hash
	// Dropped: the event's month is past retention and gone; the leaf
	// stays, so the tree and the chain go on.
	Dropped bool
}

// Checkpoint is a signed head of the log.
type Checkpoint struct {
	Size   int64
	Root   []byte
	At     time.Time
	Signed string // the JWS of TypeCheckpoint
}

// ErrNoCheckpoint: no head of that size (or none yet).
var ErrNoCheckpoint = newError(KindNotFound, "", "no checkpoint of that size")

// ErrTampered: the stored history no longer matches its log.
var ErrTampered = errors.New("the history does not match its log")

// LedgerStore is what the ledger needs of the store.
type LedgerStore interface {
	// SealRound runs fn in a transaction that holds the log's lock, so
	// one replica seals at a time; false when another holds it now.
	SealRound(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
	// LatestCheckpoint returns the newest head, or ErrNoCheckpoint.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoint returns the head of size, or ErrNoCheckpoint.
	Checkpoint(ctx context.Context, size int64) (Checkpoint, error)
	// Checkpoints returns up to limit heads, newest first.
	Checkpoints(ctx context.Context, limit int) ([]Checkpoint, error)
	SaveCheckpoint(ctx context.Context, cp Checkpoint) error
	// Unsealed returns up to limit events not yet in the log, written
	// before before, in the order they were written.
	Unsealed(ctx context.Context, before time.Time, limit int) ([]AccessEvent, error)
	// SealEvents places events (by AccessEvent.ID) in the log.
	SealEvents(ctx context.Context, seals map[int64]Seal) error
	// Sealed returns the events at leaf indexes from…to-1 that are
	// there, in log order.
	Sealed(ctx context.Context, from, to int64) ([]AccessEvent, error)
	// ChainEvents returns the sealed events of chain, in log order.
	ChainEvents(ctx context.Context, chain string) ([]AccessEvent, error)
	// ChainHeads returns, for each of chains that has one, the leaf hash
	// of its last event before leaf index before.
	ChainHeads(ctx context.Context, chains []string, before int64) (map[string][]byte, error)
	// NodesWithin returns the stored subtrees above the leaves that lie
	// wholly within the leaves from…to-1.
	NodesWithin(ctx context.Context, from, to int64) (map[merkle.ID][]byte, error)
	// PutNodes stores perfect subtrees above the leaves.
	PutNodes(ctx context.Context, nodes map[merkle.ID][]byte) error
	// Node returns a perfect subtree's hash (level 0: a sealed event's
	// leaf hash), or merkle.ErrMissing.
	Node(ctx context.Context, id merkle.ID) ([]byte, error)
	// DroppedBefore is where retention cut the history: events before it
	// are gone and their leaves kept (Seal.Dropped). Zero before any cut.
	DroppedBefore(ctx context.Context) (time.Time, error)
}

// LedgerObserver counts what the ledger does.
type LedgerObserver interface {
	Checkpointed(size int64)
	Tampered()
}

// LedgerConfig is what the Ledger is built from.
type LedgerConfig struct {
	Store    LedgerStore
	Signer   Signer
	Key      []byte // the pseudonym key (Settings')
	Issuer   string
	Observer LedgerObserver
	// Settle is how old an event must be to be sealed, so that one whose
	// transaction commits late is not passed over (default 5s).
	Settle time.Duration
	// Batch bounds the events one round seals (default 10,000). Audit is
	// how many leaves a round checks again: the latest, and as many from
	// a random place (default 2,000 each).
	Batch, Audit int
	// Retention is the history's (the upkeep's HistoryRetention): an
	// event is taken as dropped by retention, not deleted, only if it is
	// older than that and before the store's recorded cut. 0: nothing is
	// ever dropped.
	Retention time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Ledger seals the history into its log and answers for it.
type Ledger struct{ cfg LedgerConfig }

// NewLedger checks cfg and returns the ledger.
func NewLedger(cfg LedgerConfig) (*Ledger, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Signer": cfg.Signer == nil, "Key": len(cfg.Key) < 16,
		"Issuer": cfg.Issuer == "", "Observer": cfg.Observer == nil, "Now": cfg.Now == nil, "Log": cfg.Log == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewLedger: %w", err)
	}
	if cfg.Settle == 0 {
		cfg.Settle = 5 * time.Second
	}
	if cfg.Batch == 0 {
		cfg.Batch = 10_000
	}
	if cfg.Audit == 0 {
		cfg.Audit = 2_000
	}
	return &Ledger{cfg: cfg}, nil
}

// Pseudonym is how the history names a citizen once erased, and how the
// log names every chain: a keyed hash of the IIN. A pseudonym is its own.
func Pseudonym(key []byte, iin IIN) string {
	if strings.HasPrefix(string(iin), "p-") {
		return string(iin)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pseudonym\x00" + string(iin)))
	return "p-" + hex.EncodeToString(m.Sum(nil)[:10])
}

// Leaf is one history event as the log hashes it: no IIN, only
// pseudonyms, and the hash of the chain's previous leaf.
type Leaf struct {
	V        int          `json:"v"`
	Chain    string       `json:"chain"`
	Prev     string       `json:"prev"` // hex; "" for a chain's first
	At       string       `json:"at"`
	Kind     string       `json:"kind"`
	Holder   string       `json:"holder"`
	Partner  string       `json:"partner,omitempty"`
	Grant    string       `json:"grant,omitempty"`
	Document DocumentType `json:"document,omitempty"`
	By       string       `json:"by,omitempty"`
	Detail   *GrantState  `json:"detail,omitempty"`
}

// leaf is event e's leaf bytes in chain after the leaf hashed prev.
func (l *Ledger) leaf(e AccessEvent, chain string, prev []byte) []byte {
	lf := Leaf{V: LeafVersion, Chain: chain, Prev: hex.EncodeToString(prev), At: e.At.UTC().Format(time.RFC3339Nano), Kind: e.Kind,
		Holder: Pseudonym(l.cfg.Key, e.Holder), Partner: e.PartnerID, Grant: e.GrantID, Document: e.Document, By: e.By}
	if e.Grant != nil {
		d := *e.Grant
		d.Holders = make([]IIN, len(e.Grant.Holders))
		for i, h := range e.Grant.Holders {
			d.Holders[i] = IIN(Pseudonym(l.cfg.Key, h))
		}
		lf.Detail = &d
	}
	raw, _ := json.Marshal(lf) // cannot fail: strings, numbers and times
	return raw
}

// nodeCache reads the tree through the store, remembering, and keeps the
// nodes a round adds.
type nodeCache struct {
	ctx   context.Context
	store LedgerStore
	known map[merkle.ID][]byte
	added map[merkle.ID][]byte
}

func (c *nodeCache) Node(id merkle.ID) ([]byte, error) {
	if h, ok := c.known[id]; ok {
		return h, nil
	}
	h, err := c.store.Node(c.ctx, id)
	if err == nil {
		c.known[id] = h
	}
	return h, err
}

func (c *nodeCache) put(id merkle.ID, h []byte, stored bool) {
	c.known[id] = h
	if !stored && id.Level > 0 {
		c.added[id] = h
	}
}

// Run runs a round every every until ctx ends.
func (l *Ledger) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.Round(ctx); err != nil && !errors.Is(err, ErrTampered) && ctx.Err() == nil {
				l.cfg.Log.ErrorContext(ctx, "seal the history", "err", err)
			}
		}
	}
}

// Round seals the events that have settled and publishes a new head, if
// there were any; another replica's round in progress is left alone. It
// first checks what it sealed before, and publishes nothing over a
// history that no longer matches its log (ErrTampered).
func (l *Ledger) Round(ctx context.Context) (cp Checkpoint, err error) {
	_, err = l.cfg.Store.SealRound(ctx, func(ctx context.Context) error {
		cp, err = l.seal(ctx)
		return err
	})
	if errors.Is(err, ErrTampered) {
		l.cfg.Observer.Tampered()
		l.cfg.Log.ErrorContext(ctx, "history tampered: no checkpoint is published over it", "err", err)
	}
	return cp, err
}

func (l *Ledger) seal(ctx context.Context) (Checkpoint, error) {
	last, err := l.cfg.Store.LatestCheckpoint(ctx)
	if err != nil && !errors.Is(err, ErrNoCheckpoint) {
		return Checkpoint{}, err
	}
	if err := l.audit(ctx, last); err != nil {
		return Checkpoint{}, err
	}
	events, err := l.cfg.Store.Unsealed(ctx, l.cfg.Now().Add(-l.cfg.Settle), l.cfg.Batch)
	if err != nil || len(events) == 0 {
		return last, err
	}
	nodes := &nodeCache{ctx: ctx, store: l.cfg.Store, known: map[merkle.ID][]byte{}, added: map[merkle.ID][]byte{}}
	seals := map[int64]Seal{}
	n := last.Size
	heads, err := l.heads(ctx, events, n)
	if err != nil {
		return Checkpoint{}, err
	}
	for i, e := range events {
		index := n + int64(i)
		chain := Pseudonym(l.cfg.Key, e.Citizen)
		h := merkle.LeafHash(l.leaf(e, chain, heads[chain]))
		heads[chain], seals[e.ID] = h, Seal{Index: index, Chain: chain, Hash: h}
		nodes.put(merkle.ID{Index: index}, h, false)
		for _, id := range merkle.Completed(index) {
			left, err := nodes.Node(merkle.ID{Level: id.Level - 1, Index: 2 * id.Index})
			if err != nil {
				return Checkpoint{}, err
			}
			right, _ := nodes.Node(merkle.ID{Level: id.Level - 1, Index: 2*id.Index + 1})
			nodes.put(id, merkle.NodeHash(left, right), false)
		}
	}
	if err := l.cfg.Store.SealEvents(ctx, seals); err != nil {
		return Checkpoint{}, err
	}
	if err := l.cfg.Store.PutNodes(ctx, nodes.added); err != nil {
		return Checkpoint{}, err
	}
	return l.publish(ctx, nodes, n, n+int64(len(events)))
}

// publish signs and saves the head of size over the tree nodes read, the
// one after the head of size previous.
func (l *Ledger) publish(ctx context.Context, nodes merkle.Nodes, previous, size int64) (Checkpoint, error) {
	root, err := merkle.Root(nodes, size)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Size: size, Root: root, At: l.cfg.Now()}
	payload, _ := json.Marshal(map[string]any{"iss": l.cfg.Issuer, "iat": cp.At.Unix(), "tree_size": size,
		"root_hash": base64.StdEncoding.EncodeToString(root), "previous_size": previous})
	if cp.Signed, err = l.cfg.Signer.Sign(payload, TypeCheckpoint); err != nil {
		return Checkpoint{}, err
	}
	if err := l.cfg.Store.SaveCheckpoint(ctx, cp); err != nil {
		return Checkpoint{}, err
	}
	l.cfg.Observer.Checkpointed(size)
	return cp, nil
}

// BulkSealer seals a history loaded in bulk, before the log has any
// leaf: the leaves and the subtrees they complete are computed here, in
// order, without the store, exactly as a round would compute them, so a
// loader can write them with the rows, then publish their head. The next
// round audits them and seals what came after.
type BulkSealer struct {
	l        *Ledger
	next     int64
	heads    map[string][]byte
	frontier [64][]byte // per level, the last perfect subtree completed
}

// Bulk returns a sealer for an empty log.
func (l *Ledger) Bulk() *BulkSealer { return &BulkSealer{l: l, heads: map[string][]byte{}} }

// Add seals e as the next leaf and returns its seal and the subtrees its
// leaf completes (their hashes by ID), lowest first.
func (b *BulkSealer) Add(e AccessEvent) (Seal, []merkle.ID, [][]byte) {
	index := b.next
	b.next++
	chain := Pseudonym(b.l.cfg.Key, e.Citizen)
	h := merkle.LeafHash(b.l.leaf(e, chain, b.heads[chain]))
	b.heads[chain] = h
	ids := merkle.Completed(index)
	hashes := make([][]byte, len(ids))
	right := h
	for i, id := range ids {
		right = merkle.NodeHash(b.frontier[id.Level-1], right)
		hashes[i] = right
	}
	b.frontier[len(ids)] = right // the highest subtree this leaf completes, or the leaf
	return Seal{Index: index, Chain: chain, Hash: h}, ids, hashes
}

// Publish signs and saves the head over every leaf added, once the loader
// has stored them and their subtrees.
func (b *BulkSealer) Publish(ctx context.Context) (Checkpoint, error) {
	nodes := &nodeCache{ctx: ctx, store: b.l.cfg.Store, known: map[merkle.ID][]byte{}}
	return b.l.publish(ctx, nodes, 0, b.next)
}

// audit checks the latest Audit leaves under head cp, and as many from a
// random place: every event is where the log put it, hashes to its leaf
// with its chain intact, the stored tree is made of those leaves, and it
// has cp's head.
func (l *Ledger) audit(ctx context.Context, cp Checkpoint) error {
	if cp.Size == 0 {
		return nil
	}
	w := int64(l.cfg.Audit)
	if err := l.check(ctx, max(0, cp.Size-w), cp.Size); err != nil {
		return err
	}
	if cp.Size > 2*w {
		r, _ := rand.Int(rand.Reader, big.NewInt(cp.Size-2*w))
		if err := l.check(ctx, r.Int64(), r.Int64()+w); err != nil {
			return err
		}
	}
	nodes := &nodeCache{ctx: ctx, store: l.cfg.Store, known: map[merkle.ID][]byte{}}
	root, err := merkle.Root(nodes, cp.Size)
	if err != nil || !hmac.Equal(root, cp.Root) {
		return fmt.Errorf("%w: the stored tree's head of size %d is not the published one (%v)", ErrTampered, cp.Size, err)
	}
	return nil
}

// heads are the chains' last leaf hashes before leaf index before, for
// the chains of events, read at once.
func (l *Ledger) heads(ctx context.Context, events []AccessEvent, before int64) (map[string][]byte, error) {
	var chains []string
	seen := map[string]bool{}
	for _, e := range events {
		if c := Pseudonym(l.cfg.Key, e.Citizen); !seen[c] {
			seen[c] = true
			chains = append(chains, c)
		}
	}
	heads, err := l.cfg.Store.ChainHeads(ctx, chains, before)
	if heads == nil {
		heads = map[string][]byte{}
	}
	return heads, err
}

// check verifies the leaves from…to-1 and the subtrees they complete.
func (l *Ledger) check(ctx context.Context, from, to int64) error {
	events, err := l.cfg.Store.Sealed(ctx, from, to)
	if err != nil {
		return err
	}
	heads, err := l.heads(ctx, events, from)
	if err != nil {
		return err
	}
	cut, err := l.cut(ctx)
	if err != nil {
		return err
	}
	leaves := map[merkle.ID][]byte{}
	for i, e := range events {
		index := from + int64(i)
		if e.Seal == nil || e.Seal.Index != index {
			return fmt.Errorf("%w: leaf %d is missing or out of place", ErrTampered, index)
		}
		if e.Seal.Dropped {
			// Gone by retention, if its month was cut: the leaf stands
			// for it. An event gone from a kept month was deleted.
			if !e.At.Before(cut) {
				return fmt.Errorf("%w: the event of leaf %d is missing", ErrTampered, index)
			}
			heads[e.Seal.Chain], leaves[merkle.ID{Index: index}] = e.Seal.Hash, e.Seal.Hash
			continue
		}
		chain := Pseudonym(l.cfg.Key, e.Citizen)
		h := merkle.LeafHash(l.leaf(e, chain, heads[chain]))
		if chain != e.Seal.Chain || !hmac.Equal(h, e.Seal.Hash) {
			return fmt.Errorf("%w: leaf %d no longer hashes as sealed", ErrTampered, index)
		}
		heads[chain], leaves[merkle.ID{Index: index}] = h, h
	}
	if int64(len(events)) != to-from {
		return fmt.Errorf("%w: %d of the leaves %d…%d are missing", ErrTampered, to-from-int64(len(events)), from, to-1)
	}
	// Each stored subtree within the window is made of the leaves.
	within, err := l.cfg.Store.NodesWithin(ctx, from, to)
	if err != nil {
		return err
	}
	nodes := &nodeCache{ctx: ctx, store: l.cfg.Store, known: within}
	for index := from; index < to; index++ {
		for _, id := range merkle.Completed(index) {
			if id.Index<<id.Level < from {
				break
			}
			want, err := (&leafView{leaves, nodes}).Node(id)
			if err != nil {
				return err
			}
			got, err := nodes.Node(id)
			if err != nil || !hmac.Equal(got, want) {
				return fmt.Errorf("%w: the subtree %d/%d is not made of its leaves", ErrTampered, id.Level, id.Index)
			}
		}
	}
	return nil
}

// cut is the time before which events may be gone by retention: the
// store's record of its cut, bounded by the configured retention, so that
// moving the record forward does not hide a deletion.
func (l *Ledger) cut(ctx context.Context) (time.Time, error) {
	if l.cfg.Retention == 0 {
		return time.Time{}, nil
	}
	c, err := l.cfg.Store.DroppedBefore(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if most := l.cfg.Now().Add(-l.cfg.Retention); c.After(most) {
		c = most
	}
	return c, nil
}

// leafView is the tree with the leaves as recomputed; above them, only
// what they make.
type leafView struct {
	leaves map[merkle.ID][]byte
	stored *nodeCache
}

func (v *leafView) Node(id merkle.ID) ([]byte, error) {
	if id.Level == 0 {
		if h, ok := v.leaves[id]; ok {
			return h, nil
		}
		return v.stored.Node(id)
	}
	left, err := v.Node(merkle.ID{Level: id.Level - 1, Index: 2 * id.Index})
	if err != nil {
		return nil, err
	}
	right, err := v.Node(merkle.ID{Level: id.Level - 1, Index: 2*id.Index + 1})
	if err != nil {
		return nil, err
	}
	return merkle.NodeHash(left, right), nil
}

// HistoryFormat names the export's format.
const HistoryFormat = "kelisim-history/1"

// HistoryExport is a citizen's chain as the log holds it, with what
// proves it: each entry's leaf (the bytes hashed, recomputed from the
// history as it stands) and its inclusion proof under the signed head.
type HistoryExport struct {
	Format     string `json:"format"`
	Issuer     string `json:"issuer"`
	Chain      string `json:"chain"`
	Checkpoint string `json:"checkpoint"` // the JWS of the head the proofs lead to; "" before the first
	// Retained is the chain's last leaf of the months retention dropped,
	// when it has any: the first entry follows it. Its event is gone; its
	// leaf hash is proved in the head as an entry's is.
	Retained *RetainedLeaf `json:"retained,omitempty"`
	Entries  []ExportEntry `json:"entries"`
}

// RetainedLeaf is a leaf whose event retention dropped.
type RetainedLeaf struct {
	Index int64    `json:"leaf_index"`
	Hash  []byte   `json:"leaf_hash"`       // base64 in JSON
	Proof [][]byte `json:"inclusion_proof"` // as an entry's
}

// ExportEntry is one event of the chain.
type ExportEntry struct {
	Index int64    `json:"leaf_index"`
	Leaf  []byte   `json:"leaf"`            // base64 in JSON; itself a JSON Leaf
	Proof [][]byte `json:"inclusion_proof"` // base64 hashes, as RFC 9162 orders them
}

// Export returns the citizen's chain under the latest head. Events newer
// than the head join the next export.
func (l *Ledger) Export(ctx context.Context, citizen IIN) (HistoryExport, error) {
	chain := Pseudonym(l.cfg.Key, citizen)
	out := HistoryExport{Format: HistoryFormat, Issuer: l.cfg.Issuer, Chain: chain, Entries: []ExportEntry{}}
	cp, err := l.cfg.Store.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNoCheckpoint) {
		return out, nil
	}
	if err != nil {
		return HistoryExport{}, err
	}
	out.Checkpoint = cp.Signed
	events, err := l.cfg.Store.ChainEvents(ctx, chain)
	if err != nil {
		return HistoryExport{}, err
	}
	cut, err := l.cut(ctx)
	if err != nil {
		return HistoryExport{}, err
	}
	nodes := &nodeCache{ctx: ctx, store: l.cfg.Store, known: map[merkle.ID][]byte{}}
	var prev []byte
	for _, e := range events {
		if e.Seal == nil || e.Seal.Index >= cp.Size {
			break
		}
		if e.Seal.Dropped {
			// Past retention, the next entry links to its leaf; gone
			// from a kept month, the entries after it no longer prove.
			if !e.At.Before(cut) {
				l.cfg.Log.ErrorContext(ctx, "history tampered: an event of a kept month is missing", "leaf", e.Seal.Index)
				continue
			}
			prev = e.Seal.Hash
			if len(out.Entries) == 0 {
				proof, err := merkle.InclusionProof(nodes, e.Seal.Index, cp.Size)
				if err != nil && !errors.Is(err, merkle.ErrMissing) {
					return HistoryExport{}, err
				}
				out.Retained = &RetainedLeaf{Index: e.Seal.Index, Hash: e.Seal.Hash, Proof: proof}
			}
			continue
		}
		leaf := l.leaf(e, chain, prev)
		proof, err := merkle.InclusionProof(nodes, e.Seal.Index, cp.Size)
		if errors.Is(err, merkle.ErrMissing) {
			// A leaf of the tree is gone from the store: the entry goes
			// without a proof, and no verifier will take it.
			l.cfg.Log.ErrorContext(ctx, "history tampered: a leaf is missing", "leaf", e.Seal.Index)
			proof = nil
		} else if err != nil {
			return HistoryExport{}, err
		}
		out.Entries = append(out.Entries, ExportEntry{Index: e.Seal.Index, Leaf: leaf, Proof: proof})
		prev = merkle.LeafHash(leaf)
	}
	return out, nil
}

// Consistency is the proof that the head of size second extends the head
// of size first (RFC 9162 §2.1.4); both must be published heads.
func (l *Ledger) Consistency(ctx context.Context, first, second int64) ([][]byte, error) {
	for _, size := range []int64{first, second} {
		if _, err := l.cfg.Store.Checkpoint(ctx, size); err != nil {
			return nil, err
		}
	}
	if first > second {
		return nil, newError(KindInvalid, "", "the first head must not be larger than the second")
	}
	return merkle.ConsistencyProof(&nodeCache{ctx: ctx, store: l.cfg.Store, known: map[merkle.ID][]byte{}}, first, second)
}

// Checkpoints returns up to limit published heads, newest first.
func (l *Ledger) Checkpoints(ctx context.Context, limit int) ([]Checkpoint, error) {
	return l.cfg.Store.Checkpoints(ctx, limit)
}

// Checkpoint returns the published head of size.
func (l *Ledger) Checkpoint(ctx context.Context, size int64) (Checkpoint, error) {
	return l.cfg.Store.Checkpoint(ctx, size)
}
