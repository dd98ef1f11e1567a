// Package signature checks citizens' digital signatures: a CMS SignedData
// (PKCS #7, as the signing apps of the national certification authority
// produce) over a one-time challenge, by a certificate that chains to a
// configured CA, is valid, may sign, is not on its issuer's revocation list
// and names the citizen's IIN as Kazakh certificates do: subject
// serialNumber "IIN" followed by the 12 digits.
package signature

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/kelisim/kelisim/consent"
)

// Config is what a Checker is built from.
type Config struct {
	CAFile string   // PEM: the root (and intermediate) CA certificates trusted
	CRLs   []string // files or http(s) URLs of the CAs' revocation lists (DER or PEM)
	// Fetch reads a CRL URL; nil: an HTTP client with a 10 s timeout.
	Fetch func(ctx context.Context, url string) ([]byte, error)
	Now   func() time.Time
	Log   *slog.Logger
}

// Checker verifies signatures. Its revocation lists are refreshed by
// Refresh (Run calls it periodically); a list past its nextUpdate that
// cannot be refreshed fails every signature its CA issued: a stale list
// cannot say a certificate is still good.
type Checker struct {
	cfg   Config
	roots *x509.CertPool
	cas   []*x509.Certificate

	mu   sync.RWMutex
	crls map[string]*x509.RevocationList // by the issuer's raw subject
}

var _ consent.SignatureCheck = (*Checker)(nil)

// New reads the CA certificates and the revocation lists once.
func New(ctx context.Context, cfg Config) (*Checker, error) {
	raw, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("signature CA: %w", err)
	}
	c := &Checker{cfg: cfg, roots: x509.NewCertPool(), crls: map[string]*x509.RevocationList{}}
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signature CA: %w", err)
		}
		if !cert.IsCA {
			return nil, fmt.Errorf("signature CA: %s is not a CA certificate", cert.Subject)
		}
		c.roots.AddCert(cert)
		c.cas = append(c.cas, cert)
	}
	if len(c.cas) == 0 {
		return nil, errors.New("signature CA: no certificate in the file")
	}
	if len(cfg.CRLs) == 0 {
		return nil, errors.New("signature CA: a revocation list is needed for each CA: without one no certificate can be known good")
	}
	if c.cfg.Fetch == nil {
		client := &http.Client{Timeout: 10 * time.Second}
		c.cfg.Fetch = func(ctx context.Context, url string) ([]byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s answered %s", url, resp.Status)
			}
			return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		}
	}
	if err := c.Refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Refresh reads every revocation list again, keeping a list it cannot
// read or verify as it was. It returns the first problem met.
func (c *Checker) Refresh(ctx context.Context) error {
	var first error
	for _, src := range c.cfg.CRLs {
		crl, err := c.readCRL(ctx, src)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("revocation list %s: %w", src, err)
			}
			continue
		}
		c.mu.Lock()
		if old := c.crls[string(crl.RawIssuer)]; old == nil || crl.Number == nil || old.Number == nil || crl.Number.Cmp(old.Number) >= 0 {
			c.crls[string(crl.RawIssuer)] = crl
		}
		c.mu.Unlock()
	}
	return first
}

func (c *Checker) readCRL(ctx context.Context, src string) (*x509.RevocationList, error) {
	var raw []byte
	var err error
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		raw, err = c.cfg.Fetch(ctx, src)
	} else {
		raw, err = os.ReadFile(src)
	}
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(raw); b != nil {
		raw = b.Bytes
	}
	crl, err := x509.ParseRevocationList(raw)
	if err != nil {
		return nil, err
	}
	for _, ca := range c.cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			if err := crl.CheckSignatureFrom(ca); err != nil {
				return nil, fmt.Errorf("not signed by its CA: %w", err)
			}
			return crl, nil
		}
	}
	return nil, errors.New("issued by no configured CA")
}

