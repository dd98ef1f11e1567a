package consent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
)

// The domain's services on the memory store, a fake clock, a registry of
// two citizens and an SMS outbox that records what would be sent.

const (
	aidar      consent.IIN   = "850315300128"
	aidarPhone consent.Phone = "+77011234567"
	aigerim    consent.IIN   = "900101400559"
	aigerimTel consent.Phone = "+77029876543"
	child      consent.IIN   = "150612601232"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fakeRegistry map[consent.IIN]consent.Citizen

func (r fakeRegistry) Citizen(_ context.Context, iin consent.IIN) (consent.Citizen, error) {
	c, ok := r[iin]
	if !ok {
		return consent.Citizen{}, consent.ErrUnknownCitizen
	}
	return c, nil
}

func (r fakeRegistry) Documents(_ context.Context, iin consent.IIN) ([]consent.Document, error) {
	d := consent.Document{Type: "id_card", Number: "1", Issued: "2020-01-01", Expires: "2099-01-01", Authority: "Ministry",
		Holder: consent.Holder{Name: r[iin].Name, IIN: iin}}
	d.Signed = fakeSign(d)
	return []consent.Document{d}, nil
}

// fakeSign "signs" a document as its authority: JSON behind a mark.
func fakeSign(d consent.Document) string {
	b, _ := json.Marshal(d)
	return "issued:" + string(b)
}

// fakeIssuers trusts what fakeSign made, unless the document was changed
// to number "tampered".
type fakeIssuers struct{}

func (fakeIssuers) Verify(signed string) (consent.Document, consent.SignatureState, error) {
	raw, ok := strings.CutPrefix(signed, "issued:")
	var d consent.Document
	if !ok || json.Unmarshal([]byte(raw), &d) != nil || d.Number == "tampered" {
		return consent.Document{}, consent.SignatureState{Problem: "bad"}, consent.ErrIssuerSignature
	}
	d.Signed = signed
	return d, consent.SignatureState{Verified: true, Authority: d.Authority}, nil
}

// sms records messages; send blocks while blocked is set.
type sms struct {
	mu   sync.Mutex
	sent []sent
	hang chan struct{} // nil: answer at once; else Send waits for it
	fail error         // nil: take every message; else refuse it
	more chan struct{}
}

type sent struct {
	to   consent.Phone
	text string
}

func (s *sms) Send(ctx context.Context, _ string, to consent.Phone, text string) error {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	if fail := s.fail; fail != nil {
		s.mu.Unlock()
		return fail
	}
	s.sent = append(s.sent, sent{to, text})
	s.mu.Unlock()
	s.more <- struct{}{}
	return nil
}

// observed records what the observers hear: codes' events and deliveries'
// outcomes (as "kind outcome").
type observed struct {
	mu     sync.Mutex
	events []string
}

func (o *observed) OTP(event string) { o.add(event) }

func (o *observed) Delivery(kind, outcome string) { o.add(kind + " " + outcome) }

func (o *observed) add(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

// await returns what was heard once it holds n events, failing the test
// after a while.
func (o *observed) await(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		o.mu.Lock()
		got := append([]string(nil), o.events...)
		o.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}

// waitSent waits until n messages went out in all.
func (s *sms) waitSent(t *testing.T, n int) []sent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.sent) >= n {
			out := append([]sent(nil), s.sent...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("%d SMS sent, want %d", len(s.sent), n)
		}
	}
}

func (s *sms) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// partnerBook knows partners by id; one not in it fetches for itself.
type partnerBook map[string]consent.PartnerInfo

func (b partnerBook) PartnerInfo(_ context.Context, id string) (consent.PartnerInfo, error) {
	if p, ok := b[id]; ok {
		return p, nil
	}
	return consent.PartnerInfo{ID: id, Delivery: "pull"}, nil
}

type pullStyle struct{}

func (pullStyle) OnGrant(consent.PartnerInfo) []string { return nil }
func (pullStyle) Deliver(context.Context, consent.PartnerInfo, consent.OutboxEntry, []byte) error {
	return nil
}

