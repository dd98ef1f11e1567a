package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/oauth"
)

func TestAdminNeedsToken(t *testing.T) {
	g := start(t)
	for _, auth := range []string{"", "Bearer", "Bearer wrong-token", "Basic " + testAdminToken, "Bearer " + testAdminToken + "x"} {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		resp, body := g.do(t, "GET", "/admin/v1/partners", nil, h)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" || body["status"] != float64(401) {
			t.Errorf("Authorization %q: %d %s %v", auth, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestOnboardingBadInput(t *testing.T) {
	g := start(t)
	tests := []struct {
		name   string
		body   any
		fields []string // each must be named in errors
	}{
		{"empty", map[string]any{}, []string{"client_name", "redirect_uris", "admission"}},
		{"http redirect off loopback", map[string]any{"client_name": "B", "redirect_uris": []string{"http://bank.example/cb"}}, []string{"redirect_uris[0]"}},
		{"fragment", map[string]any{"client_name": "B", "redirect_uris": []string{"https://bank.example/cb#x"}}, []string{"redirect_uris[0]"}},
		{"unknown document", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "documents": []string{"passport"}}, []string{"documents[0]"}},
		{"scope beyond documents", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "documents": []string{"id_card"}, "scope": "openid documents:diploma"}, []string{"scope"}},
		{"push without webhook", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "delivery": "push"}, []string{"webhook_url"}},
		{"bad delivery", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "delivery": "fax"}, []string{"delivery"}},
		{"private_key_jwt without keys", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, []string{"jwks"}},
		{"unknown auth method", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "token_endpoint_auth_method": "none"}, []string{"token_endpoint_auth_method"}},
		{"unknown field", map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}, "grant_types": []string{"implicit"}}, nil},
		{"not JSON", "client_name=B", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := g.adminDo(t, "POST", "/admin/v1/partners", tt.body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %v, want 400 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if body["title"] == nil || body["type"] == nil {
				t.Errorf("not a problem document: %v", body)
			}
			raw, _ := json.Marshal(body["errors"])
			for _, f := range tt.fields {
				if !strings.Contains(string(raw), `"field":"`+f+`"`) {
					t.Errorf("errors %s do not name %s", raw, f)
				}
			}
		})
	}
	if _, body := g.adminDo(t, "GET", "/admin/v1/partners", nil); len(body["partners"].([]any)) != 0 {
		t.Error("a refused registration was stored")
	}
}

