package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kelisim/kelisim/oauth"
)

// slowConsent holds an authorization request until released.
type slowConsent struct{ entered, release chan struct{} }

func (s slowConsent) Prompt(w http.ResponseWriter, r *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	close(s.entered)
	<-s.release
	return approve{citizen: citizenIIN}.Prompt(w, r, p)
}

// On shutdown the gateway stops accepting but finishes the request in flight.
func TestGracefulShutdown(t *testing.T) {
	db := pgtestURL(t)
	setup := startOn(t, db, approve{citizen: citizenIIN})
	p := setup.onboard(t, nil)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	mln, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg, err := loadConfig(envOf(map[string]string{"KELISIM_ADDR": ln.Addr().String(), "KELISIM_DATABASE_URL": db,
		"KELISIM_SECRET": testSecret, "KELISIM_ADMIN_TOKEN": testAdminToken, "KELISIM_SMS": "console",
		"KELISIM_DRAIN_TIMEOUT": "0s"}))
	if err != nil {
		t.Fatal(err)
	}
	consent := slowConsent{entered: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, &cfg, wiring{consent: consent, now: time.Now, stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, ln, mln, nil) }()

	_, challenge := pkce()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	answered := make(chan int, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + oauth.PathAuthorize + "?" + authQuery(p, docScope, challenge).Encode())
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-consent.entered
	cancel() // SIGTERM
	select {
	case err := <-done:
		t.Fatalf("serve returned with a request in flight: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections while shutting down")
	}
	close(consent.release)
	if status := <-answered; status != http.StatusSeeOther {
		t.Errorf("request in flight answered %d, want 303", status)
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
