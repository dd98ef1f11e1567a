package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// Demo citizen used by the tests.
const citizenIIN = "850315300128"

// approve is the test double of the citizen's consent: it approves every
// request at once, as citizen, granting every scope asked for, under no
// grant (the consent tests use the real pages and grants).
type approve struct{ citizen string }

func (a approve) Prompt(_ http.ResponseWriter, _ *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	return oauth.Decision{Allow: true, Citizen: a.citizen, Scopes: p.Scopes}, true
}

// gw is one running gateway, reached over real HTTP.
type gw struct {
	base    string
	metrics string // base URL of the metrics listener
	admin   string
	http    *http.Client // follows no redirects
	logs    *syncBuffer  // everything the gateway logged
	sms     *smsInbox    // every SMS the gateway sent
	db      string       // its database URL
	stopped func()       // stops it; also run when the test ends
}

// stop shuts the gateway down before the test ends.
func (g *gw) stop(t *testing.T) { g.stopped() }

// dbConn connects to the gateway's database.
func dbConn(t *testing.T, g *gw) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), g.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// smsInbox is an SMS provider: it receives the gateway's HTTP posts.
type smsInbox struct {
	mu   sync.Mutex
	msgs []smsMessage
	more chan struct{}
}

type smsMessage struct {
	ID, To, Text string
	Auth         string
}

func newSMSInbox(t *testing.T) (*smsInbox, string) {
	in := &smsInbox{more: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m smsMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.Auth = r.Header.Get("Authorization")
		in.mu.Lock()
		in.msgs = append(in.msgs, m)
		in.mu.Unlock()
		in.more <- struct{}{}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL
}

// next waits for the next SMS with a code to phone and returns it.
func (in *smsInbox) next(t *testing.T, phone string) smsMessage {
	t.Helper()
	return in.await(t, phone, func(m smsMessage) bool { return !strings.HasPrefix(m.ID, "ntf-") })
}

// notice waits for the next notification by SMS to phone.
func (in *smsInbox) notice(t *testing.T, phone string) smsMessage {
	t.Helper()
	return in.await(t, phone, func(m smsMessage) bool { return strings.HasPrefix(m.ID, "ntf-") })
}

// await waits for the next SMS to phone that is what it wants, and takes
// it from the inbox.
func (in *smsInbox) await(t *testing.T, phone string, wanted func(smsMessage) bool) smsMessage {
	t.Helper()
	deadline := time.After(10 * time.Second)
	seen := 0
	for {
		in.mu.Lock()
		for i := seen; i < len(in.msgs); i++ {
			if in.msgs[i].To == phone && wanted(in.msgs[i]) {
				m := in.msgs[i]
				in.msgs = append(in.msgs[:i], in.msgs[i+1:]...)
				in.mu.Unlock()
				return m
			}
		}
		seen = len(in.msgs)
		in.mu.Unlock()
		select {
		case <-in.more:
		case <-deadline:
			t.Fatalf("no SMS to %s", phone)
		}
	}
}

// count is how many messages with a code wait in the inbox.
func (in *smsInbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, m := range in.msgs {
		if !strings.HasPrefix(m.ID, "ntf-") {
			n++
		}
	}
	return n
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	testSecret     = "test-secret-test-secret-test-secret-0123"
	testAdminToken = "test-admin-token-test-admin-token-0123"
)

// startOn starts a gateway on dbURL with the given consent.
func startOn(t *testing.T, dbURL string, consent oauth.Consent) *gw {
	t.Helper()
	return startWith(t, options{db: dbURL, consent: consent})
}

// options of a test gateway.
type options struct {
	db      string
	consent oauth.Consent
	env     map[string]string // more configuration
	clock   *clock            // nil: the real time
}

// clock is a test clock that can be moved forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// startWith starts a gateway on loopback ports of its own, stopped when the
// test ends.
func startWith(t *testing.T, o options) *gw {
	t.Helper()
	dbURL, consent := o.db, o.consent
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	inbox, smsURL := newSMSInbox(t)
	env := map[string]string{
		"KELISIM_ADDR": ln.Addr().String(), "KELISIM_DATABASE_URL": dbURL,
		"KELISIM_SECRET": testSecret, "KELISIM_ADMIN_TOKEN": testAdminToken,
		"KELISIM_DB_MAX_CONNS": "8", "KELISIM_SMS": "http", "KELISIM_SMS_URL": smsURL, "KELISIM_SMS_TOKEN": "sms-provider-token",
		"KELISIM_DRAIN_TIMEOUT": "0s", // no load balancer to wait for
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := loadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	now := time.Now
	if o.clock != nil {
		now = o.clock.now
	}
	g, err := newGateway(ctx, &cfg, wiring{consent: consent, now: now, stdout: logs, stderr: logs})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, ln, mln, nil) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			g.close()
		})
	}
	t.Cleanup(stop)
	return &gw{base: base, metrics: "http://" + mln.Addr().String(), admin: testAdminToken, logs: logs, sms: inbox, db: dbURL, stopped: stop, http: &http.Client{
		Transport:     checkedTransport{t: t, next: http.DefaultTransport},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// start runs one gateway on a fresh PostgreSQL schema, approving as the
// demo citizen.
func start(t *testing.T) *gw {
	return startOn(t, pgtest.URL(t), approve{citizen: citizenIIN})
}

// do sends a request and decodes a JSON answer into a map.
func (g *gw) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m
}

func (g *gw) adminDo(t *testing.T, method, path string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	return g.do(t, method, path, r, http.Header{"Authorization": {"Bearer " + g.admin}, "Content-Type": {"application/json"}})
}

// partner is an onboarded partner as a test sees it.
type partner struct {
	id, secret, redirect string
}

// testAdmission is the admission record test partners are onboarded with.
var testAdmission = map[string]string{"legal_name": "Test Bank JSC", "decision": "Operator decision No. 7", "date": "2026-11-01"}

// onboard admits a partner allowed id_card and driver_license, with the
// given extra registration fields.
func (g *gw) onboard(t *testing.T, extra map[string]any) partner {
	t.Helper()
	reg := map[string]any{
		"client_name":   "Test Bank",
		"redirect_uris": []string{"http://127.0.0.1:7777/callback"},
		"documents":     []string{"id_card", "driver_license"},
		"admission":     testAdmission,
	}
	for k, v := range extra {
		reg[k] = v
	}
	resp, body := g.adminDo(t, "POST", "/admin/v1/partners", reg)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("onboard: %d %v", resp.StatusCode, body)
	}
	secret, _ := body["client_secret"].(string)
	return partner{id: body["client_id"].(string), secret: secret, redirect: reg["redirect_uris"].([]string)[0]}
}

