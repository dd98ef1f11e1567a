package oauth

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"sync"
)

// decodedTokens keeps access-token records as decoded, so that each use of
// a token, which reads its record from the store every time (whether it
// is still active, its grant, its partner), is not also a JSON decode. A
// record's stored request never changes; an entry is used only while its
// bytes equal what the store returned. It holds nothing a replica must
// share: a miss decodes again. Bounded: full, it starts over.
type decodedTokens struct {
	mu      sync.Mutex
	entries map[string]*decodedAccess
}

const decodedTokensMax = 100_000

type decodedAccess struct {
	raw     []byte
	request storedRequest
	session accessSession
}

func (d *decodedTokens) get(signature string, raw []byte) (*decodedAccess, bool) {
	d.mu.Lock()
	e, ok := d.entries[signature]
	d.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil, false
	}
	return e, true
}

func (d *decodedTokens) decode(signature string, raw []byte) (*decodedAccess, error) {
	if e, ok := d.get(signature, raw); ok {
		return e, nil
	}
	e := &decodedAccess{raw: bytes.Clone(raw)}
	if err := json.Unmarshal(raw, &e.request); err != nil {
		return nil, err
	}
	if len(e.request.Session) > 0 {
		if err := json.Unmarshal(e.request.Session, &e.session); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	if d.entries == nil || len(d.entries) >= decodedTokensMax {
		d.entries = make(map[string]*decodedAccess)
	}
	d.entries[signature] = e
	d.mu.Unlock()
	return e, nil
}

// fill sets s as decoding the stored session into it would.
func (e *decodedAccess) fill(s *Session) {
	if e.session.ExpiresAt != nil {
		s.ExpiresAt = maps.Clone(e.session.ExpiresAt)
	}
	s.Subject, s.Citizen, s.GrantID, s.JKT = e.session.Subject, e.session.Citizen, e.session.GrantID, e.session.JKT
	s.AuthorizationDetails = bytes.Clone(e.session.AuthorizationDetails)
}

// storedCopy is the stored request without the session, its slices the
// caller's own.
func (e *decodedAccess) storedCopy() storedRequest {
	sr := e.request
	sr.Session = nil
	sr.RequestedScope, sr.GrantedScope = slices.Clone(sr.RequestedScope), slices.Clone(sr.GrantedScope)
	sr.RequestedAudience, sr.GrantedAudience = slices.Clone(sr.RequestedAudience), slices.Clone(sr.GrantedAudience)
	sr.Form = cloneForm(sr.Form)
	return sr
}

func cloneForm(f map[string][]string) map[string][]string {
	if f == nil {
		return nil
	}
	out := make(map[string][]string, len(f))
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}
