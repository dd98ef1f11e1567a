package consent_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"sync"
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
	return []consent.Document{{Type: "id_card", Number: "1", Issued: "2020-01-01", Expires: "2099-01-01", Holder: consent.Holder{Name: r[iin].Name, IIN: iin}}}, nil
}

// sms records messages; send blocks while blocked is set.
type sms struct {
	mu   sync.Mutex
	sent []sent
	hang chan struct{} // nil: answer at once; else Send waits for it
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
	s.sent = append(s.sent, sent{to, text})
	s.mu.Unlock()
	s.more <- struct{}{}
	return nil
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

type partnerInfo struct{}

func (partnerInfo) PartnerInfo(_ context.Context, id string) (consent.PartnerInfo, error) {
	return consent.PartnerInfo{ID: id, Delivery: "pull"}, nil
}

type pullStyle struct{}

func (pullStyle) OnGrant(consent.PartnerInfo) []string { return nil }
func (pullStyle) Deliver(context.Context, consent.PartnerInfo, consent.OutboxEntry, []byte) error {
	return nil
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
	consents *consent.Service
	settings *consent.Settings
	shares   *consent.Shares
}

func setup(t *testing.T, cfg consent.OTPConfig) *fixture {
	t.Helper()
	f := &fixture{store: memory.New(), clock: &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		sms: &sms{more: make(chan struct{}, 1000)},
		registry: fakeRegistry{
			aidar:   {IIN: aidar, Name: "Aidar Serikov", Phone: aidarPhone},
			aigerim: {IIN: aigerim, Name: "Aigerim Nurlanova", Phone: aigerimTel, Represents: []consent.IIN{child}},
			child:   {IIN: child, Name: "Alikhan Nurlanov"},
		}}
	messages, err := consent.NewMessages()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	deliverer := consent.NewDeliverer(consent.DeliveryConfig{Issuer: "https://kelisim.test", DocumentTTL: time.Minute, MaxAttempts: 3,
		Backoff: time.Second, MaxBackoff: time.Minute, Lease: time.Minute}, f.store, f.store, f.registry, f.registry, partnerInfo{},
		map[string]consent.DeliveryStyle{"pull": pullStyle{}}, fakeSigner{}, nil, nil, func(a, b string) string { return a + "/" + b }, f.clock.now, log)
	key := []byte("0123456789abcdef0123456789abcdef")
	f.consents = consent.NewService(f.store, f.registry, f.sms, messages, key, cfg, "2026-11-01", deliverer, f.store, f.clock.now, log)
	reports := consent.NewReports(f.store, f.registry, f.clock.now)
	f.settings = consent.NewSettings(f.consents, f.store, deliverer, reports, key, f.clock.now)
	f.shares = consent.NewShares(f.store, f.store, deliverer, key, "https://kelisim.test", consent.VerifyLimits{PerVerifier: 3, All: 5}, f.clock.now)
	return f
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