// webhook records posts; while fail is set, every post fails with it.
type webhook struct {
	mu    sync.Mutex
	fail  error
	posts []post
}

type post struct{ url, contentType, key, body string }

func (w *webhook) Post(_ context.Context, url, contentType, key string, body []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.posts = append(w.posts, post{url, contentType, key, string(body)})
	return w.fail
}

func (w *webhook) failWith(err error) { w.mu.Lock(); w.fail = err; w.mu.Unlock() }

func (w *webhook) sent() []post {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]post(nil), w.posts...)
}

// pushStyle posts every grant's documents to the partner's webhook.
type pushStyle struct{ w *webhook }

func (pushStyle) OnGrant(consent.PartnerInfo) []string { return []string{consent.KindGrantDocuments} }
func (s pushStyle) Deliver(ctx context.Context, p consent.PartnerInfo, e consent.OutboxEntry, body []byte) error {
	return s.w.Post(ctx, p.WebhookURL, "application/jwt", e.ID, body)
}

// fakeSigner "signs" by returning the payload.
type fakeSigner struct{}

func (fakeSigner) Sign(payload []byte, typ string) (string, error) {
	return typ + ":" + string(payload), nil
}

type fixture struct {
	store    *memory.Store
	clock    *fakeClock
	sms      *sms
	registry fakeRegistry
	partners partnerBook
	webhook  *webhook
	library  *consent.Library
	outbox   *consent.Outbox
	receipts *consent.Receipts
	overdue  *overdueCount
	fetcher  *consent.Fetcher
	consents *consent.Service
	reports  *consent.Reports
	settings *consent.Settings
	shares   *consent.Shares
	upkeep   *consent.Upkeep
	notes    *notes
	notices  *consent.NoticeSender
	observed *observed
	log      *slog.Logger
}

// notes records the notices each channel was asked to send; while fail is
// set for a channel, it fails.
type notes struct {
	mu   sync.Mutex
	sent []consent.Notice
	fail map[string]error
}

func (n *notes) channel(ch string) consent.Notifier { return channelNotes{n, ch} }

func (n *notes) all() []consent.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]consent.Notice(nil), n.sent...)
}

type channelNotes struct {
	n  *notes
	ch string
}

func (c channelNotes) Notify(_ context.Context, note consent.Notice) error {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if note.Channel != c.ch {
		return fmt.Errorf("notice for %s sent by %s", note.Channel, c.ch)
	}
	if err := c.n.fail[c.ch]; err != nil {
		return err
	}
	c.n.sent = append(c.n.sent, note)
	return nil
}

