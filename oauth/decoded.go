package oauth

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"sync"
)

// decodedTokens keeps access-token records as decoded, so that each use of
// a token, which reads its record from the store every time (whether it
// is still active, its grant, its partner), is not also a JSON decode. A
// record's stored request never changes; an entry is used only while its
// bytes equal what the store returned. It holds nothing a replica must
// share: a miss decodes again. Bounded in bytes: full, it starts over.
type decodedTokens struct {
	mu      sync.Mutex
	entries map[string]*decodedAccess
	size    int // the footprints of the entries
}

// decodedTokensBudget bounds what the entries hold, by their footprints:
// some 16,000 access tokens of the usual 2.5 KB estimated (2.7 KB as
// measured; TestDecodedCachesFitAReplica). No entry over a 256th of it
// is kept, so that a few tokens asked with long forms cannot take the
// cache over: they are decoded at every use.
const decodedTokensBudget = 40 << 20

type decodedAccess struct {
	raw       []byte
	request   storedRequest
	session   accessSession
	footprint int
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
	e.footprint = 512 + len(e.raw) + e.request.footprint() + len(e.request.Session) + 2*len(e.session.AuthorizationDetails)
	if e.footprint > decodedTokensBudget/256 {
		return e, nil
	}
	d.mu.Lock()
	if old, ok := d.entries[signature]; ok {
		d.size -= old.footprint
	}
	if d.entries == nil || d.size+e.footprint > decodedTokensBudget {
		d.entries, d.size = make(map[string]*decodedAccess), 0
	}
	d.entries[signature] = e
	d.size += e.footprint
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
// request is still open is always the store's to say. Bounded in bytes:
// full, it starts over.
type decodedPending struct {
	mu      sync.Mutex
	entries map[string]*pendingEntry
	size    int // the footprints of the entries
}

// decodedPendingBudget bounds what the entries hold, by their footprints:
// some 4,000 requests of the usual 8 KB estimated (6.5 KB as measured:
// the seal, the record and the decoded request). A consent takes a
// citizen a minute or so, and a replica at a national peak (300 flows a
// second over five replicas) has about 3,600 open. No entry over a 256th of it is kept: a request too
// long to carry in the browser (the authorization endpoint reads forms of
// up to 1 MiB) is read and decoded at every page instead.
const decodedPendingBudget = 32 << 20

type pendingEntry struct {
	sealed  string // what the browser carries of it, as opened here
	rec     Record // the record it holds; its Request is shared, read only
	raw     []byte // the stored request decoded into request and session
	request storedRequest
	session *Session

	sessionBytes int // the session's JSON
	footprint    int
}

// measure sets e's footprint: its strings and bytes, the request decoded
// and its session, which decoded holds about twice its JSON.
func (e *pendingEntry) measure() {
	e.footprint = 1024 + len(e.sealed) + len(e.rec.Request)
	if e.raw != nil {
		if len(e.raw) != len(e.rec.Request) || len(e.raw) > 0 && &e.raw[0] != &e.rec.Request[0] { // not the shared copy
			e.footprint += len(e.raw)
		}
		e.footprint += e.request.footprint() + 1024 + 2*len(e.session.AuthorizationDetails) + 2*e.sessionBytes
	}
}

func (d *decodedPending) entry(id string) *pendingEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.entries[id]
}

// opened returns the record sealed, when sealed is what was opened
// for id before. The record's Request is shared: read it, never change it.
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
	e := &pendingEntry{}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.entries[id]
	if old != nil {
		*e = *old
	}
	if rec != nil {
		e.sealed, e.rec = sealed, *rec
	}
	if sr != nil {
		e.request, e.session, e.sessionBytes = sr.clone(), session.Clone().(*Session), len(sr.Session)
		e.request.Session = nil
		e.raw = e.rec.Request // one copy of the bytes for both halves
		if !bytes.Equal(raw, e.rec.Request) {
			e.raw = bytes.Clone(raw)
		}
	}
	if e.raw != nil && e.sealed != "" && !bytes.Equal(e.raw, e.rec.Request) {
		e.raw, e.request, e.session = nil, storedRequest{}, nil // another request under this id: decode again
	}
	e.measure()
	if old != nil {
		d.size -= old.footprint
		delete(d.entries, id)
	}
	if e.footprint > decodedPendingBudget/256 {
		return
	}
	if d.entries == nil || d.size+e.footprint > decodedPendingBudget {
		d.entries, d.size = make(map[string]*pendingEntry), 0
	}
	d.entries[id] = e
	d.size += e.footprint
}

// forget drops id, answered.
func (d *decodedPending) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.entries[id]; ok {
		d.size -= e.footprint
		delete(d.entries, id)
	}
}

// footprint estimates the bytes sr holds decoded, beyond the JSON it was
// decoded from: a map slot and headers for each form key, a string header
// (room for twice as many, as slices grow) for each value and element.
func (sr *storedRequest) footprint() int {
	n := 256 + len(sr.ID) + len(sr.ClientID) + len(sr.RedirectURI) + len(sr.State)
	for _, l := range [][]string{sr.RequestedScope, sr.GrantedScope, sr.RequestedAudience, sr.GrantedAudience, sr.ResponseTypes} {
		n += listFootprint(l)
	}
	for k, vs := range sr.Form {
		n += 96 + len(k) + listFootprint(vs)
	}
	return n
}

func listFootprint(l []string) int {
	n := 24 + 32*len(l)
	for _, s := range l {
		n += len(s)
	}
	return n
}

// clone is sr with its slices, forms and session its own.
func (sr storedRequest) clone() storedRequest {
	sr.RequestedScope, sr.GrantedScope = slices.Clone(sr.RequestedScope), slices.Clone(sr.GrantedScope)
	sr.RequestedAudience, sr.GrantedAudience = slices.Clone(sr.RequestedAudience), slices.Clone(sr.GrantedAudience)
	sr.ResponseTypes = slices.Clone(sr.ResponseTypes)
	sr.Form = cloneForm(sr.Form)
	sr.Session = bytes.Clone(sr.Session)
	if sr.Also != nil {
		also := make(map[Kind]url.Values, len(sr.Also))
		for k, f := range sr.Also {
			also[k] = cloneForm(f)
		}
		sr.Also = also
	}
	return sr
}
