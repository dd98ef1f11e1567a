package delivery

import (
	"context"
	"fmt"

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
	Webhook consent.Webhook
}

var _ consent.DeliveryStyle = Push{}

// OnGrant implements consent.DeliveryStyle.
func (Push) OnGrant(consent.PartnerInfo) []string { return []string{consent.KindGrantDocuments} }

// Deliver implements consent.DeliveryStyle.
func (p Push) Deliver(ctx context.Context, partner consent.PartnerInfo, e consent.OutboxEntry, body []byte) error {
	if partner.WebhookURL == "" {
		return fmt.Errorf("partner %s has no webhook_url", partner.ID)
	}
	return p.Webhook.Post(ctx, partner.WebhookURL, "application/jose", e.ID, body)
}

// Styles are the delivery styles by the name a partner registers.
func Styles(w consent.Webhook) map[string]consent.DeliveryStyle {
	return map[string]consent.DeliveryStyle{"pull": Pull{}, "push": Push{Webhook: w}}
}
