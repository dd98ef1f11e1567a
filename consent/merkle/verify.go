package merkle

import (
	"bytes"
	"errors"
)

// Verifying proofs, as RFC 9162 §2.1.3.2 and §2.1.4.2 describe it: by
// whoever holds a tree head, with nothing from the gateway but the proof.

// ErrProof: the proof does not lead to the tree head.
var ErrProof = errors.New("merkle: the proof does not verify")

// VerifyInclusion checks that the leaf with hash leaf is leaf index of the
// tree of size with head root.
func VerifyInclusion(index, size int64, leaf []byte, proof [][]byte, root []byte) error {
	if index < 0 || index >= size {
		return ErrProof
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return ErrProof
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(r, root) {
		return ErrProof
	}
	return nil
}

// VerifyConsistency checks that the tree of size second with head
// secondRoot extends the tree of size first with head firstRoot.
func VerifyConsistency(first, second int64, firstRoot, secondRoot []byte, proof [][]byte) error {
	switch {
	case first <= 0 || first > second:
		return ErrProof
	case first == second:
		if len(proof) != 0 || !bytes.Equal(firstRoot, secondRoot) {
			return ErrProof
		}
		return nil
	}
	if len(proof) == 0 {
		return ErrProof
	}
	if first&(first-1) == 0 { // a power of two: the first head is the proof's first node
		proof = append([][]byte{firstRoot}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return ErrProof
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(fr, firstRoot) || !bytes.Equal(sr, secondRoot) {
		return ErrProof
	}
	return nil
}
