package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/oauth"
)

// A partner reads the grant named in its token response and ends it, with
// a client_credentials token of its own, on either replica; the tokens of
// the grant stop at once everywhere; another partner learns nothing.
func TestGrantManagement(t *testing.T) {
	db := pgtestURL(t)
	a := startOn(t, db, httpapi.ConsentRedirect{})
	b := startOn(t, db, httpapi.ConsentRedirect{})
	p, other := a.onboard(t, nil), a.onboard(t, nil)
	tok := consentAs(t, a, p, aidarIIN, aidarPhone, "openid documents:id_card")
	grantID, _ := tok["grant_id"].(string)
	if grantID == "" {
		t.Fatalf("no grant_id in the token response: %v", tok)
	}
	cc := func(g *gw, as partner) string {
		_, body := g.form(t, oauth.PathToken, as, url.Values{"grant_type": {"client_credentials"}})
		return body["access_token"].(string)
	}
	call := func(g *gw, method, token string) (*http.Response, map[string]any) {
		return g.do(t, method, oauth.PathGrants+"/"+grantID, nil, http.Header{"Authorization": {"Bearer " + token}})
	}
	resp, got := call(b, "GET", cc(a, p))
	if resp.StatusCode != 200 || got["status"] != "active" || got["grant_id"] != grantID || got["terms_version"] == nil ||
		len(got["holders"].([]any)) != 1 || len(got["documents"].([]any)) != 1 {
		t.Fatalf("the partner reads its grant: %d %v", resp.StatusCode, got)
	}
	if resp, _ := call(b, "GET", cc(a, other)); resp.StatusCode != 404 {
		t.Errorf("another partner reads it: %d", resp.StatusCode)
	}
	if resp, _ := call(b, "DELETE", cc(a, other)); resp.StatusCode != 404 {
		t.Errorf("another partner ends it: %d", resp.StatusCode)
	}
	if resp, _ := call(b, "GET", ""); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	if resp, _ := a.api(t, tok["access_token"].(string), "/api/v1/documents"); resp.StatusCode != 200 {
		t.Fatalf("documents before the end: %d", resp.StatusCode)
	}
	if resp, _ := call(a, "DELETE", cc(b, p)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the partner ends its grant: %d", resp.StatusCode)
	}
	if resp, _ := b.api(t, tok["access_token"].(string), "/api/v1/documents"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("documents on the other replica after the end: %d", resp.StatusCode)
	}
	resp, got = call(b, "GET", cc(b, p))
	if resp.StatusCode != 200 || got["status"] != "revoked" || got["ended_by"] != "partner" {
		t.Errorf("the ended grant: %d %v", resp.StatusCode, got)
	}
	_, disco := a.do(t, "GET", oauth.PathDiscovery, nil, nil)
	if disco["grant_management_endpoint"] != a.base+oauth.PathGrants || disco["grant_management_action_required"] != false {
		t.Errorf("discovery: %v", disco)
	}
}
