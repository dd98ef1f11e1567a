package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/oauth"
)

// A partner change a replica has not heard of — made here behind every
// replica's back, as if its notification were lost — holds at once on
// that replica: it issues nothing to a suspended partner, takes only the
// new secret, and sends nothing to a removed redirect URI.
func TestPartnerChangesHoldOnEveryReplica(t *testing.T) {
	db := pgtest.URL(t)
	a := startOn(t, db, approve{citizen: citizenIIN})
	b := startOn(t, db, approve{citizen: citizenIIN})
	p := a.onboard(t, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	if resp, body := b.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %d %v", resp.StatusCode, body) // b now holds the partner in its cache
	}
	_, challenge := pkce()
	conn := dbConn(t, a)
	change := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(context.Background(), sql, append([]any{p.id}, args...)...); err != nil {
			t.Fatal(err)
		}
	}

	change(`UPDATE partners SET status = 'suspended', version = version + 1 WHERE id = $1`)
	if resp, body := b.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("a suspended partner on the replica that did not hear: %d %v", resp.StatusCode, body)
	}
	if resp, _ := b.do(t, "GET", oauth.PathAuthorize+"?"+authQuery(p, docScope, challenge).Encode(), nil, nil); strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Error("a suspended partner got a code")
	}
	change(`UPDATE partners SET status = 'active', version = version + 1 WHERE id = $1`)

	secrets, _ := oauth.NewSecrets([]byte(testSecret))
	rotated := partner{id: p.id, secret: "a-new-secret-the-operator-just-issued-0123", redirect: p.redirect}
	change(`UPDATE partners SET secret_hash = $2, previous_secret_hash = NULL, version = version + 1 WHERE id = $1`,
		secrets.HashSecret([]byte(rotated.secret)))
	if resp, body := b.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old secret after a rotation without grace: %d %v", resp.StatusCode, body)
	}
	if resp, body := b.form(t, oauth.PathToken, rotated, cc); resp.StatusCode != http.StatusOK {
		t.Errorf("the new secret right after the rotation: %d %v", resp.StatusCode, body)
	}

	const moved = "http://127.0.0.1:7777/moved"
	change(`UPDATE partners SET registration = jsonb_set(registration, '{redirect_uris}', $2::jsonb), version = version + 1 WHERE id = $1`, `["`+moved+`"]`)
	resp, _ := b.do(t, "GET", oauth.PathAuthorize+"?"+authQuery(rotated, docScope, challenge).Encode(), nil, nil)
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, p.redirect) {
		t.Errorf("sent to a removed redirect URI: %s", loc)
	}
	rotated.redirect = moved
	if loc := b.authorize(t, authQuery(rotated, docScope, challenge)); loc.Query().Get("code") == "" {
		t.Errorf("the new redirect URI right after the change: %s", loc)
	}
}

// Through the admin API on one replica, suspension and resumption hold on
// the other from the next request, trial after trial, however far behind
// its notification is.
func TestSuspensionHoldsOnTheOtherReplicaAtOnce(t *testing.T) {
	db := pgtest.URL(t)
	a := startOn(t, db, approve{citizen: citizenIIN})
	b := startOn(t, db, approve{citizen: citizenIIN})
	p := a.onboard(t, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for trial := range 30 {
		if resp, body := b.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusOK {
			t.Fatalf("trial %d, active: %d %v", trial, resp.StatusCode, body)
		}
		if resp, _ := a.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/suspend", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("suspend: %d", resp.StatusCode)
		}
		if resp, body := b.form(t, oauth.PathToken, p, cc); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("trial %d: the other replica issued to a suspended partner: %d %v", trial, resp.StatusCode, body)
		}
		if resp, _ := a.adminDo(t, "POST", "/admin/v1/partners/"+p.id+"/resume", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("resume: %d", resp.StatusCode)
		}
	}
}

