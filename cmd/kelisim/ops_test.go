package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/oauth"
)

// After a code flow, a refresh and a failed request, the logs hold no
// secret, token, code or IIN, and the metrics count what happened.
func TestLogsAndMetrics(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	tok := g.tokens(t, p, docScope)
	resp, rotated := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	g.form(t, oauth.PathToken, partner{id: p.id, secret: "wrong"}, url.Values{"grant_type": {"client_credentials"}})
	g.userinfo(t, tok["access_token"].(string))

	logs := g.logs.String()
	if !strings.Contains(logs, `"route":"/oauth2/token"`) || !strings.Contains(logs, `"request_id":`) {
		t.Fatalf("request lines missing from the logs:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"client secret": p.secret, "admin token": testAdminToken, "gateway secret": testSecret, "IIN": citizenIIN,
		"access token": tok["access_token"].(string), "refresh token": tok["refresh_token"].(string),
		"rotated refresh token": rotated["refresh_token"].(string), "ID token": tok["id_token"].(string),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}

	mresp, err := http.Get(g.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	body, _ := io.ReadAll(mresp.Body)
	for _, want := range []string{
		`kelisim_tokens_issued_total{grant_type="authorization_code"} 1`,
		`kelisim_tokens_issued_total{grant_type="refresh_token"} 1`,
		`kelisim_oauth_errors_total{endpoint="/oauth2/token",error="invalid_client"} 1`,
		`kelisim_http_request_duration_seconds_count{method="POST",route="/oauth2/token",status="200"} 2`,
		`kelisim_store_operation_duration_seconds_count{operation="insert oauth_records"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
