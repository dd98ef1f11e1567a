package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// Two replicas through PgBouncer in transaction pooling mode, with fewer
// server connections than either replica's pool: migrations and the
// partner listener go to PostgreSQL directly; consent, fetches,
// revocation and a partner's suspension hold on both replicas. Through
// Debian 12's PgBouncer (exec mode: nothing stays prepared), and through
// one that keeps prepared statements, as production runs (README).
func TestTwoReplicasThroughPgBouncer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bouncer func(testing.TB, int) *pgtest.Bouncer
	}{
		{"exec mode", pgtest.NewBouncer},
		{"prepared statements kept", pgtest.NewPreparingBouncer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bouncer := tc.bouncer(t, 4)
			pooled, direct := bouncer.DB(t)
			twoReplicasThrough(t, pooled, direct)
		})
	}
}

// The README gives the pooler and the database what the tests give them.
func TestReadmeShowsThePoolerAsTested(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n" + pgtest.PreparingConfig + "\n", "\n" + fmt.Sprintf(pgtest.PlanOnce, "kelisim") + "\n"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README does not show %q", strings.TrimSpace(want))
		}
	}
}

func twoReplicasThrough(t *testing.T, pooled, direct string) {
	env := map[string]string{"KELISIM_DATABASE_DIRECT_URL": direct}
	a := startWith(t, options{db: pooled, consent: httpapi.ConsentRedirect{}, env: env})
	b := startWith(t, options{db: pooled, consent: httpapi.ConsentRedirect{}, env: env})
	if resp, body := a.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "probe", "redirect_uris": []string{"http://127.0.0.1:7777/callback"},
		"documents": []string{"id_card"}, "admission": testAdmission}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("onboard: %d %v\n%s", resp.StatusCode, body, a.logs.String())
	}
	p := a.onboard(t, map[string]any{"client_name#kk": "Демо Банк"})
	tok := consentAs(t, b, p, aidarIIN, aidarPhone, "openid offline_access documents:id_card")
	access := tok["access_token"].(string)
	for _, g := range []*gw{a, b, a, b} {
		if resp, body := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
			t.Fatalf("fetch: %d %s", resp.StatusCode, body)
		}
	}
	// Many requests at once through 4 server connections.
	errs := make(chan error, 40)
	for i := range 40 {
		g := []*gw{a, b}[i%2]
		go func() {
			resp, err := g.http.Get(g.base + "/.well-known/openid-configuration")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The partner cache listens past the pooler: a suspension on one
	// replica ends the partner's tokens on the other at once.
	if resp, body := a.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/suspend", nil); resp.StatusCode/100 != 2 {
		t.Fatalf("suspend: %d %v", resp.StatusCode, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := b.api(t, access, "/api/v1/documents/id_card")
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other replica still serves a suspended partner: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var version int
	if err := dbConn(t, a).QueryRow(context.Background(), `SELECT max(version) FROM kelisim_schema_version`).Scan(&version); err != nil || version == 0 {
		t.Errorf("migrations through the direct URL: %d %v", version, err)
	}
	if strings.Contains(a.logs.String(), "prepared statement") || strings.Contains(b.logs.String(), "prepared statement") {
		t.Errorf("a prepared statement met the pooler:\n%s", a.logs.String())
	}
}
