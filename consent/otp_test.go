package consent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func start(f *fixture, iin consent.IIN, phone consent.Phone, ip string) (consent.Challenge, error) {
	return f.consents.Start(context.Background(), consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "s-" + ip,
		IIN: string(iin), Phone: string(phone), Documents: []consent.DocumentType{"id_card"}, Days: 30, Lang: "en", ClientIP: ip})
}

func limited(err error) bool { return errors.As(err, new(*consent.RateLimitError)) }

// A stranger who pairs any IIN with the owner's phone sends nothing and
// touches none of the owner's budgets; from one address, even with the
// owner's own IIN and phone, a stranger uses up only that address's share.
// The owner, from another address, still gets codes for consent and for
// the settings log-in.
func TestAStrangerCannotLockTheOwnerOut(t *testing.T) {
	cfg := consent.DefaultOTPConfig
	f := setup(t, cfg)
	const stranger, owner = "203.0.113.7", "198.51.100.9"
	for range cfg.IPLimit {
		if _, err := start(f, aigerim, aidarPhone, stranger); err != nil && !limited(err) {
			t.Fatal(err)
		}
	}
	if f.sms.count() != 0 {
		t.Fatalf("%d SMS went for a pair that does not match", f.sms.count())
	}
	if _, err := start(f, aidar, aidarPhone, owner); err != nil {
		t.Fatalf("the owner, after a stranger paired another IIN with the phone: %v", err)
	}
	f.sms.waitSent(t, 1)

	f = setup(t, cfg)
	strangerSent := 0
	for range cfg.PhoneLimit + 3 {
		_, err := start(f, aidar, aidarPhone, stranger)
		switch {
		case err == nil:
			strangerSent++
		case !limited(err):
			t.Fatal(err)
		}
	}
	if strangerSent != cfg.PhoneLimit {
		t.Errorf("one address got %d codes sent to one phone, want %d", strangerSent, cfg.PhoneLimit)
	}
	if _, err := start(f, aidar, aidarPhone, owner); err != nil {
		t.Errorf("the owner from another address, after a stranger used the pair: %v", err)
	}
	if _, err := f.settings.StartLogin(context.Background(), "browser", string(aidar), string(aidarPhone), "en", owner); err != nil {
		t.Errorf("the owner's log-in to revoke: %v", err)
	}
	// The stranger's address cannot log in either, but it has a budget of
	// its own for that, untouched by the consents.
	if _, err := f.settings.StartLogin(context.Background(), "browser", string(aidar), string(aidarPhone), "en", stranger); err != nil {
		t.Errorf("log-in budget spent by consents: %v", err)
	}
}

// Every address together may send a phone no more than the total budget.
func TestAPhoneHasATotalBudget(t *testing.T) {
	cfg := consent.DefaultOTPConfig
	f := setup(t, cfg)
	sent := 0
	for i := range cfg.PhoneTotalLimit + 5 {
		if _, err := start(f, aidar, aidarPhone, "10.0.0."+string(rune('a'+i))); err == nil {
			sent++
		} else if !limited(err) {
			t.Fatal(err)
		}
	}
	if sent != cfg.PhoneTotalLimit {
		t.Errorf("%d codes for one phone from many addresses, want %d", sent, cfg.PhoneTotalLimit)
	}
}

