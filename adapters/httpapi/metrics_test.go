package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The statements a store sends under a request's context are counted
// against its route; those sent outside any request are not.
func TestStatementsByRoute(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m := NewMetrics()
	r := gin.New()
	r.Use(m.middleware())
	r.GET("/grants/:id", func(c *gin.Context) {
		for range 3 {
			m.StoreOperation(c.Request.Context(), "select grants", 0)
		}
		c.Status(http.StatusNoContent)
	})
	m.StoreOperation(t.Context(), "update outbox", 0)
	for range 2 {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/grants/g1", nil))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if want := `kelisim_http_statements_total{method="GET",route="/grants/:id"} 6`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s:\n%s", want, grep(string(body), "kelisim_http_statements_total"))
	}
}

func grep(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Readiness is exported as each check found it; the codes' events and the
// deliveries' outcomes are counted as heard, every code event there from
// the start.
func TestReadinessAndEventsExported(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m := NewMetrics()
	var down error
	r := gin.New()
	r.GET("/readyz", ready(func(context.Context) error { return down }, m, slog.New(slog.DiscardHandler)))
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if body := scrape(); !hasLine(body, `kelisim_otp_events_total{event="send_failed"} 0`) || !hasLine(body, "kelisim_ready 0") ||
		!hasLine(body, `kelisim_deliveries_total{kind="notice.ended",outcome="dead"} 0`) {
		t.Errorf("before any event or check:\n%s", grep(body, "kelisim_"))
	}
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/readyz", nil))
	m.OTP(consent.OTPSendFailed)
	m.Delivery(consent.KindGrantDocuments, consent.DeliveryDead)
	body := scrape()
	for _, want := range []string{"kelisim_ready 1", `kelisim_otp_events_total{event="send_failed"} 1`,
		`kelisim_deliveries_total{kind="grant.documents",outcome="dead"} 1`} {
		if !hasLine(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(body, "kelisim_"))
		}
	}
	down = errors.New("store unreachable")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if body := scrape(); rec.Code != http.StatusServiceUnavailable || !hasLine(body, "kelisim_ready 0") {
		t.Errorf("after a failed check (%d):\n%s", rec.Code, grep(body, "kelisim_ready"))
	}
}

// hasLine reports whether the metrics page has the sample line (not a
// HELP text that happens to contain it).
func hasLine(body, line string) bool {
	return slices.Contains(strings.Split(body, "\n"), line)
}
