package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
)

// A webhook that always times out, two replicas delivering: every entry
// is posted exactly the configured number of times, never by two workers
// at once, and is dead-lettered with that many attempts recorded.
func TestDeliveryLeaseHoldsEachPost(t *testing.T) {
	var mu sync.Mutex
	posts, inFlight, overlaps := map[string]int{}, map[string]int{}, 0
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		_, _ = io.Copy(io.Discard, r.Body) // then a hang-up is noticed
		mu.Lock()
		posts[key]++
		inFlight[key]++
		if inFlight[key] > 1 {
			overlaps++
		}
		mu.Unlock()
		select { // longer than the webhook timeout: the gateway gives up first
		case <-time.After(2 * time.Second):
		case <-r.Context().Done(): // the gateway hung up
		case <-release:
		}
		mu.Lock()
		inFlight[key]--
		mu.Unlock()
	}))
	t.Cleanup(func() { close(release); hook.Close() })
	db := pgtest.URL(t)
	env := map[string]string{"KELISIM_WEBHOOK_TIMEOUT": "250ms", "KELISIM_DELIVERY_LEASE": "600ms",
		"KELISIM_DELIVERY_BACKOFF": "50ms", "KELISIM_DELIVERY_MAX_ATTEMPTS": "3"}
	a := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	b := startWith(t, options{db: db, consent: httpapi.ConsentRedirect{}, env: env})
	p := a.onboard(t, map[string]any{"delivery": "push", "webhook_url": hook.URL})
	consentAs(t, a, p, aidarIIN, aidarPhone, "openid documents:id_card")
	for range 7 { // each notice queues one more delivery for the grant
		if resp, _ := a.adminDo(t, "POST", "/admin/v1/documents/changed", map[string]any{"iin": aidarIIN, "type": "id_card"}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("document changed: %d", resp.StatusCode)
		}
	}
	var dead []any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, body := b.adminDo(t, "GET", "/admin/v1/deliveries?status=dead", nil)
		if dead = body["deliveries"].([]any); len(dead) == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 deliveries dead-lettered", len(dead))
		}
	}
	time.Sleep(time.Second) // room for a late extra post to show
	mu.Lock()
	defer mu.Unlock()
	for _, d := range dead {
		e := d.(map[string]any)
		if n := posts[e["id"].(string)]; n != 3 || e["attempts"] != float64(3) {
			t.Errorf("delivery %s: posted %d times, %v attempts recorded; want 3 and 3", e["id"], n, e["attempts"])
		}
	}
	if overlaps > 0 {
		t.Errorf("%d posts overlapped another post of the same delivery", overlaps)
	}
}
