package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// signDeletion signs a deletion confirmation with key.
func signDeletion(t *testing.T, key *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	sig, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := sig.CompactSerialize()
	return out
}

// A grant ends; its partner confirms, with a statement signed by its own
// registered key, what it deleted and what the law makes it keep. Until
// then the citizen reads "not yet confirmed" and the operator sees the
// confirmation overdue past the deadline; after, the citizen reads when,
// and what is kept and why. A statement signed by another key, or of
// another type, is refused.
func TestDeletionReceiptsEndToEnd(t *testing.T) {
	g := startWith(t, options{db: pgtestURL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_DELETION_DEADLINE": "1s", "KELISIM_UPKEEP_EVERY": "200ms"}})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bank-1", Algorithm: "ES256", Use: "sig"}}}
	p := g.onboard(t, map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "client_name#kk": "Демо Банк"})
	auth := func(form url.Values) url.Values {
		form.Set("client_id", p.id)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", clientAssertion(t, key, "bank-1", p.id, g.base, randomJTI()))
		return form
	}

	// A consent, exchanged with the partner's key.
	verifier, challenge := pkce()
	b := newBrowser(t, g)
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, "openid documents:id_card documents:driver_license", challenge).Encode())
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	_, tok := g.form(t, oauth.PathToken, partner{}, auth(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}}))
	grantID, _ := tok["grant_id"].(string)
	if grantID == "" {
		t.Fatalf("no grant: %v", tok)
	}

	home := newBrowser(t, g)
	settings := home.logIn(aidarIIN, aidarPhone)
	if res := home.revokeGrant(settings, grantID); res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.status)
	}
	if settings = home.get("/my/"); !strings.Contains(settings.body, "Демо Банк деректеріңізді жойғанын әлі растаған жоқ") {
		t.Errorf("the settings page does not say the deletion is not yet confirmed")
	}
	overdue := func() []any {
		_, body := g.adminDo(t, "GET", "/admin/v1/deletions/overdue", nil)
		list, _ := body["overdue"].([]any)
		return list
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(overdue()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if list := overdue(); len(list) != 1 || list[0].(map[string]any)["grant_id"] != grantID {
		t.Fatalf("overdue confirmations: %v", list)
	}
	metric := func(want string) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if _, m := getBody(t, g.metrics+"/metrics"); strings.Contains(string(m), "kelisim_deletion_confirmations_overdue "+want+"\n") {
				return true
			}
		}
		return false
	}
	if !metric("1") {
		t.Error("the overdue metric did not reach 1")
	}

	_, cc := g.form(t, oauth.PathToken, partner{}, auth(url.Values{"grant_type": {"client_credentials"}}))
	confirm := func(jws string) (*http.Response, map[string]any) {
		return g.do(t, "POST", oauth.PathGrants+"/"+grantID+"/deletion", strings.NewReader(jws),
			http.Header{"Authorization": {"Bearer " + cc["access_token"].(string)}, "Content-Type": {"application/jwt"}})
	}
	claims := map[string]any{"iss": p.id, "aud": g.base, "iat": time.Now().Unix(), "jti": randomJTI(), "grant_id": grantID,
		"deleted_at": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "deleted": []string{"id_card"},
		"retained": []map[string]string{{"document": "driver_license", "reason": "the loan file", "legal_basis": "AML law, art. 5", "until": "2031-12-31"}}}
	if resp, _ := confirm(signDeletion(t, stranger, "bank-1", consent.TypeDeletion, claims)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("signed by another key: %d", resp.StatusCode)
	}
	if resp, _ := confirm(signDeletion(t, key, "bank-1", "JWT", claims)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("of another type: %d", resp.StatusCode)
	}
	resp, held := confirm(signDeletion(t, key, "bank-1", consent.TypeDeletion, claims))
	if resp.StatusCode != http.StatusCreated || held["deletion"] == nil {
		t.Fatalf("the confirmation: %d %v", resp.StatusCode, held)
	}
	// The grant keeps the partner's statement as it signed it: it verifies
	// with the partner's public key alone.
	kept, _ := held["deletion"].(map[string]any)["confirmation"].(string)
	sig, err := jose.ParseSignedCompact(kept, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if payload, err := sig.Verify(&key.PublicKey); err != nil || !strings.Contains(string(payload), grantID) {
		t.Errorf("the kept confirmation does not verify with the partner's key: %v", err)
	}
	if resp, _ := confirm(signDeletion(t, key, "bank-1", consent.TypeDeletion, claims)); resp.StatusCode != http.StatusConflict {
		t.Errorf("a second confirmation: %d", resp.StatusCode)
	}
	settings = home.get("/my/")
	for _, want := range []string{"Демо Банк деректеріңізді", "жойғанын растады", "Заң бойынша сақталады", "the loan file", "AML law, art. 5", "2031-12-31"} {
		if !strings.Contains(settings.body, want) {
			t.Errorf("the settings page lacks %q after the confirmation", want)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(overdue()) != 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if list := overdue(); len(list) != 0 || !metric("0") {
		t.Errorf("still overdue after the confirmation: %v", list)
	}
}
