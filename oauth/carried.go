package oauth

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// The browser that answers a pending request carries it between the
// consent pages, sealed under the gateway secret (AES-256-GCM, bound to
// the request's id), so that no page reads it from the store again. The
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
	out := base64.RawURLEncoding.EncodeToString(s.secrets.Seal(data, carriedAAD(rec.Signature)))
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
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return Record{}, false
	}
	data, err := s.secrets.Open(raw, carriedAAD(id))
	if err != nil {
		return Record{}, false
	}
	var c carriedRecord
	if err := json.Unmarshal(data, &c); err != nil {
		return Record{}, false
	}
	return Record{Kind: KindPending, Signature: id, RequestID: c.RequestID, ClientID: c.ClientID, Active: true,
		ExpiresAt: c.ExpiresAt, Request: c.Request, PartnerEpoch: c.Epoch}, true
}
