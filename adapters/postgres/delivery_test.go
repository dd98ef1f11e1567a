package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
)

// The grants a document's change is delivered under are read in one
// round trip, however many the citizen has: not a search, then each
// grant on its own.
func TestActiveGrantsReadAtOnce(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := openAt(t, url, postgres.Options{MaxConns: 1})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	citizen := consent.IIN("850315300128")
	for i := range 4 {
		c := consent.Challenge{
			ID: fmt.Sprintf("at-once-%d", i), PendingID: "pend", PartnerID: "p1", Session: "session:abc", Citizen: citizen,
			Documents: []consent.DocumentType{"id_card"}, Days: 30, CodeHash: []byte{1, 2, 3}, Status: consent.ChallengePending,
			Lang: "kk", CreatedAt: now, SentAt: now, ExpiresAt: now.Add(5 * time.Minute), Version: 1,
		}
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Status = consent.ChallengeUsed
		expires := now.Add(time.Hour)
		if i == 3 {
			expires = now.Add(-time.Minute) // expired, not yet swept
		}
		g := consent.Grant{ID: "g-" + c.ID, Citizen: citizen, PartnerID: fmt.Sprintf("p%d", i), Documents: c.Documents,
			CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: expires, TermsVersion: "v1", ChallengeID: c.ID, Status: consent.GrantActive}
		if err := s.ApproveChallenge(ctx, c, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ActiveGrants(ctx, citizen, "id_card", now); err != nil { // its statement prepared
		t.Fatal(err)
	}
	before := proxy.Sent()
	got, err := s.ActiveGrants(ctx, citizen, "id_card", now)
	if err != nil {
		t.Fatal(err)
	}
	if sent := proxy.Sent() - before; sent != 1 {
		t.Errorf("three active grants read in %d round trips, want 1", sent)
	}
	if len(got) != 3 || got[0].ID != "g-at-once-0" || got[2].ID != "g-at-once-2" || got[1].PartnerID != "p1" || len(got[1].Documents) != 1 {
		t.Errorf("the active grants: %+v", got)
	}
}
