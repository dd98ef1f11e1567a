package consent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// A consent's code logs nobody in to the settings, even from the browser
// session that asked for it; the log-in's own code does.
func TestLogInTakesOnlyALogInChallenge(t *testing.T) {
	f := setup(t, consent.DefaultOTPConfig)
	ctx := context.Background()
	ch, err := f.consents.Start(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "browser",
		IIN: string(aidar), Phone: string(aidarPhone), Documents: []consent.DocumentType{"id_card"}, Days: 30, Lang: "en", ClientIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.sms.waitSent(t, 1)[0].text)
	if _, _, err := f.settings.LogIn(ctx, ch.ID, "browser", code); !errors.Is(err, consent.ErrUnknownChallenge) {
		t.Errorf("log-in with a consent's code: %v, want ErrUnknownChallenge", err)
	}
	login, err := f.settings.StartLogin(ctx, "browser", string(aidar), string(aidarPhone), "en", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, iin, err := f.settings.LogIn(ctx, login.ID, "browser", codeIn(t, f.sms.waitSent(t, 2)[1].text)); err != nil || iin != aidar {
		t.Errorf("log-in with its own code: %s, %v", iin, err)
	}
}
