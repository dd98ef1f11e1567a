package consent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
)

type noReceipts struct{}

func (noReceipts) ForPartner(context.Context, string, string) (string, error) { return "", nil }

// A partner's deletion statement is outside input even when signed: any
// payload is either taken (once) or refused as a bad statement, never a
// panic or another failure.
func FuzzDeletionStatement(f *testing.F) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	f.Add(`{"iss":"bank","aud":"https://kelisim.test","iat":1796032800,"jti":"j","grant_id":"g1","deleted_at":"2026-11-30T09:00:00Z","deleted":["id_card"]}`)
	f.Add(`{"retained":[{"document":"id_card","reason":"r","legal_basis":"b"}]}`)
	f.Add(`{"deleted_at":"\u0000","deleted":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, payload string) {
		ctx := context.Background()
		st := memory.New()
		c := consent.Challenge{ID: "c1", PartnerID: "bank", Citizen: aidar, Status: consent.ChallengeUsed, Version: 1, ExpiresAt: now}
		_ = st.CreateChallenge(ctx, consent.Challenge{ID: "c1", PartnerID: "bank", Citizen: aidar, Status: consent.ChallengePending, Version: 1, ExpiresAt: now})
		if err := st.ApproveChallenge(ctx, c, consent.Grant{ID: "g1", Citizen: aidar, PartnerID: "bank", Documents: idCard,
			CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Status: consent.GrantActive}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeGrant(ctx, "g1", "citizen", "revoked", now.Add(-time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		pg := must(consent.NewPartnerGrants(consent.PartnerGrantsConfig{Store: st, Receipts: noReceipts{}, Deletions: st,
			Issuer: "https://kelisim.test", Pairwise: func(a, b string) string { return a + b }, Now: func() time.Time { return now }}))
		_, err := pg.ConfirmDeletion(ctx, "bank", "g1", []byte(payload), "jws")
		if err != nil && !errors.Is(err, consent.ErrDeletionStatement) {
			t.Errorf("%q: %v", payload, err)
		}
	})
}
