// Package memory is the embedded store: everything in process memory, so the
// gateway runs with nothing installed. Nothing survives a restart, and
// replicas cannot share it: production runs on PostgreSQL.
package memory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/consent/merkle"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Store implements oauth.Store and partners.Store in memory.
type Store struct {
	mu       sync.Mutex
	partners map[string]partners.Partner
	audit    []partners.AuditEntry
	// auditDropped counts the audit entries retention dropped: IDs go on.
	auditDropped int64
	records      map[recordKey]oauth.Record
	keys         []oauth.SigningKey

	challenges  map[string]consent.Challenge
	grants      map[string]consent.Grant
	rates       map[rateKey]rateCounter
	access      []consent.AccessEvent
	outbox      map[string]outboxRow
	sessions    map[string]consent.CitizenSession
	reports     map[string]consent.ErrorReport
	shares      map[string]consent.Share
	nodes       map[merkle.ID][]byte
	checkpoints []consent.Checkpoint
	prefs       map[consent.IIN]consent.NotificationPrefs
	termsTold   map[string]string // grant → the terms version its citizen was told of
	terms       map[string]consent.Terms
	termsOrder  []string // versions in the order they were published
	// droppedBefore is where retention cut the history.
	droppedBefore time.Time
}

var (
	_ oauth.Store    = (*Store)(nil)
	_ partners.Store = (*Store)(nil)
)

type recordKey struct {
	kind      oauth.Kind
	signature string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		partners: map[string]partners.Partner{}, records: map[recordKey]oauth.Record{},
		challenges: map[string]consent.Challenge{}, grants: map[string]consent.Grant{}, rates: map[rateKey]rateCounter{},
		outbox: map[string]outboxRow{}, sessions: map[string]consent.CitizenSession{},
		reports: map[string]consent.ErrorReport{}, shares: map[string]consent.Share{}, nodes: map[merkle.ID][]byte{},
		prefs: map[consent.IIN]consent.NotificationPrefs{}, termsTold: map[string]string{}, terms: map[string]consent.Terms{},
	}
}

// A transaction holds the store's lock from BeginTx to Commit or Rollback,
// and keeps what each write replaced so Rollback can put it back.
type txKey struct{}

type tx struct {
	store *Store
	undo  []func()
	done  bool
}

// lock takes the store's lock unless ctx carries this store's open
// transaction, which holds it already. The returned function releases it,
// and write records how to undo a change.
func (s *Store) lock(ctx context.Context) (unlock func(), t *tx) {
	if t, ok := ctx.Value(txKey{}).(*tx); ok && t.store == s && !t.done {
		return func() {}, t
	}
	s.mu.Lock()
	return s.mu.Unlock, nil
}

func (t *tx) onRollback(f func()) {
	if t != nil {
		t.undo = append(t.undo, f)
	}
}

// put sets m[k] to v; inside a transaction, Rollback puts back what was
// there. Every write of the store goes through put, remove or appendTo,
// so a transaction's every write can be undone.
func put[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	if t != nil {
		old, had := m[k]
		t.onRollback(func() {
			if had {
				m[k] = old
			} else {
				delete(m, k)
			}
		})
	}
	m[k] = v
}

// remove deletes m[k], undoably.
func remove[K comparable, V any](t *tx, m map[K]V, k K) {
	old, had := m[k]
	if !had {
		return
	}
	delete(m, k)
	t.onRollback(func() { m[k] = old })
}

// appendTo appends v to *s, undoably.
func appendTo[V any](t *tx, s *[]V, v V) {
	n := len(*s)
	*s = append(*s, v)
	t.onRollback(func() { *s = (*s)[:n] })
}

// BeginTx implements oauth.Store.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if t, ok := ctx.Value(txKey{}).(*tx); ok && t.store == s && !t.done {
		return nil, errors.New("memory: transaction already open")
	}
	s.mu.Lock()
	return context.WithValue(ctx, txKey{}, &tx{store: s}), nil
}

// Commit implements oauth.Store.
func (s *Store) Commit(ctx context.Context) error {
	t, ok := ctx.Value(txKey{}).(*tx)
	if !ok || t.store != s {
		return errors.New("memory: no transaction")
	}
	if t.done {
		return errors.New("memory: transaction already closed")
	}
	t.done = true
	s.mu.Unlock()
	return nil
}

