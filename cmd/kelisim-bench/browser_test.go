package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// The tool's browser sends back the cookies the gateway set, by path, and
// forgets one the gateway deletes, as the cookie jar it replaced did.
func TestBrowserKeepsCookiesAsABrowserDoes(t *testing.T) {
	seen := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen[r.Method+" "+r.URL.Path] = r.Header.Get("Cookie") + " from " + r.Header.Get("X-Forwarded-For")
		switch r.URL.Path {
		case "/consent/p1":
			http.SetCookie(w, &http.Cookie{Name: "req", Value: "a", Path: "/consent/p1"})
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s", Path: "/consent"})
			http.Redirect(w, r, "/consent/p1/otp", http.StatusSeeOther)
		case "/consent/p1/otp":
			_ = r.ParseForm()
			http.SetCookie(w, &http.Cookie{Name: "req", Value: "", Path: "/consent/p1", MaxAge: -1})
			_, _ = w.Write([]byte("otp " + r.PostForm.Get("otp")))
		}
	}))
	defer srv.Close()
	conn, _ := newRawConn(srv.URL)
	defer conn.close()
	br := &browser{conn: conn, host: hostOf(srv.URL), base: srv.URL, addr: "10.0.0.7"}
	ctx := context.Background()
	status, loc, _, err := br.do(ctx, "GET", srv.URL+"/consent/p1", nil)
	if err != nil || status != http.StatusSeeOther || loc != "/consent/p1/otp" {
		t.Fatalf("%d %q %v", status, loc, err)
	}
	status, _, page, err := br.do(ctx, "POST", loc, url.Values{"otp": {"123456"}})
	if err != nil || status != http.StatusOK || page != "otp 123456" {
		t.Fatalf("%d %q %v", status, page, err)
	}
	if _, _, _, err := br.do(ctx, "GET", "/elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	_, _, _, _ = br.do(ctx, "GET", "/consent/p1/otp", nil)
	want := map[string]string{
		"GET /consent/p1":      " from 10.0.0.7",
		"POST /consent/p1/otp": "req=a; session=s from 10.0.0.7",
		"GET /consent/p1/otp":  "session=s from 10.0.0.7", // the POST's answer deleted the request's cookie
		"GET /elsewhere":       " from 10.0.0.7",
	}
	for path, w := range want {
		if seen[path] != w {
			t.Errorf("%s got %q, want %q", path, seen[path], w)
		}
	}
}
