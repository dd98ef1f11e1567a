package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
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