// Rollback implements oauth.Store; after Commit it does nothing.
func (s *Store) Rollback(ctx context.Context) error {
	t, ok := ctx.Value(txKey{}).(*tx)
	if !ok || t.store != s || t.done {
		return nil
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.done = true
	s.mu.Unlock()
	return nil
}

// Ping implements oauth.Store.
func (s *Store) Ping(context.Context) error { return nil }

// setRecord writes r, remembering what it replaced.
func (s *Store) setRecord(t *tx, r oauth.Record) {
	put(t, s.records, recordKey{r.Kind, r.Signature}, r)
}

// CreateRecord implements oauth.Store.
func (s *Store) CreateRecord(ctx context.Context, r oauth.Record) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if _, ok := s.records[recordKey{r.Kind, r.Signature}]; ok {
		return oauth.ErrConflict
	}
	if p, ok := s.partners[r.ClientID]; r.PartnerVersion != 0 && (!ok || p.Version != r.PartnerVersion || p.Status != partners.StatusActive) {
		return oauth.ErrPartnerChanged
	}
	r.Request, r.PartnerVersion = slices.Clone(r.Request), 0
	s.setRecord(t, r)
	return nil
}

// GetRecord implements oauth.Store.
func (s *Store) GetRecord(ctx context.Context, kind oauth.Kind, signature string) (oauth.Record, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	return s.record(kind, signature)
}

// GetRecords implements oauth.Store.
func (s *Store) GetRecords(ctx context.Context, signature string, kinds ...oauth.Kind) (map[oauth.Kind]oauth.Record, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := map[oauth.Kind]oauth.Record{}
	for _, k := range kinds {
		if r, err := s.record(k, signature); err == nil {
			out[k] = r
		}
	}
	return out, nil
}

// UseRecordAndCommit implements oauth.Store.
func (s *Store) UseRecordAndCommit(ctx context.Context, kind oauth.Kind, signature string, drop []oauth.Kind, create []oauth.Record) error {
	return oauth.UseRecordThenCommit(ctx, s, kind, signature, drop, create)
}

// UseRecord implements oauth.Store.
func (s *Store) UseRecord(ctx context.Context, kind oauth.Kind, signature string, drop []oauth.Kind, create []oauth.Record) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	used, ok := s.records[recordKey{kind, signature}]
	if !ok || !used.Active {
		return oauth.ErrNotActive
	}
	taken := map[recordKey]bool{}
	for _, r := range create {
		if p, ok := s.partners[r.ClientID]; r.PartnerVersion != 0 && (!ok || p.Version != r.PartnerVersion || p.Status != partners.StatusActive) {
			return oauth.ErrPartnerChanged
		}
	}
	for _, r := range create {
		k := recordKey{r.Kind, r.Signature}
		if _, ok := s.records[k]; ok || taken[k] {
			return oauth.ErrConflict
		}
		taken[k] = true
	}
	if !slices.Contains(drop, kind) {
		used.Active = false
		s.setRecord(t, used)
	}
	for _, k := range drop {
		remove(t, s.records, recordKey{k, signature})
	}
	for _, r := range create {
		r.Request, r.PartnerVersion = slices.Clone(r.Request), 0
		s.setRecord(t, r)
	}
	return nil
}

// record is a copy of a stored record; the caller holds the lock.
func (s *Store) record(kind oauth.Kind, signature string) (oauth.Record, error) {
	r, ok := s.records[recordKey{kind, signature}]
	if !ok {
		return oauth.Record{}, oauth.ErrNotFound
	}
	r.Request = slices.Clone(r.Request)
	return r, nil
}

// GetToken implements oauth.Store.
func (s *Store) GetToken(ctx context.Context, kind oauth.Kind, signature string) (oauth.TokenRecord, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	r, err := s.record(kind, signature)
	if err != nil {
		return oauth.TokenRecord{}, err
	}
	t := oauth.TokenRecord{Record: r}
	if p, ok := s.partners[r.ClientID]; ok {
		p = p.Clone()
		t.Partner = &p
	}
	if g, ok := s.grants[r.GrantID]; ok && r.GrantID != "" {
		g.Documents, g.Holders = slices.Clone(g.Documents), slices.Clone(g.Holders)
		t.Grant = &g
	}
	return t, nil
}

// DeleteRecord implements oauth.Store.
func (s *Store) DeleteRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	remove(t, s.records, recordKey{kind, signature})
	return nil
}

