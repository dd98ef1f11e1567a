package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// On SIGTERM the gateway first fails /readyz while still serving, for the
// drain window, so a load balancer stops sending before connections are
// cut; only then does the listener close.
func TestShutdownDrainsFirst(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	mln, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg, err := loadConfig(envOf(map[string]string{"KELISIM_ADDR": ln.Addr().String(), "KELISIM_DATABASE_URL": pgtest.URL(t),
		"KELISIM_SECRET": testSecret, "KELISIM_ADMIN_TOKEN": testAdminToken, "KELISIM_SMS": "console", "KELISIM_DRAIN_TIMEOUT": "2s"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, &cfg, wiring{consent: approve{citizen: citizenIIN}, now: time.Now, stdout: io.Discard, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, ln, mln, nil) }()
	base := "http://" + ln.Addr().String()
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/readyz"); s != http.StatusOK {
		t.Fatalf("ready before SIGTERM: %d", s)
	}
	cancel() // SIGTERM
	sigterm := time.Now()
	time.Sleep(100 * time.Millisecond)
	if s := status("/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("readiness during the drain window: %d, want 503", s)
	}
	if s := status("/healthz"); s != http.StatusOK {
		t.Errorf("a request during the drain window: %d, want it served", s)
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if took := time.Since(sigterm); took < 2*time.Second {
		t.Errorf("the listener closed %v after SIGTERM, before the 2s drain window", took)
	}
	if status("/healthz") != 0 {
		t.Error("still serving after the drain and shutdown")
	}
}
