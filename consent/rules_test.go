package consent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// Each rule of a one-time password, from a fresh challenge: what the
// citizen does, and what the engine answers.
func TestOTPRules(t *testing.T) {
	cfg := consent.DefaultOTPConfig
	ctx := context.Background()
	const session = "s-10.0.0.1"
	type step func(t *testing.T, f *fixture, c consent.Challenge, code string) error
	approve := func(code string, docs []consent.DocumentType, days int) step {
		return func(t *testing.T, f *fixture, c consent.Challenge, right string) error {
			if code == "" {
				code = right
			}
			_, err := f.consents.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: session, Code: code, Documents: docs, Days: days})
			return err
		}
	}
	wrong := func(t *testing.T, f *fixture, c consent.Challenge, right string) error {
		w := "000000"
		if right == w {
			w = "111111"
		}
		return approve(w, c.Documents, c.Days)(t, f, c, right)
	}
	right := func(t *testing.T, f *fixture, c consent.Challenge, code string) error {
		return approve("", c.Documents, c.Days)(t, f, c, code)
	}
	wait := func(d time.Duration) step {
		return func(t *testing.T, f *fixture, c consent.Challenge, code string) error { f.clock.advance(d); return nil }
	}
	resend := func(t *testing.T, f *fixture, c consent.Challenge, code string) error {
		_, _, err := f.consents.Resend(ctx, c.ID, session, "Bank", c.Documents, c.Days, "10.0.0.1")
		return err
	}
	id := []consent.DocumentType{"id_card"}
	tests := []struct {
		name  string
		steps []step
		want  func(error) bool
	}{
		{"the right code approves", []step{right}, func(err error) bool { return err == nil }},
		{"a wrong code spends a try", []step{wrong}, func(err error) bool {
			var w *consent.WrongCodeError
			return errors.As(err, &w) && w.AttemptsLeft == cfg.MaxAttempts-1
		}},
		{"the last wrong code kills the challenge", repeat(step(wrong), cfg.MaxAttempts), is(consent.ErrCodeDead)},
		{"a dead challenge refuses the right code", append(repeat(step(wrong), cfg.MaxAttempts), right), is(consent.ErrCodeDead)},
		{"a code works until its TTL", []step{wait(cfg.TTL - time.Second), right}, func(err error) bool { return err == nil }},
		{"an expired code is refused", []step{wait(cfg.TTL), right}, is(consent.ErrCodeExpired)},
		{"a code approves once", []step{right, right}, is(consent.ErrCodeUsed)},
		{"a code is bound to its documents", []step{approve("", []consent.DocumentType{"id_card", "diploma"}, 30)}, is(consent.ErrSelectionChanged)},
		{"a code is bound to its duration", []step{approve("", id, 7)}, is(consent.ErrSelectionChanged)},
		{"a changed selection spends no try", []step{approve("", id, 7), right}, func(err error) bool { return err == nil }},
		{"a resend waits ResendAfter", []step{resend}, func(err error) bool {
			var w *consent.TooSoonError
			return errors.As(err, &w) && errors.Is(err, consent.ErrResendTooSoon) && w.Wait == cfg.ResendAfter
		}},
		{"a resend after the wait is sent", []step{wait(cfg.ResendAfter), resend}, func(err error) bool { return err == nil }},
		{"resends run out", resends(cfg.MaxResends+1, wait(cfg.ResendAfter), step(resend)), is(consent.ErrNoResendsLeft)},
		{"an expired code may be resent", []step{wait(cfg.TTL), resend}, func(err error) bool { return err == nil }},
		{"a used code is not resent", []step{right, wait(cfg.ResendAfter), resend}, is(consent.ErrCodeUsed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, cfg)
			c, err := start(f, aidar, aidarPhone, "10.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			code := codeIn(t, f.sms.waitSent(t, 1)[0].text)
			for _, s := range tt.steps {
				err = s(t, f, c, code)
			}
			if !tt.want(err) {
				t.Errorf("got %v", err)
			}
		})
	}
}

func repeat[T any](s T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func resends[T any](n int, a, b T) []T {
	var out []T
	for range n {
		out = append(out, a, b)
	}
	return out
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// A pair that is not registered gets a challenge like any other, but no
// SMS, and no code verifies it.
func TestADecoyVerifiesNothing(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	c, err := start(f, aidar, aigerimTel, "10.0.0.1")
	if err != nil || c.ID == "" {
		t.Fatalf("decoy: %+v %v", c, err)
	}
	time.Sleep(20 * time.Millisecond) // a send would be under way by now
	if n := f.sms.count(); n != 0 {
		t.Fatalf("%d SMS for an unregistered pair", n)
	}
	for _, code := range []string{"000000", "123456", "999999"} {
		_, err := f.consents.Approve(context.Background(), consent.ApproveRequest{ChallengeID: c.ID, Session: "s-10.0.0.1",
			Code: code, Documents: c.Documents, Days: c.Days})
		var w *consent.WrongCodeError
		if !errors.As(err, &w) {
			t.Fatalf("code %s on a decoy: %v", code, err)
		}
	}
}

// Bad input is refused before any budget is spent.
func TestStartRefusesBadInput(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	for _, tt := range []struct {
		iin, phone string
		docs       []consent.DocumentType
		want       error
		field      string
	}{
		{"85031530012", string(aidarPhone), []consent.DocumentType{"id_card"}, consent.ErrIINFormat, "iin"},
		{"850315300129", string(aidarPhone), []consent.DocumentType{"id_card"}, consent.ErrIINCheck, "iin"},
		{string(aidar), "+1 555 0100", []consent.DocumentType{"id_card"}, consent.ErrPhone, "phone"},
		{string(aidar), string(aidarPhone), nil, consent.ErrNoDocuments, ""},
	} {
		_, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "r", PartnerID: "bank", Session: "s", IIN: tt.iin,
			Phone: tt.phone, Documents: tt.docs, Days: 1, ClientIP: "10.0.0.9"})
		if !errors.Is(err, tt.want) || consent.KindOf(err) != consent.KindInvalid {
			t.Errorf("%s/%s: %v, want %v", tt.iin, tt.phone, err, tt.want)
		}
		if fields := consent.FieldsOf(err); tt.field != "" && (len(fields) != 1 || fields[0].Field != tt.field) {
			t.Errorf("%s/%s: fields %+v", tt.iin, tt.phone, fields)
		}
		if id, _ := consent.MessageOf(err); id == "" || strings.Contains(id, " ") {
			t.Errorf("%v has no message ID: %q", err, id)
		}
	}
}
