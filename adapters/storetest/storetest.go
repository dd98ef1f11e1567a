// Package storetest is the contract every store adapter passes: the same
// tests run against the memory store and against PostgreSQL.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/storage"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Store is what an adapter provides: the one union the gateway runs on.
type Store = storage.Store

type namedTest struct {
	name string
	fn   func(*testing.T, Store)
}

// Run runs the contract against stores made by open, a fresh one per test.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []namedTest{
		{"PartnerCreateGet", testPartnerCreateGet},
		{"PartnerDuplicate", testPartnerDuplicate},
		{"PartnerUpdateVersion", testPartnerUpdateVersion},
		{"PartnerList", testPartnerList},
		{"Audit", testAudit},
		{"RecordLifecycle", testRecordLifecycle},
		{"RecordDeactivateOnce", testRecordDeactivateOnce},
		{"RecordFamilies", testRecordFamilies},
		{"TokenWithPartnerAndGrant", testTokenWithPartnerAndGrant},
		{"RecordOnlyForThePartnerItWasDecidedOn", testRecordPartnerCondition},
		{"RecordsCreatedAtOnce", testRecordsCreatedAtOnce},
		{"TxRollback", testTxRollback},
		{"TxCommit", testTxCommit},
		{"SigningKeyOnce", testSigningKeyOnce},
	}
	tests = append(tests, consentTests()...)
	tests = append(tests, deliveryTests()...)
	tests = append(tests, reportTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func partner(id string, at time.Time) partners.Partner {
	return partners.Partner{
		ID: id,
		Registration: partners.Registration{
			ClientName: "Bank " + id, ClientNameKK: "Банк " + id,
			RedirectURIs:            []string{"https://bank.example/cb"},
			TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope:                   "openid documents:id_card",
			Documents:               []consent.DocumentType{"id_card"},
			Delivery:                partners.DeliveryPull,
		},
		Status: partners.StatusActive, Version: 1, CreatedAt: at, UpdatedAt: at,
		SecretHash: []byte{1, 2, 3},
	}
}

func audit(id, action string) partners.AuditEntry {
	return partners.AuditEntry{At: t0, Actor: "admin", Action: action, PartnerID: id, After: json.RawMessage(`{"client_id":"` + id + `"}`)}
}

func testPartnerCreateGet(t *testing.T, s Store) {
	ctx := context.Background()
	p := partner("p1", t0)
	p.PreviousSecretHash, p.PreviousSecretExpiresAt = []byte{9}, t0.Add(time.Hour)
	if err := s.CreatePartner(ctx, p, audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientNameKK != "Банк p1" || got.Scope != p.Scope || string(got.SecretHash) != string(p.SecretHash) ||
		!got.PreviousSecretExpiresAt.Equal(p.PreviousSecretExpiresAt) || got.Documents[0] != "id_card" || got.Version != 1 {
		t.Errorf("got %+v, want %+v", got, p)
	}
	if _, err := s.GetPartner(ctx, "nobody"); !errors.Is(err, partners.ErrNotFound) {
		t.Errorf("unknown partner: got %v, want ErrNotFound", err)
	}
}

func testPartnerDuplicate(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreatePartner(ctx, partner("p1", t0), audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePartner(ctx, partner("p1", t0), audit("p1", "partner.create")); !errors.Is(err, partners.ErrConflict) {
		t.Errorf("duplicate id: got %v, want ErrConflict", err)
	}
	if got, err := s.ListAudit(ctx, "p1", 10); err != nil || len(got) != 1 {
		t.Errorf("a refused create wrote %d audit entries, want 1", len(got))
	}
}

func testPartnerUpdateVersion(t *testing.T, s Store) {
	ctx := context.Background()
	p := partner("p1", t0)
	if err := s.CreatePartner(ctx, p, audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	p.Status = partners.StatusSuspended
	if err := s.UpdatePartner(ctx, p, audit("p1", "partner.suspend")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPartner(ctx, "p1")
	check(t, err)
	if got.Status != partners.StatusSuspended || got.Version != 2 {
		t.Errorf("after update: status %s version %d, want suspended 2", got.Status, got.Version)
	}
	// p still carries version 1: a stale writer.
	if err := s.UpdatePartner(ctx, p, audit("p1", "partner.resume")); !errors.Is(err, partners.ErrConflict) {
		t.Errorf("stale update: got %v, want ErrConflict", err)
	}
	p.ID = "nobody"
	if err := s.UpdatePartner(ctx, p, audit("nobody", "partner.resume")); !errors.Is(err, partners.ErrNotFound) {
		t.Errorf("unknown partner: got %v, want ErrNotFound", err)
	}
}

func testPartnerList(t *testing.T, s Store) {
	ctx := context.Background()
	for i, id := range []string{"b", "a", "c"} {
		if err := s.CreatePartner(ctx, partner(id, t0.Add(time.Duration(i)*time.Minute)), audit(id, "partner.create")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListPartners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids string
	for _, p := range got {
		ids += p.ID
	}
	if ids != "bac" {
		t.Errorf("list order %q, want oldest first %q", ids, "bac")
	}
}

func testAudit(t *testing.T, s Store) {
	ctx := context.Background()
	p := partner("p1", t0)
	check(t, s.CreatePartner(ctx, p, audit("p1", "partner.create")))
	check(t, s.CreatePartner(ctx, partner("p2", t0), audit("p2", "partner.create")))
	check(t, s.UpdatePartner(ctx, p, audit("p1", "partner.update")))
	got, err := s.ListAudit(ctx, "p1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "partner.update" || got[1].Action != "partner.create" {
		t.Fatalf("audit of p1 = %+v, want update then create", got)
	}
	if got[0].Actor != "admin" || !got[0].At.Equal(t0) || len(got[0].After) == 0 {
		t.Errorf("audit entry lost fields: %+v", got[0])
	}
	all, err := s.ListAudit(ctx, "", 2)
	check(t, err)
	if len(all) != 2 {
		t.Errorf("limit 2 gave %d entries", len(all))
	}
	// An action on no partner, and one rolled back with its transaction.
	if err := s.AppendAudit(ctx, partners.AuditEntry{At: t0, Actor: "admin", Action: "keys.rotate", Subject: "key:k1"}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s.AppendAudit(tx, partners.AuditEntry{At: t0, Actor: "admin", Action: "keys.rotate", Subject: "key:k2"}))
	check(t, s.Rollback(tx))
	all, err = s.ListAudit(ctx, "", 10)
	check(t, err)
	if len(all) != 4 || all[0].Subject != "key:k1" || all[0].PartnerID != "" {
		t.Errorf("after an action on no partner and one rolled back: %+v", all)
	}
}

func record(kind oauth.Kind, sig, req, client string) oauth.Record {
	return oauth.Record{Kind: kind, Signature: sig, RequestID: req, ClientID: client, GrantID: "g1",
		Active: true, ExpiresAt: t0.Add(time.Hour), Request: []byte(`{"id":"` + req + `"}`)}
}

func testRecordLifecycle(t *testing.T, s Store) {
	ctx := context.Background()
	r := record(oauth.KindAccess, "sig1", "req1", "p1")
	if err := s.CreateRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(ctx, r); !errors.Is(err, oauth.ErrConflict) {
		t.Errorf("duplicate: got %v, want ErrConflict", err)
	}
	// The same signature under another kind is another record.
	if err := s.CreateRecord(ctx, record(oauth.KindRefresh, "sig1", "req1", "p1")); err != nil {
		t.Errorf("same signature, other kind: %v", err)
	}
	got, err := s.GetRecord(ctx, oauth.KindAccess, "sig1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "req1" || got.ClientID != "p1" || got.GrantID != "g1" || !got.Active ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || string(got.Request) != string(r.Request) {
		t.Errorf("got %+v, want %+v", got, r)
	}
	if err := s.DeleteRecord(ctx, oauth.KindAccess, "sig1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "sig1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteRecord(ctx, oauth.KindAccess, "sig1"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
}

// Records created at once, as many token requests do, are each stored;
// of several with one key exactly one is, and the others conflict.
func testRecordsCreatedAtOnce(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 120
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sig := fmt.Sprintf("sig%d", i)
			if i%3 == 0 {
				sig = fmt.Sprintf("shared%d", i%6) // two keys, twenty creators each
			}
			r := record(oauth.KindAccess, sig, fmt.Sprintf("req%d", i), "p1")
			if i%2 == 0 {
				r.GrantID = ""
			}
			errs[i] = s.CreateRecord(ctx, r)
		})
	}
	wg.Wait()
	won := map[string]int{}
	for i, err := range errs {
		sig := fmt.Sprintf("sig%d", i)
		if i%3 == 0 {
			sig = fmt.Sprintf("shared%d", i%6)
		}
		switch {
		case err == nil:
			won[sig]++
		case !errors.Is(err, oauth.ErrConflict):
			t.Errorf("create %d: %v", i, err)
		case i%3 != 0:
			t.Errorf("create %d with a key of its own: %v", i, err)
		}
	}
	for sig, w := range won {
		if w != 1 {
			t.Errorf("%s stored %d times", sig, w)
		}
		got, err := s.GetRecord(ctx, oauth.KindAccess, sig)
		if err != nil || !got.Active || got.ClientID != "p1" {
			t.Errorf("%s: %+v, %v", sig, got, err)
		}
	}
	if len(won) != n-n/3+2 {
		t.Errorf("%d keys stored, want %d", len(won), n-n/3+2)
	}
	if got, err := s.GetRecord(ctx, oauth.KindAccess, "sig1"); err != nil || got.GrantID != "g1" || string(got.Request) != `{"id":"req1"}` {
		t.Errorf("sig1: %+v", got)
	}
	if got, err := s.GetRecord(ctx, oauth.KindAccess, "sig2"); err != nil || got.GrantID != "" {
		t.Errorf("sig2 has grant %q, want none", got.GrantID)
	}
}

// A token is read with its partner and grant; a token without a grant, or
// whose partner is unknown, comes back without them.
func testTokenWithPartnerAndGrant(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreatePartner(ctx, partner("p1", t0), audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	c := challenge("c1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	g := consent.Grant{ID: "g1", Citizen: c.Citizen, PartnerID: "p1", Documents: c.Documents, Purpose: "loan",
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), TermsVersion: "v1", ChallengeID: "c1", Status: consent.GrantActive}
	c.Status = consent.ChallengeUsed
	if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
		t.Fatal(err)
	}
	withGrant := record(oauth.KindAccess, "sig1", "req1", "p1")
	machine := record(oauth.KindAccess, "sig2", "req2", "p1")
	machine.GrantID = ""
	orphan := record(oauth.KindRefresh, "sig3", "req3", "gone")
	orphan.GrantID = "no-such-grant"
	for _, r := range []oauth.Record{withGrant, machine, orphan} {
		if err := s.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.GetToken(ctx, oauth.KindAccess, "sig1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "req1" || got.GrantID != "g1" || !got.Active || string(got.Request) != string(withGrant.Request) {
		t.Errorf("record %+v", got.Record)
	}
	if got.Partner == nil || got.Partner.ID != "p1" || got.Partner.ClientNameKK != "Банк p1" || got.Partner.Status != partners.StatusActive {
		t.Errorf("partner %+v", got.Partner)
	}
	if got.Grant == nil || got.Grant.ID != "g1" || got.Grant.Citizen != c.Citizen || len(got.Grant.Documents) != 2 ||
		got.Grant.Status != consent.GrantActive || !got.Grant.ExpiresAt.Equal(g.ExpiresAt) {
		t.Errorf("grant %+v", got.Grant)
	}

	// What the token reads is current: a revocation shows on the next read.
	if _, err := s.RevokeGrant(ctx, "g1", "citizen", "revoked", t0.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if got, err = s.GetToken(ctx, oauth.KindAccess, "sig1"); err != nil || got.Grant == nil || got.Grant.Status != consent.GrantRevoked {
		t.Errorf("after revocation: %+v, %v", got.Grant, err)
	}

	if got, err = s.GetToken(ctx, oauth.KindAccess, "sig2"); err != nil || got.Grant != nil || got.Partner == nil {
		t.Errorf("machine token: grant %+v partner %v, %v", got.Grant, got.Partner, err)
	}
	if got, err = s.GetToken(ctx, oauth.KindRefresh, "sig3"); err != nil || got.Grant != nil || got.Partner != nil || got.GrantID != "no-such-grant" {
		t.Errorf("orphan token: %+v, %v", got, err)
	}
	if _, err := s.GetToken(ctx, oauth.KindRefresh, "sig1"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("another kind: got %v, want ErrNotFound", err)
	}
}

func testRecordDeactivateOnce(t *testing.T, s Store) {
	ctx := context.Background()
	check(t, s.CreateRecord(ctx, record(oauth.KindCode, "c1", "req1", "p1")))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.DeactivateRecord(ctx, oauth.KindCode, "c1") })
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, oauth.ErrNotActive):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent deactivations succeeded, want exactly 1", ok)
	}
	if got, err := s.GetRecord(ctx, oauth.KindCode, "c1"); err != nil || got.Active {
		t.Error("record still active")
	}
	if err := s.DeactivateRecord(ctx, oauth.KindCode, "missing"); !errors.Is(err, oauth.ErrNotActive) {
		t.Errorf("missing record: got %v, want ErrNotActive", err)
	}
}

func testRecordFamilies(t *testing.T, s Store) {
	ctx := context.Background()
	for _, r := range []oauth.Record{
		record(oauth.KindAccess, "a1", "req1", "p1"),
		record(oauth.KindAccess, "a2", "req1", "p1"),
		record(oauth.KindRefresh, "r1", "req1", "p1"),
		record(oauth.KindAccess, "a3", "req2", "p1"),
		record(oauth.KindAccess, "a4", "req3", "p2"),
		record(oauth.KindPKCE, "k1", "req2", "p1"),
	} {
		if err := s.CreateRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	active := func(kind oauth.Kind, sig string) bool {
		r, err := s.GetRecord(ctx, kind, sig)
		if err != nil {
			t.Fatal(err)
		}
		return r.Active
	}
	if err := s.DeactivateRequest(ctx, oauth.KindAccess, "req1"); err != nil {
		t.Fatal(err)
	}
	if active(oauth.KindAccess, "a1") || active(oauth.KindAccess, "a2") {
		t.Error("access tokens of req1 still active")
	}
	if !active(oauth.KindRefresh, "r1") || !active(oauth.KindAccess, "a3") {
		t.Error("DeactivateRequest reached another kind or family")
	}
	if err := s.DeactivateClient(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if active(oauth.KindRefresh, "r1") || active(oauth.KindAccess, "a3") {
		t.Error("tokens of p1 still active after DeactivateClient")
	}
	if !active(oauth.KindAccess, "a4") {
		t.Error("DeactivateClient reached another client")
	}
}

func testTxRollback(t *testing.T, s Store) {
	ctx := context.Background()
	check(t, s.CreateRecord(ctx, record(oauth.KindRefresh, "r1", "req1", "p1")))
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeactivateRecord(tx, oauth.KindRefresh, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, record(oauth.KindRefresh, "r2", "req1", "p1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(tx, oauth.KindRefresh, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(tx); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRecord(ctx, oauth.KindRefresh, "r1"); err != nil || !r.Active {
		t.Errorf("after rollback r1 = %+v, %v; want it back and active", r, err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindRefresh, "r2"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("after rollback r2: %v, want ErrNotFound", err)
	}
}

func testTxCommit(t *testing.T, s Store) {
	ctx := context.Background()
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecord(tx, record(oauth.KindAccess, "a1", "req1", "p1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tx); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(tx); err != nil {
		t.Errorf("rollback after commit: %v", err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "a1"); err != nil {
		t.Errorf("after commit: %v", err)
	}
}

func testSigningKeyOnce(t *testing.T, s Store) {
	ctx := context.Background()
	var mu sync.Mutex
	made := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			err := s.EnsureSigningKey(ctx, func() (oauth.SigningKey, error) {
				mu.Lock()
				defer mu.Unlock()
				made++
				return oauth.SigningKey{KID: fmt.Sprintf("k%d", made), Alg: "ES256", Private: []byte{1}, CreatedAt: t0, ActivatesAt: t0}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	keys, err := s.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || made != 1 {
		t.Fatalf("%d keys stored, %d generated; want exactly one of each", len(keys), made)
	}
	if keys[0].KID != "k1" || keys[0].Alg != "ES256" || !keys[0].RetiredAt.IsZero() {
		t.Errorf("key %+v", keys[0])
	}
	// Rotation retires the old key when the new one activates.
	next := oauth.SigningKey{KID: "k2", Alg: "ES256", Private: []byte{2}, CreatedAt: t0.Add(time.Hour), ActivatesAt: t0.Add(time.Hour + time.Minute)}
	if err := s.RotateSigningKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	keys, err = s.SigningKeys(ctx)
	check(t, err)
	if len(keys) != 2 || keys[0].KID != "k2" || !keys[0].RetiredAt.IsZero() || !keys[1].RetiredAt.Equal(next.ActivatesAt) || !keys[0].ActivatesAt.Equal(next.ActivatesAt) {
		t.Errorf("after rotation: %+v", keys)
	}
}

// A record decided on a partner at some version is stored only if the
// partner is still at it and active, alone or in a batch with others; it
// keeps the partner's epoch, which a suspension moves on.
func testRecordPartnerCondition(t *testing.T, s Store) {
	ctx := context.Background()
	p := partner("p1", t0)
	if err := s.CreatePartner(ctx, p, audit("p1", "partner.create")); err != nil {
		t.Fatal(err)
	}
	at := func(sig string, version int) oauth.Record {
		r := record(oauth.KindAccess, sig, "req-"+sig, "p1")
		r.PartnerVersion, r.PartnerEpoch = version, 0
		return r
	}
	if err := s.CreateRecord(ctx, at("v1", 1)); err != nil {
		t.Fatalf("at the partner's version: %v", err)
	}
	if err := s.CreateRecord(ctx, at("v2", 2)); !errors.Is(err, oauth.ErrPartnerChanged) {
		t.Errorf("at a version the partner is not at: %v", err)
	}
	if _, err := s.GetRecord(ctx, oauth.KindAccess, "v2"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("a refused record was stored: %v", err)
	}
	p.Status, p.Epoch = partners.StatusSuspended, 1
	if err := s.UpdatePartner(ctx, p, audit("p1", "partner.suspend")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPartner(ctx, "p1"); err != nil || got.Epoch != 1 || got.Version != 2 {
		t.Errorf("after suspension: epoch %d version %d, want 1 and 2", got.Epoch, got.Version)
	}
	if err := s.CreateRecord(ctx, at("s2", 2)); !errors.Is(err, oauth.ErrPartnerChanged) {
		t.Errorf("for a suspended partner: %v", err)
	}
	if err := s.CreateRecord(ctx, at("free", 0)); err != nil {
		t.Errorf("a record decided on no partner: %v", err)
	}
	// At once, as the batch writer joins them: each gets its own answer.
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			version := []int{0, 1, 2}[i%3]
			errs[i] = s.CreateRecord(ctx, at(fmt.Sprint("b", i), version))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%3 == 0; (err == nil) != want || (!want && !errors.Is(err, oauth.ErrPartnerChanged)) {
			t.Errorf("record %d at version %d: %v", i, []int{0, 1, 2}[i%3], err)
		}
	}
	r := record(oauth.KindRefresh, "epoch", "req-e", "p1")
	r.PartnerEpoch = 1
	if err := s.CreateRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRecord(ctx, oauth.KindRefresh, "epoch"); err != nil || got.PartnerEpoch != 1 {
		t.Errorf("record epoch %d, want 1", got.PartnerEpoch)
	}
	if tok, err := s.GetToken(ctx, oauth.KindRefresh, "epoch"); err != nil || tok.PartnerEpoch != 1 || tok.Partner == nil || tok.Partner.Epoch != 1 {
		t.Errorf("token epoch %d, partner %+v", tok.PartnerEpoch, tok.Partner)
	}
}

// check stops the test when a step of its set-up failed: a contract test
// that goes on after one asserts nothing.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("set-up: %v", err)
	}
}
