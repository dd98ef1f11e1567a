// Package sigtest is a certification authority for tests: it issues
// citizens' signing certificates (subject serialNumber "IIN" and the 12
// digits, as Kazakh ones), revokes them in a CRL, and signs texts as a
// citizen's signing app does (CMS).
package sigtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// CA is a test certification authority.
type CA struct {
	Cert    *x509.Certificate
	key     crypto.Signer
	serial  int64
	revoked []x509.RevocationListEntry
	t       testing.TB
}

// Sub makes an intermediate CA that ca issued.
func (ca *CA) Sub(name string) *CA {
	ca.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: name, Country: []string{"KZ"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key, serial: 1000, t: ca.t}
}

// RevokeCA puts the intermediate sub on ca's revocation list.
func (ca *CA) RevokeCA(sub *CA) {
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{SerialNumber: sub.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
}

// PEM is the certificates of cas, one after another.
func PEM(cas ...*CA) []byte {
	var out []byte
	for _, ca := range cas {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})...)
	}
	return out
}

// Citizen is a certificate the CA issued, with its key.
type Citizen struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// New makes a CA valid from an hour ago for ten years.
func New(t testing.TB, name string) *CA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Country: []string{"KZ"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key, serial: 100, t: t}
}

// Options change a citizen's certificate from a good one.
type Options struct {
	NotAfter time.Time     // zero: in a year
	Usage    x509.KeyUsage // zero: digital signature and non-repudiation
	Serial   string        // zero: "IIN" + iin
}

// Issue makes a signing certificate for iin.
func (ca *CA) Issue(iin string, o Options) Citizen {
	ca.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca.serial++
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	if o.Usage == 0 {
		o.Usage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	if o.Serial == "" {
		o.Serial = "IIN" + iin
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial),
		Subject:   pkix.Name{CommonName: "Test Citizen " + iin, SerialNumber: o.Serial, Country: []string{"KZ"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: o.NotAfter, KeyUsage: o.Usage,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return Citizen{Cert: cert, Key: key}
}

// Revoke puts c on the CA's revocation list.
func (ca *CA) Revoke(c Citizen) {
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{SerialNumber: c.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
}

// CRL is the CA's revocation list now, valid for a day, DER.
func (ca *CA) CRL(number int64) []byte {
	ca.t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour), RevokedCertificateEntries: ca.revoked}, ca.Cert, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

// Files writes the CA certificate (PEM) and its CRL into dir and returns
// their paths.
func (ca *CA) Files(dir string) (caFile, crlFile string) {
	ca.t.Helper()
	caFile, crlFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.crl")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	ca.WriteCRL(crlFile, 1)
	return caFile, crlFile
}

// WriteCRL writes the revocation list now to path.
func (ca *CA) WriteCRL(path string, number int64) {
	ca.t.Helper()
	if err := os.WriteFile(path, ca.CRL(number), 0o600); err != nil {
		ca.t.Fatal(err)
	}
}

// SignBare is text signed by c without signed attributes (so without a
// signing time): only the certificate's own validity dates it.
func (c Citizen) SignBare(t testing.TB, text []byte) string {
	t.Helper()
	sd, err := pkcs7.NewSignedData(text)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.SignWithoutAttr(c.Cert, c.Key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// Sign is text signed by c as a signing app does it: CMS SignedData with
// the certificate, base64; detached leaves the text out.
func (c Citizen) Sign(t testing.TB, text []byte, detached bool) string {
	t.Helper()
	sd, err := pkcs7.NewSignedData(text)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(c.Cert, c.Key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	if detached {
		sd.Detach()
	}
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}
