package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	jose "github.com/go-jose/go-jose/v3"

	"github.com/kelisim/kelisim/adapters/httpapi"
)

// rpDir holds the relying party on openid-client (npm); .ci/run installs
// its node_modules with npm ci.
const rpDir = "testdata/rp"

// A bank's relying party built on openid-client 6 — which implements PAR,
// private_key_jwt and DPoP with nonces itself, and sends RAR — completes the whole journey
// against two replicas on one PostgreSQL behind one address: PAR with a
// DPoP proof, the citizen's consent in Chromium, the code exchange, a
// document fetched with Authorization: DPoP, a refresh still bound to its
// key, the grant read and ended through grant management, and the token
// dead afterwards.
func TestOpenIDClientRP(t *testing.T) {
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(rpDir, "node_modules", "openid-client")); err != nil || statErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node or the relying party's node_modules are missing, and CI=true (cd cmd/kelisim/testdata/rp && npm ci)")
		}
		t.Skip("node or openid-client is not installed: skipping (cd cmd/kelisim/testdata/rp && npm ci)")
	}
	ctx := chromium(t)

	// Two replicas behind one load balancer: requests alternate.
	var backends [2]*url.URL
	var turn atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputil.NewSingleHostReverseProxy(backends[turn.Add(1)%2]).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	sms, smsURL := newSMSInbox(t)
	db := pgtestURL(t)
	var replicas []*gw
	for i := range backends {
		g := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{},
			env: map[string]string{"KELISIM_ISSUER": lb.URL, "KELISIM_SMS_URL": smsURL}})
		backends[i], _ = url.Parse(g.base)
		replicas = append(replicas, g)
	}
	codes := make(chan string, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			codes <- "http://" + r.Host + r.URL.RequestURI()
		}
		_, _ = w.Write([]byte("partner app"))
	}))
	t.Cleanup(callback.Close)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "rp-1", Algorithm: "ES256", Use: "sig"}}}
	p := replicas[0].onboard(t, map[string]any{"profile": "fapi2", "jwks": pub, "redirect_uris": []string{callback.URL + "/callback"}})
	priv, _ := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "rp-1", Algorithm: "ES256"})

	cmd := exec.Command(node, "rp.mjs")
	cmd.Dir = rpDir
	cmd.Env = append(os.Environ(), "ISSUER="+lb.URL, "CLIENT_ID="+p.id, "CLIENT_KEY="+string(priv),
		"REDIRECT_URI="+callback.URL+"/callback", "SCOPE=openid offline_access",
		`AUTHORIZATION_DETAILS=[{"type":"kelisim_documents","documents":["id_card"],"purpose":"A loan application","duration_days":30}]`)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	steps := make(chan map[string]any)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				steps <- m
			}
		}
		close(steps)
	}()
	next := func(want string) map[string]any {
		t.Helper()
		select {
		case m, ok := <-steps:
			if !ok || m["step"] != want {
				t.Fatalf("the relying party stopped before %s (%v): %s", want, m, stderr.String())
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s from the relying party: %s", want, stderr.String())
		}
		return nil
	}

	auth := next("authorize")["url"].(string)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.Navigate(auth), chromedp.WaitVisible(css(`input[name=iin]`)),
		chromedp.SendKeys(css(`input[name=iin]`), aidarIIN), chromedp.SendKeys(css(`input[name=phone]`), aidarPhone),
		chromedp.Click(css(`button[value=start]`)), chromedp.WaitVisible(css(`input[name=otp]`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(css(`input[name=otp]`), code(t, sms.next(t, aidarPhone))),
		chromedp.Click(css(`button[value=allow]`))); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-codes:
		_, _ = io.WriteString(stdin, u+"\n")
	case <-time.After(20 * time.Second):
		t.Fatal("the browser never reached the partner")
	}

	tok := next("token")
	if tok["token_type"] != "dpop" && tok["token_type"] != "DPoP" || tok["grant_id"] == nil || tok["has_refresh"] != true {
		t.Errorf("token: %v", tok)
	}
	if ad, _ := tok["authorization_details"].([]any); len(ad) != 1 || ad[0].(map[string]any)["duration_days"] != float64(30) {
		t.Errorf("granted authorization_details: %v", tok["authorization_details"])
	}
	if s := next("documents"); s["status"] != float64(200) || s["count"] != float64(1) {
		t.Errorf("documents: %v", s)
	}
	if s := next("document"); s["status"] != float64(200) || s["jws_parts"] != float64(3) {
		t.Errorf("document: %v", s)
	}
	if s := next("refresh"); s["token_type"] != "dpop" && s["token_type"] != "DPoP" {
		t.Errorf("refresh: %v", s)
	}
	if s := next("documents_after_refresh"); s["status"] != float64(200) {
		t.Errorf("documents after the refresh: %v", s)
	}
	if s := next("grant"); s["status"] != float64(200) || s["grant_status"] != "active" {
		t.Errorf("grant: %v", s)
	}
	if s := next("grant_deleted"); s["status"] != float64(204) {
		t.Errorf("grant deleted: %v", s)
	}
	if s := next("documents_after_delete"); s["status"] != float64(401) {
		t.Errorf("documents after the grant ended: %v", s)
	}
}
