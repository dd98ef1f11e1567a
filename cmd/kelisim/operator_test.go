package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/oauth"
)

// The operator's CLI works a running gateway through its admin API: a
// partner onboarded from a file, listed, suspended and resumed, its secret
// rotated with a grace period; the dead deliveries listed and one replayed;
// the signing keys rotated. Tables by default, the API's JSON with --json,
// and the gateway's problems as readable errors.
func TestOperatorCommands(t *testing.T) {
	g, hook, hookURL := failingPush(t)
	env := envOf(map[string]string{"KELISIM_ADMIN_URL": g.base, "KELISIM_ADMIN_TOKEN": testAdminToken})
	ctx := context.Background()
	kelisim := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, args, env, &out, &out)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := kelisim(args...)
		if err != nil {
			t.Fatalf("kelisim %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	reg := filepath.Join(t.TempDir(), "bank.json")
	raw, _ := json.Marshal(map[string]any{"client_name": "Test Bank", "redirect_uris": []string{"http://127.0.0.1:7777/callback"},
		"documents": []string{"id_card"}, "delivery": "push", "webhook_url": hookURL, "admission": testAdmission})
	if err := os.WriteFile(reg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out := must("partners", "create", "--file", reg)
	m := regexp.MustCompile(`(?m)^(\S+)\s+Test Bank\s+active\s.*\n\nclient secret \(shown this once; give it to the partner now\): (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("partners create printed:\n%s", out)
	}
	p := partner{id: m[1], secret: m[2], redirect: "http://127.0.0.1:7777/callback"}

	if out := must("partners", "list"); !strings.HasPrefix(out, "CLIENT ID ") || !regexp.MustCompile(`(?m)^`+p.id+`\s+Test Bank\s+active\s+-\s+client_secret_basic\s+id_card\s+1\s`).MatchString(out) {
		t.Errorf("partners list printed:\n%s", out)
	}
	var list struct {
		Partners []struct {
			ID     string `json:"client_id"`
			Status string `json:"status"`
		} `json:"partners"`
	}
	if err := json.Unmarshal([]byte(must("partners", "list", "--json")), &list); err != nil || len(list.Partners) != 1 || list.Partners[0].ID != p.id {
		t.Errorf("partners list --json: %+v %v", list, err)
	}
	// Flags after the id too.
	var suspended struct{ Status string }
	if err := json.Unmarshal([]byte(must("partners", "suspend", p.id, "--json")), &suspended); err != nil || suspended.Status != "suspended" {
		t.Errorf("partners suspend: %+v %v", suspended, err)
	}
	if out := must("partners", "resume", p.id); !regexp.MustCompile(`(?m)^` + p.id + `\s+Test Bank\s+active\s`).MatchString(out) {
		t.Errorf("partners resume printed:\n%s", out)
	}
	out = must("partners", "rotate-secret", p.id, "--grace", "1h")
	fresh := regexp.MustCompile(`client secret \(shown this once; give it to the partner now\): (\S+)`).FindStringSubmatch(out)
	if fresh == nil || fresh[1] == p.secret {
		t.Fatalf("partners rotate-secret printed:\n%s", out)
	}
	// Within the grace period both secrets work.
	for _, secret := range []string{p.secret, fresh[1]} {
		if resp, body := g.form(t, oauth.PathIntrospect, partner{id: p.id, secret: secret}, url.Values{"token": {"none"}}); resp.StatusCode != 200 {
			t.Errorf("introspection with a secret of the grace period: %d %v", resp.StatusCode, body)
		}
	}
	p.secret = fresh[1]

	// A delivery that failed for good, listed and replayed.
	consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	hook.waitAttempts(t, 1)
	var dead string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := regexp.MustCompile(`(?m)^(\S+)\s+` + p.id + `\s+grant\.documents\s+-\s+dead\s+1\s+-\s+\S`).FindStringSubmatch(must("deliveries", "list")); m != nil {
			dead = m[1]
			break
		}
	}
	if dead == "" {
		t.Fatalf("no dead delivery listed:\n%s", must("deliveries", "list"))
	}
	if out := must("deliveries", "replay", dead); !regexp.MustCompile(`(?m)^` + dead + `\s+` + p.id + `\s+grant\.documents\s+-\s+pending\s+0\s+20\d\d-`).MatchString(out) {
		t.Errorf("deliveries replay printed:\n%s", out)
	}
	var pending struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(must("deliveries", "list", "--status", "pending", "--json", "--limit", "5")), &pending); err != nil {
		t.Errorf("deliveries list --json: %v", err)
	}

	if out := must("keys", "rotate"); !regexp.MustCompile(`^new signing key \S+ published; signs after the activation delay\n$`).MatchString(out) {
		t.Errorf("keys rotate printed: %q", out)
	}
	_, body := g.adminDo(t, "GET", "/admin/v1/audit?limit=20", nil)
	actions := map[string]bool{}
	for _, e := range body["entries"].([]any) {
		actions[e.(map[string]any)["action"].(string)] = true
	}
	for _, a := range []string{"partner.create", "partner.suspend", "partner.resume", "partner.rotate_secret", "delivery.replay", "keys.rotate"} {
		if !actions[a] {
			t.Errorf("the audit trail has no %s: %v", a, actions)
		}
	}

	// The gateway's problems, and the command's own mistakes.
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		want  string
		usage bool
	}{
		{args: []string{"partners", "show", "nope"}, want: "(404)"},
		{args: []string{"deliveries", "list", "--status", "lost"}, want: "status: must be pending, delivered or dead"},
		{args: []string{"deliveries", "replay", "nope"}, want: "(404)"},
		{args: []string{"partners", "list"}, env: map[string]string{"KELISIM_ADMIN_TOKEN": "not-the-admin-token-not-the-admin-token"}, want: "Unauthorized (401)"},
		{args: []string{"partners", "list"}, env: map[string]string{"KELISIM_ADMIN_TOKEN": ""}, want: "KELISIM_ADMIN_TOKEN is needed", usage: true},
		{args: []string{"partners", "list"}, env: map[string]string{"KELISIM_ADMIN_URL": "ftp://x"}, want: "not an http(s) URL", usage: true},
		{args: []string{"partners", "list"}, env: map[string]string{"KELISIM_ADMIN_URL": "http://127.0.0.1:1"}, want: "the admin API at http://127.0.0.1:1"},
		{args: []string{"partners", "suspend"}, want: "needs one id", usage: true},
		{args: []string{"partners", "list", "extra"}, want: `takes no "extra"`, usage: true},
		{args: []string{"partners", "create"}, want: "needs --file", usage: true},
		{args: []string{"partners", "fly"}, want: "unknown command kelisim partners fly", usage: true},
		{args: []string{"partners", "fly"}, env: map[string]string{"KELISIM_ADMIN_TOKEN": ""}, want: "unknown command kelisim partners fly", usage: true},
		{args: []string{"partners", "rotate-secret", "x", "--grace", "500ms"}, want: "whole seconds", usage: true},
		{args: []string{"keys"}, want: "kelisim keys needs a command", usage: true},
		{args: []string{"partners", "list", "--colour"}, want: "flag provided but not defined", usage: true},
	} {
		vars := map[string]string{"KELISIM_ADMIN_URL": g.base, "KELISIM_ADMIN_TOKEN": testAdminToken}
		for k, v := range tc.env {
			vars[k] = v
		}
		var out bytes.Buffer
		err := run(ctx, tc.args, envOf(vars), &out, &out)
		var exit exitError
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &exit) != tc.usage || (tc.usage && exit.code != 2) {
			t.Errorf("kelisim %s: %v (usage %v), want %q", strings.Join(tc.args, " "), err, tc.usage, tc.want)
		}
		if strings.Contains(err.Error()+out.String(), testAdminToken) {
			t.Errorf("kelisim %s shows the admin token", strings.Join(tc.args, " "))
		}
	}
}
