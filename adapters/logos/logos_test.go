package logos_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/logos"
)

// Only a small raster image that answers 200 passes.
func TestOnlySmallRasterImagesPass(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/logo.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG"))
		case "/page.html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<script>"))
		case "/logo.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			w.Write([]byte("<svg/>"))
		case "/huge.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte(strings.Repeat("x", logos.MaxBytes+1)))
		case "/slow.png":
			time.Sleep(300 * time.Millisecond)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := logos.New(100 * time.Millisecond)
	ct, body, err := f.Fetch(context.Background(), srv.URL+"/logo.png")
	if err != nil || ct != "image/png" || string(body) != "\x89PNG" {
		t.Fatalf("a PNG: %q %q %v", ct, body, err)
	}
	for _, path := range []string{"/page.html", "/logo.svg", "/huge.png", "/missing.png"} {
		if _, _, err := f.Fetch(context.Background(), srv.URL+path); !errors.Is(err, logos.ErrNotALogo) {
			t.Errorf("%s: %v, want ErrNotALogo", path, err)
		}
	}
	if _, _, err := f.Fetch(context.Background(), srv.URL+"/slow.png"); err == nil {
		t.Error("a server slower than the timeout")
	}
}
