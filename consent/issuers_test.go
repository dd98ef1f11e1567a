package consent_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

// forgedSource answers with documents whose issuer signature is not the
// document's: tampered with, or signed for another holder.
type forgedSource struct {
	fakeRegistry
	forge func(d consent.Document) string
}

func (s forgedSource) Documents(ctx context.Context, iin consent.IIN) ([]consent.Document, error) {
	docs, _ := s.fakeRegistry.Documents(ctx, iin)
	for i := range docs {
		docs[i].Signed = s.forge(docs[i])
	}
	return docs, nil
}

// A document whose issuer signature does not verify is refused at fetch
// with its own error, logged without the holder, and shown to its holder
// only as unverified.
func TestIssuerSignatureOnEveryRead(t *testing.T) {
	ctx := context.Background()
	for name, forge := range map[string]func(consent.Document) string{
		"tampered with": func(d consent.Document) string { d.Number = "tampered"; return fakeSign(d) },
		"another holder's": func(d consent.Document) string {
			d.Holder.IIN = aigerim
			return fakeSign(d)
		},
		"unsigned": func(consent.Document) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			f := setup(t, consent.DefaultOTPConfig)
			g := consentTo(t, f, "bank", 30)
			var logs bytes.Buffer
			lib := must(consent.NewLibrary(consent.LibraryConfig{Issuer: "https://kelisim.test", DocumentTTL: time.Minute,
				Registry: f.registry, Source: forgedSource{f.registry, forge}, Issuers: fakeIssuers{}, Signer: fakeSigner{},
				Pairwise: func(a, b string) string { return a + "/" + b }, Now: f.clock.now, Log: slog.New(slog.NewTextHandler(&logs, nil))}))
			fetcher := must(consent.NewFetcher(consent.FetcherConfig{Grants: f.store, Partners: f.partners, Library: lib, Access: f.store, Now: f.clock.now}))
			_, err := fetcher.Fetch(ctx, tokenOf(g), "id_card", "")
			if !errors.Is(err, consent.ErrIssuerSignature) || consent.KindOf(err) != consent.KindUntrusted {
				t.Fatalf("fetch: %v", err)
			}
			if !strings.Contains(logs.String(), "document refused") || strings.Contains(logs.String(), string(aidar)) {
				t.Errorf("log: %s", logs.String())
			}
			if h := uses(f.store.ListAccess(ctx, aidar, consent.HistoryCursor{}, 10)); len(h) != 0 {
				t.Errorf("a refused document is in the history: %+v", h)
			}
			own, err := lib.Own(ctx, aidar)
			if err != nil || len(own) != 1 || own[0].Err == nil || own[0].Signature.Verified {
				t.Errorf("the holder's own view: %+v %v", own, err)
			}
			if sh, _ := lib.Sharable(ctx, aidar); len(sh) != 0 {
				t.Errorf("an unverified document may be shared: %+v", sh)
			}
		})
	}
	f := setup(t, consent.DefaultOTPConfig)
	g := consentTo(t, f, "bank", 30)
	if _, err := f.fetcher.Fetch(ctx, tokenOf(g), "id_card", ""); err != nil {
		t.Errorf("a document that verifies: %v", err)
	}
}
