package main

// Over 400 lines because the citizen's settings journey end to end (log-in, grants, revocation on every replica,
// history, erasure, reports): nine tests over real HTTP and PostgreSQL that share its set-up, kept
// together so the journey reads in one place; the rules themselves are tested in consent.

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
)

// logIn logs a browser in to /my/ as the citizen and returns the settings
// page.
func (b *browser) logIn(iin, phone string) page {
	b.t.Helper()
	login := b.get("/my/")
	if !strings.Contains(login.body, `action="/my/login"`) {
		b.t.Fatalf("login page:\n%s", login.body)
	}
	otp := b.follow(b.submit(login, url.Values{"iin": {iin}, "phone": {phone}}))
	if !strings.Contains(otp.body, `name="otp"`) {
		b.t.Fatalf("login code page: %d\n%s", otp.status, otp.body)
	}
	home := b.follow(b.submit(otp, url.Values{"otp": {code(b.t, b.g.sms.next(b.t, phone))}}))
	if home.status != http.StatusOK || !strings.Contains(home.body, `action="/my/logout"`) {
		b.t.Fatalf("after log-in: %d\n%s", home.status, home.body)
	}
	return home
}

var grantFormRE = regexp.MustCompile(`name="grant_id" value="([0-9a-f]+)"`)

// revokeForm posts the revoke form of one grant.
func (b *browser) revokeGrant(home page, grantID string) page {
	b.t.Helper()
	csrf := hiddenRE.FindStringSubmatch(home.body)[2]
	return b.do("POST", "/my/revoke", url.Values{"csrf": {html.UnescapeString(csrf)}, "grant_id": {grantID}})
}

// The citizen revokes on the settings page: the token fails at once on
// both replicas, the partner's webhook gets a signed SET, and its
// acknowledgement shows on the page.
func TestRevokeFromSettings(t *testing.T) {
	db := pgtest.URL(t)
	hook, hookURL := newWebhook(t, 0)
	a := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}})
	b2 := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}})
	p := a.onboard(t, map[string]any{"webhook_url": hookURL, "client_name#kk": "Демо Банк"})
	tok := consentAs(t, a, p, aidarIIN, aidarPhone, "openid offline_access documents:id_card")
	access := tok["access_token"].(string)
	grantID := a.introspect(t, p, access)["grant_id"].(string)
	if resp, _ := b2.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch on the second replica: %d", resp.StatusCode)
	}

	br := newBrowser(t, a)
	home := br.logIn(aidarIIN, aidarPhone)
	if !strings.Contains(home.body, "Демо Банк") || !strings.Contains(home.body, "Жеке куәлік") || grantFormRE.FindStringSubmatch(home.body)[1] != grantID {
		t.Fatalf("settings page lacks the grant:\n%s", home.body)
	}
	if !strings.Contains(home.body, `name="channel" value="sms"`) || strings.Contains(home.body, `value="app"`) {
		t.Errorf("without a push service the app is offered as a channel, or SMS is not")
	}
	res := br.revokeGrant(home, grantID)
	if res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", res.status, res.body)
	}
	for _, g := range []*gw{a, b2} {
		if resp, _ := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token after revocation: %d", resp.StatusCode)
		}
		if in := g.introspect(t, p, access); in["active"] != false {
			t.Errorf("introspection after revocation: %v", in)
		}
	}
	resp, body := a.form(t, "/oauth2/token", p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if resp.StatusCode == http.StatusOK {
		t.Errorf("refresh after revocation: %v", body)
	}
	// Revoking twice is harmless.
	if res := br.revokeGrant(home, grantID); res.status != http.StatusSeeOther {
		t.Errorf("second revoke: %d", res.status)
	}

	hook.waitAttempts(t, 1)
	hook.mu.Lock()
	var set string
	for _, b := range hook.bodies {
		set = b
	}
	hook.mu.Unlock()
	if set == "" {
		t.Fatal("no SET reached the webhook")
	}
	claims, header := verify(t, a, set)
	events, _ := claims["events"].(map[string]any)
	ev, _ := events[consent.SessionRevoked].(map[string]any)
	if header["typ"] != "secevent+jwt" || claims["aud"] != p.id || ev["grant_id"] != grantID || claims["sub_id"].(map[string]any)["id"] == aidarIIN {
		t.Errorf("SET %v %v", header, claims)
	}
	// The acknowledgement shows to the citizen.
	var page page
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if page = br.get("/my/"); strings.Contains(page.body, "растады") {
			break
		}
	}
	if !strings.Contains(page.body, "Серіктес кері қайтаруды") || !strings.Contains(page.body, "растады") {
		t.Errorf("acknowledgement not shown:\n%s", page.body)
	}
	if !strings.Contains(page.body, "рұқсаты кері қайтарылды") {
		t.Error("history lacks the revocation")
	}
}

