package httpapi

import (
	"bytes"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
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

// Every message a page reads from the catalogue as a field
// ({{.L.Texts.id}}) is there, in every language: a missing one would read
// as nothing.
func TestPagesTextsInCatalogue(t *testing.T) {
	m := shippedMessages(t)
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	field := regexp.MustCompile(`\.L\.Texts\.([A-Za-z0-9_]+)`)
	read := 0
	for _, f := range files {
		src, err := fs.ReadFile(assets, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range field.FindAllStringSubmatch(string(src), -1) {
			read++
			for _, lang := range consent.Languages {
				if _, ok := m.For(lang).Texts[id[1]]; !ok {
					t.Errorf("%s reads %s, which %s does not have as a text without data", f, id[1], lang)
				}
			}
		}
	}
	if read < 50 {
		t.Errorf("the pages read %d texts: the pattern no longer matches them", read)
	}
}

// BenchmarkConsentPages renders the two pages of a consent flow, the
// consent page and the code page, as a flow does.
func BenchmarkConsentPages(b *testing.B) {
	m := shippedMessages(b)
	p := newPages(m, PageConfig{CSRFKey: []byte("key")}, "v1", slog.New(slog.DiscardHandler))
	l := m.For("ru")
	v := view{L: l, Lang: l.Lang, Title: l.T("page_title", nil), Action: "/consent/r1", CSRF: "token", Partner: "Bank",
		Intro: l.T("consent_intro", map[string]any{"Partner": "Bank"}), Purpose: "a loan", Terms: "v1", Expires: "12:00",
		Documents: []docOption{{Type: "id_card", Name: "ID", Checked: true}, {Type: "driving_licence", Name: "DL", Checked: true}},
		Days:      []dayOption{{Days: 30, Label: "30"}, {Days: 90, Label: "90", Selected: true}},
		LangLinks: langLinksOf("/consent/r1", l), Challenge: "c1", CanAnswer: true, CanResend: true}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		for _, page := range []string{"consent.html", "otp.html"} {
			buf.Reset()
			if err := p.tmpl.ExecuteTemplate(&buf, page, v); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func langLinksOf(path string, l *consent.Localizer) []langLink {
	var out []langLink
	for _, lang := range consent.Languages {
		out = append(out, langLink{Lang: lang, Label: l.T("lang_"+lang, nil), URL: path + "?lang=" + lang, Current: lang == l.Lang})
	}
	return out
}

// shippedMessages is the message catalogue the gateway ships.
func shippedMessages(tb testing.TB) *consent.Messages {
	tb.Helper()
	cat, err := consent.ShippedCatalogue()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := consent.NewMessages(cat)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
