// Package merkle is the Merkle tree of RFC 9162 (Certificate Transparency
// 2.0, §2.1) over the gateway's history: leaf and node hashes, the tree
// head of any size, and the inclusion and consistency proofs a citizen or
// an auditor checks with Verify*. The tree is read through Nodes, which
// knows the hash of every perfect subtree stored so far.
package merkle

import (
	"crypto/sha256"
	"errors"
	"math/bits"
)

// HashSize is the size of every hash in the tree (SHA-256).
const HashSize = sha256.Size

// LeafHash is MTH({d}) = SHA-256(0x00 || d).
func LeafHash(d []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(d)
	return h.Sum(nil)
}

// NodeHash is SHA-256(0x01 || left || right).
func NodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// EmptyRoot is the head of the empty tree: SHA-256 of nothing.
func EmptyRoot() []byte {
	sum := sha256.Sum256(nil)
	return sum[:]
}

// ID names a perfect subtree: the 2^Level leaves from Index·2^Level.
type ID struct {
	Level uint8
	Index int64
}

// Nodes gives the hash of perfect subtrees already stored (level 0: the
// leaves).
type Nodes interface {
	Node(id ID) ([]byte, error)
}

// ErrMissing: a node the tree needs is not stored.
var ErrMissing = errors.New("merkle: a node is missing")

// split is the largest power of two smaller than n (n > 1).
func split(n int64) int64 { return 1 << (bits.Len64(uint64(n-1)) - 1) }

// Hash is MTH(D[from:to]) of the stored tree.
func Hash(nodes Nodes, from, to int64) ([]byte, error) {
	n := to - from
	switch {
	case n <= 0:
		return EmptyRoot(), nil
	case n&(n-1) == 0 && from%n == 0:
		return nodes.Node(ID{Level: uint8(bits.TrailingZeros64(uint64(n))), Index: from / n})
	}
	k := split(n)
	left, err := Hash(nodes, from, from+k)
	if err != nil {
		return nil, err
	}
	right, err := Hash(nodes, from+k, to)
	if err != nil {
		return nil, err
	}
	return NodeHash(left, right), nil
}

// Root is the tree head of size n.
func Root(nodes Nodes, n int64) ([]byte, error) { return Hash(nodes, 0, n) }

// Completed are the perfect subtrees leaf i completes, above level 0: the
// nodes to store once it is appended, lowest first.
func Completed(i int64) []ID {
	var out []ID
	for level := uint8(1); (i+1)%(int64(1)<<level) == 0; level++ {
		out = append(out, ID{Level: level, Index: (i+1)>>level - 1})
	}
	return out
}

// InclusionProof is PATH(m, D[0:n]) (RFC 9162 §2.1.3.1).
func InclusionProof(nodes Nodes, m, n int64) ([][]byte, error) {
	if m < 0 || m >= n {
		return nil, errors.New("merkle: leaf outside the tree")
	}
	return path(nodes, m, 0, n)
}

func path(nodes Nodes, m, from, to int64) ([][]byte, error) {
	if to-from <= 1 {
		return nil, nil
	}
	k := split(to - from)
	if m < k {
		sub, err := path(nodes, m, from, from+k)
		if err != nil {
			return nil, err
		}
		h, err := Hash(nodes, from+k, to)
		return append(sub, h), err
	}
	sub, err := path(nodes, m-k, from+k, to)
	if err != nil {
		return nil, err
	}
	h, err := Hash(nodes, from, from+k)
	return append(sub, h), err
}

// ConsistencyProof is PROOF(m, D[0:n]) (RFC 9162 §2.1.4.1).
func ConsistencyProof(nodes Nodes, m, n int64) ([][]byte, error) {
	if m <= 0 || m > n {
		return nil, errors.New("merkle: no consistency proof between those sizes")
	}
	return subproof(nodes, m, 0, n, true)
}

func subproof(nodes Nodes, m, from, to int64, b bool) ([][]byte, error) {
	n := to - from
	if m == n {
		if b {
			return nil, nil
		}
		h, err := Hash(nodes, from, to)
		return [][]byte{h}, err
	}
	k := split(n)
	if m <= k {
		sub, err := subproof(nodes, m, from, from+k, b)
		if err != nil {
			return nil, err
		}
		h, err := Hash(nodes, from+k, to)
		return append(sub, h), err
	}
	sub, err := subproof(nodes, m-k, from+k, to, false)
	if err != nil {
		return nil, err
	}
	h, err := Hash(nodes, from, from+k)
	return append(sub, h), err
}
