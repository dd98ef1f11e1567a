package signature_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/signature"
	"github.com/kelisim/kelisim/adapters/signature/sigtest"
	"github.com/kelisim/kelisim/consent"
)

const iin = "850315300128"

var text = []byte("Kelisim: log in to my settings\nChallenge: abc\n")

func checker(t testing.TB, ca *sigtest.CA, crls ...string) *signature.Checker {
	t.Helper()
	caFile, crlFile := ca.Files(t.TempDir())
	if crls == nil {
		crls = []string{crlFile}
	}
	c, err := signature.New(context.Background(), signature.Config{CAFile: caFile, CRLs: crls, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	ca := sigtest.New(t, "Test National CA")
	good := ca.Issue(iin, sigtest.Options{})
	revoked := ca.Issue(iin, sigtest.Options{})
	ca.Revoke(revoked)
	c := checker(t, ca)

	for name, signed := range map[string]string{
		"attached": good.Sign(t, text, false),
		"detached": good.Sign(t, text, true),
		"as PEM":   "-----BEGIN CMS-----\n" + good.Sign(t, text, true) + "\n-----END CMS-----\n",
	} {
		got, err := c.Verify(ctx, text, []byte(signed))
		if err != nil || got != iin {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}

	stranger := sigtest.New(t, "Another CA").Issue(iin, sigtest.Options{})
	for name, signed := range map[string]string{
		"a revoked certificate":      revoked.Sign(t, text, false),
		"another text":               good.Sign(t, []byte("Kelisim: log in\nChallenge: other\n"), false),
		"another CA's certificate":   stranger.Sign(t, text, false),
		"an expired certificate":     ca.Issue(iin, sigtest.Options{NotAfter: time.Now().Add(-time.Minute)}).SignBare(t, text),
		"a certificate not to sign":  ca.Issue(iin, sigtest.Options{Usage: x509.KeyUsageKeyEncipherment}).Sign(t, text, false),
		"a certificate with no IIN":  ca.Issue(iin, sigtest.Options{Serial: "BIN123456789012"}).Sign(t, text, false),
		"a certificate with a wrong": ca.Issue(iin, sigtest.Options{Serial: "IIN850315300127"}).Sign(t, text, false),
		"not a signature":            "hello",
		"nothing":                    "",
	} {
		if got, err := c.Verify(ctx, text, []byte(signed)); !errors.Is(err, consent.ErrBadSignature) {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	if _, err := c.Verify(ctx, text, []byte(revoked.Sign(t, text, false))); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("a revoked certificate's refusal says why: %v", err)
	}
}

// A revocation list is read again from its URL: a certificate revoked
// since is refused after the refresh; a list that cannot be fetched keeps
// the previous one; a list its CA did not sign is not taken.
func TestRevocationListRefresh(t *testing.T) {
	ctx := context.Background()
	ca := sigtest.New(t, "Test National CA")
	cit := ca.Issue(iin, sigtest.Options{})
	var number atomic.Int64
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(ca.CRL(number.Add(1)))
	}))
	defer srv.Close()
	c := checker(t, ca, srv.URL+"/ca.crl")
	signed := []byte(cit.Sign(t, text, false))
	if _, err := c.Verify(ctx, text, signed); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	ca.Revoke(cit)
	if _, err := c.Verify(ctx, text, signed); err != nil {
		t.Errorf("revoked since the list was read, before a refresh: %v", err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx, text, signed); !errors.Is(err, consent.ErrBadSignature) {
		t.Errorf("after the refresh: %v", err)
	}
	down.Store(true)
	if err := c.Refresh(ctx); err == nil {
		t.Error("a list that could not be fetched was not reported")
	}
	if _, err := c.Verify(ctx, text, signed); !errors.Is(err, consent.ErrBadSignature) {
		t.Errorf("the previous list was dropped: %v", err)
	}

	other := sigtest.New(t, "Unlisted CA")
	caFile, _ := other.Files(t.TempDir())
	_, crlOfFirst := ca.Files(t.TempDir())
	if _, err := signature.New(ctx, signature.Config{CAFile: caFile, CRLs: []string{crlOfFirst}, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil {
		t.Error("a revocation list of another CA was taken")
	}
}

// A certificate of an intermediate CA that its root revoked is refused,
// though the intermediate is in the CA file; the root's list and the
// intermediate's are both needed.
func TestIntermediateRevoked(t *testing.T) {
	ctx := context.Background()
	root := sigtest.New(t, "Test Root CA")
	sub := root.Sub("Test Issuing CA")
	cit := sub.Issue(iin, sigtest.Options{})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "cas.pem")
	if err := os.WriteFile(caFile, sigtest.PEM(root, sub), 0o600); err != nil {
		t.Fatal(err)
	}
	rootCRL, subCRL := filepath.Join(dir, "root.crl"), filepath.Join(dir, "sub.crl")
	root.WriteCRL(rootCRL, 1)
	sub.WriteCRL(subCRL, 1)
	open := func(crls ...string) *signature.Checker {
		c, err := signature.New(ctx, signature.Config{CAFile: caFile, CRLs: crls, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signed := []byte(cit.Sign(t, text, false))
	if got, err := open(rootCRL, subCRL).Verify(ctx, text, signed); err != nil || got != iin {
		t.Fatalf("a good chain: %q %v", got, err)
	}
	if _, err := open(subCRL).Verify(ctx, text, signed); !errors.Is(err, consent.ErrBadSignature) {
		t.Errorf("without the root's list: %v", err)
	}
	root.RevokeCA(sub)
	root.WriteCRL(rootCRL, 2)
	if _, err := open(rootCRL, subCRL).Verify(ctx, text, signed); !errors.Is(err, consent.ErrBadSignature) {
		t.Errorf("the issuing CA revoked by its root: %v", err)
	}
	if _, err := signature.New(ctx, signature.Config{CAFile: caFile, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil {
		t.Error("a checker without any revocation list")
	}
}
