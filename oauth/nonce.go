package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Server-provided DPoP nonces (RFC 9449 §8, §9): a nonce is the number of
// a time window with a keyed hash of it, so every replica issues the same
// nonce and accepts another's without asking the store. A nonce works in
// its window and the next, so it rotates every DPoPNonceEvery and lives
// between one and two of them.

// DPoPNonceEvery is how often the nonce changes.
const DPoPNonceEvery = 5 * time.Minute

type nonces struct {
	key []byte
	now func() time.Time
}

func (n nonces) window(t time.Time) uint64 {
	return uint64(t.Unix() / int64(DPoPNonceEvery/time.Second))
}

func (n nonces) make(w uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], w)
	m := hmac.New(sha256.New, n.key)
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}

// current is the nonce to hand out now.
func (n nonces) current() string { return n.make(n.window(n.now())) }

// valid reports whether s is this window's nonce or the last one's.
func (n nonces) valid(s string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 24 {
		return false
	}
	w, cur := binary.BigEndian.Uint64(raw[:8]), n.window(n.now())
	if w != cur && w+1 != cur {
		return false
	}
	return hmac.Equal([]byte(s), []byte(n.make(w)))
}
