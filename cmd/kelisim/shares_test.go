package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// shareSetup runs a gateway on a test clock with the operator's app (for
// the citizen's "me" token) and a verifier (for its client_credentials
// token).
func shareSetup(t *testing.T) (g *gw, clk *clock, me, verifierToken string, verifier partner) {
	t.Helper()
	clk = &clock{}
	g = startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, clock: clk})
	app := g.onboard(t, map[string]any{"client_name": "eGov Mobile", "first_party": true, "documents": []string{}, "scope": "openid me"})
	me = consentAs(t, g, app, aidarIIN, aidarPhone, "openid me")["access_token"].(string)
	verifier = g.onboard(t, map[string]any{"client_name": "Airport", "verifier": true, "documents": []string{}})
	resp, body := g.form(t, oauth.PathToken, verifier, url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("verifier token: %d %v", resp.StatusCode, body)
	}
	return g, clk, me, body["access_token"].(string), verifier
}

func (g *gw) bearerJSON(t *testing.T, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.base+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func decodeJSON(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return m
}

func TestShareCodeLifecycle(t *testing.T) {
	g, clk, me, vtok, verifier := shareSetup(t)
	resp, raw := g.bearerJSON(t, "POST", "/api/v1/me/shares", me, map[string]any{"document": "id_card"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("open: %d %s", resp.StatusCode, raw)
	}
	share := decodeJSON(t, raw)
	id, code, qrURL := share["id"].(string), share["short_code"].(string), share["qr_url"].(string)
	if len(code) != 6 || !strings.HasPrefix(qrURL, g.base+"/v/") || strings.Contains(qrURL, code) {
		t.Fatalf("share %v: want a 6-digit code and a QR URL that is not the code", share)
	}

	// The QR PNG decodes to the URL the API returned.
	resp, png := g.bearerJSON(t, "GET", "/api/v1/me/shares/"+id+"/qr.png", me, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	result, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil || result.GetText() != qrURL {
		t.Fatalf("QR decodes to %v (%v), want %s", result, err, qrURL)
	}

	// A verifier sees the document by code and by QR token, signed for it.
	check := func(body map[string]any) (*http.Response, []byte) {
		return g.bearerJSON(t, "POST", "/api/v1/verify", vtok, body)
	}
	resp, jws := check(map[string]any{"code": code})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/jose" {
		t.Fatalf("verify by code: %d %s", resp.StatusCode, jws)
	}
	claims, _ := verify(t, g, string(jws))
	if claims["aud"] != verifier.id || claims["share_id"] != id || claims["document"].(map[string]any)["number"] != "045123456" {
		t.Errorf("claims %v", claims)
	}
	if resp, _ := check(map[string]any{"token": qrURL}); resp.StatusCode != http.StatusOK {
		t.Errorf("verify by QR: %d", resp.StatusCode)
	}
	// Both histories show the view.
	_, hist := g.bearerJSON(t, "GET", "/api/v1/verify/history", vtok, nil)
	if views := decodeJSON(t, hist)["views"].([]any); len(views) != 2 || views[0].(map[string]any)["document"] != "id_card" {
		t.Errorf("verifier history %s", hist)
	}
	_, mine := g.bearerJSON(t, "GET", "/api/v1/me/history", me, nil)
	if !strings.Contains(string(mine), `"kind":"view"`) || !strings.Contains(string(mine), verifier.id) {
		t.Errorf("citizen history lacks the view: %s", mine)
	}

	// Five minutes later, unextended, it fails.
	clk.advance(5*time.Minute + time.Second)
	if resp, _ := check(map[string]any{"code": code}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after 5 minutes: %d", resp.StatusCode)
	}
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/me/shares/"+id+"/extend", me, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("extending an expired share: %d", resp.StatusCode)
	}
}

func TestShareExtendAndClose(t *testing.T) {
	g, clk, me, vtok, _ := shareSetup(t)
	_, raw := g.bearerJSON(t, "POST", "/api/v1/me/shares", me, map[string]any{"document": "driver_license"})
	share := decodeJSON(t, raw)
	id, code := share["id"].(string), share["short_code"].(string)
	opened, _ := time.Parse(time.RFC3339Nano, share["opened_at"].(string))
	for i := 1; i <= 5; i++ {
		resp, raw := g.bearerJSON(t, "POST", "/api/v1/me/shares/"+id+"/extend", me, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("extension %d: %d %s", i, resp.StatusCode, raw)
		}
		exp, _ := time.Parse(time.RFC3339Nano, decodeJSON(t, raw)["expires_at"].(string))
		if got := exp.Sub(opened); got != time.Duration(i+1)*5*time.Minute {
			t.Errorf("after extension %d the share lasts %s", i, got)
		}
	}
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/me/shares/"+id+"/extend", me, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("extension past 30 minutes: %d, want 409", resp.StatusCode)
	}
	clk.advance(29 * time.Minute)
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", vtok, map[string]any{"code": code}); resp.StatusCode != http.StatusOK {
		t.Errorf("at 29 minutes after extensions: %d", resp.StatusCode)
	}
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/me/shares/"+id+"/close", me, nil); resp.StatusCode != http.StatusOK {
		t.Fatal("close")
	}
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", vtok, map[string]any{"code": code}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after closing early: %d", resp.StatusCode)
	}
	// An expired document (Aidar's PCR test) cannot be shared.
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/me/shares", me, map[string]any{"document": "pcr_test"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("sharing an expired document: %d", resp.StatusCode)
	}
}

