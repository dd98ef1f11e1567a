package main

// Over 400 lines because the partner's journey end to end (pull, push with retries and dead letters,
// encryption, renewal): nine tests over real HTTP and PostgreSQL sharing its webhook stand-ins.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// consentAs runs the consent path for a citizen with scope and returns
// the access token.
func consentAs(t *testing.T, g *gw, p partner, iin, phone, scope string) map[string]any {
	t.Helper()
	verifier, challenge := pkce()
	b := newBrowser(t, g)
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, scope, challenge).Encode())
	otp := b.follow(b.submit(page, url.Values{"iin": {iin}, "phone": {phone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, phone))}, "decision": {"allow"}})
	if strings.Contains(back.body, `name="step" value="holders"`) {
		// A legal representative: share everyone's documents the page names.
		back = b.submit(back, url.Values{"holder": holdersOn(back), "decision": {"allow"}})
	}
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v\n%s", resp.StatusCode, tok, back.body)
	}
	return tok
}

var holderRE = regexp.MustCompile(`name="holder" value="([0-9]+)"`)

// holdersOn is every holder a page offers.
func holdersOn(p page) []string {
	var out []string
	for _, m := range holderRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1])
	}
	return out
}

func (g *gw) api(t *testing.T, token, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// verify checks a JWS with nothing but the gateway's published JWKS (an
// independent implementation: go-oidc's remote key set) and returns its
// claims and protected header.
func verify(t *testing.T, g *gw, jws string) (map[string]any, map[string]any) {
	t.Helper()
	keys := oidc.NewRemoteKeySet(context.Background(), g.base+oauth.PathJWKS)
	payload, err := keys.VerifySignature(context.Background(), jws)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims, header map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
	_ = json.Unmarshal(h, &header)
	return claims, header
}

func TestDocumentsPull(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"documents": []string{"id_card", "driver_license", "pcr_test", "marriage_certificate", "diploma"}})
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card documents:pcr_test documents:marriage_certificate")
	access := tok["access_token"].(string)
	grantID := g.introspect(t, p, access)["grant_id"].(string)

	resp, body := g.api(t, access, "/api/v1/documents")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Documents []struct{ Type, Status, Expires, Relation, Holder string }
	}
	_ = json.Unmarshal(body, &list)
	got := map[string]string{}
	for _, d := range list.Documents {
		got[d.Type] = d.Status
	}
	if len(got) != 2 || got["id_card"] != "valid" || got["pcr_test"] != "expired" {
		t.Errorf("list: %s", body)
	}

	resp, body = g.api(t, access, "/api/v1/documents/id_card")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jose" {
		t.Fatalf("fetch: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	claims, header := verify(t, g, string(body))
	doc, _ := claims["document"].(map[string]any)
	if header["typ"] != "kelisim-document+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
		t.Errorf("header %v", header)
	}
	if claims["iss"] != g.base || claims["aud"] != p.id || claims["grant_id"] != grantID || claims["jti"] == nil || claims["sub"] == aidarIIN {
		t.Errorf("claims %v", claims)
	}
	exp, iat := claims["exp"].(float64), claims["iat"].(float64)
	if exp-iat != 300 || exp < float64(time.Now().Unix()) {
		t.Errorf("exp %v iat %v: want a short, future expiry", exp, iat)
	}
	if doc["number"] != "045123456" || doc["status"] != "valid" || doc["relation"] != "self" || doc["holder"].(map[string]any)["iin"] != aidarIIN {
		t.Errorf("document %v", doc)
	}
	// Outside the grant: 403; no such document: 404; unknown type: 404.
	if resp, _ := g.api(t, access, "/api/v1/documents/diploma"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("diploma outside the grant: %d", resp.StatusCode)
	}
	if resp, _ := g.api(t, access, "/api/v1/documents/marriage_certificate"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a document the citizen lacks: %d", resp.StatusCode)
	}
	if resp, body := g.api(t, "not-a-token", "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("bad token: %d %s", resp.StatusCode, body)
	}
	// A machine token acts for no citizen.
	_, cc := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}})
	if resp, _ := g.api(t, cc["access_token"].(string), "/api/v1/documents"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("client_credentials token: %d", resp.StatusCode)
	}
	// After revocation the same token is refused.
	g.form(t, oauth.PathRevoke, p, url.Values{"token": {access}})
	if resp, _ := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after revocation: %d", resp.StatusCode)
	}
	// Each fetch is in the citizen's history.
	conn := dbConn(t, g)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM access_events WHERE citizen = $1 AND kind = 'fetch'
		AND document_type = 'id_card' AND grant_id = $2 AND partner_id = $3`, aidarIIN, grantID, p.id).Scan(&n); err != nil || n != 1 {
		t.Errorf("history rows: %d %v", n, err)
	}
}

// A legal representative shares a minor's document, which says whose it is.
// A legal representative is asked, once the code is right, whose documents
// to share, each named: their own ticked, the child's only if ticked; the
// grant covers exactly those named.
func TestConsentNamesEachHolder(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"documents": []string{"id_card", "birth_certificate"}})
	b := newBrowser(t, g)
	verifier, challenge := pkce()
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, "openid documents:id_card documents:birth_certificate", challenge).Encode())
	if strings.Contains(page.body, "Alikhan") {
		t.Fatal("a child is named before the code proved who is asking")
	}
	otp := b.follow(b.submit(page, url.Values{"iin": {aigerimIIN}, "phone": {aigerimTel}, "decision": {"start"}}))
	holders := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aigerimTel))}, "decision": {"allow"}})
	if holders.status != http.StatusOK || !strings.Contains(holders.body, "Aigerim Nurlanova") || !strings.Contains(holders.body, "Alikhan Nurlanov") ||
		!strings.Contains(holders.body, `name="holder" value="0" checked`) || strings.Contains(holders.body, `name="holder" value="1" checked`) {
		t.Fatalf("holders page: %d\n%s", holders.status, holders.body)
	}
	if res := b.submit(holders, url.Values{"decision": {"allow"}}); res.status != http.StatusBadRequest || isCodeRedirect(res) {
		t.Errorf("nobody ticked: %d %s", res.status, res.location)
	}
	// Only the child's documents.
	back := b.submit(holders, url.Values{"holder": {"1"}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	_, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	access, _ := tok["access_token"].(string)
	_, body := g.api(t, access, "/api/v1/documents")
	var list struct {
		Documents []struct{ Type, Relation string }
	}
	_ = json.Unmarshal(body, &list)
	if len(list.Documents) != 1 || list.Documents[0].Type != "birth_certificate" || list.Documents[0].Relation != "legal_representative" {
		t.Errorf("a grant for the child only covers %s", body)
	}
	if resp, _ := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the parent's own id card under a grant for the child: %d", resp.StatusCode)
	}
	var holdersRow []string
	if err := dbConn(t, g).QueryRow(t.Context(), `SELECT holders FROM grants WHERE partner_id = $1`, p.id).Scan(&holdersRow); err != nil {
		t.Fatal(err)
	}
	if len(holdersRow) != 1 || holdersRow[0] != "150612601232" {
		t.Errorf("the grant names %v", holdersRow)
	}
	// The settings page says whose documents the grant covers.
	home := newBrowser(t, g).logIn(aigerimIIN, aigerimTel)
	if !strings.Contains(text(home), "Alikhan Nurlanov (сіз өкілі болып табылатын кәмелетке толмаған)") || strings.Contains(text(home), "Aigerim Nurlanova (сіз)") {
		t.Errorf("settings page does not name the grant's holder:\n%s", home.body)
	}
}

func TestDocumentsOfMinor(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"documents": []string{"id_card", "birth_certificate"}})
	tok := consentAs(t, g, p, aigerimIIN, aigerimTel, "openid documents:birth_certificate")
	access := tok["access_token"].(string)
	_, body := g.api(t, access, "/api/v1/documents")
	var list struct {
		Documents []struct{ Type, Relation, Holder string }
	}
	_ = json.Unmarshal(body, &list)
	if len(list.Documents) != 1 || list.Documents[0].Relation != "legal_representative" || list.Documents[0].Holder == "" {
		t.Fatalf("list: %s", body)
	}
	resp, body := g.api(t, access, "/api/v1/documents/birth_certificate?holder="+url.QueryEscape(list.Documents[0].Holder))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch: %d %s", resp.StatusCode, body)
	}
	claims, _ := verify(t, g, string(body))
	doc := claims["document"].(map[string]any)
	if doc["relation"] != "legal_representative" || doc["holder"].(map[string]any)["name"] != "Alikhan Nurlanov" {
		t.Errorf("document %v", doc)
	}
}

// With an encryption key, the document is a JWE around the JWS.
func TestDocumentsEncrypted(t *testing.T) {
	g := startConsent(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: key.Public(), KeyID: "bank-enc", Use: "enc"}
	p := g.onboard(t, map[string]any{"document_encryption_jwk": pub})
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	_, body := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card")
	if parts := strings.Split(string(body), "."); len(parts) != 5 {
		t.Fatalf("not a compact JWE: %d parts", len(parts))
	}
	jwe, err := jose.ParseEncryptedCompact(string(body), []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := jwe.Decrypt(key)
	if err != nil {
		t.Fatal(err)
	}
	if claims, _ := verify(t, g, string(inner)); claims["document"].(map[string]any)["type"] != "id_card" {
		t.Errorf("inner claims %v", claims)
	}
}

// Rotation publishes the new key first; it signs after the delay, and the
// old key stays published so what it signed still verifies.
func TestKeyRotation(t *testing.T) {
	clk := &clock{}
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, clock: clk})
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	access := tok["access_token"].(string)
	_, before := g.api(t, access, "/api/v1/documents/id_card")
	_, oldHeader := verify(t, g, string(before))

	resp, rotated := g.adminDo(t, "POST", "/admin/v1/keys/rotate", nil)
	if resp.StatusCode != http.StatusOK || rotated["kid"] == oldHeader["kid"] {
		t.Fatalf("rotate: %d %v", resp.StatusCode, rotated)
	}
	_, jwks := g.do(t, "GET", oauth.PathJWKS, nil, nil)
	if len(jwks["keys"].([]any)) != 2 {
		t.Fatalf("JWKS after rotation: %v", jwks)
	}
	_, now := g.api(t, access, "/api/v1/documents/id_card")
	if _, h := verify(t, g, string(now)); h["kid"] != oldHeader["kid"] {
		t.Error("the new key signed before its activation")
	}
	clk.advance(oauth.ActivateAfter + time.Second)
	_, after := g.api(t, access, "/api/v1/documents/id_card")
	if _, h := verify(t, g, string(after)); h["kid"] != rotated["kid"] {
		t.Errorf("after activation signed by %v, want %v", h["kid"], rotated["kid"])
	}
	verify(t, g, string(before)) // the retired key still verifies
}

// webhook is a partner's receiver: it fails the first fail posts, then
// accepts, and counts acceptances per Idempotency-Key.
type webhook struct {
	mu       sync.Mutex
	fail     int
	attempts int
	accepted map[string]int
	bodies   []string
	seen     chan struct{}
}

func newWebhook(t *testing.T, fail int) (*webhook, string) {
	w := &webhook{fail: fail, accepted: map[string]int{}, seen: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.attempts++
		failing := w.attempts <= w.fail
		if ct := r.Header.Get("Content-Type"); !failing && (ct == "application/jose" || ct == "application/secevent+jwt") {
			w.accepted[r.Header.Get("Idempotency-Key")]++
			w.bodies = append(w.bodies, string(body))
		}
		w.mu.Unlock()
		w.seen <- struct{}{}
		if failing {
			http.Error(rw, "not now", http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return w, srv.URL + "/webhook"
}

func (w *webhook) waitAttempts(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		a := w.attempts
		w.mu.Unlock()
		if a >= n {
			return
		}
		select {
		case <-w.seen:
		case <-deadline:
			t.Fatalf("webhook saw %d attempts, want %d", a, n)
		}
	}
}

// Push delivery is at-least-once through the outbox: the receiver fails
// twice, the gateway restarts in between, and each Idempotency-Key is
// accepted exactly once, with a body that verifies against the JWKS.
func TestPushDeliverySurvivesRestart(t *testing.T) {
	db := pgtest.URL(t)
	hook, hookURL := newWebhook(t, 2)
	env := map[string]string{"KELISIM_DELIVERY_BACKOFF": "200ms"}
	first := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	p := first.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	tok := consentAs(t, first, p, aidarIIN, aidarPhone, "openid documents:id_card documents:driver_license")
	grantID := first.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)
	hook.waitAttempts(t, 1)
	first.stop(t) // the first gateway goes away after a failed attempt

	second := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	hook.waitAttempts(t, 3)
	time.Sleep(500 * time.Millisecond) // room for a wrong extra delivery to show
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.accepted) != 1 {
		t.Fatalf("accepted keys %v, want one", hook.accepted)
	}
	for key, n := range hook.accepted {
		if n != 1 {
			t.Errorf("key %s accepted %d times", key, n)
		}
	}
	claims, header := verify(t, second, hook.bodies[0])
	if header["typ"] != "kelisim-delivery+jwt" || claims["aud"] != p.id || claims["grant_id"] != grantID || claims["event"] != "grant.documents" {
		t.Errorf("delivery claims %v header %v", claims, header)
	}
	docs := claims["documents"].([]any)
	if len(docs) != 2 {
		t.Fatalf("%d documents delivered, want 2", len(docs))
	}
	for _, d := range docs {
		if c, _ := verify(t, second, d.(string)); c["aud"] != p.id {
			t.Errorf("document claims %v", c)
		}
	}
	var n int
	if err := dbConn(t, second).QueryRow(context.Background(), `SELECT count(*) FROM access_events WHERE kind = 'delivery' AND grant_id = $1`, grantID).Scan(&n); err != nil || n != 2 {
		t.Errorf("delivery history rows: %d %v", n, err)
	}
}

// A delivery that keeps failing is dead-lettered; the operator lists and
// replays it, with the same Idempotency-Key.
func TestDeadLetterReplay(t *testing.T) {
	hook, hookURL := newWebhook(t, 2)
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_DELIVERY_BACKOFF": "100ms", "KELISIM_DELIVERY_MAX_ATTEMPTS": "2"}})
	p := g.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	hook.waitAttempts(t, 2)
	var dead []any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body := g.adminDo(t, "GET", "/admin/v1/deliveries?status=dead", nil)
		if dead = body["deliveries"].([]any); len(dead) > 0 {
			break
		}
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters: %v", dead)
	}
	entry := dead[0].(map[string]any)
	if entry["attempts"] != float64(2) || entry["last_error"] == "" || entry["client_id"] != p.id {
		t.Errorf("dead letter %v", entry)
	}
	resp, _ := g.adminDo(t, "POST", "/admin/v1/deliveries/"+entry["id"].(string)+"/replay", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	hook.waitAttempts(t, 3)
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.accepted[entry["id"].(string)] != 1 {
		t.Errorf("accepted %v, want the dead letter's key once", hook.accepted)
	}
	if resp, _ := g.adminDo(t, "POST", "/admin/v1/deliveries/nope/replay", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("replaying an unknown delivery: %d", resp.StatusCode)
	}
}

// A document source that is down gives the partner a 503 problem, never a
// stale document.
func TestDocumentSourceDown(t *testing.T) {
	state := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/citizens/" + aidarIIN:
			_, _ = w.Write([]byte(`{"iin":"` + aidarIIN + `","name":"Aidar Serikov","phone":"` + aidarPhone + `"}`))
		default:
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(state.Close)
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_REGISTRY": "http", "KELISIM_REGISTRY_URL": state.URL, "KELISIM_REGISTRY_TIMEOUT": "1s",
			"KELISIM_TRUST_LIST": demoTrustList(t)}})
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	resp, body := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("source down: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// A renewed document reaches push partners whose grants cover it.
func TestDocumentChangedIsPushed(t *testing.T) {
	hook, hookURL := newWebhook(t, 0)
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}})
	p := g.onboard(t, map[string]any{"delivery": "push", "webhook_url": hookURL})
	consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card documents:driver_license")
	hook.waitAttempts(t, 1)
	resp, body := g.adminDo(t, "POST", "/admin/v1/documents/changed", map[string]any{"iin": aidarIIN, "type": "driver_license"})
	if resp.StatusCode != http.StatusAccepted || body["queued"] != float64(1) {
		t.Fatalf("document changed: %d %v", resp.StatusCode, body)
	}
	hook.waitAttempts(t, 2)
	hook.mu.Lock()
	last := hook.bodies[len(hook.bodies)-1]
	hook.mu.Unlock()
	claims, _ := verify(t, g, last)
	docs := claims["documents"].([]any)
	if claims["event"] != "document.changed" || len(docs) != 1 {
		t.Fatalf("change delivery %v", claims)
	}
	if c, _ := verify(t, g, docs[0].(string)); c["document"].(map[string]any)["type"] != "driver_license" {
		t.Errorf("changed document %v", c)
	}
	if resp, _ := g.adminDo(t, "POST", "/admin/v1/documents/changed", map[string]any{"iin": "850315300127", "type": "id_card"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad IIN: %d", resp.StatusCode)
	}
}
