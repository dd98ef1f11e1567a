package main

import (
	"log/slog"
	"time"

	"github.com/kelisim/kelisim/adapters/delivery"
	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/storage"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// Wiring the domain: each service of consent, the partner registry and
// the OAuth server is built from a config struct and checks it.

// domain is the wired domain: the consent parts, the partner registry and
// the OAuth server.
type domain struct {
	library  *consent.Library
	requests consent.RequestPolicy
	fetcher  *consent.Fetcher
	outbox   *consent.Outbox
	consents *consent.Service
	reports  *consent.Reports
	settings *consent.Settings
	shares   *consent.Shares
	grants   *consent.PartnerGrants
	receipts *consent.Receipts
	ledger   *consent.Ledger
	upkeep   *consent.Upkeep
	oauth    *oauth.Server // the OAuth/OIDC endpoints, and the consent pages' way to finish
	partners *partners.Service
}

// inputs is what the domain is wired from: the configuration, the store
// and the adapters.
type inputs struct {
	cfg      *Config
	store    storage.Store
	clients  oauth.PartnerGetter // partners as the OAuth server reads them
	citizens stateSystem
	trust    consent.IssuerCheck // the issuing authorities' keys
	// signatures checks citizens' digital signatures; nil: not offered.
	signatures consent.SignatureCheck
	sms        consent.SMS
	// notifiers send citizens' notices, by channel.
	notifiers map[string]consent.Notifier
	messages  *consent.Messages
	keys      *oauth.Keys
	secrets   *oauth.Secrets
	consent   oauth.Consent
	metrics   *httpapi.Metrics
	now       func() time.Time
	log       *slog.Logger
}

// wireDomain builds the domain's services; each checks what it is given.
func wireDomain(in inputs) (d domain, err error) {
	cfg, st, now, log := in.cfg, in.store, in.now, in.log
	webhook := delivery.NewWebhook(cfg.WebhookTimeout)
	directory := partnerDirectory{st}
	if d.library, err = consent.NewLibrary(consent.LibraryConfig{Issuer: cfg.Issuer, DocumentTTL: cfg.DocumentTTL,
		Registry: in.citizens, Source: in.citizens, Issuers: in.trust, Signer: in.keys, Encrypt: oauth.Encrypt,
		Pairwise: in.secrets.PairwiseSubject, Now: now, Log: log}); err != nil {
		return d, err
	}
	if d.requests, err = consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: cfg.GrantDays, MaxDays: cfg.MaxGrantDays}); err != nil {
		return d, err
	}
	if d.fetcher, err = consent.NewFetcher(consent.FetcherConfig{Grants: st, Partners: directory, Library: d.library,
		Access: st, Now: now}); err != nil {
		return d, err
	}
	if d.receipts, err = consent.NewReceipts(consent.ReceiptsConfig{Store: st, Partners: directory, Signer: in.keys,
		Pairwise: in.secrets.PairwiseSubject, Issuer: cfg.Issuer, Jurisdiction: "KZ"}); err != nil {
		return d, err
	}
	// A notice only names the partner: the partners the OAuth server reads
	// (a cache every replica keeps current) serve it, not the store.
	notices, err := consent.NewNoticeSender(consent.NotifierConfig{Prefs: st, Registry: in.citizens, Partners: partnerDirectory{in.clients},
		Access: st, Messages: in.messages, Channels: in.notifiers, BaseURL: cfg.Issuer, Now: now, Log: log,
		List: st, TermsVersion: cfg.TermsVersion,
		AppSubject: func(iin consent.IIN) string { return in.secrets.PairwiseSubject(cfg.PushAudience, string(iin)) }})
	if err != nil {
		return d, err
	}
	if d.outbox, err = consent.NewOutbox(consent.OutboxConfig{Store: st, Access: st, Grants: st, Partners: directory, Receipts: d.receipts, Notices: notices,
		Styles: delivery.Styles(webhook), Library: d.library, Webhook: webhook, MaxAttempts: cfg.DeliveryAttempts,
		Backoff: cfg.DeliveryBackoff, MaxBackoff: 10 * time.Minute, Lease: cfg.DeliveryLease, Parallel: cfg.DeliveryParallel, Observer: in.metrics, Now: now, Log: log}); err != nil {
		return d, err
	}
	if d.consents, err = consent.NewService(consent.ServiceConfig{Store: st, Registry: in.citizens, SMS: in.sms,
		Messages: in.messages, Key: in.secrets.Key("otp"), OTP: cfg.OTP, Terms: cfg.Terms, Outbox: d.outbox, Signatures: in.signatures,
		Observer: in.metrics, Now: now, Log: log}); err != nil {
		return d, err
	}
	if d.ledger, err = consent.NewLedger(consent.LedgerConfig{Store: st, Signer: in.keys, Key: in.secrets.Key("settings"), Retention: cfg.HistoryRetention,
		Issuer: cfg.Issuer, Observer: in.metrics, Settle: cfg.HistorySettle, Now: now, Log: log}); err != nil {
		return d, err
	}
	if d.reports, err = consent.NewReports(consent.ReportsConfig{Store: st, Receiver: in.citizens, Types: cfg.Types, Now: now}); err != nil {
		return d, err
	}
	if d.settings, err = consent.NewSettings(consent.SettingsConfig{Store: st, Codes: d.consents, Registry: in.citizens,
		Outbox: d.outbox, Access: st, Reports: d.reports, Prefs: st, Documents: d.library, Terms: cfg.TermsVersion, Channels: offeredChannels(in.notifiers), Key: in.secrets.Key("settings"), Now: now}); err != nil {
		return d, err
	}
	if d.shares, err = consent.NewShares(consent.SharesConfig{Store: st, Limits: st, Library: d.library, Access: st, Registry: in.citizens,
		Key: in.secrets.Key("shares"), Issuer: cfg.Issuer, Now: now,
		Wrong: consent.VerifyLimits{PerVerifier: cfg.VerifyWrongLimit, All: cfg.VerifyGlobalWrongLimit}}); err != nil {
		return d, err
	}
	if d.grants, err = consent.NewPartnerGrants(consent.PartnerGrantsConfig{Store: st, Receipts: d.receipts, Deletions: st, Issuer: cfg.Issuer, Pairwise: in.secrets.PairwiseSubject, Now: now}); err != nil {
		return d, err
	}
	if d.upkeep, err = consent.NewUpkeep(consent.UpkeepConfig{Store: st, Outbox: d.outbox, Reports: d.reports,
		OTPRetention: cfg.OTPRetention, HistoryRetention: cfg.HistoryRetention, Deletions: st, Majority: st, DeletionDeadline: cfg.DeletionDeadline, Observer: in.metrics,
		Terms: st, TermsVersion: cfg.TermsVersion,
		Now: now, Log: log}); err != nil {
		return d, err
	}
	if d.oauth, err = oauth.New(oauth.Config{
		Issuer: cfg.Issuer, AccessTokenLifespan: cfg.AccessTokenTTL, RefreshTokenLifespan: cfg.RefreshTokenTTL,
		PendingPerAddress: cfg.AuthorizeIPLimit, Limiter: st, DPoPNonce: cfg.DPoPNonce,
		Store: st, Partners: in.clients, Keys: in.keys, Secrets: in.secrets, Consent: in.consent, Grants: st,
		Observer: in.metrics, Log: log, Now: now, DocumentScopes: cfg.Types.Scopes(),
	}); err != nil {
		return d, err
	}
	d.partners, err = partners.NewService(partners.Config{Store: st, Hasher: in.secrets, Revoker: d.oauth.TokenRevoker(), Types: cfg.Types,
		Tx: st, Now: now, AllowLoopback: cfg.AllowLoopback, DefaultProfile: cfg.DefaultProfile})
	return d, err
}

// offeredChannels are the notification channels with a notifier, in the
// order the pages show them.
func offeredChannels(notifiers map[string]consent.Notifier) []string {
	var out []string
	for _, c := range consent.Channels {
		if notifiers[c] != nil {
			out = append(out, c)
		}
	}
	return out
}