// Run refreshes the revocation lists every interval until ctx ends.
func (c *Checker) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil {
				c.cfg.Log.WarnContext(ctx, "revocation list not refreshed; the previous one stays until its next update", "err", err)
			}
		}
	}
}

// Verify implements consent.SignatureCheck.
func (c *Checker) Verify(_ context.Context, challenge, signed []byte) (consent.IIN, error) {
	der, err := decode(signed)
	if err != nil {
		return "", bad("not a CMS signature: %v", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return "", bad("not a CMS signature: %v", err)
	}
	switch {
	case len(p7.Content) == 0:
		p7.Content = challenge // a detached signature
	case !bytes.Equal(p7.Content, challenge):
		return "", bad("it signs another text than this page's challenge")
	}
	if err := p7.Verify(); err != nil {
		return "", bad("the signature does not verify: %v", err)
	}
	leaf := p7.GetOnlySigner()
	if leaf == nil {
		return "", bad("one signer is needed")
	}
	now := c.cfg.Now()
	inter := x509.NewCertPool()
	for _, cert := range p7.Certificates {
		if cert != leaf {
			inter.AddCert(cert)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return "", bad("the certificate is not trusted now: %v", err)
	}
	if leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return "", bad("the certificate may not sign")
	}
	chain := c.toRoot(chains[0])
	for i := 0; i+1 < len(chain); i++ {
		if err := c.checkRevoked(chain[i], chain[i+1], now); err != nil {
			return "", err
		}
	}
	serial, ok := strings.CutPrefix(leaf.Subject.SerialNumber, "IIN")
	if !ok {
		return "", bad("the certificate names no IIN")
	}
	iin, err := consent.ParseIIN(serial)
	if err != nil {
		return "", bad("the certificate's IIN is not valid")
	}
	return iin, nil
}

// toRoot extends chain up to a self-signed CA of the file: an
// intermediate in the file is trusted as a root by x509, but its own
// issuer's list must still be checked for it.
func (c *Checker) toRoot(chain []*x509.Certificate) []*x509.Certificate {
	for range 8 {
		last := chain[len(chain)-1]
		if bytes.Equal(last.RawIssuer, last.RawSubject) {
			return chain
		}
		var up *x509.Certificate
		for _, ca := range c.cas {
			if bytes.Equal(ca.RawSubject, last.RawIssuer) && last.CheckSignatureFrom(ca) == nil {
				up = ca
			}
		}
		if up == nil {
			return chain
		}
		chain = append(chain, up)
	}
	return chain
}

// checkRevoked refuses cert when its issuer's list names it, and when
// there is no current list for its issuer.
func (c *Checker) checkRevoked(cert, issuer *x509.Certificate, now time.Time) error {
	c.mu.RLock()
	crl := c.crls[string(issuer.RawSubject)]
	c.mu.RUnlock()
	if crl == nil {
		return bad("no revocation list of %s", issuer.Subject.CommonName)
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return bad("the revocation list of %s is out of date", issuer.Subject.CommonName)
	}
	for _, r := range crl.RevokedCertificateEntries {
		if r.SerialNumber.Cmp(cert.SerialNumber) == 0 && !r.RevocationTime.After(now) {
			return bad("the certificate %s was revoked on %s", serialHex(cert.SerialNumber), r.RevocationTime.Format(time.DateOnly))
		}
	}
	return nil
}

func serialHex(n *big.Int) string { return n.Text(16) }

// decode reads a signature as pasted or uploaded: PEM, base64 or DER.
func decode(in []byte) ([]byte, error) {
	in = bytes.TrimSpace(in)
	if b, _ := pem.Decode(in); b != nil {
		return b.Bytes, nil
	}
	if len(in) > 0 && in[0] == 0x30 {
		return in, nil // DER
	}
	s := strings.Join(strings.Fields(string(in)), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if der, err := enc.DecodeString(s); err == nil {
			return der, nil
		}
	}
	return nil, errors.New("neither PEM, base64 nor DER")
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", consent.ErrBadSignature, fmt.Sprintf(format, args...))
}