func TestAdminManagesPartners(t *testing.T) {
	g := start(t)
	p := g.onboard(t, map[string]any{"client_name#kk": "Сынақ банкі", "logo_uri": "https://bank.example/logo.png"})

	resp, got := g.adminDo(t, "GET", "/admin/v1/partners/"+p.id, nil)
	if resp.StatusCode != http.StatusOK || got["client_name#kk"] != "Сынақ банкі" || got["client_secret"] != nil {
		t.Errorf("get: %d %v (and never the secret)", resp.StatusCode, got)
	}
	if resp, body := g.adminDo(t, "GET", "/admin/v1/partners/nope", nil); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown partner: %d %v", resp.StatusCode, body)
	}

	// PATCH is a JSON merge patch over the registration.
	resp, patched := g.adminDo(t, "PATCH", "/admin/v1/partners/"+p.id, map[string]any{
		"redirect_uris": []string{"http://127.0.0.1:7777/callback", "http://127.0.0.1:7777/other"},
		"documents":     []string{"id_card"},
	})
	if resp.StatusCode != http.StatusOK || len(patched["redirect_uris"].([]any)) != 2 || patched["scope"] != "openid offline_access documents:id_card" {
		t.Fatalf("patch: %d %v", resp.StatusCode, patched)
	}
	if resp, body := g.adminDo(t, "PATCH", "/admin/v1/partners/"+p.id, map[string]any{"token_endpoint_auth_method": "private_key_jwt"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("changing the auth method: %d %v", resp.StatusCode, body)
	}
	if resp, body := g.adminDo(t, "PATCH", "/admin/v1/partners/"+p.id, map[string]any{"redirect_uris": []string{}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("patching to no redirect URIs: %d %v", resp.StatusCode, body)
	}

	// Rotation: the new secret works, the old one stops at once.
	resp, rotated := g.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/secret", nil)
	newSecret, _ := rotated["client_secret"].(string)
	if resp.StatusCode != http.StatusOK || len(newSecret) < 43 || newSecret == p.secret {
		t.Fatalf("rotate: %d %v", resp.StatusCode, rotated)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	if resp, _ := g.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old secret still works: %d", resp.StatusCode)
	}
	if resp, body := g.form(t, oauth.PathToken, partner{id: p.id, secret: newSecret}, cc); resp.StatusCode != http.StatusOK {
		t.Errorf("the new secret fails: %d %v", resp.StatusCode, body)
	}
	// With a grace period both work for a while.
	_, rotated = g.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/secret", map[string]any{"grace_seconds": 3600})
	newest := rotated["client_secret"].(string)
	for _, s := range []string{newSecret, newest} {
		if resp, _ := g.form(t, oauth.PathToken, partner{id: p.id, secret: s}, cc); resp.StatusCode != http.StatusOK {
			t.Errorf("during the grace period a secret fails: %d", resp.StatusCode)
		}
	}

	// Every action is audited, and no audit entry holds a secret.
	resp, audit := g.adminDo(t, "GET", "/admin/v1/audit?client_id="+p.id, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: %d", resp.StatusCode)
	}
	var actions []string
	for _, e := range audit["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "partner.rotate_secret,partner.rotate_secret,partner.update,partner.create" {
		t.Errorf("audit actions %v", actions)
	}
	raw, _ := json.Marshal(audit)
	for _, s := range []string{p.secret, newSecret, newest} {
		if strings.Contains(string(raw), s) {
			t.Error("the audit log holds a client secret")
		}
	}
	first := audit["entries"].([]any)[2].(map[string]any)
	if first["before"] == nil || first["after"] == nil || first["actor"] == "" {
		t.Errorf("update entry lacks before/after/actor: %v", first)
	}
}

// With KELISIM_ADMIN_ADDR the admin API leaves the public listener.
func TestSeparateAdminListener(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{"KELISIM_SECRET": testSecret, "KELISIM_ADMIN_TOKEN": testAdminToken, "KELISIM_DATABASE_URL": pgtestURL(t), "KELISIM_SMS": "console"}))
	if err != nil {
		t.Fatal(err)
	}
	var lns [3]net.Listener
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, &cfg, wiring{consent: oauth.Unavailable{}, now: time.Now, stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, lns[0], lns[1], lns[2]) }()
	t.Cleanup(func() { cancel(); <-done; g.close() })

	status := func(addr string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/admin/v1/partners", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(lns[0].Addr().String()); got != http.StatusNotFound {
		t.Errorf("admin API on the public listener: %d, want 404", got)
	}
	if got := status(lns[2].Addr().String()); got != http.StatusOK {
		t.Errorf("admin API on the admin listener: %d, want 200", got)
	}
}