// Only the citizen's own active grants can be revoked: another citizen's
// grant or an unknown id answers 404 and changes nothing.
func TestRevokeForeignGrant(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"documents": []string{"id_card", "birth_certificate"}})
	aidar := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	aidarGrant := g.introspect(t, p, aidar["access_token"].(string))["grant_id"].(string)
	consentAs(t, g, p, aigerimIIN, aigerimTel, "openid documents:id_card")

	br := newBrowser(t, g)
	home := br.logIn(aigerimIIN, aigerimTel)
	for _, id := range []string{aidarGrant, "0123456789abcdef0123456789abcdef"} {
		if res := br.revokeGrant(home, id); res.status != http.StatusNotFound {
			t.Errorf("revoking %s: %d, want 404", id, res.status)
		}
	}
	if in := g.introspect(t, p, aidar["access_token"].(string)); in["active"] != true {
		t.Error("another citizen revoked Aidar's grant")
	}
	// Without log-in nothing is revoked either.
	anon := newBrowser(t, g)
	login := anon.get("/my/")
	if res := anon.revokeGrant(login, aidarGrant); res.status != http.StatusSeeOther || res.location != "/my/" {
		t.Errorf("anonymous revoke: %d %s", res.status, res.location)
	}
	// A form without its token is refused.
	if res := br.do("POST", "/my/revoke", url.Values{"grant_id": {aidarGrant}}); res.status != http.StatusForbidden {
		t.Errorf("revoke without CSRF token: %d", res.status)
	}
}

// Revoking all grants of a partner, then everything.
func TestRevokeByPartnerAndAll(t *testing.T) {
	g := startConsent(t)
	p1 := g.onboard(t, nil)
	p2 := g.onboard(t, map[string]any{"client_name": "Other Bank"})
	t1 := consentAs(t, g, p1, aidarIIN, aidarPhone, "openid documents:id_card")
	t1b := consentAs(t, g, p1, aidarIIN, aidarPhone, "openid documents:driver_license")
	t2 := consentAs(t, g, p2, aidarIIN, aidarPhone, "openid documents:id_card")
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	br.do("POST", "/my/revoke", url.Values{"csrf": {csrf}, "partner_id": {p1.id}})
	if g.introspect(t, p1, t1["access_token"].(string))["active"] != false || g.introspect(t, p1, t1b["access_token"].(string))["active"] != false {
		t.Error("a grant of the partner survived")
	}
	if g.introspect(t, p2, t2["access_token"].(string))["active"] != true {
		t.Fatal("another partner's grant was revoked")
	}
	br.do("POST", "/my/revoke", url.Values{"csrf": {csrf}, "all": {"true"}})
	if g.introspect(t, p2, t2["access_token"].(string))["active"] != false {
		t.Error("revoke everything left a grant")
	}
}

