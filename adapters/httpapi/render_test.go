package httpapi

import (
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// A page goes out whole, with its length; a template that fails halfway
// answers 500 and sends none of what it had written.
func TestPagesRenderWhole(t *testing.T) {
	tmpl := template.Must(template.New("").Parse(`{{define "ok.html"}}<p>{{.Text}}</p>{{end}}` +
		`{{define "broken.html"}}<p>begun</p>{{.Missing}}{{end}}`))
	p := &pages{tmpl: tmpl, log: slog.New(slog.DiscardHandler)}
	long := strings.Repeat("x", 64<<10) // past any buffer that would flush early
	for _, tc := range []struct {
		name, page string
		status     int
		body       string
	}{
		{"a page", "ok.html", http.StatusOK, "<p>" + long + "</p>"},
		{"a failed page", "broken.html", http.StatusInternalServerError, "Internal Server Error"},
		{"the next page", "ok.html", http.StatusOK, "<p>" + long + "</p>"},
	} {
		r := gin.New()
		r.GET("/", func(c *gin.Context) { p.render(c, http.StatusOK, tc.page, struct{ Text string }{long}) })
		srv := httptest.NewServer(r)
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body {
			t.Errorf("%s: %d %.40q, want %d %.40q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		if resp.ContentLength != int64(len(body)) || resp.TransferEncoding != nil || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("%s: length %d, transfer encoding %v, for %d bytes", tc.name, resp.ContentLength, resp.TransferEncoding, len(body))
		}
	}
}
