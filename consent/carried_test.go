package consent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
)

// The code page is shown, and a right code approved, from the challenge
// the browser carries: only the challenge as started, for the session that
// started it, unaltered and unexpired. The browser reads nothing of it, and
// a decoy's is as long as a matched one's.
func TestCarriedChallenge(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	matched, err := start(f, aidar, aidarPhone, "198.51.100.9")
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := start(f, aidar, aigerimTel, "198.51.100.9") // the phone is not Aidar's
	if err != nil {
		t.Fatal(err)
	}
	const session = "s-198.51.100.9"
	carried := f.consents.CarryChallenge(matched)
	got, ok := f.consents.CarriedChallenge(carried, matched.ID, session)
	if !ok || got.ID != matched.ID || got.PendingID != "req" || got.PartnerID != "bank" || got.Citizen != aidar ||
		!slices.Equal(got.Documents, matched.Documents) || got.Days != 30 || got.Resends != 0 || !got.ExpiresAt.Equal(matched.ExpiresAt) ||
		got.Session != matched.Session || got.Status != consent.ChallengePending || got.Lang != "en" || got.Version != matched.Version {
		t.Fatalf("carried %+v, %v; want %+v", got, ok, matched)
	}
	if got.CodeHash != nil || got.Budget != "" || got.Represents != nil {
		t.Errorf("what the browser carries holds the code or the minors: %+v", got)
	}
	if got, ok := f.consents.CarriedChallenge(f.consents.CarryChallenge(decoy), decoy.ID, session); !ok || got.Citizen != "" {
		t.Errorf("a decoy is carried as %+v, %v", got, ok)
	}
	sealed := must(base64.RawURLEncoding.DecodeString(carried))
	if bytes.Contains(sealed, []byte(aidar)) || strings.Contains(carried, string(aidar)) || bytes.Contains(sealed, []byte("id_card")) {
		t.Error("the browser can read what it carries")
	}
	if d := f.consents.CarryChallenge(decoy); len(d) != len(carried) {
		t.Errorf("a decoy's carrier is %d long, a matched one's %d: it tells them apart", len(d), len(carried))
	}
	if again := f.consents.CarryChallenge(matched); again == carried {
		t.Error("the same challenge is sealed the same twice")
	}
	flipped := slices.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name, carried, id, session string
	}{
		{"another session", carried, matched.ID, "s-203.0.113.7"},
		{"another challenge", carried, decoy.ID, session},
		{"altered", base64.RawURLEncoding.EncodeToString(flipped), matched.ID, session},
		{"cut short", base64.RawURLEncoding.EncodeToString(sealed[:len(sealed)-1]), matched.ID, session},
		{"only a nonce", base64.RawURLEncoding.EncodeToString(sealed[:12]), matched.ID, session},
		{"nothing", "", matched.ID, session},
		{"too long", carried + strings.Repeat("A", 4096), matched.ID, session},
		{"not base64", "!!" + carried, matched.ID, session},
	} {
		if got, ok := f.consents.CarriedChallenge(tc.carried, tc.id, tc.session); ok {
			t.Errorf("%s: accepted as %+v", tc.name, got)
		}
	}
	f.clock.advance(consent.DefaultOTPConfig.TTL)
	if _, ok := f.consents.CarriedChallenge(carried, matched.ID, session); ok {
		t.Error("an expired challenge is shown from what the browser carries")
	}
}

// Whatever a browser sends as its carried challenge, only a challenge the
// service carried for that session is accepted.
func FuzzCarriedChallenge(f *testing.F) {
	fx := setup(f, consent.DefaultOTPConfig)
	c := consent.Challenge{ID: "ch1", PendingID: "req", PartnerID: "bank", Session: fx.consents.SessionKey("s1"),
		Documents: []consent.DocumentType{"id_card"}, Days: 30, ExpiresAt: time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC), Version: 2, Lang: "kk"}
	genuine := fx.consents.CarryChallenge(c)
	f.Add(genuine)
	f.Add("")
	f.Add(".")
	f.Add(genuine[:len(genuine)-2])
	f.Fuzz(func(t *testing.T, carried string) {
		got, ok := fx.consents.CarriedChallenge(carried, "ch1", "s1")
		// Only a seal made by the service opens, so whatever is accepted is
		// the challenge as carried (each seal has a nonce of its own: a
		// worker's genuine carrier is not the seed's).
		if ok && (got.ID != "ch1" || got.PendingID != "req" || got.PartnerID != "bank" || got.Days != 30 ||
			!slices.Equal(got.Documents, c.Documents) || got.Version != c.Version || got.Lang != c.Lang) {
			t.Fatalf("accepted %q as %+v", carried, got)
		}
	})
}

