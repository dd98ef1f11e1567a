package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// claimsOf reads what fakeSigner "signed" as a receipt.
func claimsOf(t *testing.T, jws string) map[string]any {
	t.Helper()
	payload, ok := strings.CutPrefix(jws, consent.TypeReceipt+":")
	if !ok {
		t.Fatalf("not a receipt: %.60s", jws)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Every event of a grant's life has a receipt that follows the one
// before: the citizen's copy names the citizen, the partner's only by its
// pairwise subject; each says what was agreed, under which terms' digest,
// collected how; an earlier receipt reads as superseded.
func TestConsentReceipts(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	f.partners["bank"] = consent.PartnerInfo{ID: "bank", Name: "Bank", Delivery: "pull", WebhookURL: "https://bank.example/hook"}
	g := must(give(t, f, ask{partner: "bank", docs: idCard, days: 30}))
	first := claimsOf(t, must(f.receipts.ForCitizen(ctx, aidar, g.ID)))
	terms := must(consent.ShippedTerms("2026-11-01"))
	if first["event"] != "consent" || first["citizen"] != string(aidar) || first["aud"] != consent.AudienceCitizen ||
		first["collection_method"] != "sms-otp" || first["jurisdiction"] != "KZ" || first["receipt_version"] != consent.ReceiptVersion ||
		first["terms"].(map[string]any)["digest"] != terms.Digest() || first["terms"].(map[string]any)["version"] != "2026-11-01" ||
		first["controller"].(map[string]any)["name"] != "Bank" || first["previous"] != nil || first["duration_days"] != 30.0 ||
		first["sub"] != "bank/"+string(aidar) || first["status"] != "active" {
		t.Errorf("the consent's receipt: %v", first)
	}
	must(give(t, f, ask{partner: "bank", docs: diploma, days: 30, action: consent.GrantMerge, change: g.ID}))
	merged := claimsOf(t, must(f.receipts.ForCitizen(ctx, aidar, g.ID)))
	if merged["event"] != "merge" || merged["previous"] != first["jti"] || len(merged["documents"].([]any)) != 2 {
		t.Errorf("the merge's receipt: %v", merged)
	}
	must(f.settings.Revoke(ctx, aidar, consent.Revocation{GrantID: g.ID}, "citizen"))
	partnerCopy := claimsOf(t, must(f.receipts.ForPartner(ctx, "bank", g.ID)))
	if partnerCopy["event"] != "revocation" || partnerCopy["previous"] != merged["jti"] || partnerCopy["aud"] != "bank" ||
		partnerCopy["citizen"] != nil || partnerCopy["ended_by"] != "citizen" || partnerCopy["status"] != "revoked" ||
		partnerCopy["holders"].([]any)[0].(map[string]any)["iin"] != nil {
		t.Errorf("the partner's copy of the revocation's receipt: %v", partnerCopy)
	}
	for id, want := range map[string]consent.ReceiptStatus{
		first["jti"].(string):       {Status: "superseded", SupersededBy: merged["jti"].(string)},
		partnerCopy["jti"].(string): {Status: "current"},
	} {
		if got := must(f.receipts.Status(ctx, id)); got != want {
			t.Errorf("status of %s: %+v, want %+v", id, got, want)
		}
	}
	if _, err := f.receipts.Status(ctx, "no-such-receipt"); !errors.Is(err, consent.ErrReceiptNotFound) {
		t.Errorf("an unknown receipt: %v", err)
	}
	if _, err := f.receipts.ForCitizen(ctx, aigerim, g.ID); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("another citizen's receipt: %v", err)
	}
	if _, err := f.receipts.ForPartner(ctx, "shop", g.ID); !errors.Is(err, consent.ErrNotYourGrant) {
		t.Errorf("another partner's receipt: %v", err)
	}
	// The revocation's Security Event Token carries the partner's copy.
	f.outbox.DeliverDue(ctx)
	if sent := f.webhook.sent(); len(sent) != 1 || !strings.Contains(sent[0].body, `"receipt":"`+consent.TypeReceipt+":") {
		t.Errorf("the revocation's event: %+v", sent)
	}
	if held := must(consent.NewPartnerGrants(consent.PartnerGrantsConfig{Store: f.store, Receipts: f.receipts, Deletions: f.store, Issuer: "https://kelisim.test",
		Pairwise: func(a, b string) string { return a + "/" + b }, Now: f.clock.now})); claimsOf(t, must(held.Get(ctx, "bank", g.ID)).Receipt)["jti"] != partnerCopy["jti"] {
		t.Error("the grant API does not give the latest receipt")
	}
}
