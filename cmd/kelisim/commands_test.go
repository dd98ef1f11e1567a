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

// The operator's commands ask only for what they use: migrate needs the
// database, rotate-keys the database and the secret that seals the keys;
// neither needs SMS, registry or admin settings, which a migration job
// does not carry.
func TestCommandsNeedOnlyWhatTheyUse(t *testing.T) {
	db := pgtest.URL(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, envOf(map[string]string{"KELISIM_DATABASE_URL": db}), &out, &out); err != nil {
		t.Fatalf("migrate with only KELISIM_DATABASE_URL: %v", err)
	}
	if err := run(ctx, []string{"rotate-keys"}, envOf(map[string]string{"KELISIM_DATABASE_URL": db, "KELISIM_SECRET": testSecret}), &out, &out); err != nil {
		t.Fatalf("rotate-keys with the database and the secret: %v", err)
	}
	for _, tt := range []struct {
		cmd  string
		env  map[string]string
		want string
	}{
		{"migrate", nil, "KELISIM_DATABASE_URL"},
		{"rotate-keys", map[string]string{"KELISIM_DATABASE_URL": db}, "KELISIM_SECRET"},
		{"rotate-keys", map[string]string{"KELISIM_DATABASE_URL": db, "KELISIM_SECRET": "short"}, "KELISIM_SECRET"},
	} {
		err := run(ctx, []string{tt.cmd}, envOf(tt.env), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s with %v: %v, want an error naming %s", tt.cmd, tt.env, err, tt.want)
		}
	}
}
