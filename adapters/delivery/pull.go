// Package delivery holds the partner delivery styles, one file each. A
// partner names its style at onboarding; adding a style is adding a file
// here and its name to Styles.
package delivery

import (
	"context"
	"errors"

	"github.com/kelisim/kelisim/consent"
)

// Pull is the style of partners that fetch documents through the API
// (Kaspi-style): a grant needs no delivery.
type Pull struct{}

var _ consent.DeliveryStyle = Pull{}

// OnGrant implements consent.DeliveryStyle.
func (Pull) OnGrant(consent.PartnerInfo) []string { return nil }

// Deliver implements consent.DeliveryStyle; a pull partner is never pushed to.
func (Pull) Deliver(context.Context, consent.PartnerInfo, consent.OutboxEntry, []byte) error {
	return errors.New("pull partners fetch their documents")
}