// Erasure revokes everything and leaves no session, OTP or token rows.
func TestEraseMyData(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card")
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	res := br.do("POST", "/my/erase", url.Values{"csrf": {csrf}})
	if res.status != http.StatusOK || !strings.Contains(res.body, "Деректеріңіз жойылды") {
		t.Fatalf("erase: %d\n%s", res.status, res.body)
	}
	// One grant was revoked: the page says so in words, not with a message id.
	if !strings.Contains(text(res), "1 рұқсат кері қайтарылды.") || strings.Contains(res.body, "erased_") {
		t.Errorf("erasure page with one grant revoked:\n%s", res.body)
	}
	conn := dbConn(t, g)
	for table, query := range map[string]string{
		"sessions":       `SELECT count(*) FROM citizen_sessions WHERE citizen = $1`,
		"otp":            `SELECT count(*) FROM otp_challenges WHERE citizen = $1`,
		"grants by IIN":  `SELECT count(*) FROM grants WHERE citizen = $1`,
		"history by IIN": `SELECT count(*) FROM access_events WHERE citizen = $1 OR holder = $1`,
		"tokens":         `SELECT count(*) FROM oauth_records WHERE convert_from(request, 'UTF8') LIKE '%' || $1 || '%'`,
	} {
		var n int
		if err := conn.QueryRow(context.Background(), query, aidarIIN).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows still hold the citizen", table, n)
		}
	}
	var kept int
	_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM grants WHERE citizen LIKE 'p-%' AND status = 'revoked'`).Scan(&kept)
	if kept != 1 {
		t.Errorf("pseudonymised grants kept: %d, want 1", kept)
	}
	if in := g.introspect(t, p, tok["access_token"].(string)); in["active"] != false {
		t.Error("the token survived erasure")
	}
	if page := br.get("/my/"); !strings.Contains(page.body, `action="/my/login"`) {
		t.Error("the session survived erasure")
	}
}

// Sessions end after 15 idle minutes, and log-out ends them at once.
func TestSettingsSession(t *testing.T) {
	clk := &clock{}
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, clock: clk})
	br := newBrowser(t, g)
	br.logIn(aidarIIN, aidarPhone)
	clk.advance(14 * time.Minute)
	if page := br.get("/my/"); !strings.Contains(page.body, `action="/my/logout"`) {
		t.Fatal("logged out before the idle timeout")
	}
	clk.advance(16 * time.Minute)
	if page := br.get("/my/"); !strings.Contains(page.body, `action="/my/login"`) {
		t.Error("still logged in after 16 idle minutes")
	}
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	br.do("POST", "/my/logout", url.Values{"csrf": {csrf}})
	if page := br.get("/my/"); !strings.Contains(page.body, `action="/my/login"`) {
		t.Error("still logged in after log-out")
	}
}

// The operator's app, a first-party client, manages the citizen's grants
// through /api/v1/me/ with a token carrying the "me" scope.
func TestMeAPI(t *testing.T) {
	g := startConsent(t)
	bank := g.onboard(t, nil)
	app := g.onboard(t, map[string]any{"client_name": "eGov Mobile", "first_party": true, "documents": []string{}, "scope": "openid offline_access me"})
	if resp, body := g.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "Sly", "redirect_uris": []string{"https://x.example/cb"}, "scope": "openid me"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a third party got the me scope: %d %v", resp.StatusCode, body)
	}
	bankTok := consentAs(t, g, bank, aidarIIN, aidarPhone, "openid documents:id_card")
	bankGrant := g.introspect(t, bank, bankTok["access_token"].(string))["grant_id"].(string)
	other := consentAs(t, g, bank, aigerimIIN, aigerimTel, "openid documents:id_card")
	otherGrant := g.introspect(t, bank, other["access_token"].(string))["grant_id"].(string)
	me := consentAs(t, g, app, aidarIIN, aidarPhone, "openid me")["access_token"].(string)

	call := func(method, path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(method, g.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := g.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, body := call("GET", "/api/v1/me/grants", me)
	if status != http.StatusOK {
		t.Fatalf("grants: %d %v", status, body)
	}
	var ids []string
	for _, gr := range body["grants"].([]any) {
		ids = append(ids, gr.(map[string]any)["grant_id"].(string))
	}
	if !slices.Contains(ids, bankGrant) || slices.Contains(ids, otherGrant) {
		t.Errorf("grants %v: want Aidar's only", ids)
	}
	if status, _ := call("GET", "/api/v1/me/grants", bankTok["access_token"].(string)); status != http.StatusForbidden {
		t.Errorf("a partner token on /me: %d", status)
	}
	if status, _ := call("POST", "/api/v1/me/grants/"+otherGrant+"/revoke", me); status != http.StatusNotFound {
		t.Errorf("revoking another citizen's grant: %d", status)
	}
	if g.introspect(t, bank, other["access_token"].(string))["active"] != true {
		t.Fatal("another citizen's grant was revoked")
	}
	if status, body := call("POST", "/api/v1/me/grants/"+bankGrant+"/revoke", me); status != http.StatusOK || body["revoked"] != float64(1) {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if resp, _ := g.api(t, bankTok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bank token after revocation through the app: %d", resp.StatusCode)
	}
	if status, body := call("POST", "/api/v1/me/grants/"+bankGrant+"/revoke", me); status != http.StatusOK || body["revoked"] != float64(0) {
		t.Errorf("revoking twice: %d %v", status, body)
	}
	status, body = call("GET", "/api/v1/me/history", me)
	kinds := ""
	for _, e := range body["events"].([]any) {
		kinds += e.(map[string]any)["kind"].(string) + " "
	}
	if status != http.StatusOK || !strings.Contains(kinds, "revocation") || !strings.Contains(kinds, "consent") {
		t.Errorf("history: %d %s", status, kinds)
	}
}

// An expired grant behaves like a revoked one: the upkeep job marks it, its
// tokens fail, and the partner is told.
func TestGrantExpiry(t *testing.T) {
	clk := &clock{}
	hook, hookURL := newWebhook(t, 0)
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, clock: clk,
		env: map[string]string{"KELISIM_UPKEEP_EVERY": "1s"}})
	p := g.onboard(t, map[string]any{"webhook_url": hookURL})
	verifier, challenge := pkce()
	q := authQuery(p, "openid documents:id_card", challenge)
	q.Set("grant_days", "1")
	b := newBrowser(t, g)
	page := b.consentTo("/oauth2/auth?" + q.Encode())
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	_, tok := g.form(t, "/oauth2/token", p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	grantID := g.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)

	clk.advance(25 * time.Hour)
	hook.waitAttempts(t, 1)
	var status, by string
	if err := dbConn(t, g).QueryRow(context.Background(), `SELECT status, status_by FROM grants WHERE id = $1`, grantID).Scan(&status, &by); err != nil {
		t.Fatal(err)
	}
	if status != "expired" || by != "system" {
		t.Errorf("grant after expiry: %s by %s", status, by)
	}
	hook.mu.Lock()
	set := hook.bodies[0]
	hook.mu.Unlock()
	claims, _ := verify(t, g, set)
	ev := claims["events"].(map[string]any)[consent.SessionRevoked].(map[string]any)
	if ev["grant_id"] != grantID || ev["initiating_entity"] != "policy" {
		t.Errorf("expiry SET %v", ev)
	}
}

// A new version of the terms: a grant under the old terms keeps working
// until the partner asks for consent again; the new consent replaces it.
func TestTermsChange(t *testing.T) {
	db := pgtest.URL(t)
	termsOf := func(version string) map[string]string {
		path := filepath.Join(t.TempDir(), version+".txt")
		if err := os.WriteFile(path, []byte("The terms of "+version+"."), 0o600); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"KELISIM_TERMS_VERSION": version, "KELISIM_TERMS_FILE": path}
	}
	v1 := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: termsOf("v1")})
	p := v1.onboard(t, nil)
	old := consentAs(t, v1, p, aidarIIN, aidarPhone, "openid documents:id_card")
	v1.stop(t)

	v2 := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: termsOf("v2")})
	if resp, _ := v2.api(t, old["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a grant under old terms stopped before the partner asked again: %d", resp.StatusCode)
	}
	fresh := consentAs(t, v2, p, aidarIIN, aidarPhone, "openid documents:id_card")
	if resp, _ := v2.api(t, old["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old-terms grant still works after the new consent: %d", resp.StatusCode)
	}
	if resp, _ := v2.api(t, fresh["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Errorf("the new grant fails: %d", resp.StatusCode)
	}
	var version, digest string
	_ = dbConn(t, v2).QueryRow(context.Background(), `SELECT terms_version, terms_digest FROM grants WHERE status = 'active'`).Scan(&version, &digest)
	if want := (consent.Terms{Text: []byte("The terms of v2.")}).Digest(); version != "v2" || digest != want {
		t.Errorf("active grant under terms %q (%s), want v2 (%s)", version, digest, want)
	}
	// Both versions' texts stay served by any replica, byte for byte.
	for v, text := range map[string]string{"v1": "The terms of v1.", "v2": "The terms of v2."} {
		if resp, body := v2.do(t, "GET", "/terms/"+v, nil, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Digest") == "" {
			t.Errorf("/terms/%s: %d %v", v, resp.StatusCode, body)
		} else if raw := readBody(t, v2, "/terms/"+v); raw != text {
			t.Errorf("/terms/%s: %q", v, raw)
		}
	}
	v2.stop(t)
	rewritten := termsOf("v2")
	_ = os.WriteFile(rewritten["KELISIM_TERMS_FILE"], []byte("Quietly other terms."), 0o600)
	cfg, err := loadConfig(envOf(map[string]string{"KELISIM_DATABASE_URL": db, "KELISIM_SECRET": testSecret, "KELISIM_ADMIN_TOKEN": testAdminToken,
		"KELISIM_SMS": "console", "KELISIM_TERMS_VERSION": "v2", "KELISIM_TERMS_FILE": rewritten["KELISIM_TERMS_FILE"]}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newGateway(context.Background(), &cfg, wiring{consent: httpapi.ConsentRedirect{}, now: time.Now, stdout: io.Discard, stderr: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "another text") {
		t.Errorf("a version's text changed silently: %v", err)
	}
}

// New terms: a citizen with grants under the earlier ones is told once,
// reads what changed on the settings page, and declines, which ends those
// grants and tells their partner.
func TestNewTermsDeclined(t *testing.T) {
	db := pgtest.URL(t)
	termsFile := func(version, text string) map[string]string {
		path := filepath.Join(t.TempDir(), version+".txt")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"KELISIM_TERMS_VERSION": version, "KELISIM_TERMS_FILE": path, "KELISIM_UPKEEP_EVERY": "1s"}
	}
	hook, hookURL := newWebhook(t, 0)
	v1 := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: termsFile("v1", "Partners see what you allow.\nData is kept 30 days.\n")})
	p := v1.onboard(t, map[string]any{"webhook_url": hookURL, "client_name#kk": "Демо Банк"})
	tok := consentAs(t, v1, p, aidarIIN, aidarPhone, "openid documents:id_card")
	v1.sms.notice(t, aidarPhone) // granted
	v1.stop(t)

	v2 := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: termsFile("v2", "Partners see what you allow.\nData is kept 90 days.\n")})
	told := v2.sms.notice(t, aidarPhone)
	if !strings.Contains(told.Text, "v2") || !strings.Contains(told.Text, "/my/terms") {
		t.Errorf("the terms notice: %q", told.Text)
	}
	br := newBrowser(t, v2)
	home := br.logIn(aidarIIN, aidarPhone)
	if !strings.Contains(home.body, `class="notice terms-banner"`) {
		t.Fatalf("no banner about the terms:\n%s", home.body)
	}
	terms := br.get("/my/terms")
	for _, want := range []string{`class="line removed">− Data is kept 30 days.`, `class="line added">+ Data is kept 90 days.`, `class="line same">Partners see`, "Демо Банк"} {
		if !strings.Contains(terms.body, want) {
			t.Errorf("the terms page lacks %q:\n%s", want, terms.body)
		}
	}
	declined := br.submit(terms, nil)
	if declined.status != http.StatusSeeOther || !strings.Contains(declined.location, "declined=1") {
		t.Fatalf("decline: %d %s", declined.status, declined.location)
	}
	if page := br.get(declined.location); !strings.Contains(page.body, `id="terms-declined"`) || strings.Contains(page.body, "terms-banner") {
		t.Errorf("after declining:\n%s", page.body)
	}
	if resp, _ := v2.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the grant still works after declining: %d", resp.StatusCode)
	}
	hook.waitAttempts(t, 1)
	hook.mu.Lock()
	set := hook.bodies[len(hook.bodies)-1]
	hook.mu.Unlock()
	claims, _ := verify(t, v2, set)
	ev := claims["events"].(map[string]any)[consent.SessionRevoked].(map[string]any)
	if reason := ev["reason_admin"].(map[string]any)["en"]; reason != consent.ReasonDeclinedTerms {
		t.Errorf("the partner's reason: %v", reason)
	}
	time.Sleep(1500 * time.Millisecond) // an upkeep round: nobody is told twice
	v2.sms.mu.Lock()
	defer v2.sms.mu.Unlock()
	for _, m := range v2.sms.msgs {
		if strings.Contains(m.Text, "/my/terms") {
			t.Errorf("told of the terms twice: %q", m.Text)
		}
	}
}

func readBody(t *testing.T, g *gw, path string) string {
	t.Helper()
	resp, err := g.http.Get(g.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A citizen reports an error in a document: it gets a tracking number, is
// forwarded to the source, and the citizen follows its status.
func TestErrorReport(t *testing.T) {
	g := startConsent(t)
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	if res := br.do("POST", "/my/report", url.Values{"csrf": {csrf}, "document": {"diploma"}, "description": {"short"}}); res.status != http.StatusBadRequest {
		t.Errorf("a too short report: %d", res.status)
	}
	res := br.do("POST", "/my/report", url.Values{"csrf": {csrf}, "document": {"diploma"}, "description": {"The specialty on my diploma is wrong."}})
	m := regexp.MustCompile(`reported=(KL-[0-9A-Z]{10})`).FindStringSubmatch(res.location)
	if res.status != http.StatusSeeOther || m == nil {
		t.Fatalf("report: %d %s", res.status, res.location)
	}
	id := m[1]
	page := br.get(res.location)
	if !strings.Contains(page.body, id+" өтініші тіркелді") || !strings.Contains(page.body, "жауапты органға жіберілді") {
		t.Errorf("report not shown as forwarded:\n%s", page.body)
	}
	if resp, body := g.adminDo(t, "POST", "/admin/v1/reports/"+id+"/answer", map[string]any{"status": "resolved", "note": "corrected"}); resp.StatusCode != http.StatusOK || body["status"] != "resolved" {
		t.Fatalf("answer: %d %v", resp.StatusCode, body)
	}
	if page := br.get("/my/"); !strings.Contains(page.body, "түзетілді") {
		t.Error("the resolution is not shown")
	}
	var ref string
	_ = dbConn(t, g).QueryRow(context.Background(), `SELECT source_ref FROM error_reports WHERE id = $1`, id).Scan(&ref)
	if ref != "DEMO-"+id {
		t.Errorf("source reference %q", ref)
	}
}
