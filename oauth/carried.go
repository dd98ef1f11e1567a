package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// The browser that answers a pending request carries it between the
// consent pages, sealed under a key derived from the gateway secret
// (AES-256-GCM, bound to the request's id), so that no page reads it from the store again. The
// store stays the truth on whether it is still open: the statement that
// answers the request uses it up only while it is active (Store.UseRecord).
// Nothing the browser carries can be read or altered by it; a browser
// without it reads the store, as before.

// MaxCarried bounds a carried request: what a cookie holds with room to
// spare. A longer request (large authorization_details) is not carried.
const MaxCarried = 3600

// carriedRecord is what a pending request's carrier holds.
type carriedRecord struct {
	RequestID string          `json:"r"`
	ClientID  string          `json:"c"`
	ExpiresAt time.Time       `json:"e"`
	Epoch     int             `json:"p"`
	Request   json.RawMessage `json:"q"`
}

// carrier seals what the browser carries, under a key of its own
// (derived from the gateway secret for this use alone), so that the
// ciphertexts browsers see never share a key with what is sealed at rest.
type carrier struct{ aead cipher.AEAD }

func newCarrier(s *Secrets) carrier {
	block, err := aes.NewCipher(s.Key("pending request carried by the browser"))
	if err != nil {
		panic(err) // the key is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return carrier{aead: aead}
}

func (c carrier) seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, plaintext, aad)
}

func (c carrier) open(sealed, aad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed data too short")
	}
	return c.aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// carriedAAD binds a carried request to its id and to this use of the key.
func carriedAAD(id string) []byte {
	return []byte("kelisim pending request carried by the browser\x00" + id)
}

// carry seals the pending record rec for the browser; empty when it is
// too long to carry.
func (s *Server) carry(rec Record) string {
	data, err := json.Marshal(carriedRecord{RequestID: rec.RequestID, ClientID: rec.ClientID, ExpiresAt: rec.ExpiresAt,
		Epoch: rec.PartnerEpoch, Request: rec.Request})
	if err != nil {
		return ""
	}
	out := base64.RawURLEncoding.EncodeToString(s.carrier.seal(data, carriedAAD(rec.Signature)))
	if len(out) > MaxCarried {
		return ""
	}
	return out
}

// carried opens what the browser carries for pending request id: the
// record as it was stored, active. ok is false for anything not sealed
// here for id.
func (s *Server) carried(id, sealed string) (rec Record, ok bool) {
	if sealed == "" || len(sealed) > MaxCarried {
		return Record{}, false
	}
	if rec, ok := s.storage.pending.opened(id, sealed); ok {
		return rec, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return Record{}, false
	}
	data, err := s.carrier.open(raw, carriedAAD(id))
	if err != nil {
		return Record{}, false
	}
	var c carriedRecord
	if err := json.Unmarshal(data, &c); err != nil {
		return Record{}, false
	}
	rec = Record{Kind: KindPending, Signature: id, RequestID: c.RequestID, ClientID: c.ClientID, Active: true,
		ExpiresAt: c.ExpiresAt, Request: c.Request, PartnerEpoch: c.Epoch}
	s.storage.pending.keep(id, sealed, &rec, nil, nil, nil)
	return rec, true
}
