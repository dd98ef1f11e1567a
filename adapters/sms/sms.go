// Package sms sends text messages: to the console for development, or to an
// SMS provider over HTTP.
package sms

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

// Console writes each message, the code included, to w (stderr). For
// development only: it is the one place a code is ever printed.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

var _ consent.SMS = (*Console)(nil)

// NewConsole returns a sender that writes to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Send implements consent.SMS.
func (c *Console) Send(_ context.Context, id string, phone consent.Phone, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.w, "SMS %s to %s: %s\n", id, phone, text)
	return err
}

// HTTP posts each message as JSON to a provider:
//
//	POST {URL}  Authorization: Bearer {Token}  Idempotency-Key: {id}
//	{"id": "…", "to": "+77011234567", "text": "…"}
//
// A 2xx is delivery; 5xx and network errors are retried with backoff, at
// most Retries times, with the same Idempotency-Key so the provider drops
// duplicates.
type HTTP struct {
	url, token string
	client     *retryablehttp.Client
}

var _ consent.SMS = (*HTTP)(nil)

// NewHTTP returns a provider client.
func NewHTTP(url, token string, timeout time.Duration, retries int) *HTTP {
	rc := retryablehttp.NewClient()
	rc.RetryMax = retries
	rc.RetryWaitMin, rc.RetryWaitMax = 200*time.Millisecond, 3*time.Second
	rc.Logger = nil
	rc.HTTPClient = &http.Client{Timeout: timeout, Transport: telemetry.Transport(nil, "sms")}
	return &HTTP{url: url, token: token, client: rc}
}

// Send implements consent.SMS.
func (h *HTTP) Send(ctx context.Context, id string, phone consent.Phone, text string) error {
	body, err := json.Marshal(map[string]string{"id": id, "to": string(phone), "text": text})
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("sms provider: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms provider: status %d", resp.StatusCode)
	}
	return nil
}
