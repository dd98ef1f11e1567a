package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// pushService stands in for the citizens' app's push service: it records
// every post, failing the first ones it is told to.
type pushService struct {
	mu    sync.Mutex
	fail  int // posts still to answer 503
	posts []pushPost
	more  chan struct{}
}

type pushPost struct {
	Auth, Key string
	Body      map[string]string
	Failed    bool
}

func newPushService(t *testing.T, fail int) (*pushService, string) {
	ps := &pushService{fail: fail, more: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pushPost{Auth: r.Header.Get("Authorization"), Key: r.Header.Get("Idempotency-Key")}
		if err := json.NewDecoder(r.Body).Decode(&p.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ps.mu.Lock()
		p.Failed = ps.fail > 0
		ps.fail--
		ps.posts = append(ps.posts, p)
		ps.mu.Unlock()
		ps.more <- struct{}{}
		if p.Failed {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return ps, srv.URL
}

// delivered waits until a notice of kind was accepted and returns every
// post of its key.
func (ps *pushService) delivered(t *testing.T, kind string) []pushPost {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		ps.mu.Lock()
		for _, p := range ps.posts {
			if p.Body["kind"] == kind && !p.Failed {
				var same []pushPost
				for _, q := range ps.posts {
					if q.Key == p.Key {
						same = append(same, q)
					}
				}
				ps.mu.Unlock()
				return same
			}
		}
		ps.mu.Unlock()
		select {
		case <-ps.more:
		case <-deadline:
			t.Fatalf("no %s notice reached the push service", kind)
		}
	}
}

// A citizen is told on two replicas exactly once: by SMS that a partner was
// granted access, then, having chosen the app on the settings page, by push
// of an hour's fetches (once for the hour) and of the revocation. Texts
// carry no IIN and no code; the push service's failures are retried under
// the same Idempotency-Key.
func TestNotificationsEndToEnd(t *testing.T) {
	db := pgtest.URL(t)
	push, pushURL := newPushService(t, 5) // more than one attempt's retries: the outbox tries again
	clk := &clock{}
	inbox, smsURL := newSMSInbox(t) // one provider for both replicas
	env := map[string]string{"KELISIM_PUSH_URL": pushURL, "KELISIM_PUSH_TOKEN": "push-token-0123", "KELISIM_DELIVERY_BACKOFF": "200ms",
		"KELISIM_SMS_URL": smsURL}
	a := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env, clock: clk})
	b := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env, clock: clk})
	a.sms, b.sms = inbox, inbox
	p := a.onboard(t, map[string]any{"client_name#kk": "Демо Банк"})

	tok := consentAs(t, a, p, aidarIIN, aidarPhone, "openid offline_access documents:id_card")
	sms := a.sms.notice(t, aidarPhone)
	for _, want := range []string{"Демо Банк", "Жеке куәлік"} {
		if !strings.Contains(sms.Text, want) {
			t.Errorf("granted notice %q lacks %q", sms.Text, want)
		}
	}
	// Either replica may deliver it; each names its own address (one
	// issuer in production).
	if !strings.Contains(sms.Text, a.base+"/my/") && !strings.Contains(sms.Text, b.base+"/my/") {
		t.Errorf("granted notice %q lacks the settings' address", sms.Text)
	}
	for _, secret := range []string{aidarIIN, "Aidar"} {
		if strings.Contains(sms.Text, secret) {
			t.Errorf("granted notice carries %q: %s", secret, sms.Text)
		}
	}
	if regexp.MustCompile(`\b[0-9]{6}\b`).MatchString(sms.Text) {
		t.Errorf("granted notice carries a code-like number: %s", sms.Text)
	}

	access := tok["access_token"].(string)
	for _, g := range []*gw{a, b, a} {
		if resp, _ := g.api(t, access, "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
			t.Fatalf("fetch: %d", resp.StatusCode)
		}
	}

	br := newBrowser(t, b)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	if res := br.do("POST", "/my/notifications", map[string][]string{"csrf": {csrf}, "channel": {"app"}}); res.status != http.StatusSeeOther {
		t.Fatalf("choosing the app: %d\n%s", res.status, res.body)
	}

	grantID := grantFormRE.FindStringSubmatch(home.body)[1]
	if res := br.revokeGrant(home, grantID); res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.status)
	}
	ended := push.delivered(t, "notice.ended")
	if text := ended[len(ended)-1].Body["text"]; !strings.Contains(text, "Демо Банк") || !strings.Contains(text, "қайтарып алдыңыз") {
		t.Errorf("revocation notice: %+v", ended)
	}
	if len(ended) < 2 || !ended[0].Failed {
		t.Errorf("the push service's failures were not retried under one key: %+v", ended)
	}

	clk.advance(time.Hour + 2*time.Minute) // the hour of the fetches is over
	used := push.delivered(t, "notice.used")
	last := used[len(used)-1]
	if last.Auth != "Bearer push-token-0123" || last.Key == "" || !strings.Contains(last.Body["text"], "3 рет") || last.Body["sub"] == "" ||
		strings.Contains(last.Body["sub"], aidarIIN) || strings.Contains(last.Body["text"], aidarIIN) {
		t.Errorf("the hour's notice: %+v", last)
	}

	// Two replicas, one notice each: the SMS went out once, nothing more by
	// SMS once the app was chosen, and each push notice was accepted once.
	time.Sleep(time.Second)
	a.sms.mu.Lock()
	for _, m := range a.sms.msgs {
		if strings.HasPrefix(m.ID, "ntf-") {
			t.Errorf("a notice by SMS after the citizen chose the app, or twice: %+v", m)
		}
	}
	a.sms.mu.Unlock()
	push.mu.Lock()
	accepted := map[string]int{}
	for _, q := range push.posts {
		if !q.Failed {
			accepted[q.Key]++
		}
	}
	push.mu.Unlock()
	for key, n := range accepted {
		if n != 1 {
			t.Errorf("notice %s accepted %d times", key, n)
		}
	}
	if len(accepted) != 2 {
		t.Errorf("%d notices by push, want the hour's and the revocation's", len(accepted))
	}
}
