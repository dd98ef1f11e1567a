package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// Push is the style of partners that receive documents at a webhook
// (Halyk-style). Each outbox entry is one POST:
//
//	POST {webhook_url}
//	Content-Type: application/jose
//	Idempotency-Key: {entry id}
//
//	<compact JWS, typ kelisim-delivery+jwt, signed with a key of the JWKS>
//
// Any 2xx is acknowledgement; anything else, or no answer within the
// timeout, is retried later by the outbox with the same Idempotency-Key.
type Push struct {
	Client *http.Client
}

var _ consent.DeliveryStyle = Push{}

// NewPush returns the push style with a bounded HTTP client.
func NewPush(timeout time.Duration) Push {
	return Push{Client: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a webhook answers; it does not send us elsewhere
	}}}
}

// OnGrant implements consent.DeliveryStyle.
func (Push) OnGrant(consent.PartnerInfo) []string { return []string{consent.KindGrantDocuments} }

// Deliver implements consent.DeliveryStyle.
func (p Push) Deliver(ctx context.Context, partner consent.PartnerInfo, e consent.OutboxEntry, body []byte) error {
	if partner.WebhookURL == "" {
		return fmt.Errorf("partner %s has no webhook_url", partner.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, partner.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/jose")
	req.Header.Set("Idempotency-Key", e.ID)
	req.Header.Set("User-Agent", "kelisim-delivery")
	resp, err := p.Client.Do(req)
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

// Styles are the delivery styles by the name a partner registers.
func Styles(timeout time.Duration) map[string]consent.DeliveryStyle {
	return map[string]consent.DeliveryStyle{"pull": Pull{}, "push": NewPush(timeout)}
}
