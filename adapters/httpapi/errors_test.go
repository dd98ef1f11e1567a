package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

var citizenToken = http.Header{"Authorization": {"Bearer citizen-token"}}

// Every kind of domain error gets one answer on every API: status, title,
// problem+json, no-store, and the headers its kind calls for. An internal
// error's cause is logged, never shown.
func TestErrorMapOnAPIs(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	for _, tt := range []struct {
		err          error
		status       int
		title        string
		retryAfter   string
		authenticate bool
		detail       string
	}{
		{consent.ErrNotGranted, 403, "Forbidden", "", false, "The grant does not cover this document."},
		{consent.ErrNoDocument, 404, "Not found", "", false, "The citizen has no such valid document."},
		{consent.ErrGrantEnded, 401, "Unauthorized", "", true, "The grant behind this token is no longer active."},
		{fmt.Errorf("%w: registry said 502 at http://10.0.0.5", consent.ErrSourceUnavailable), 503, "State system unavailable", "30", false, "The state system that holds this document does not answer."},
		{fmt.Errorf("read grant: %w", consent.ErrUnavailable), 503, "Service unavailable", "5", false, "The gateway cannot reach its store right now; try again shortly."},
		{&consent.RateLimitError{RetryAfter: 1500 * time.Millisecond}, 429, "Too many requests", "2", false, ""},
		{consent.ErrShareMaxed, 409, "Conflict", "", false, ""},
		{fmt.Errorf("%w: key kz-x not in the trust list", consent.ErrIssuerSignature), 502, "Document not verified", "", false,
			"The document's issuer signature does not verify, so the gateway does not deliver it."},
		{errors.New("pq: secret internal detail"), 500, "Internal error", "", false, "The gateway could not complete the request."},
	} {
		t.Run(tt.title+"/"+tt.err.Error(), func(t *testing.T) {
			g.fail(tt.err)
			resp, body := g.do(t, "GET", "/api/v1/documents/id_card", nil, citizenToken)
			var p struct {
				Type, Title, Detail, Instance string
				Status                        int
				RequestID                     string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tt.status || p.Status != tt.status || p.Title != tt.title || p.Type != "about:blank" ||
				p.Instance != "/api/v1/documents/id_card" || p.RequestID == "" {
				t.Errorf("answer %d %+v", resp.StatusCode, p)
			}
			if tt.detail != "" && p.Detail != tt.detail {
				t.Errorf("detail %q, want %q", p.Detail, tt.detail)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %q %q", ct, resp.Header.Get("Cache-Control"))
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != tt.authenticate {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if strings.Contains(body, "10.0.0.5") || strings.Contains(body, "secret internal") {
				t.Errorf("the body names what the error wraps: %s", body)
			}
		})
	}
	if !strings.Contains(g.logs.String(), "secret internal detail") {
		t.Error("the internal error's cause was not logged")
	}
}

// Invalid input names its fields; an error the store failed under is the
// store's, whatever the domain said.
func TestErrorMapFieldsAndStoreFailures(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	g.fail(&consent.InputError{Field: "description", Err: consent.ErrReportDescription})
	resp, body := g.do(t, "POST", "/api/v1/me/reports", strings.NewReader(`{"document":"id_card","description":"x"}`), citizenToken)
	if resp.StatusCode != 400 || !strings.Contains(body, `"errors":[{"field":"description"`) {
		t.Errorf("invalid report: %d %s", resp.StatusCode, body)
	}
	g.fail(&partners.InvalidError{Problems: []partners.FieldError{{Field: "redirect_uris", Message: "must use https"}}})
	resp, body = g.do(t, "POST", "/admin/v1/partners", strings.NewReader(`{"client_name":"Bank"}`), http.Header{"Authorization": {"Bearer admin-token"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `"field":"redirect_uris"`) {
		t.Errorf("invalid registration: %d %s", resp.StatusCode, body)
	}
	g.fail(partners.ErrNotFound)
	if resp, _ := g.do(t, "GET", "/admin/v1/partners/p9", nil, http.Header{"Authorization": {"Bearer admin-token"}}); resp.StatusCode != 404 {
		t.Errorf("unknown partner: %d", resp.StatusCode)
	}
	g.fail(partners.ErrConflict)
	if resp, _ := g.do(t, "POST", "/admin/v1/partners/p1/suspend", nil, http.Header{"Authorization": {"Bearer admin-token"}}); resp.StatusCode != 409 {
		t.Errorf("a concurrent change: %d", resp.StatusCode)
	}
}

// Pages answer the same kinds with the same statuses, in the citizen's
// language, with the message the error (or else its kind) names.
func TestErrorMapOnPages(t *testing.T) {
	g := newGateway(t, "https://kelisim.test")
	for _, tt := range []struct {
		err        error
		status     int
		msgID      string
		retryAfter string
	}{
		{fmt.Errorf("session: %w", consent.ErrUnavailable), 503, "err_unavailable", "5"},
		{consent.ErrRegistryUnavailable, 503, "err_registry_down", "30"},
		{errors.New("a fault"), 500, "err_internal", ""},
	} {
		g.fail(tt.err)
		resp, body := g.do(t, "GET", "/my/", nil, http.Header{"Accept-Language": {"en"}})
		if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter ||
			!strings.Contains(body, html.EscapeString(g.text(tt.msgID))) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%v: %d, Retry-After %q, want %d with %s", tt.err, resp.StatusCode, resp.Header.Get("Retry-After"), tt.status, tt.msgID)
		}
	}
	g.fail(nil)
	resp, body := g.do(t, "GET", "/consent/unknown", nil, http.Header{"Accept-Language": {"en"}})
	if resp.StatusCode != 404 || !strings.Contains(body, html.EscapeString(g.text("err_request_gone"))) {
		t.Errorf("an unknown request: %d", resp.StatusCode)
	}
}