// A replica whose cache lags a harmless change (a new name) decides again
// with the partner as the store has it, and everything still works: a
// code exchange, a pushed request, client credentials.
func TestLaggingReplicaServesAHarmlessChange(t *testing.T) {
	db := pgtest.URL(t)
	a := startOn(t, db, approve{citizen: citizenIIN})
	b := startOn(t, db, approve{citizen: citizenIIN})
	p := a.onboard(t, nil)
	verifier, challenge := pkce()
	loc := a.authorize(t, authQuery(p, docScope, challenge))
	_, parChallenge := pkce()
	resp, par := a.form(t, oauth.PathPAR, p, authQuery(p, docScope, parChallenge))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR: %d %v", resp.StatusCode, par)
	}
	conn := dbConn(t, a)
	// lag leaves b's cache holding the partner as it was before a rename
	// nobody announced.
	lag := func(name string) {
		t.Helper()
		if resp, body := b.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("warm-up: %d %v", resp.StatusCode, body)
		}
		if _, err := conn.Exec(context.Background(), `UPDATE partners SET registration = jsonb_set(registration, '{client_name}', to_jsonb($2::text)),
			version = version + 1 WHERE id = $1`, p.id, name); err != nil {
			t.Fatal(err)
		}
	}
	lag("Renamed Bank")
	resp, tok := b.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("code exchange on the lagging replica: %d %v", resp.StatusCode, tok)
	}
	lag("Renamed Bank 2")
	resp, _ = b.do(t, "GET", oauth.PathAuthorize+"?"+url.Values{"client_id": {p.id}, "request_uri": {par["request_uri"].(string)}}.Encode(), nil, nil)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "code=") {
		t.Errorf("pushed request on the lagging replica: %d %s", resp.StatusCode, loc)
	}
	lag("Renamed Bank 3")
	if resp, body := b.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("client credentials on the lagging replica: %d %v", resp.StatusCode, body)
	}
}

// A code asked for without redirect_uri (allowed: the partner has one) is
// exchanged without it, as RFC 6749 §4.1.3 lets the partner do.
func TestCodeExchangeWithoutRedirectURI(t *testing.T) {
	g := start(t)
	p := g.onboard(t, nil)
	verifier, challenge := pkce()
	q := authQuery(p, "documents:id_card", challenge)
	q.Del("redirect_uri")
	loc := g.authorize(t, q)
	resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("exchange without redirect_uri: %d %v", resp.StatusCode, body)
	}
}

// The consent pages' answer decides on the partner as the replica's cache
// has it and stores the code only while the store has the partner so: a
// change the replica has not heard of, made between the code page and the
// answer, makes it answer again with the partner read from the store. A
// harmless change still gives the partner its code, which it exchanges;
// a removed redirect URI gets nothing sent to it, and the grant approved
// on the stale partner is not kept.
func TestConsentAnswerOnALaggingReplica(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	conn := dbConn(t, g)
	grants := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM grants WHERE partner_id = $1`, p.id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// answer walks a consent up to its code page, runs change behind the
	// replica's back, and answers with the right code.
	answer := func(change string, args ...any) (page, string) {
		t.Helper()
		verifier, challenge := pkce()
		b := newBrowser(t, g)
		consentPage := b.consentTo(g.base + "/oauth2/auth?" + authQuery(p, consentDocs, challenge).Encode())
		otpPage := b.follow(b.submit(consentPage, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
		if _, err := conn.Exec(context.Background(), change, append([]any{p.id}, args...)...); err != nil {
			t.Fatal(err)
		}
		return b.submit(otpPage, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}}), verifier
	}

	back, verifier := answer(`UPDATE partners SET registration = jsonb_set(registration, '{client_name}', '"Renamed Bank"'),
		version = version + 1 WHERE id = $1`)
	loc, _ := url.Parse(back.location)
	if !strings.HasPrefix(back.location, p.redirect) || loc.Query().Get("code") == "" {
		t.Fatalf("after a harmless change: %d %s", back.status, back.location)
	}
	resp, body := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Errorf("the code issued after a harmless change: %d %v", resp.StatusCode, body)
	}
	if n := grants(); n != 1 {
		t.Errorf("%d grants after the first answer, want 1", n)
	}

	back, _ = answer(`UPDATE partners SET registration = jsonb_set(registration, '{redirect_uris}', '["http://127.0.0.1:7777/moved"]'),
		version = version + 1 WHERE id = $1`)
	if strings.HasPrefix(back.location, p.redirect) {
		t.Errorf("sent to a removed redirect URI: %d %s", back.status, back.location)
	}
	if n := grants(); n != 1 {
		t.Errorf("%d grants after the answer on a stale partner, want the first only", n)
	}
}
