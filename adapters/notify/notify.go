// Package notify sends citizens' notifications: to the console for
// development, by SMS through the existing provider, and by push to the
// citizens' mobile app over HTTP.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/kelisim/kelisim/adapters/telemetry"
	"github.com/kelisim/kelisim/consent"
)

// Console writes each notice to w. For development: a notice holds no
// code, IIN or document content, so printing it is harmless.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

var _ consent.Notifier = (*Console)(nil)

// NewConsole returns a notifier that writes to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Notify implements consent.Notifier.
func (c *Console) Notify(_ context.Context, n consent.Notice) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.w, "NOTICE %s by %s (%s): %s\n", n.ID, n.Channel, n.Kind, n.Text)
	return err
}

// SMS sends notices as text messages to the citizen's registered phone,
// through the same provider as the codes.
type SMS struct{ sms consent.SMS }

var _ consent.Notifier = SMS{}

// NewSMS returns a notifier that sends through sms.
func NewSMS(sms consent.SMS) SMS { return SMS{sms: sms} }

// Notify implements consent.Notifier.
func (s SMS) Notify(ctx context.Context, n consent.Notice) error {
	if n.Phone == "" {
		return fmt.Errorf("notice %s: no phone", n.ID)
	}
	return s.sms.Send(ctx, n.ID, n.Phone, n.Text)
}

// Push posts each notice to the push service of the citizens' mobile app:
//
//	POST {URL}  Authorization: Bearer {Token}  Idempotency-Key: {id}
//	{"id": "…", "sub": "…", "kind": "notice.granted", "lang": "kk", "text": "…", "link": "https://…/my/"}
//
// sub is the citizen's pairwise subject at the app (the app learns it when
// the citizen logs in to it with Kelisim), never the IIN. A 2xx is
// delivery; 5xx and network errors are retried with backoff, at most
// Retries times, with the same Idempotency-Key; what is still failing is
// retried by the outbox later.
type Push struct {
	url, token string
	client     *retryablehttp.Client
}

var _ consent.Notifier = (*Push)(nil)

// NewPush returns a push service client.
func NewPush(url, token string, timeout time.Duration, retries int) *Push {
	rc := retryablehttp.NewClient()
	rc.RetryMax = retries
	rc.RetryWaitMin, rc.RetryWaitMax = 200*time.Millisecond, 3*time.Second
	rc.Logger = nil
	rc.HTTPClient = &http.Client{Timeout: timeout, Transport: telemetry.Transport(nil, "push")}
	return &Push{url: url, token: token, client: rc}
}

// Notify implements consent.Notifier.
func (p *Push) Notify(ctx context.Context, n consent.Notice) error {
	body, err := json.Marshal(map[string]string{"id": n.ID, "sub": n.Subject, "kind": n.Kind, "lang": n.Lang, "text": n.Text, "link": n.Link})
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", n.ID)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("push service: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push service answered %s", resp.Status)
	}
	return nil
}