// A verifier is onboarded without a made-up redirect URI and uses client
// credentials only; the operator's own app is given the "me" scope
// without being patched for it.
func TestOnboardingVerifierAndFirstParty(t *testing.T) {
	g := startConsent(t)
	resp, body := g.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "Airport", "verifier": true,
		"admission": map[string]string{"legal_name": "Airport JSC", "legal_basis": "Aviation law", "date": "2026-11-01"}})
	if resp.StatusCode != http.StatusCreated || body["scope"] != "verify" {
		t.Fatalf("verifier without redirect URIs: %d %v", resp.StatusCode, body)
	}
	verifier := partner{id: body["client_id"].(string), secret: body["client_secret"].(string)}
	if resp, body := g.form(t, oauth.PathToken, verifier, url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("verifier token: %d %v", resp.StatusCode, body)
	}
	_, challenge := pkce()
	q := authQuery(verifier, "openid", challenge)
	q.Del("redirect_uri")
	if resp, _ := g.do(t, "GET", oauth.PathAuthorize+"?"+q.Encode(), nil, nil); resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
		t.Errorf("a verifier without a redirect URI asked a citizen: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	app := g.onboard(t, map[string]any{"client_name": "eGov Mobile", "first_party": true, "documents": []string{}})
	me := consentAs(t, g, app, aidarIIN, aidarPhone, "openid me")["access_token"].(string)
	if resp, body := g.bearerJSON(t, "GET", "/api/v1/me/grants", me, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the first-party app's me API: %d %s", resp.StatusCode, body)
	}
}

// failingPush starts a gateway on PostgreSQL whose deliveries are dead
// after one failed attempt, and a webhook whose first post fails.
func failingPush(t *testing.T) (*gw, *webhook, string) {
	t.Helper()
	hook, hookURL := newWebhook(t, 1)
	g := startWith(t, options{db: pgtestURL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_DELIVERY_BACKOFF": "100ms", "KELISIM_DELIVERY_MAX_ATTEMPTS": "1"}})
	return g, hook, hookURL
}

// Every action through the admin API is in the audit trail with its actor:
// key rotation, a delivery replayed, a report answered, a document-change
// notice, besides the partner changes.
func TestAuditRecordsEveryAdminAction(t *testing.T) {
	g, hook, hookURL := failingPush(t)
	p := g.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	hook.waitAttempts(t, 1)
	var dead []any
	for deadline := time.Now().Add(10 * time.Second); len(dead) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body := g.adminDo(t, "GET", "/admin/v1/deliveries?status=dead", nil)
		dead = body["deliveries"].([]any)
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters: %v", dead)
	}
	delivery := dead[0].(map[string]any)["id"].(string)
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	res := br.do("POST", "/my/report", url.Values{"csrf": {csrf}, "document": {"id_card"}, "description": {"The number on my card is wrong."}})
	report := regexp.MustCompile(`reported=(KL-[0-9A-Z]{10})`).FindStringSubmatch(res.location)[1]

	for _, call := range []struct {
		path string
		body any
	}{
		{"/admin/v1/keys/rotate", nil},
		{"/admin/v1/deliveries/" + delivery + "/replay", nil},
		{"/admin/v1/reports/" + report + "/answer", map[string]any{"status": "resolved", "note": "corrected"}},
		{"/admin/v1/documents/changed", map[string]any{"iin": aidarIIN, "type": "id_card"}},
	} {
		if resp, body := g.adminDo(t, "POST", call.path, call.body); resp.StatusCode >= 300 {
			t.Fatalf("%s: %d %v", call.path, resp.StatusCode, body)
		}
	}
	_, body := g.adminDo(t, "GET", "/admin/v1/audit?limit=20", nil)
	seen := map[string]map[string]any{}
	for _, e := range body["entries"].([]any) {
		entry := e.(map[string]any)
		seen[entry["action"].(string)] = entry
	}
	for action, subject := range map[string]string{
		"keys.rotate": "key:", "delivery.replay": "delivery:" + delivery, "report.answer": "report:" + report,
		"document.changed": "document:850315******/id_card", "partner.create": "",
	} {
		e, ok := seen[action]
		if !ok {
			t.Errorf("no %s in the audit trail: %v", action, body)
			continue
		}
		if e["actor"] != "admin-token@127.0.0.1" {
			t.Errorf("%s: actor %v", action, e["actor"])
		}
		if s, _ := e["subject"].(string); !strings.HasPrefix(s, subject) {
			t.Errorf("%s: subject %q, want %q…", action, s, subject)
		}
	}
	if strings.Contains(fmt.Sprint(body), aidarIIN) {
		t.Error("the audit trail holds a full IIN")
	}
}
