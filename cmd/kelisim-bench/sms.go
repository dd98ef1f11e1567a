package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// The SMS provider the gateway posts codes to during a run, and the
// OpenTelemetry collector a traced gateway exports to.

// smsReceiver is the gateway's SMS provider during a run.
type smsReceiver struct {
	srv     *http.Server
	mu      sync.Mutex
	waiting map[string]chan string
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

func newSMSReceiver(addr string) (*smsReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("SMS receiver: %w", err)
	}
	r := &smsReceiver{waiting: map[string]chan string{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/traces" {
			// An OpenTelemetry collector's part, for a traced gateway:
			// the export is taken and dropped.
			_, _ = io.Copy(io.Discard, req.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
			return
		}
		var m struct{ To, Text string }
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		ch := r.waiting[m.To]
		delete(r.waiting, m.To)
		r.mu.Unlock()
		if ch != nil {
			ch <- sixDigits.FindString(m.Text)
		}
		w.WriteHeader(http.StatusAccepted)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// expect returns where the next code to phone will arrive.
func (r *smsReceiver) expect(phone string) <-chan string {
	ch := make(chan string, 1)
	r.mu.Lock()
	r.waiting[phone] = ch
	r.mu.Unlock()
	return ch
}

func (r *smsReceiver) close() { _ = r.srv.Close() }
