package main

import (
	"maps"
	"net/url"
	"regexp"
	"strconv"
	"testing"
)

// A consent flow costs PostgreSQL 10 statements in its requests, counted
// by route:
//   - the authorization request 1: its address's count (the waiting
//     request itself joins the batch writer's next insert, shared with
//     the requests of the same moment);
//   - the consent page none: the browser carries the request;
//   - the start 2: the code's three limits, and the challenge;
//   - the code page none: the browser carries the challenge too;
//   - the answer 5, in two round trips: a transaction (begin with the
//     grant, with its challenge — carried back by the form and proved by
//     the code — used, and the grants it replaces; the code, with the
//     request used up, with the commit). The partner is the replica's: the
//     code is stored only while the partner is at the version read;
//   - the exchange 2: the code's records, then the tokens with the code
//     used.
//
// A citizen's second consent to the same partner also writes the end of
// the first grant to the history.
func TestConsentFlowStatements(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	flow := func() {
		t.Helper()
		b := newBrowser(t, g)
		verifier, challenge := pkce()
		consentPage := b.consentTo(g.base + "/oauth2/auth?" + authQuery(p, consentDocs, challenge).Encode())
		otpPage := b.follow(b.submit(consentPage, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
		back := b.submit(otpPage, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
		loc, _ := url.Parse(back.location)
		resp, body := g.form(t, "/oauth2/token", p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
		if resp.StatusCode != 200 || body["access_token"] == nil {
			t.Fatalf("the exchange: %d %v", resp.StatusCode, body)
		}
	}
	// The partner is read once, into the replica's cache.
	_, challenge := pkce()
	newBrowser(t, g).consentTo(g.base + "/oauth2/auth?" + authQuery(p, consentDocs, challenge).Encode())
	before := statementsByRoute(t, g)
	flow()
	after := statementsByRoute(t, g)
	got := map[string]int{}
	for route, n := range after {
		if d := n - before[route]; d > 0 {
			got[route] = d
		}
	}
	want := map[string]int{
		"GET /oauth2/auth":      1,
		"POST /consent/:id":     2,
		"POST /consent/:id/otp": 5,
		"POST /oauth2/token":    2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("statements by route: %v, want %v", got, want)
	}
}

var statementsLine = regexp.MustCompile(`(?m)^kelisim_http_statements_total\{method="([A-Z]+)",route="([^"]+)"\} ([0-9.e+]+)$`)

// statementsByRoute reads the statements the gateway counted per route.
func statementsByRoute(t *testing.T, g *gw) map[string]int {
	t.Helper()
	_, body := getBody(t, g.metrics+"/metrics")
	out := map[string]int{}
	for _, m := range statementsLine.FindAllStringSubmatch(string(body), -1) {
		n, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+" "+m[2]] = int(n)
	}
	return out
}
