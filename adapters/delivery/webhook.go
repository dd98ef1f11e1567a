package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kelisim/kelisim/adapters/telemetry"
	"github.com/kelisim/kelisim/consent"
)

// Webhook posts to partners' webhooks with a bounded client that follows
// no redirects.
type Webhook struct {
	Client *http.Client
}

var _ consent.Webhook = Webhook{}

// NewWebhook returns a poster whose every POST ends within timeout.
func NewWebhook(timeout time.Duration) Webhook {
	return Webhook{Client: &http.Client{Timeout: timeout, Transport: telemetry.Transport(nil, "webhook"), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a webhook answers; it does not send us elsewhere
	}}}
}

// Post implements consent.Webhook.
func (w Webhook) Post(ctx context.Context, url, contentType, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("User-Agent", "kelisim-delivery")
	resp, err := w.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