// readCounter counts the challenges read from the store.
type readCounter struct {
	*memory.Store
	reads *atomic.Int32
}

func (r readCounter) GetChallenge(ctx context.Context, id string) (consent.Challenge, error) {
	r.reads.Add(1)
	return r.Store.GetChallenge(ctx, id)
}

// The code of the challenge the browser carried back is settled without
// reading the challenge: a right one approves, a wrong one (a decoy's
// too) counts a try. Every other answer reads it and is answered as it is
// without what the browser carried.
func TestApproveFromTheCarriedChallenge(t *testing.T) {
	const session = "browser"
	docs := []consent.DocumentType{"id_card"}
	for _, tc := range []struct {
		name   string
		iin    consent.IIN
		phone  consent.Phone
		answer func(f *fixture, r *consent.ApproveRequest, code string) // changes the right answer
		check  func(t *testing.T, g consent.Grant, err error)
		read   bool
	}{
		{name: "the right code", iin: aidar, phone: aidarPhone, check: func(t *testing.T, g consent.Grant, err error) {
			if err != nil || g.Citizen != aidar || !slices.Equal(g.Holders, []consent.IIN{aidar}) || !slices.Equal(g.Documents, docs) ||
				g.Method != consent.MethodSMS || g.Status != consent.GrantActive || g.ExpiresAt.Sub(g.CreatedAt) != 30*24*time.Hour {
				t.Errorf("approved %+v, %v", g, err)
			}
		}},
		{name: "a wrong code", iin: aidar, phone: aidarPhone,
			answer: func(_ *fixture, r *consent.ApproveRequest, code string) { r.Code = wrong(code) },
			check:  wantAttemptsLeft(consent.DefaultOTPConfig.MaxAttempts - 1)},
		{name: "a decoy's", iin: aidar, phone: aigerimTel,
			answer: func(_ *fixture, r *consent.ApproveRequest, _ string) { r.Code = "123456" },
			check:  wantAttemptsLeft(consent.DefaultOTPConfig.MaxAttempts - 1)},
		{name: "a representative's", iin: aigerim, phone: aigerimTel, read: true, check: wantErr(consent.ErrChooseHolders)},
		{name: "a representative's wrong code", iin: aigerim, phone: aigerimTel, // as long as a decoy's
			answer: func(_ *fixture, r *consent.ApproveRequest, code string) { r.Code = wrong(code) },
			check:  wantAttemptsLeft(consent.DefaultOTPConfig.MaxAttempts - 1)},
		{name: "another selection", iin: aidar, phone: aidarPhone, read: true,
			answer: func(_ *fixture, r *consent.ApproveRequest, _ string) { r.Days = 7 },
			check:  wantErr(consent.ErrSelectionChanged)},
		{name: "another session's", iin: aidar, phone: aidarPhone, read: true,
			answer: func(_ *fixture, r *consent.ApproveRequest, _ string) { r.Session = "another browser" },
			check:  wantErr(consent.ErrUnknownChallenge)},
		{name: "another request's", iin: aidar, phone: aidarPhone, read: true,
			answer: func(_ *fixture, r *consent.ApproveRequest, _ string) { r.PendingID = "another" },
			check:  wantErr(consent.ErrUnknownChallenge)},
		{name: "expired", iin: aidar, phone: aidarPhone, read: true,
			answer: func(f *fixture, _ *consent.ApproveRequest, _ string) { f.clock.advance(consent.DefaultOTPConfig.TTL) },
			check:  wantErr(consent.ErrCodeExpired)},
		{name: "carried before a try was counted", iin: aidar, phone: aidarPhone, read: true,
			answer: func(f *fixture, r *consent.ApproveRequest, code string) {
				wrongFirst := *r
				wrongFirst.Code, wrongFirst.Carried = wrong(code), nil
				if _, err := f.consents.Approve(context.Background(), wrongFirst); err == nil {
					panic("a wrong code approved")
				}
			},
			check: func(t *testing.T, g consent.Grant, err error) {
				if err != nil || g.Citizen != aidar {
					t.Errorf("the right code after a wrong one: %+v, %v", g, err)
				}
			}},
		{name: "used", iin: aidar, phone: aidarPhone, read: true,
			answer: func(f *fixture, r *consent.ApproveRequest, _ string) {
				if _, err := f.consents.Approve(context.Background(), *r); err != nil {
					panic(err)
				}
			},
			check: wantErr(consent.ErrCodeUsed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, consent.DefaultOTPConfig)
			reads := &atomic.Int32{}
			svc := must(consent.NewService(consent.ServiceConfig{Store: readCounter{f.store, reads}, Registry: f.registry, SMS: f.sms,
				Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))), Key: []byte("0123456789abcdef0123456789abcdef"),
				OTP: consent.DefaultOTPConfig, Terms: must(consent.ShippedTerms("2026-11-01")), Outbox: f.outbox, Observer: f.observed,
				Now: f.clock.now, Log: f.log}))
			ctx := context.Background()
			ch, err := svc.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: session, IIN: string(tc.iin),
				Phone: string(tc.phone), Documents: docs, Days: 30, Lang: "en", ClientIP: "198.51.100.9"})
			if err != nil {
				t.Fatal(err)
			}
			code := "000000" // a decoy's: none was sent
			if ch.Citizen != "" {
				code = codeIn(t, f.sms.waitSent(t, 1)[0].text)
			}
			carried, ok := svc.CarriedChallenge(svc.CarryChallenge(ch), ch.ID, session)
			if !ok {
				t.Fatal("the challenge is not carried")
			}
			r := consent.ApproveRequest{ChallengeID: ch.ID, PendingID: "req", Session: session, Code: code, Documents: docs, Days: 30,
				Carried: &carried}
			if tc.answer != nil {
				tc.answer(f, &r, code)
			}
			reads.Store(0)
			g, err := svc.Approve(ctx, r)
			tc.check(t, g, err)
			if n := reads.Load(); (n > 0) != tc.read {
				t.Errorf("the challenge was read %d times", n)
			}
			if wrong := new(consent.WrongCodeError); errors.As(err, &wrong) {
				if stored, err := f.store.GetChallenge(ctx, ch.ID); err != nil || stored.Attempts != 1 || stored.Status != consent.ChallengePending {
					t.Errorf("after a wrong code the challenge is %+v, %v", stored, err)
				}
			}
			if err == nil {
				if stored, err := f.store.GetChallenge(ctx, ch.ID); err != nil || stored.Status != consent.ChallengeUsed {
					t.Errorf("the challenge is %s, %v", stored.Status, err)
				}
				if got, err := f.store.GetGrant(ctx, g.ID); err != nil || got.Citizen != aidar {
					t.Errorf("the grant stored: %+v, %v", got, err)
				}
			}
		})
	}
}

// wrong is another six digits than code.
func wrong(code string) string {
	if code == "000001" {
		return "000002"
	}
	return "000001"
}

func wantErr(want error) func(*testing.T, consent.Grant, error) {
	return func(t *testing.T, _ consent.Grant, err error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("answered %v, want %v", err, want)
		}
	}
}

func wantAttemptsLeft(n int) func(*testing.T, consent.Grant, error) {
	return func(t *testing.T, _ consent.Grant, err error) {
		t.Helper()
		var wrong *consent.WrongCodeError
		if !errors.As(err, &wrong) || wrong.AttemptsLeft != n {
			t.Errorf("answered %v, want a wrong code with %d tries left", err, n)
		}
	}
}
