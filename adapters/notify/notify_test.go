package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/notify"
	"github.com/kelisim/kelisim/consent"
)

var notice = consent.Notice{ID: "ntf-1-app", Channel: consent.ChannelApp, Kind: consent.NoticeGranted, Subject: "pairwise-sub",
	Lang: "en", Text: "Kelisim: Test Bank now has access", Link: "https://kelisim.test/my/"}

// The push adapter posts JSON with the bearer and the notice's ID as the
// Idempotency-Key on every attempt; a 5xx is retried, a 4xx is not.
func TestPush(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	status := []int{503, 502, 202}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Authorization") != "Bearer tok" ||
			body["sub"] != "pairwise-sub" || body["text"] != notice.Text || body["kind"] != "notice.granted" || body["id"] != notice.ID {
			t.Errorf("post: %v %v %s", body, err, r.Header.Get("Authorization"))
		}
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		w.WriteHeader(status[0])
		if len(status) > 1 {
			status = status[1:]
		}
	}))
	defer srv.Close()
	p := notify.NewPush(srv.URL, "tok", time.Second, 3)
	if err := p.Notify(context.Background(), notice); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] != notice.ID || keys[2] != notice.ID {
		t.Errorf("attempts: %v", keys)
	}

	keys, status = nil, []int{400}
	if err := p.Notify(context.Background(), notice); err == nil || !strings.Contains(err.Error(), "400") || len(keys) != 1 {
		t.Errorf("a refusal: %v after %d posts", err, len(keys))
	}
}

type fakeSMS struct{ id, to, text string }

func (f *fakeSMS) Send(_ context.Context, id string, to consent.Phone, text string) error {
	f.id, f.to, f.text = id, string(to), text
	return nil
}

func TestSMSAndConsole(t *testing.T) {
	s := &fakeSMS{}
	n := notice
	n.Channel = consent.ChannelSMS
	if err := notify.NewSMS(s).Notify(context.Background(), n); err == nil {
		t.Error("an SMS notice without a phone was sent")
	}
	n.Phone = "+77011234567"
	if err := notify.NewSMS(s).Notify(context.Background(), n); err != nil || s.id != n.ID || s.to != "+77011234567" || s.text != n.Text {
		t.Errorf("sms: %+v %v", s, err)
	}
	var buf bytes.Buffer
	if err := notify.NewConsole(&buf).Notify(context.Background(), notice); err != nil || !strings.Contains(buf.String(), notice.ID) ||
		!strings.Contains(buf.String(), notice.Text) {
		t.Errorf("console: %q %v", buf.String(), err)
	}
}
