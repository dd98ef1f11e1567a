package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// A partner confirms deletion once a grant ends, in a statement that names
// itself, the gateway and the grant, is fresh, and lists only the grant's
// documents, with a reason and legal basis for what it keeps; once. Until
// it does, the upkeep counts it overdue past the deadline.
func TestDeletionConfirmations(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	pg := must(consent.NewPartnerGrants(consent.PartnerGrantsConfig{Store: f.store, Receipts: f.receipts, Deletions: f.store,
		Issuer: "https://kelisim.test", Pairwise: func(a, b string) string { return a + "/" + b }, Now: f.clock.now}))
	g := must(give(t, f, ask{partner: "bank", docs: []consent.DocumentType{"id_card", "diploma"}, days: 30}))
	claims := func(mutate func(map[string]any)) []byte {
		c := map[string]any{"iss": "bank", "aud": "https://kelisim.test", "iat": f.clock.now().Unix(), "jti": "d1", "grant_id": g.ID,
			"deleted_at": f.clock.now().Add(-time.Minute).Format(time.RFC3339), "deleted": []string{"id_card"},
			"retained": []map[string]string{{"document": "diploma", "reason": "loan file", "legal_basis": "AML law art. 5", "until": "2031-01-01"}}}
		mutate(c)
		raw, _ := json.Marshal(c)
		return raw
	}
	same := func(map[string]any) {}
	if _, err := pg.ConfirmDeletion(ctx, "bank", g.ID, claims(same), "jws"); !errors.Is(err, consent.ErrGrantStillActive) {
		t.Errorf("an active grant: %v", err)
	}
	must(f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"))
	f.clock.advance(31 * 24 * time.Hour)
	if err := f.upkeep.Once(ctx); err != nil || f.overdue.n.Load() != 1 {
		t.Errorf("overdue after the deadline: %d %v", f.overdue.n.Load(), err)
	}
	for name, mutate := range map[string]func(map[string]any){
		"another partner as iss":  func(c map[string]any) { c["iss"] = "shop" },
		"another gateway as aud":  func(c map[string]any) { c["aud"] = "https://other.example" },
		"another grant":           func(c map[string]any) { c["grant_id"] = "g-other" },
		"a stale statement":       func(c map[string]any) { c["iat"] = f.clock.now().Add(-time.Hour).Unix() },
		"no jti":                  func(c map[string]any) { delete(c, "jti") },
		"a document not granted":  func(c map[string]any) { c["deleted"] = []string{"passport"} },
		"kept without a basis":    func(c map[string]any) { c["retained"] = []map[string]string{{"document": "diploma", "reason": "x"}} },
		"deleted in the future":   func(c map[string]any) { c["deleted_at"] = f.clock.now().Add(time.Hour).Format(time.RFC3339) },
		"a deleted_at not a time": func(c map[string]any) { c["deleted_at"] = "yesterday" },
	} {
		if _, err := pg.ConfirmDeletion(ctx, "bank", g.ID, claims(mutate), "jws"); !errors.Is(err, consent.ErrDeletionStatement) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := pg.ConfirmDeletion(ctx, "shop", g.ID, claims(same), "jws"); !errors.Is(err, consent.ErrNotYourGrant) {
		t.Errorf("another partner's grant: %v", err)
	}
	held, err := pg.ConfirmDeletion(ctx, "bank", g.ID, claims(same), "jws")
	if err != nil || held.Deletion == nil || len(held.Deletion.Retained) != 1 || held.Deletion.Signed != "jws" {
		t.Fatalf("the confirmation: %+v %v", held.Deletion, err)
	}
	if _, err := pg.ConfirmDeletion(ctx, "bank", g.ID, claims(same), "jws"); !errors.Is(err, consent.ErrDeletionConfirmed) {
		t.Errorf("a second confirmation: %v", err)
	}
	if err := f.upkeep.Once(ctx); err != nil || f.overdue.n.Load() != 0 {
		t.Errorf("overdue once confirmed: %d %v", f.overdue.n.Load(), err)
	}
	if events := must(f.settings.History(ctx, aidar, 10)); events[0].Kind != consent.AccessDeletion || events[0].By != "bank" {
		t.Errorf("the history: %+v", events[0])
	}
}
