// Package storage names what a store adapter provides: every port the
// domain packages and the OAuth server declare for their storage, in one
// interface. The gateway runs on one value of it (the memory store or
// PostgreSQL), and the contract suite in adapters/storetest runs against
// both, so the two cannot drift apart unnoticed.
package storage

import (
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Store is every storage port the gateway uses.
type Store interface {
	oauth.Store
	partners.Store
	consent.Store
	consent.DeliveryStore
	consent.SettingsStore
	consent.Janitor
	consent.ReportStore
	consent.ShareStore
	consent.Releaser
	consent.ReceiptStore
	consent.LedgerStore
	consent.DeletionStore
	consent.MajorityStore
	consent.ActivityStore
	consent.PrefsStore
	consent.TermsTeller
	consent.TermsStore
}
