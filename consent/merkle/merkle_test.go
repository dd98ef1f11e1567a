package merkle_test

import (
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/kelisim/kelisim/consent/merkle"
)

// stored is a tree kept as the gateway keeps it: every perfect subtree.
type stored map[merkle.ID][]byte

func (s stored) Node(id merkle.ID) ([]byte, error) {
	if h, ok := s[id]; ok {
		return h, nil
	}
	return nil, merkle.ErrMissing
}

// grow appends n leaves, storing the subtrees each completes.
func grow(n int64) stored {
	s := stored{}
	for i := range n {
		s[merkle.ID{Index: i}] = merkle.LeafHash(fmt.Appendf(nil, "leaf %d", i))
		for _, id := range merkle.Completed(i) {
			s[id] = merkle.NodeHash(s[merkle.ID{Level: id.Level - 1, Index: 2 * id.Index}], s[merkle.ID{Level: id.Level - 1, Index: 2*id.Index + 1}])
		}
	}
	return s
}

// The tree heads and proofs agree with a second implementation of RFC
// 9162 (transparency-dev/merkle) for every size to 70 and every leaf, and
// the verifiers written here accept exactly what it accepts.
func TestAgainstASecondImplementation(t *testing.T) {
	const largest = 70
	s := grow(largest)
	h := rfc6962.DefaultHasher
	rf := &compact.RangeFactory{Hash: h.HashChildren}
	cr := rf.NewEmptyRange(0)
	if root, _ := merkle.Root(s, 0); string(root) != string(h.EmptyRoot()) {
		t.Error("the empty tree's head")
	}
	for n := int64(1); n <= largest; n++ {
		if err := cr.Append(s[merkle.ID{Index: n - 1}], nil); err != nil {
			t.Fatal(err)
		}
		want, _ := cr.GetRootHash(nil)
		root, err := merkle.Root(s, n)
		if err != nil || string(root) != string(want) {
			t.Fatalf("head of size %d: %x, want %x (%v)", n, root, want, err)
		}
		for m := range n {
			p, err := merkle.InclusionProof(s, m, n)
			if err != nil {
				t.Fatal(err)
			}
			leaf := s[merkle.ID{Index: m}]
			if err := proof.VerifyInclusion(h, uint64(m), uint64(n), leaf, p, root); err != nil {
				t.Errorf("inclusion of %d in %d: the second implementation refuses it: %v", m, n, err)
			}
			if err := merkle.VerifyInclusion(m, n, leaf, p, root); err != nil {
				t.Errorf("inclusion of %d in %d: %v", m, n, err)
			}
			if len(p) > 0 {
				bad := append([][]byte{}, p...)
				bad[len(bad)-1] = merkle.LeafHash([]byte("forged"))
				if merkle.VerifyInclusion(m, n, leaf, bad, root) == nil {
					t.Errorf("a forged inclusion proof of %d in %d verifies", m, n)
				}
			}
			if merkle.VerifyInclusion((m+1)%n, n, leaf, p, root) == nil && n > 1 {
				t.Errorf("inclusion of %d in %d verifies for leaf %d", m, n, (m+1)%n)
			}
		}
		for m := int64(1); m <= n; m++ {
			p, err := merkle.ConsistencyProof(s, m, n)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := merkle.Root(s, m)
			if err := proof.VerifyConsistency(h, uint64(m), uint64(n), p, first, root); err != nil {
				t.Errorf("consistency %d→%d: the second implementation refuses it: %v", m, n, err)
			}
			if err := merkle.VerifyConsistency(m, n, first, root, p); err != nil {
				t.Errorf("consistency %d→%d: %v", m, n, err)
			}
			if m < n && merkle.VerifyConsistency(m, n, merkle.LeafHash([]byte("another history")), root, p) == nil {
				t.Errorf("consistency %d→%d verifies from another head", m, n)
			}
		}
	}
}

// The worked example of RFC 9162 §2.1.5: seven leaves d0…d6; the
// inclusion proof of d0 is [b, h, l], of d3 [c, g, l], of d4 [f, j, k];
// the consistency proof 3→7 is [c, d, g, l].
func TestTheRFCsExample(t *testing.T) {
	s := grow(7)
	n := func(level uint8, i int64) []byte { return s[merkle.ID{Level: level, Index: i}] }
	h2 := func(a, b []byte) []byte { return merkle.NodeHash(a, b) }
	a, b, c, d, e, f, j := n(0, 0), n(0, 1), n(0, 2), n(0, 3), n(0, 4), n(0, 5), n(0, 6)
	g, hh, i := h2(a, b), h2(c, d), h2(e, f)
	k, l := h2(g, hh), h2(i, j)
	for _, tc := range []struct {
		name string
		got  func() ([][]byte, error)
		want [][]byte
	}{
		{"inclusion of d0", func() ([][]byte, error) { return merkle.InclusionProof(s, 0, 7) }, [][]byte{b, hh, l}},
		{"inclusion of d3", func() ([][]byte, error) { return merkle.InclusionProof(s, 3, 7) }, [][]byte{c, g, l}},
		{"inclusion of d4", func() ([][]byte, error) { return merkle.InclusionProof(s, 4, 7) }, [][]byte{f, j, k}},
		{"inclusion of d6", func() ([][]byte, error) { return merkle.InclusionProof(s, 6, 7) }, [][]byte{i, k}},
		{"consistency 3→7", func() ([][]byte, error) { return merkle.ConsistencyProof(s, 3, 7) }, [][]byte{c, d, g, l}},
		{"consistency 4→7", func() ([][]byte, error) { return merkle.ConsistencyProof(s, 4, 7) }, [][]byte{l}},
		{"consistency 6→7", func() ([][]byte, error) { return merkle.ConsistencyProof(s, 6, 7) }, [][]byte{i, j, k}},
	} {
		got, err := tc.got()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %x, want %x (%v)", tc.name, got, tc.want, err)
		}
	}
	if root, _ := merkle.Root(s, 7); string(root) != string(h2(k, l)) {
		t.Error("the head of seven leaves")
	}
}
