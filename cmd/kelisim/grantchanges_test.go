package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/oauth"
)

// changeConsent runs the consent path for a request with the extra
// parameters, as aidar, and returns the consent page shown and the token
// response.
func changeConsent(t *testing.T, g *gw, p partner, scope string, extra url.Values) (page, map[string]any) {
	t.Helper()
	verifier, challenge := pkce()
	q := authQuery(p, scope, challenge)
	for k, v := range extra {
		q[k] = v
	}
	b := newBrowser(t, g)
	first := b.consentTo(oauth.PathAuthorize + "?" + q.Encode() + "&ui_locales=en")
	otp := b.follow(b.submit(first, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v\n%s", resp.StatusCode, tok, back.body)
	}
	return first, tok
}

// A partner changes the grant it holds instead of stacking another: a
// merge adds a document under the same grant id (the page says what stays
// and what is added), a replacement rewrites it and ends the tokens of the
// grant as it was, and a plain new consent replaces it; on two replicas
// of one database, with each refusal a partner can meet.
func TestGrantChanges(t *testing.T) {
	db := pgtestURL(t)
	a := startOn(t, db, httpapi.ConsentRedirect{})
	b := startOn(t, db, httpapi.ConsentRedirect{})
	p := a.onboard(t, nil)
	first := consentAs(t, a, p, aidarIIN, aidarPhone, "openid documents:id_card")
	grantID := first["grant_id"].(string)
	grant := func(g *gw) map[string]any {
		_, cc := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}})
		_, body := g.do(t, "GET", oauth.PathGrants+"/"+grantID, nil, http.Header{"Authorization": {"Bearer " + cc["access_token"].(string)}})
		return body
	}
	works := func(g *gw, tok map[string]any) bool {
		resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents")
		return resp.StatusCode == http.StatusOK
	}

	// Merge, on the other replica: the driving licence joins the id card.
	page, merged := changeConsent(t, b, p, "openid documents:driver_license",
		url.Values{"grant_id": {grantID}, "grant_management_action": {"merge"}})
	if !strings.Contains(page.body, `class="change"`) || !strings.Contains(page.body, "already sees these documents") ||
		!strings.Contains(page.body, "Documents to add") || strings.Contains(page.body, `value="id_card"`) {
		t.Errorf("the merge's consent page does not say what stays and what is added:\n%s", page.body)
	}
	if merged["grant_id"] != grantID || !strings.Contains(merged["scope"].(string), "documents:id_card") ||
		!strings.Contains(merged["scope"].(string), "documents:driver_license") {
		t.Errorf("merged token: %v", merged)
	}
	if docs := grant(a)["documents"]; !slices.Equal(anyStrings(docs), []string{"id_card", "driver_license"}) {
		t.Errorf("the merged grant's documents: %v", docs)
	}
	if !works(a, first) || !works(a, merged) {
		t.Error("a token from before or after the merge stopped")
	}

	// Replace: only the driving licence; the tokens of the grant as it was end.
	page, replaced := changeConsent(t, a, p, "openid documents:driver_license",
		url.Values{"grant_id": {grantID}, "grant_management_action": {"replace"}})
	if !strings.Contains(page.body, "This replaces what") || !strings.Contains(page.body, "sees only what you allow below") {
		t.Errorf("the replacement's consent page does not say what changes:\n%s", page.body)
	}
	if replaced["grant_id"] != grantID || strings.Contains(replaced["scope"].(string), "documents:id_card") {
		t.Errorf("replacing token: %v", replaced)
	}
	if works(b, first) || works(b, merged) || !works(b, replaced) {
		t.Errorf("after the replacement: first %v, merged %v, new %v; want only the new token working", works(b, first), works(b, merged), works(b, replaced))
	}
	if docs := grant(b)["documents"]; !slices.Equal(anyStrings(docs), []string{"driver_license"}) {
		t.Errorf("the replaced grant's documents: %v", docs)
	}

	// A plain new consent replaces the grant rather than stacking beside it.
	_, fresh := changeConsent(t, b, p, "openid documents:id_card", nil)
	if fresh["grant_id"] == grantID || works(a, replaced) || !works(a, fresh) {
		t.Errorf("a new consent: grant %v (old %s), old token works %v", fresh["grant_id"], grantID, works(a, replaced))
	}
	if g := grant(a); g["status"] != "revoked" || g["ended_by"] != "replaced" {
		t.Errorf("the replaced grant: %v", g)
	}

	// Refusals, at the partner, before anybody is asked.
	_, challenge := pkce()
	for _, tc := range []struct {
		name, scope string
		extra       url.Values
		want        string
	}{
		{"a grant that has ended", "openid documents:id_card", url.Values{"grant_id": {grantID}, "grant_management_action": {"merge"}}, "invalid_grant_id"},
		{"a merge that adds a document the partner may not have", "openid documents:diploma",
			url.Values{"grant_id": {fresh["grant_id"].(string)}, "grant_management_action": {"merge"}}, "invalid_scope"},
		{"a merge that adds one by authorization_details", "openid",
			url.Values{"grant_id": {fresh["grant_id"].(string)}, "grant_management_action": {"merge"},
				"authorization_details": {`[{"type":"kelisim_documents","documents":["diploma"]}]`}}, "invalid_authorization_details"},
		{"an action without a grant", "openid documents:id_card", url.Values{"grant_management_action": {"replace"}}, "invalid_request"},
	} {
		q := authQuery(p, tc.scope, challenge)
		for k, v := range tc.extra {
			q[k] = v
		}
		if loc := a.authorize(t, q); loc.Query().Get("error") != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, loc, tc.want)
		}
	}

	// Another citizen cannot change aidar's grant: told so before a code is sent.
	_, challenge = pkce()
	q := authQuery(p, "openid documents:id_card", challenge)
	q.Set("grant_id", fresh["grant_id"].(string))
	q.Set("grant_management_action", "merge")
	br := newBrowser(t, a)
	start := br.submit(br.consentTo(oauth.PathAuthorize+"?"+q.Encode()+"&ui_locales=en"),
		url.Values{"iin": {aigerimIIN}, "phone": {aigerimTel}, "decision": {"start"}})
	if start.status != http.StatusBadRequest || !strings.Contains(start.body, "another person gave") {
		t.Errorf("another citizen: %d\n%s", start.status, start.body)
	}

	// The citizen's history tells each change.
	home := newBrowser(t, a).logIn(aidarIIN, aidarPhone)
	for _, want := range []string{"рұқсатын толықтырдыңыз", "рұқсатын ауыстырдыңыз", "бұрынғы рұқсатын ауыстырды"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("the history does not say %q", want)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
