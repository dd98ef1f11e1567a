package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// The operator's commands run against the database the gateway uses.
func TestCommands(t *testing.T) {
	env := envOf(map[string]string{"KELISIM_DATABASE_URL": pgtest.URL(t), "KELISIM_SECRET": testSecret,
		"KELISIM_ADMIN_TOKEN": testAdminToken, "KELISIM_SMS": "console"})
	ctx := context.Background()
	var out bytes.Buffer
	for _, cmd := range []string{"migrate", "migrate", "rotate-keys", "rotate-keys", "version"} {
		out.Reset()
		if err := run(ctx, []string{cmd}, env, &out, &out); err != nil {
			t.Fatalf("kelisim %s: %v", cmd, err)
		}
	}
	if !strings.HasPrefix(out.String(), "kelisim dev") {
		t.Errorf("version: %q", out.String())
	}
	conn := dbConn(t, &gw{db: env("KELISIM_DATABASE_URL")})
	var total, active int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE retired_at IS NULL) FROM signing_keys`).Scan(&total, &active); err != nil {
		t.Fatal(err)
	}
	if total != 3 || active != 1 {
		t.Errorf("after two rotations: %d keys, %d not retired; want 3 and 1", total, active)
	}
	if err := run(ctx, []string{"rotate-keys"}, envOf(nil), &out, &out); err == nil {
		t.Error("rotate-keys without a database succeeded")
	}
	if err := run(ctx, []string{"nonsense"}, env, &out, &out); err == nil {
		t.Error("an unknown command succeeded")
	}
}