// Resends are counted like first sends, and answer at once whether or not
// the pair matched, even when the SMS provider hangs; the code goes out
// in the background.
func TestResendCountsAndDoesNotWait(t *testing.T) {
	cfg := consent.DefaultOTPConfig
	cfg.PhoneLimit, cfg.MaxResends = 3, 5
	f := setup(t, cfg)
	ctx := context.Background()
	matched, err := start(f, aidar, aidarPhone, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := start(f, aigerim, aidarPhone, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.sms.waitSent(t, 1)
	hang := make(chan struct{})
	f.sms.mu.Lock()
	f.sms.hang = hang
	f.sms.mu.Unlock()
	for _, c := range []consent.Challenge{matched, decoy} {
		f.clock.advance(cfg.ResendAfter)
		begin := time.Now()
		if _, _, err := f.consents.Resend(ctx, c.ID, "s-10.0.0.1", "Bank", c.Documents, c.Days, "10.0.0.1"); err != nil {
			t.Fatalf("resend: %v", err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("a resend waited %v for a hanging SMS provider", took)
		}
	}
	close(hang)
	f.sms.waitSent(t, 2)
	// Start and one resend used two of the pair's three from this address.
	f.clock.advance(cfg.ResendAfter)
	if _, _, err := f.consents.Resend(ctx, matched.ID, "s-10.0.0.1", "Bank", matched.Documents, matched.Days, "10.0.0.1"); err != nil {
		t.Fatalf("third send: %v", err)
	}
	f.clock.advance(cfg.ResendAfter)
	if _, _, err := f.consents.Resend(ctx, matched.ID, "s-10.0.0.1", "Bank", matched.Documents, matched.Days, "10.0.0.1"); !limited(err) {
		t.Errorf("fourth send to the pair from one address: %v, want a rate limit", err)
	}
}

// The operator's metrics hear what becomes of codes, and nothing of whose:
// a code sent, one the provider refused, wrong ones until the last locks
// the challenge, a right one, and a send refused by a limit.
func TestCodeEventsObserved(t *testing.T) {
	cfg := consent.DefaultOTPConfig
	f := setup(t, cfg)
	ctx := context.Background()
	c, err := start(f, aidar, aidarPhone, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.sms.waitSent(t, 1)
	// A send is heard when the provider has answered: wait for it, so the
	// order heard is the order of the journey.
	f.observed.await(t, 1)
	for range cfg.MaxAttempts {
		_, err = f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "s-10.0.0.1", Code: "0000000", Documents: c.Documents, Days: c.Days})
	}
	if !errors.Is(err, consent.ErrCodeDead) {
		t.Fatalf("the last wrong code: %v", err)
	}
	c, err = start(f, aidar, aidarPhone, "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, 2)[1].text)
	f.observed.await(t, 2+cfg.MaxAttempts)
	if _, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "s-10.0.0.2", Code: code, Documents: c.Documents, Days: c.Days}); err != nil {
		t.Fatal(err)
	}
	f.sms.mu.Lock()
	f.sms.fail = errors.New("the provider answered 503")
	f.sms.mu.Unlock()
	if _, err := start(f, aidar, aidarPhone, "10.0.0.3"); err != nil {
		t.Fatal(err)
	}
	// Sent, the wrong ones, locked, sent, right and the refused send.
	heard := f.observed.await(t, 4+cfg.MaxAttempts)
	for _, err = start(f, aigerim, aigerimTel, "10.0.0.4"); !limited(err); _, err = start(f, aigerim, aigerimTel, "10.0.0.4") {
		if err != nil {
			t.Fatal(err)
		}
	}
	heard = f.observed.await(t, len(heard)+cfg.PhoneLimit+1)
	want := []string{consent.OTPSent}
	for range cfg.MaxAttempts - 1 {
		want = append(want, consent.OTPWrong)
	}
	want = append(want, consent.OTPLocked, consent.OTPSent, consent.OTPRight, consent.OTPSendFailed)
	for range cfg.PhoneLimit {
		want = append(want, consent.OTPSendFailed)
	}
	want = append(want, consent.OTPLimited)
	// The sends are heard as they finish, after the answers: in order up
	// to the right code, then in any order.
	n := cfg.MaxAttempts + 3
	if len(heard) >= n {
		slices.Sort(heard[n:])
		slices.Sort(want[n:])
	}
	if strings.Join(heard, " ") != strings.Join(want, " ") {
		t.Errorf("heard %v\nwant  %v", heard, want)
	}
}