func (g *gw) form(t *testing.T, path string, p partner, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if p.secret != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(p.id)+":"+url.QueryEscape(p.secret))))
	}
	return g.do(t, "POST", path, strings.NewReader(form.Encode()), h)
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = "verifier-" + strings.Repeat("k", 40) + time.Now().Format("150405.000000000")
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize sends the browser to the authorization endpoint and returns
// where the gateway redirected it.
func (g *gw) authorize(t *testing.T, q url.Values) *url.URL {
	t.Helper()
	resp, body := g.do(t, "GET", oauth.PathAuthorize+"?"+q.Encode(), nil, nil)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, body %v", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func authQuery(p partner, scope, challenge string) url.Values {
	q := url.Values{
		"response_type": {"code"}, "client_id": {p.id}, "redirect_uri": {p.redirect},
		"scope": {scope}, "state": {"state-1234567890"}, "nonce": {"nonce-1234567890"},
	}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// tokens runs the code flow with PKCE and returns the token response.
func (g *gw) tokens(t *testing.T, p partner, scope string) map[string]any {
	t.Helper()
	verifier, challenge := pkce()
	loc := g.authorize(t, authQuery(p, scope, challenge))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	resp, body := g.form(t, oauth.PathToken, p, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {p.redirect}, "code_verifier": {verifier},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return body
}

func (g *gw) introspect(t *testing.T, as partner, token string) map[string]any {
	t.Helper()
	resp, body := g.form(t, oauth.PathIntrospect, as, url.Values{"token": {token}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %v", resp.StatusCode, body)
	}
	return body
}

func (g *gw) userinfo(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	resp, body := g.do(t, "GET", oauth.PathUserinfo, nil, http.Header{"Authorization": {"Bearer " + token}})
	return resp.StatusCode, body
}

func pgtestURL(t *testing.T) string { return pgtest.URL(t) }
