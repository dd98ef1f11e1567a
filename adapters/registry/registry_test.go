package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
)

func TestDemoRegistry(t *testing.T) {
	d, err := NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aidar, err := d.Citizen(ctx, "850315300128")
	if err != nil || aidar.Phone != "+77011234567" || aidar.Name != "Aidar Serikov" {
		t.Errorf("Aidar: %+v %v", aidar, err)
	}
	aigerim, _ := d.Citizen(ctx, "900101400559")
	if len(aigerim.Represents) != 1 || aigerim.Represents[0] != "150612601232" {
		t.Errorf("Aigerim represents %v", aigerim.Represents)
	}
	minor, _ := d.Citizen(ctx, "150612601232")
	if minor.Phone != "" {
		t.Errorf("the minor has a phone: %q", minor.Phone)
	}
	if _, err := d.Citizen(ctx, "068709861195"); !errors.Is(err, consent.ErrUnknownCitizen) {
		t.Errorf("unknown IIN: %v", err)
	}
}

// certPair writes a self-signed certificate and key for cn to dir.
func certPair(t *testing.T, dir, cn string, usage x509.ExtKeyUsage) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// The HTTP registry speaks mutual TLS, maps 404 to an unknown citizen, and
// retries a failing registry before saying it is unavailable.
func TestHTTPRegistry(t *testing.T) {
	dir := t.TempDir()
	clientCert, clientKey, client := certPair(t, dir, "gateway", x509.ExtKeyUsageClientAuth)
	var failures atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "gateway" {
			http.Error(w, "who are you", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/v1/citizens/850315300128":
			_, _ = w.Write([]byte(`{"iin":"850315300128","name":"Aidar Serikov","phone":"+77011234567"}`))
		case "/v1/citizens/900101400559":
			if failures.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(`{"iin":"900101400559","name":"Aigerim Nurlanova","phone":"+77029876543","represents":["150612601232"]}`))
		case "/v1/citizens/150612601232":
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(client.Certificate[0])
	pool.AddCert(leaf)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	reg, err := NewHTTP(HTTPConfig{BaseURL: srv.URL + "/v1", Timeout: 2 * time.Second, Retries: 2,
		CertFile: clientCert, KeyFile: clientKey, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if c, err := reg.Citizen(ctx, "850315300128"); err != nil || c.Phone != "+77011234567" {
		t.Errorf("Aidar: %+v %v", c, err)
	}
	if c, err := reg.Citizen(ctx, "900101400559"); err != nil || len(c.Represents) != 1 {
		t.Errorf("after two failures and a retry: %+v %v", c, err)
	}
	if _, err := reg.Citizen(ctx, "068709861195"); !errors.Is(err, consent.ErrUnknownCitizen) {
		t.Errorf("404: %v", err)
	}
	if _, err := reg.Citizen(ctx, "150612601232"); !errors.Is(err, consent.ErrRegistryUnavailable) {
		t.Errorf("500: %v", err)
	}
	// Without the client certificate the registry refuses the gateway.
	anon, _ := NewHTTP(HTTPConfig{BaseURL: srv.URL + "/v1", Timeout: 2 * time.Second, CAFile: caFile})
	if _, err := anon.Citizen(ctx, "850315300128"); !errors.Is(err, consent.ErrRegistryUnavailable) {
		t.Errorf("without a client certificate: %v", err)
	}
}

func TestSyntheticPopulation(t *testing.T) {
	seen := map[consent.IIN]bool{}
	phones := map[consent.Phone]bool{}
	for i := range 20000 {
		iin, phone := Synthetic(i)
		if _, err := consent.ParseIIN(string(iin)); err != nil {
			t.Fatalf("citizen %d: %v", i, err)
		}
		if seen[iin] || phones[phone] {
			t.Fatalf("citizen %d repeats %s or %s", i, iin, phone)
		}
		seen[iin], phones[phone] = true, true
	}
	if a, _ := Synthetic(42); a != func() consent.IIN { b, _ := Synthetic(42); return b }() {
		t.Error("not deterministic")
	}
}
