package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/kelisim/kelisim/adapters/telemetry"
	"github.com/kelisim/kelisim/consent"
)

// HTTPConfig says how to reach a state registry over HTTPS.
type HTTPConfig struct {
	BaseURL  string        // GET {BaseURL}/citizens/{iin}
	Timeout  time.Duration // per attempt
	Retries  int           // retries of a failed GET, with backoff
	CertFile string        // client certificate (mutual TLS), optional
	KeyFile  string
	CAFile   string // CA of the registry's server certificate, optional
}

// HTTP asks a state information system for citizens and their documents:
//
//	GET {base}/citizens/{iin}
//	  200 {"iin": …, "name": …, "phone": "+77…", "represents": [IIN…]}
//	  404 when no citizen has the IIN
//	GET {base}/citizens/{iin}/documents
//	  200 {"name": …, "documents": [{"type", "number", "issued", "expires",
//	       "authority", "fields", "status", "signed"}…]}
//
// where signed is the document as its issuing authority signed it (see
// TrustList); the gateway delivers what the authority signed, never the
// unsigned fields.
//
// GETs are retried with backoff; anything but an answer is unavailability.
type HTTP struct {
	base   *url.URL
	client *http.Client
}

var (
	_ consent.Registry       = (*HTTP)(nil)
	_ consent.DocumentSource = (*HTTP)(nil)
)

// NewHTTP returns a registry client.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || !base.IsAbs() {
		return nil, fmt.Errorf("registry URL %q is not absolute", cfg.BaseURL)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("registry client certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("registry CA: no certificate in file")
		}
		tlsCfg.RootCAs = pool
	}
	rc := retryablehttp.NewClient()
	rc.RetryMax = cfg.Retries
	rc.RetryWaitMin, rc.RetryWaitMax = 100*time.Millisecond, 2*time.Second
	rc.Logger = nil
	rc.HTTPClient = &http.Client{Timeout: cfg.Timeout, Transport: telemetry.Transport(&http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 16}, "registry")}
	return &HTTP{base: base, client: rc.StandardClient()}, nil
}

// get fetches JSON into v; found is false on 404.
func (h *HTTP) get(ctx context.Context, v any, path ...string) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base.JoinPath(path...).String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		// The URL names the citizen: the error says what failed without
		// it, as it goes to logs and to the operator's delivery list.
		var ue *url.Error
		if errors.As(err, &ue) {
			return false, fmt.Errorf("GET %s: %w", redacted(path), ue.Err)
		}
		return false, fmt.Errorf("GET %s: request failed", redacted(path))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("status %d", resp.StatusCode)
	}
	return true, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// Documents implements consent.DocumentSource.
func (h *HTTP) Documents(ctx context.Context, iin consent.IIN) ([]consent.Document, error) {
	var r record
	found, err := h.get(ctx, &r, "citizens", string(iin), "documents")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", consent.ErrSourceUnavailable, err)
	}
	if !found {
		return nil, nil
	}
	out := make([]consent.Document, 0, len(r.Documents))
	for _, d := range r.Documents {
		cd, err := d.forHolder(consent.Holder{Name: r.Name, IIN: iin})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", consent.ErrSourceUnavailable, err)
		}
		out = append(out, cd)
	}
	return out, nil
}

// Citizen implements consent.Registry.
func (h *HTTP) Citizen(ctx context.Context, iin consent.IIN) (consent.Citizen, error) {
	var r record
	found, err := h.get(ctx, &r, "citizens", string(iin))
	if err != nil {
		return consent.Citizen{}, fmt.Errorf("%w: %v", consent.ErrRegistryUnavailable, err)
	}
	if !found {
		return consent.Citizen{}, consent.ErrUnknownCitizen
	}
	c, err := r.citizen()
	if err != nil || c.IIN != iin {
		return consent.Citizen{}, fmt.Errorf("%w: the registry answered for another citizen or badly", consent.ErrRegistryUnavailable)
	}
	return c, nil
}

// ReportError implements consent.ErrorReceiver:
//
//	POST {base}/reports {"tracking_number", "iin", "document", "description"}
//	2xx {"reference": "…"}
//
// The tracking number makes a retried POST recognisable to the system.
func (h *HTTP) ReportError(ctx context.Context, r consent.ErrorReport) (string, error) {
	body, err := json.Marshal(map[string]string{"tracking_number": r.ID, "iin": string(r.Citizen),
		"document": string(r.Document), "description": r.Description})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base.JoinPath("reports").String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.ID)
	resp, err := h.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", consent.ErrSourceUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%w: status %d", consent.ErrSourceUnavailable, resp.StatusCode)
	}
	var out struct {
		Reference string `json:"reference"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return "", fmt.Errorf("%w: %v", consent.ErrSourceUnavailable, err)
	}
	return out.Reference, nil
}

// redacted is a registry path as logs may show it: the IIN masked.
func redacted(path []string) string {
	out := make([]string, len(path))
	for i, p := range path {
		if iin, err := consent.ParseIIN(p); err == nil {
			p = iin.Masked()
		}
		out[i] = p
	}
	return "/" + strings.Join(out, "/")
}
