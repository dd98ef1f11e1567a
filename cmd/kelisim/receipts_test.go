package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// A citizen downloads the signed receipt of a consent from the settings
// page; the partner gets its copy from the grant API and, once revoked,
// in the revocation's event. Each verifies against the published JWKS
// with independent code, carries the digest of the terms' text served at
// /terms, and `kelisim receipt verify` says valid, superseded or invalid.
func TestConsentReceiptsEndToEnd(t *testing.T) {
	db := pgtestURL(t)
	hook, hookURL := newWebhook(t, 0)
	g := startOn(t, db, httpapi.ConsentRedirect{})
	p := g.onboard(t, map[string]any{"webhook_url": hookURL})
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	grantID := tok["grant_id"].(string)

	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	link := "/my/grants/" + grantID + "/receipt"
	if !strings.Contains(home.body, `href="`+link+`"`) {
		t.Fatalf("the settings page offers no receipt:\n%s", home.body)
	}
	resp, err := br.client.Get(g.base + link)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != httpapi.ContentTypeReceipt ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("the download: %d %v", resp.StatusCode, resp.Header)
	}
	citizenCopy := string(raw)
	claims, header := verify(t, g, citizenCopy)
	resp, terms := getBody(t, g.base+"/terms/2026-11-01")
	sum := sha256.Sum256(terms)
	if header["typ"] != consent.TypeReceipt || claims["citizen"] != aidarIIN || claims["aud"] != consent.AudienceCitizen ||
		claims["event"] != "consent" || claims["grant_id"] != grantID || claims["collection_method"] != "sms-otp" ||
		resp.StatusCode != http.StatusOK || claims["terms"].(map[string]any)["digest"] != "sha-256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("the citizen's receipt: %v %v (terms %d)", header, claims, resp.StatusCode)
	}
	other := newBrowser(t, g)
	other.logIn(aigerimIIN, aigerimTel)
	if page := other.get(link); page.status != http.StatusNotFound || strings.Contains(page.body, "eyJ") {
		t.Errorf("another citizen's download: %d", page.status)
	}

	// The citizen's app gets the same copy from the me API.
	app := g.onboard(t, map[string]any{"client_name": "eGov Mobile", "first_party": true, "documents": []string{}})
	me := consentAs(t, g, app, aidarIIN, aidarPhone, "openid me")["access_token"].(string)
	resp, body := g.bearerJSON(t, "GET", "/api/v1/me/grants/"+grantID+"/receipt", me, nil)
	var fromApp struct{ Receipt string }
	_ = json.Unmarshal(body, &fromApp)
	if ac, _ := verify(t, g, fromApp.Receipt); resp.StatusCode != http.StatusOK || ac["jti"] != claims["jti"] || ac["citizen"] != aidarIIN {
		t.Errorf("the me API's receipt: %d %v", resp.StatusCode, ac)
	}

	// And the citizen's history with its proofs (none sealed yet: the
	// export says so by naming no head).
	resp, body = g.bearerJSON(t, "GET", "/api/v1/me/history/export", me, nil)
	var x consent.HistoryExport
	if err := json.Unmarshal(body, &x); err != nil || resp.StatusCode != http.StatusOK || x.Format != consent.HistoryFormat || x.Chain == "" {
		t.Errorf("the me API's history export: %d %s", resp.StatusCode, body)
	}
	if resp, _ := getBody(t, g.base+"/receipts/no-such-receipt"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown receipt's status: %d", resp.StatusCode)
	}

	// The partner's copy: no IIN in it.
	_, cc := g.form(t, oauth.PathToken, p, map[string][]string{"grant_type": {"client_credentials"}})
	_, held := g.do(t, "GET", oauth.PathGrants+"/"+grantID, nil, http.Header{"Authorization": {"Bearer " + cc["access_token"].(string)}})
	partnerCopy, _ := held["receipt"].(string)
	pc, _ := verify(t, g, partnerCopy)
	if pc["aud"] != p.id || pc["jti"] != claims["jti"] || pc["citizen"] != nil || strings.Contains(partnerCopy, aidarIIN) {
		t.Errorf("the partner's receipt: %v", pc)
	}

	// The CLI: valid and current; then the revocation supersedes it.
	dir := t.TempDir()
	file := filepath.Join(dir, "receipt.jwt")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "receipt", "verify", file)
	if err != nil || !strings.HasPrefix(out, "valid: receipt "+claims["jti"].(string)) || !strings.Contains(out, "current") {
		t.Errorf("verify a current receipt: %v\n%s", err, out)
	}
	if res := br.revokeGrant(home, grantID); res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.status)
	}
	out, err = runCLI(t, "receipt", "verify", file)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != exitSuperseded || !strings.HasPrefix(out, "superseded:") {
		t.Errorf("verify a superseded receipt: %v\n%s", err, out)
	}
	// The revocation's event carries the receipt that superseded it.
	hook.waitAttempts(t, 1)
	hook.mu.Lock()
	set := hook.bodies[len(hook.bodies)-1]
	hook.mu.Unlock()
	sc, _ := verify(t, g, set)
	ev := sc["events"].(map[string]any)[consent.SessionRevoked].(map[string]any)
	rc, _ := verify(t, g, ev["receipt"].(string))
	if rc["event"] != "revocation" || rc["previous"] != claims["jti"] || rc["aud"] != p.id || !strings.Contains(out, rc["jti"].(string)) {
		t.Errorf("the revocation's receipt: %v (CLI said %s)", rc, out)
	}

	// Altered by one character, or signed by another key: invalid.
	parts := strings.Split(citizenCopy, ".")
	payload := []byte(parts[1])
	payload[10] ^= 1
	if err := os.WriteFile(file, []byte(parts[0]+"."+string(payload)+"."+parts[2]), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "receipt", "verify", file); !errors.As(err, &exit) || exit.code != exitInvalid || !strings.HasPrefix(out, "invalid:") {
		t.Errorf("verify an altered receipt: %v\n%s", err, out)
	}
	// Offline, with the JWKS saved beside it.
	_, jwks := getBody(t, g.base+oauth.PathJWKS)
	jwksFile := filepath.Join(dir, "jwks.json")
	_ = os.WriteFile(jwksFile, jwks, 0o600)
	_ = os.WriteFile(file, raw, 0o600)
	if out, err := runCLI(t, "receipt", "verify", "-jwks", jwksFile, file); err != nil || !strings.HasPrefix(out, "valid:") || !strings.Contains(out, "offline") {
		t.Errorf("verify offline: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "receipt", "verify", "-issuer", "https://other.example", file); err == nil || !strings.Contains(out, "not by") {
		t.Errorf("verify for another issuer: %v\n%s", err, out)
	}
}

// runCLI runs the kelisim command as it runs from a shell.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard)
	return out.String(), err
}

func getBody(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}
