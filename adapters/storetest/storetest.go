// Package storetest is the contract every store adapter passes: the same
// tests run against the memory store and against PostgreSQL.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/storage"
	"github.com/kelisim/kelisim/consent"
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
		{"CodeRecordsTogether", testCodeRecords},
		{"RecordDeactivateOnce", testRecordDeactivateOnce},
		{"RecordFamilies", testRecordFamilies},
		{"TokenWithPartnerAndGrant", testTokenWithPartnerAndGrant},
		{"RecordOnlyForThePartnerItWasDecidedOn", testRecordPartnerCondition},
		{"RecordsCreatedAtOnce", testRecordsCreatedAtOnce},
		{"RecordUsedOnceWithWhatItIssues", testUseRecord},
		{"TxRollback", testTxRollback},
		{"TxCommit", testTxCommit},
		{"SigningKeyOnce", testSigningKeyOnce},
	}
	tests = append(tests, consentTests()...)
	tests = append(tests, ledgerTests()...)
	tests = append(tests, deliveryTests()...)
	tests = append(tests, reportTests()...)
	tests = append(tests, notifyTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			// The contract's clock is fixed: its months are made ready,
			// whenever it runs.
			if _, err := s.PrepareMonths(context.Background(), t0.AddDate(0, -6, 0), 12); err != nil {
				t.Fatal(err)
			}
			tt.fn(t, s)
		})
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

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("set-up: %v", err)
	}
}
