package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// grantServer is an OAuth server on the memory store with two partners,
// "bank" (allowed id cards and diplomas) and "shop", each holding one
// active grant of the same citizen, and "bank" an expired one too.
func grantServer(t *testing.T) (*oauth.Server, *memory.Store, *string) {
	t.Helper()
	st := memory.New()
	var id string
	var ps []partners.Partner
	for _, p := range []string{"bank", "shop"} {
		ps = append(ps, partners.Partner{ID: p, Registration: partners.Registration{ClientName: p, RedirectURIs: []string{"https://" + p + ".example/cb"},
			TokenEndpointAuthMethod: partners.AuthSecretBasic, Scope: "openid documents:id_card documents:diploma",
			Documents: []consent.DocumentType{"id_card", "diploma"}, Delivery: partners.DeliveryPull}})
	}
	srv := newTestServer(t, st, oauth.Config{Consent: waiting{&id}}, ps...)
	now := time.Now()
	for _, g := range []struct {
		id, partner string
		ends        time.Time
	}{{"g-bank", "bank", now.Add(time.Hour)}, {"g-shop", "shop", now.Add(time.Hour)}, {"g-old", "bank", now.Add(-time.Minute)}} {
		c := consent.Challenge{ID: "c-" + g.id, PartnerID: g.partner, Citizen: "850315300128", Status: consent.ChallengePending, Version: 1, ExpiresAt: now.Add(time.Minute)}
		if err := st.CreateChallenge(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		c.Status = consent.ChallengeUsed
		if err := st.ApproveChallenge(context.Background(), c, consent.Grant{ID: g.id, Citizen: "850315300128", PartnerID: g.partner,
			Documents: []consent.DocumentType{"id_card"}, ChallengeID: c.ID, Status: consent.GrantActive, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: g.ends}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return srv, st, &id
}

func bankRequest(extra url.Values) url.Values {
	q := url.Values{"response_type": {"code"}, "client_id": {"bank"}, "redirect_uri": {"https://bank.example/cb"},
		"scope": {"openid documents:diploma"}, "state": {"state-1234567890"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

// A request that changes a grant names one the partner holds, active,
// with merge or replace; anything else goes back to the partner with
// invalid_request or invalid_grant_id, at the authorization endpoint and at
// PAR alike, before the citizen is asked.
func TestGrantManagementParameters(t *testing.T) {
	srv, _, pending := grantServer(t)
	for _, tc := range []struct {
		name      string
		id, act   string
		wantError string
	}{
		{"merge", "g-bank", "merge", ""},
		{"replace", "g-bank", "replace", ""},
		{"an action without a grant", "", "merge", "invalid_request"},
		{"a grant without an action", "g-bank", "", "invalid_request"},
		{"an action the endpoint does not take", "g-bank", "revoke", "invalid_request"},
		{"an unknown grant", "g-nope", "merge", "invalid_grant_id"},
		{"another partner's grant", "g-shop", "merge", "invalid_grant_id"},
		{"an expired grant", "g-old", "replace", "invalid_grant_id"},
	} {
		extra := url.Values{}
		if tc.id != "" {
			extra.Set("grant_id", tc.id)
		}
		if tc.act != "" {
			extra.Set("grant_management_action", tc.act)
		}
		*pending = ""
		rec := httptest.NewRecorder()
		srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+bankRequest(extra).Encode(), nil))
		loc, _ := url.Parse(rec.Header().Get("Location"))
		switch {
		case tc.wantError == "" && (rec.Code != http.StatusAccepted || *pending == ""):
			t.Errorf("%s: %d %s, want the citizen asked", tc.name, rec.Code, rec.Header().Get("Location"))
		case tc.wantError != "" && (loc == nil || loc.Query().Get("error") != tc.wantError || *pending != ""):
			t.Errorf("%s: %d %s, want error %s at the partner", tc.name, rec.Code, rec.Header().Get("Location"), tc.wantError)
		}

		form := bankRequest(extra)
		req := httptest.NewRequest("POST", oauth.PathPAR, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bank", "s3cret")
		rec = httptest.NewRecorder()
		srv.PAR(rec, req)
		switch {
		case tc.wantError == "" && rec.Code != http.StatusCreated:
			t.Errorf("%s: PAR %d %s", tc.name, rec.Code, rec.Body)
		case tc.wantError != "" && (rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error":"`+tc.wantError+`"`)):
			t.Errorf("%s: PAR %d %s, want %s", tc.name, rec.Code, rec.Body, tc.wantError)
		}
	}
}

// The tokens of a merge carry the scopes the grant kept besides those
// asked again, while the partner is still allowed them; a scope neither
// asked nor kept, or kept but no longer allowed, is never granted.
func TestFinishGrantsWhatAMergeKept(t *testing.T) {
	srv, _, pending := grantServer(t)
	finish := func(kept []string, extra ...string) string {
		rec := httptest.NewRecorder()
		srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+bankRequest(url.Values{"grant_id": {"g-bank"}, "grant_management_action": {"merge"}}).Encode(), nil))
		rec = httptest.NewRecorder()
		err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/x/otp", nil), oauth.Pending{ID: *pending}, func(context.Context) (oauth.Decision, error) {
			return oauth.Decision{Allow: true, Citizen: "850315300128", GrantID: "g-bank", Kept: kept,
				Scopes: append([]string{"openid", "documents:id_card", "documents:diploma"}, extra...)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if loc.Query().Get("code") != "" {
			return "code"
		}
		return loc.Query().Get("error")
	}
	if got := finish([]string{"documents:id_card"}); got != "code" {
		t.Errorf("a merge that kept id_card: %s, want a code", got)
	}
	if got := finish(nil); got != "server_error" {
		t.Errorf("id_card neither asked nor kept: %s, want server_error", got)
	}
	if got := finish([]string{"documents:id_card", "documents:passport"}, "documents:passport"); got != "server_error" {
		t.Errorf("a kept scope the partner may no longer have: %s, want server_error", got)
	}
}
