package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func TestHTTPSendsWhatTheProviderExpects(t *testing.T) {
	var got struct {
		body        map[string]string
		auth, idKey string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.auth, got.idKey = r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key")
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	if err := NewHTTP(srv.URL, "provider-token", 5*time.Second, 0).Send(context.Background(), "m-1", "+77011234567", "code 123456"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "m-1", "to": "+77011234567", "text": "code 123456"}
	if fmt.Sprint(got.body) != fmt.Sprint(want) || got.auth != "Bearer provider-token" || got.idKey != "m-1" {
		t.Fatalf("provider got %v, %q, %q", got.body, got.auth, got.idKey)
	}
}

func TestHTTPRetriesAFailingProviderWithTheSameKey(t *testing.T) {
	var calls atomic.Int32
	keys := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("Idempotency-Key")
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := NewHTTP(srv.URL, "", 5*time.Second, 2).Send(context.Background(), "m-2", "+77011234567", "x"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || <-keys != "m-2" || <-keys != "m-2" {
		t.Fatalf("%d calls", calls.Load())
	}
}

// A burst of codes at once reuses the connections of the burst before: the
// provider is not dialled anew for every message. net/http's default
// transport keeps two idle connections a host, so each burst after the
// first dialled nearly all of its connections again.
func TestHTTPKeepsItsConnectionsToTheProvider(t *testing.T) {
	const burst, bursts = 16, 4
	var dialled atomic.Int32
	var inFlight sync.WaitGroup
	var mu sync.Mutex
	var release chan struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ch := release
		mu.Unlock()
		inFlight.Done()
		<-ch // every message of the burst is in flight at once
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := NewHTTP(srv.URL, "", 5*time.Second, 0)
	for b := range bursts {
		inFlight.Add(burst)
		mu.Lock()
		release = make(chan struct{})
		ch := release
		mu.Unlock()
		errs := make(chan error, burst)
		for i := range burst {
			go func() {
				errs <- h.Send(context.Background(), fmt.Sprintf("m-%d-%d", b, i), consent.Phone("+7701000000"+fmt.Sprint(i%10)), "x")
			}()
		}
		inFlight.Wait()
		close(ch)
		for range burst {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := dialled.Load(); n > burst {
		t.Fatalf("%d bursts of %d messages dialled %d connections; want at most %d", bursts, burst, n, burst)
	}
}
