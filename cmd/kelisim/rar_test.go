package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/oauth"
)

// A partner asks with authorization_details (RFC 9396) instead of document
// scopes: the page shows what it asks and why, the citizen narrows it, and
// the tokens carry what was granted, in the same form. What the partner
// may not have is refused before the citizen is asked.
func TestRichAuthorizationRequest(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil) // id_card and driver_license
	details := `[{"type":"kelisim_documents","documents":["id_card","driver_license"],"purpose":"A car loan","duration_days":7}]`
	verifier, challenge := pkce()
	q := authQuery(p, "openid", challenge)
	q.Set("authorization_details", details)
	b := newBrowser(t, g)
	page := b.consentTo(oauth.PathAuthorize + "?" + q.Encode())
	if !strings.Contains(page.body, "A car loan") || !strings.Contains(page.body, `value="driver_license"`) || !strings.Contains(page.body, `value="7"`) ||
		strings.Contains(page.body, `value="30"`) {
		t.Fatalf("the consent page does not show what was asked:\n%s", page.body)
	}
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}, "doc": {"id_card"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}, "doc": {"id_card"}})
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v (%s)\n%s", resp.StatusCode, tok, back.location, g.logs.String())
	}
	granted, _ := tok["authorization_details"].([]any)
	if len(granted) != 1 {
		t.Fatalf("granted details: %v", tok)
	}
	d := granted[0].(map[string]any)
	if d["type"] != "kelisim_documents" || len(d["documents"].([]any)) != 1 || d["documents"].([]any)[0] != "id_card" ||
		d["holder"] != "self" || d["duration_days"] != float64(7) || d["purpose"] != "A car loan" {
		t.Errorf("granted detail: %v", d)
	}
	in := g.introspect(t, p, tok["access_token"].(string))
	if ad, _ := in["authorization_details"].([]any); len(ad) != 1 {
		t.Errorf("introspection: %v", in)
	}
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Errorf("fetching the granted document: %d", resp.StatusCode)
	}
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/driver_license"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("fetching the unticked document: %d", resp.StatusCode)
	}

	// Outside the partner's allowance, or malformed: refused at once.
	for _, bad := range []string{
		`[{"type":"kelisim_documents","documents":["diploma"]}]`,
		`[{"type":"kelisim_documents","documents":["id_card"],"holder":"not-an-iin"}]`,
		`[{"type":"account_information"}]`,
	} {
		_, challenge := pkce()
		q := authQuery(p, "openid", challenge)
		q.Set("authorization_details", bad)
		if loc := g.authorize(t, q); loc.Query().Get("error") != "invalid_authorization_details" {
			t.Errorf("%s: %s", bad, loc)
		}
		par := authQuery(p, "openid", challenge)
		par.Set("authorization_details", bad)
		if resp, body := g.form(t, oauth.PathPAR, p, par); resp.StatusCode != 400 || body["error"] != "invalid_authorization_details" {
			t.Errorf("PAR %s: %d %v", bad, resp.StatusCode, body)
		}
	}
	_, disco := g.do(t, "GET", oauth.PathDiscovery, nil, nil)
	if types, _ := disco["authorization_details_types_supported"].([]any); len(types) != 1 || types[0] != "kelisim_documents" {
		t.Errorf("discovery: %v", disco["authorization_details_types_supported"])
	}
}
