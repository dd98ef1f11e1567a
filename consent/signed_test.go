package consent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/consent"
)

// fakeSignatures takes "signed-by:<iin>:<text>" as the signature of text
// by the certificate of iin.
type fakeSignatures struct{}

func (fakeSignatures) Verify(_ context.Context, text, signed []byte) (consent.IIN, error) {
	rest, ok := strings.CutPrefix(string(signed), "signed-by:")
	iin, body, _ := strings.Cut(rest, ":")
	if !ok || body != string(text) {
		return "", fmt.Errorf("%w: not of this text", consent.ErrBadSignature)
	}
	return consent.IIN(iin), nil
}

func sign(iin consent.IIN, c consent.Challenge) []byte {
	return []byte("signed-by:" + string(iin) + ":" + string(consent.SignedText(c)))
}

// Consent and log-in by digital signature: no code is sent and none
// verifies; only a signature of the challenge's text by the certificate of
// the IIN typed moves it on, once; the grant and its receipt say so.
func TestSignatureConsentAndLogIn(t *testing.T) {
	ctx := context.Background()
	f := setup(t, consent.DefaultOTPConfig)
	svc := must(consent.NewService(consent.ServiceConfig{Store: f.store, Registry: f.registry, SMS: f.sms,
		Messages: must(consent.NewMessages(must(consent.ShippedCatalogue()))), Key: []byte("0123456789abcdef0123456789abcdef"),
		OTP: consent.DefaultOTPConfig, Terms: must(consent.ShippedTerms("2026-11-01")), Outbox: f.outbox, Signatures: fakeSignatures{},
		Now: f.clock.now, Log: f.log}))
	if f.consents.SignaturesOffered() || !svc.SignaturesOffered() {
		t.Fatal("signatures offered only when a checker is configured")
	}
	if _, err := f.consents.StartSigned(ctx, consent.StartRequest{IIN: string(aidar)}); !errors.Is(err, consent.ErrNoSignatureCA) {
		t.Errorf("without a checker: %v", err)
	}
	docs := []consent.DocumentType{"id_card"}
	start := func(iin string) consent.Challenge {
		t.Helper()
		c, err := svc.StartSigned(ctx, consent.StartRequest{PendingID: "req", PartnerID: "bank", Session: "browser", IIN: iin,
			Documents: docs, Days: 30, Lang: "en", ClientIP: "10.1.1.1"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start(string(aidar))
	if f.sms.count() != 0 || c.Method != consent.MethodSignature {
		t.Fatalf("a signature challenge sent %d SMS: %+v", f.sms.count(), c)
	}
	text := string(consent.SignedText(c))
	for _, want := range []string{"I consent", "Partner: bank", "Documents: id_card", "Days: 30", "Challenge: " + c.ID} {
		if !strings.Contains(text, want) {
			t.Errorf("the signed text lacks %q:\n%s", want, text)
		}
	}
	if _, err := svc.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Code: "000000", Documents: docs, Days: 30}); !errors.Is(err, consent.ErrUnknownChallenge) {
		t.Errorf("a code on a challenge to sign: %v", err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "browser", sign(aigerim, c), docs, 30); !errors.Is(err, consent.ErrSignatureIIN) {
		t.Errorf("another IIN's certificate: %v", err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "browser", []byte("signed-by:"+string(aidar)+":something else"), docs, 30); !errors.Is(err, consent.ErrBadSignature) {
		t.Errorf("a signature of another text: %v", err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "browser", sign(aidar, c), []consent.DocumentType{"id_card", "diploma"}, 30); !errors.Is(err, consent.ErrSelectionChanged) {
		t.Errorf("a selection other than the one signed: %v", err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "another browser", sign(aidar, c), docs, 30); !errors.Is(err, consent.ErrUnknownChallenge) {
		t.Errorf("from another browser: %v", err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "browser", sign(aidar, c), docs, 30); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifySignature(ctx, c.ID, "browser", sign(aidar, c), docs, 30); !errors.Is(err, consent.ErrCodeUsed) {
		t.Errorf("the same signature twice: %v", err)
	}
	g, err := svc.Approve(ctx, consent.ApproveRequest{ChallengeID: c.ID, Session: "browser", Documents: docs, Days: 30, Purpose: "a loan"})
	if err != nil || g.Method != consent.MethodSignature {
		t.Fatalf("approve after the signature: %+v %v", g, err)
	}
	receipt, err := f.receipts.ForCitizen(ctx, aidar, g.ID)
	if err != nil || claimsOf(t, receipt)["collection_method"] != "digital-signature" {
		t.Errorf("the receipt's collection method: %v %v", claimsOf(t, receipt)["collection_method"], err)
	}

	// Nobody's IIN: the page answers the same, and no signature helps.
	decoy := start("880102300125")
	if _, err := svc.VerifySignature(ctx, decoy.ID, "browser", sign("880102300125", decoy), docs, 30); !errors.Is(err, consent.ErrSignatureIIN) {
		t.Errorf("an IIN the registry does not know: %v", err)
	}
}