// DeactivateRecord implements oauth.Store.
func (s *Store) DeactivateRecord(ctx context.Context, kind oauth.Kind, signature string) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	r, ok := s.records[recordKey{kind, signature}]
	if !ok || !r.Active {
		return oauth.ErrNotActive
	}
	r.Active = false
	s.setRecord(t, r)
	return nil
}

// DeactivateRequest implements oauth.Store.
func (s *Store) DeactivateRequest(ctx context.Context, kind oauth.Kind, requestID string) error {
	return s.deactivateWhere(ctx, func(r oauth.Record) bool { return r.Kind == kind && r.RequestID == requestID })
}

// DeactivateClient implements oauth.Store.
func (s *Store) DeactivateClient(ctx context.Context, clientID string) error {
	return s.deactivateWhere(ctx, func(r oauth.Record) bool {
		return r.ClientID == clientID && (r.Kind == oauth.KindAccess || r.Kind == oauth.KindRefresh || r.Kind == oauth.KindCode)
	})
}

func (s *Store) deactivateWhere(ctx context.Context, match func(oauth.Record) bool) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	for _, r := range s.records {
		if r.Active && match(r) {
			r.Active = false
			s.setRecord(t, r)
		}
	}
	return nil
}

// SigningKeys implements oauth.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]oauth.SigningKey, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := slices.Clone(s.keys)
	slices.SortFunc(out, func(a, b oauth.SigningKey) int {
		return cmp.Or(b.ActivatesAt.Compare(a.ActivatesAt), b.CreatedAt.Compare(a.CreatedAt))
	})
	return out, nil
}

// RotateSigningKey implements oauth.Store.
func (s *Store) RotateSigningKey(ctx context.Context, k oauth.SigningKey) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	old := slices.Clone(s.keys)
	t.onRollback(func() { s.keys = old })
	s.keys = slices.Clone(s.keys)
	for i := range s.keys {
		if s.keys[i].RetiredAt.IsZero() {
			s.keys[i].RetiredAt = k.ActivatesAt
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

// EnsureSigningKey implements oauth.Store.
func (s *Store) EnsureSigningKey(ctx context.Context, generate func() (oauth.SigningKey, error)) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	for _, k := range s.keys {
		if k.RetiredAt.IsZero() {
			return nil
		}
	}
	k, err := generate()
	if err != nil {
		return err
	}
	appendTo(t, &s.keys, k)
	return nil
}

// CreatePartner implements partners.Store.
func (s *Store) CreatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	if _, ok := s.partners[p.ID]; ok {
		return partners.ErrConflict
	}
	put(t, s.partners, p.ID, p.Clone())
	s.appendAudit(t, e)
	return nil
}

// GetPartner implements partners.Store.
func (s *Store) GetPartner(ctx context.Context, id string) (partners.Partner, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	p, ok := s.partners[id]
	if !ok {
		return partners.Partner{}, partners.ErrNotFound
	}
	return p.Clone(), nil
}

// ListPartners implements partners.Store.
func (s *Store) ListPartners(ctx context.Context) ([]partners.Partner, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	out := make([]partners.Partner, 0, len(s.partners))
	for _, p := range s.partners {
		out = append(out, p.Clone())
	}
	slices.SortFunc(out, func(a, b partners.Partner) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// UpdatePartner implements partners.Store.
func (s *Store) UpdatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	old, ok := s.partners[p.ID]
	if !ok {
		return partners.ErrNotFound
	}
	if old.Version != p.Version {
		return partners.ErrConflict
	}
	p.Version++
	put(t, s.partners, p.ID, p.Clone())
	s.appendAudit(t, e)
	return nil
}

// ListAudit implements partners.Store.
func (s *Store) ListAudit(ctx context.Context, partnerID string, limit int) ([]partners.AuditEntry, error) {
	unlock, _ := s.lock(ctx)
	defer unlock()
	var out []partners.AuditEntry
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		if partnerID == "" || s.audit[i].PartnerID == partnerID {
			out = append(out, s.audit[i])
		}
	}
	return out, nil
}

// AppendAudit implements partners.Store.
func (s *Store) AppendAudit(ctx context.Context, e partners.AuditEntry) error {
	unlock, t := s.lock(ctx)
	defer unlock()
	s.appendAudit(t, e)
	return nil
}

func (s *Store) appendAudit(t *tx, e partners.AuditEntry) {
	e.ID = s.auditDropped + int64(len(s.audit)+1)
	appendTo(t, &s.audit, e)
}

// clonePartner copies the slices of p, so callers never share memory with
// the store.