// Guessing codes hits a per-verifier limit; past it even a right code is
// refused, so the limit reveals nothing.
func TestShareBruteForce(t *testing.T) {
	g, _, me, vtok, _ := shareSetup(t)
	_, raw := g.bearerJSON(t, "POST", "/api/v1/me/shares", me, map[string]any{"document": "id_card"})
	code := decodeJSON(t, raw)["short_code"].(string)
	wrong := 0
	for guess := 0; wrong < 10; guess++ {
		c := strings.Repeat("0", 6-len(itoa(guess))) + itoa(guess)
		if c == code {
			continue
		}
		resp, body := g.bearerJSON(t, "POST", "/api/v1/verify", vtok, map[string]any{"code": c})
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "No open share") {
			t.Fatalf("wrong code %d: %d %s", wrong, resp.StatusCode, body)
		}
		wrong++
	}
	resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", vtok, map[string]any{"code": "999999"})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("11th wrong code: %d", resp.StatusCode)
	}
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", vtok, map[string]any{"code": code}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right code while limited: %d, want 429", resp.StatusCode)
	}
	// Tokens without the verify scope, and partners that are not
	// verifiers, are refused.
	plain := g.onboard(t, nil)
	_, cc := g.form(t, oauth.PathToken, plain, url.Values{"grant_type": {"client_credentials"}})
	if resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", cc["access_token"].(string), map[string]any{"code": code}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a non-verifier: %d", resp.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The citizen opens access from the settings page and sees the code and
// the QR code.
func TestSharePage(t *testing.T) {
	g := startConsent(t)
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	if !strings.Contains(home.body, `value="`+aidarIIN+`/id_card"`) || strings.Contains(home.body, "/pcr_test") {
		t.Fatalf("sharable documents on the page:\n%s", home.body)
	}
	csrf := hiddenRE.FindStringSubmatch(home.body)[2]
	res := br.do("POST", "/my/share", url.Values{"csrf": {csrf}, "document": {aidarIIN + "/id_card"}})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location, "/my/share/") {
		t.Fatalf("open: %d %s", res.status, res.location)
	}
	page := br.get(res.location)
	if !strings.Contains(page.body, `id="short-code"`) || !strings.Contains(page.body, `/qr.png"`) || page.header.Get("Refresh") == "" {
		t.Errorf("share page:\n%s", page.body)
	}
	if qr := br.get(res.location + "/qr.png"); qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" {
		t.Errorf("qr: %d", qr.status)
	}
	if other := newBrowser(t, g).get(res.location + "/qr.png"); other.status != http.StatusNotFound {
		t.Errorf("another browser got the QR: %d", other.status)
	}
}

// Wrong short codes sent at once by one verifier to two replicas: no more
// than the limit is ever looked up (each attempt is counted before the
// lookup, in the store); and all verifiers together look up no more than
// the global ceiling a minute.
func TestShareGuessingUnderConcurrency(t *testing.T) {
	db := pgtest.URL(t)
	env := map[string]string{"KELISIM_VERIFY_WRONG_LIMIT": "10", "KELISIM_VERIFY_GLOBAL_WRONG_LIMIT": "25"}
	a := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	b := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	token := func(v partner) string {
		_, body := a.form(t, oauth.PathToken, v, url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}})
		return body["access_token"].(string)
	}
	guess := func(verifierTokens []string, n int) (looked, limited int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				g := []*gw{a, b}[i%2]
				resp, _ := g.bearerJSON(t, "POST", "/api/v1/verify", verifierTokens[i%len(verifierTokens)], map[string]any{"code": fmt.Sprintf("%06d", 900000+i)})
				mu.Lock()
				defer mu.Unlock()
				switch resp.StatusCode {
				case http.StatusNotFound:
					looked++
				case http.StatusTooManyRequests:
					limited++
				default:
					t.Errorf("guess %d: %d", i, resp.StatusCode)
				}
			})
		}
		wg.Wait()
		return looked, limited
	}
	// Lookups as both replicas' store metrics count them.
	lookups := func() int {
		n := 0
		for _, g := range []*gw{a, b} {
			resp, err := http.Get(g.metrics + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := regexp.MustCompile(`kelisim_store_operation_duration_seconds_count\{operation="select shares"\} ([0-9]+)`).FindSubmatch(raw)
			if m != nil {
				k, _ := strconv.Atoi(string(m[1]))
				n += k
			}
		}
		return n
	}
	one := a.onboard(t, map[string]any{"client_name": "Airport", "verifier": true, "documents": []string{}})
	before := lookups()
	answered404, limited := guess([]string{token(one)}, 80)
	if looked := lookups() - before; looked != 10 || answered404 != 10 || limited != 70 {
		t.Errorf("one verifier, 80 wrong codes at once on two replicas: %d looked up, %d answered 404, %d refused; want 10, 10 and 70", looked, answered404, limited)
	}
	var others []string
	for i := range 4 {
		v := a.onboard(t, map[string]any{"client_name": fmt.Sprint("Verifier ", i), "verifier": true, "documents": []string{}})
		others = append(others, token(v))
	}
	before = lookups()
	guess(others, 40)
	if looked := lookups() - before; looked > 25-10 {
		t.Errorf("four more verifiers looked up %d codes in the same minute; the ceiling of 25 leaves 15", looked)
	}
}
