package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The public register lists every partner with its admission record, what
// it may ask for, when it was admitted and suspended, and its activity this
// month — as JSON and as a page in the reader's language, with nothing
// about any citizen.
func TestPublicRegister(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, map[string]any{"client_name#ru": "Демо Банк", "admission": map[string]string{"legal_name": "Demo Bank JSC",
		"decision": "Operator decision No. 17", "legal_basis": "Law on informatization, art. 35", "date": "2026-11-30"}})
	q := g.onboard(t, nil)
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card")
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusOK {
		t.Fatal("fetch")
	}
	br := newBrowser(t, g)
	br.revokeGrant(br.logIn(aidarIIN, aidarPhone), tok["grant_id"].(string))
	if resp, _ := g.adminDo(t, "POST", "/admin/v1/partners/"+q.id+"/suspend", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("suspend: %d", resp.StatusCode)
	}

	resp, raw := getBody(t, g.base+"/register.json")
	body := string(raw)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, aidarIIN) || strings.Contains(body, tok["id_token"].(string)[:20]) {
		t.Fatalf("the register: %d", resp.StatusCode)
	}
	_, reg := g.do(t, "GET", "/register.json", nil, nil)
	month := time.Now().UTC().Format("2006-01")
	found := 0
	for _, e := range reg["partners"].([]any) {
		entry := e.(map[string]any)
		activity := entry["activity"].([]any)
		now := activity[len(activity)-1].(map[string]any)
		switch entry["client_id"] {
		case p.id:
			found++
			adm := entry["admission"].(map[string]any)
			if adm["legal_name"] != "Demo Bank JSC" || adm["decision"] != "Operator decision No. 17" || entry["status"] != "active" ||
				len(activity) != 12 || now["month"] != month || now["active_grants"] != 1.0 || now["fetches"] != 1.0 || now["revocations"] != 1.0 {
				t.Errorf("the partner's entry: %v", entry)
			}
		case q.id:
			found++
			if entry["status"] != "suspended" || entry["suspended_at"] == nil || now["active_grants"] != 0.0 {
				t.Errorf("the suspended partner's entry: %v", entry)
			}
		}
	}
	if found != 2 {
		t.Errorf("the register lists %d of the two partners", found)
	}
	for lang, want := range map[string][]string{
		"ru": {"Открытый реестр партнёров", "Демо Банк", "Demo Bank JSC", "Operator decision No. 17; Law on informatization, art. 35 (2026-11-30)", "приостановлен с"},
		"kk": {"Серіктестердің ашық тізілімі", "Жеке куәлік"},
		"en": {"Public register of partners", "Documents received"},
	} {
		page := newBrowser(t, g).get("/register?lang=" + lang)
		for _, w := range want {
			if page.status != http.StatusOK || !strings.Contains(page.body, w) {
				t.Errorf("the register in %s lacks %q (%d)", lang, w, page.status)
			}
		}
	}
}
