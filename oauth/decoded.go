package oauth

import (
	"bytes"
	"crypto/subtle"
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

// decodedTokensMax bounds the entries, of about 2.7 KB each: 42 MiB full
// (TestDecodedCachesFitAReplica). A miss only decodes again.
const decodedTokensMax = 16_384

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

// decodedPending keeps pending authorization requests as the browser
// carries them and as decoded, by id. The pages of one consent read the
// request five times (the consent page, the start, the code page, the
// answer and its transaction), and each read was a seal opened and three
// JSON decodes. An entry answers only for the very string the browser
// carries, or the very bytes the store returned; it holds nothing a
// replica must share (a miss opens and decodes again), and whether the
// request is still open is always the store's to say. Bounded: full, it
// starts over.
type decodedPending struct {
	mu      sync.Mutex
	entries map[string]*pendingEntry
}

// decodedPendingMax bounds the entries, of about 6.5 KB each (the seal,
// the record and the decoded request): 26 MiB full. A consent takes a
// citizen a minute or so, and a replica at a national peak (300 flows a
// second over five replicas) has about 3,600 open.
const decodedPendingMax = 4_096

type pendingEntry struct {
	sealed  string // what the browser carries of it, as opened here
	rec     Record // the record it holds
	raw     []byte // the stored request decoded into request and session
	request storedRequest
	session *Session
}

func (d *decodedPending) entry(id string) *pendingEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.entries[id]
}

// opened returns the record sealed, when sealed is what was opened
// for id before.
func (d *decodedPending) opened(id, sealed string) (Record, bool) {
	e := d.entry(id)
	if e == nil || e.sealed == "" || subtle.ConstantTimeCompare([]byte(e.sealed), []byte(sealed)) != 1 {
		return Record{}, false
	}
	return e.rec, true
}

// decoded returns the request stored as raw for id, without its
// session, and the session, all the caller's own, when raw was decoded
// before.
func (d *decodedPending) decoded(id string, raw []byte) (storedRequest, *Session, bool) {
	e := d.entry(id)
	if e == nil || e.raw == nil || !bytes.Equal(e.raw, raw) {
		return storedRequest{}, nil, false
	}
	return e.request.clone(), e.session.Clone().(*Session), true
}

// keep remembers what was opened (sealed, with rec) or decoded (raw,
// into sr) for id; an entry keeps the other half while it matches.
func (d *decodedPending) keep(id string, sealed string, rec *Record, raw []byte, sr *storedRequest, session *Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.entries[id]
	if old == nil && len(d.entries) >= decodedPendingMax || d.entries == nil {
		d.entries = make(map[string]*pendingEntry)
	}
	e := &pendingEntry{}
	if old != nil {
		*e = *old
	}
	if rec != nil {
		e.sealed, e.rec = sealed, *rec
	}
	if sr != nil {
		e.raw, e.request, e.session = bytes.Clone(raw), sr.clone(), session.Clone().(*Session)
		e.request.Session = nil
	}
	if e.raw != nil && e.sealed != "" && !bytes.Equal(e.raw, e.rec.Request) {
		e.raw, e.request, e.session = nil, storedRequest{}, nil // another request under this id: decode again
	}
	d.entries[id] = e
}

// forget drops id, answered.
func (d *decodedPending) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.entries, id)
}

// clone is sr with its slices, form and session its own.
func (sr storedRequest) clone() storedRequest {
	sr.RequestedScope, sr.GrantedScope = slices.Clone(sr.RequestedScope), slices.Clone(sr.GrantedScope)
	sr.RequestedAudience, sr.GrantedAudience = slices.Clone(sr.RequestedAudience), slices.Clone(sr.GrantedAudience)
	sr.ResponseTypes = slices.Clone(sr.ResponseTypes)
	sr.Form = cloneForm(sr.Form)
	sr.Session = bytes.Clone(sr.Session)
	return sr
}