// must is a constructor's result, in a test where it cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func setup(t testing.TB, cfg consent.OTPConfig) *fixture {
	t.Helper()
	f := &fixture{store: memory.New(), clock: &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		sms: &sms{more: make(chan struct{}, 1000)}, partners: partnerBook{}, observed: &observed{},
		registry: fakeRegistry{
			aidar:   {IIN: aidar, Name: "Aidar Serikov", Phone: aidarPhone},
			aigerim: {IIN: aigerim, Name: "Aigerim Nurlanova", Phone: aigerimTel, Represents: []consent.IIN{child}},
			child:   {IIN: child, Name: "Alikhan Nurlanov"},
		}}
	messages, err := consent.NewMessages(must(consent.ShippedCatalogue()))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.log = log
	key := []byte("0123456789abcdef0123456789abcdef")
	f.library = must(consent.NewLibrary(consent.LibraryConfig{Issuer: "https://kelisim.test", DocumentTTL: time.Minute,
		Registry: f.registry, Source: f.registry, Issuers: fakeIssuers{}, Signer: fakeSigner{}, Pairwise: func(a, b string) string { return a + "/" + b },
		Now: f.clock.now, Log: log}))
	f.webhook = &webhook{}
	f.overdue = &overdueCount{}
	f.receipts = must(consent.NewReceipts(consent.ReceiptsConfig{Store: f.store, Partners: f.partners, Signer: fakeSigner{},
		Pairwise: func(a, b string) string { return a + "/" + b }, Issuer: "https://kelisim.test", Jurisdiction: "KZ"}))
	f.notes = &notes{fail: map[string]error{}}
	f.notices = must(consent.NewNoticeSender(consent.NotifierConfig{Prefs: f.store, Registry: f.registry,
		Partners: f.partners, Access: f.store, Messages: messages, BaseURL: "https://kelisim.test", Now: f.clock.now, Log: log,
		List: f.store, TermsVersion: "2026-11-01",
		Channels:   map[string]consent.Notifier{consent.ChannelSMS: f.notes.channel(consent.ChannelSMS), consent.ChannelApp: f.notes.channel(consent.ChannelApp)},
		AppSubject: func(iin consent.IIN) string { return "app/" + string(iin)[:4] }}))
	f.outbox = f.newOutbox(f.partners)
	f.fetcher = must(consent.NewFetcher(consent.FetcherConfig{Grants: f.store, Partners: f.partners, Library: f.library, Access: f.store, Now: f.clock.now}))
	f.consents = must(consent.NewService(consent.ServiceConfig{Store: f.store, Registry: f.registry, SMS: f.sms, Messages: messages,
		Key: key, OTP: cfg, Terms: must(consent.ShippedTerms("2026-11-01")), Outbox: f.outbox, Observer: f.observed, Now: f.clock.now, Log: log}))
	f.reports = must(consent.NewReports(consent.ReportsConfig{Store: f.store, Receiver: f.registry, Types: must(consent.ShippedCatalogue()), Now: f.clock.now}))
	f.settings = must(consent.NewSettings(consent.SettingsConfig{Store: f.store, Codes: f.consents, Registry: f.registry,
		Outbox: f.outbox, Access: f.store, Reports: f.reports, Prefs: f.store, Documents: f.library, Terms: "2026-11-01", Key: key, Now: f.clock.now}))
	f.shares = must(consent.NewShares(consent.SharesConfig{Store: f.store, Limits: f.store, Library: f.library, Access: f.store, Registry: f.registry,
		Key: key, Issuer: "https://kelisim.test", Wrong: consent.VerifyLimits{PerVerifier: 3, All: 5}, Now: f.clock.now}))
	up := f.upkeepConfig()
	up.OTPRetention = 30 * 24 * time.Hour
	f.upkeep = must(consent.NewUpkeep(up))
	return f
}

// newOutbox is the fixture's outbox, reading partners from partners.
func (f *fixture) newOutbox(partners consent.Partners) *consent.Outbox {
	return must(consent.NewOutbox(consent.OutboxConfig{Store: f.store, Access: f.store, Grants: f.store, Partners: partners, Receipts: f.receipts,
		Notices: f.notices, Styles: map[string]consent.DeliveryStyle{"pull": pullStyle{}, "push": pushStyle{f.webhook}}, Library: f.library,
		Webhook: f.webhook, MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, Lease: time.Minute, Observer: f.observed,
		Now: f.clock.now, Log: f.log}))
}

// upkeepConfig is what the fixture's upkeep is built from, for a test to
// vary.
func (f *fixture) upkeepConfig() consent.UpkeepConfig {
	return consent.UpkeepConfig{Store: f.store, Outbox: f.outbox, Reports: f.reports, Terms: f.store, TermsVersion: "2026-11-01",
		Deletions: f.store, Majority: f.store, DeletionDeadline: 30 * 24 * time.Hour, Observer: f.overdue, Now: f.clock.now, Log: f.log}
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

// codeIn reads the code from an SMS text.
func codeIn(t *testing.T, text string) string {
	t.Helper()
	c := sixDigits.FindString(text)
	if c == "" {
		t.Fatalf("no code in %q", text)
	}
	return c
}

func (r fakeRegistry) ReportError(context.Context, consent.ErrorReport) (string, error) {
	return "ref", nil
}

// overdueCount is what the upkeep last counted of overdue deletion
// confirmations.
type overdueCount struct{ n atomic.Int64 }

func (o *overdueCount) OverdueDeletions(n int) { o.n.Store(int64(n)) }
