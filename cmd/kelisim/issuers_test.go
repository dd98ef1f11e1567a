package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/adapters/registry"
	"github.com/kelisim/kelisim/consent"
)

// demoTrustList writes the demo authorities' public keys as a trust list
// file and returns its path.
func demoTrustList(t *testing.T) string {
	t.Helper()
	trust, err := registry.DemoTrustList()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"authorities": trust.Authorities()})
	path := filepath.Join(t.TempDir(), "trust-list.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signingStateSystem serves the demo citizen's documents, signed by their
// authorities, over HTTP; tamper changes a document's signed payload
// after signing, as a compromised or broken system would.
func signingStateSystem(t *testing.T, tamper func(d *consent.Document)) string {
	t.Helper()
	demo, err := registry.NewDemo()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iin, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/citizens/"), "/")
		c, err := demo.Citizen(r.Context(), consent.IIN(iin))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			_ = json.NewEncoder(w).Encode(map[string]any{"iin": c.IIN, "name": c.Name, "phone": c.Phone})
			return
		}
		docs, _ := demo.Documents(r.Context(), c.IIN)
		var out []map[string]any
		for _, d := range docs {
			tamper(&d)
			out = append(out, map[string]any{"type": d.Type, "number": d.Number, "issued": d.Issued, "expires": d.Expires,
				"authority": d.Authority, "fields": d.Fields, "signed": d.Signed})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": c.Name, "documents": out})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Documents come signed by their issuing authority through the HTTP
// registry: one whose signed payload was changed in the state system is
// refused at fetch with a clear problem and logged (without the holder),
// never delivered; one that verifies reaches the partner, who checks both
// signatures with go-jose — the gateway's and, inside, the authority's.
func TestIssuerSignaturesEndToEnd(t *testing.T) {
	state := signingStateSystem(t, func(d *consent.Document) {
		if d.Type != "driver_license" {
			return
		}
		parts := strings.Split(d.Signed, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		changed := strings.Replace(string(payload), `"B, C"`, `"A, B, C, D, E"`, 1)
		d.Signed = parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(changed)) + "." + parts[2]
	})
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, env: map[string]string{
		"KELISIM_REGISTRY": "http", "KELISIM_REGISTRY_URL": state, "KELISIM_TRUST_LIST": demoTrustList(t)}})
	p := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card documents:driver_license")
	access := tok["access_token"].(string)

	resp, body := g.api(t, access, "/api/v1/documents/driver_license")
	var problem struct{ Title, Detail string }
	_ = json.Unmarshal(body, &problem)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" ||
		problem.Title != "Document not verified" || !strings.Contains(problem.Detail, "issuer signature") {
		t.Errorf("a tampered document: %d %s", resp.StatusCode, body)
	}
	logs := g.logs.String()
	if !strings.Contains(logs, "document refused") || !strings.Contains(logs, "kz-mia-2026") {
		t.Errorf("the refusal was not logged with its key:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "document refused") && strings.Contains(line, aidarIIN) {
			t.Errorf("the refusal names the holder: %s", line)
		}
	}

	resp, body = g.api(t, access, "/api/v1/documents/id_card")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a document that verifies: %d %s", resp.StatusCode, body)
	}
	doc, err := verifyDocument(g.base, p.id, string(body))
	if err != nil {
		t.Fatal(err)
	}
	by, err := verifyIssued(g.base, doc)
	if err != nil || by != "Ministry of Internal Affairs" {
		t.Errorf("the authority's signature inside: %q %v", by, err)
	}
}
