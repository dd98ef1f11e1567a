package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/adapters/registry"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// newTypeSetup is a gateway that knows one more document type from a data
// file, and a state system that holds one of them for the demo citizen,
// signed by an authority of its own that the trust list names.
func newTypeSetup(t *testing.T) *gw {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	types := write("types.json", `{"types": [{"type": "fishing_licence",
		"names": {"kk": "Балық аулау билеті", "ru": "Лицензия на рыбалку", "en": "Fishing licence"},
		"labels": {"waters": {"kk": "Су айдыны", "ru": "Водоём", "en": "Waters"}},
		"form": "forms/fishing_licence.html"}]}`)
	write("forms/fishing_licence.html", `<article class="form form-fishing">
  <header><h3>{{.Name}}</h3><span class="status status-{{.Status}}">{{.StatusLabel}}</span></header>
  <dl><dt>{{.Label "holder"}}</dt><dd>{{.Holder}}</dd><dt>{{.Label "waters"}}</dt><dd class="waters">{{.Field "waters"}}</dd>
  <dt>{{.Label "number"}}</dt><dd>{{.Number}}</dd></dl>
  <footer class="signature">{{if .Signature.Verified}}{{.T "form_sig_verified"}} {{.Signature.Authority}}{{else}}{{.T "form_sig_failed"}}{{end}}</footer>
</article>`)

	// The fisheries committee: a key of its own, in the trust list.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := jose.JSONWebKey{Key: key, KeyID: "kz-fish-2026", Algorithm: "ES256", Use: "sig"}
	demo, _ := registry.DemoTrustList()
	list := demo.Authorities()
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	list = append(list, consent.Authority{ID: "kz-fish", Name: "Fisheries Committee", JWKS: pub})
	raw, _ := json.Marshal(map[string]any{"authorities": list})
	trust := write("trust-list.json", string(raw))

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType("issued-document+jwt"))
	licence := consent.Document{Type: "fishing_licence", Number: "FL-2026-0042", Issued: "2026-05-01", Expires: "2027-04-30",
		Authority: "Fisheries Committee", Holder: consent.Holder{Name: "Aidar Serikov", IIN: aidarIIN}, Fields: map[string]string{"waters": "Kapchagay"}}
	payload, _ := json.Marshal(map[string]any{"iss": "kz-fish", "iat": time.Now().Unix(), "document": licence})
	jws, _ := signer.Sign(payload)
	signed, _ := jws.CompactSerialize()

	citizens, _ := registry.NewDemo()
	state := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iin, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/citizens/"), "/")
		c, err := citizens.Citizen(r.Context(), consent.IIN(iin))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			_ = json.NewEncoder(w).Encode(map[string]any{"iin": c.IIN, "name": c.Name, "phone": c.Phone})
			return
		}
		docs, _ := citizens.Documents(r.Context(), c.IIN)
		out := []map[string]any{}
		for _, d := range docs {
			out = append(out, map[string]any{"type": d.Type, "number": d.Number, "issued": d.Issued, "authority": d.Authority, "signed": d.Signed})
		}
		if c.IIN == aidarIIN {
			out = append(out, map[string]any{"type": "fishing_licence", "number": licence.Number, "issued": licence.Issued, "signed": signed})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": c.Name, "documents": out})
	}))
	t.Cleanup(state.Close)
	return startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, env: map[string]string{
		"KELISIM_DOCUMENT_TYPES_FILE": types, "KELISIM_TRUST_LIST": trust, "KELISIM_REGISTRY": "http", "KELISIM_REGISTRY_URL": state.URL}})
}

// A document type added by a data file works end to end: discovery lists
// its scope, a partner is admitted for it, the consent page names it in
// the citizen's language, and the partner fetches it with both signatures.
func TestNewDocumentTypeFromData(t *testing.T) {
	g := newTypeSetup(t)
	_, disco := g.do(t, "GET", oauth.PathDiscovery, nil, nil)
	if !strings.Contains(jsonString(disco["scopes_supported"]), `"documents:fishing_licence"`) {
		t.Errorf("discovery scopes: %v", disco["scopes_supported"])
	}
	if resp, body := g.adminDo(t, "POST", "/admin/v1/partners", map[string]any{"client_name": "Angler Bank", "redirect_uris": []string{"http://127.0.0.1:7777/callback"},
		"documents": []string{"trout_permit"}, "admission": testAdmission}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a type no file names: %d %v", resp.StatusCode, body)
	}
	p := g.onboard(t, map[string]any{"documents": []string{"fishing_licence"}})

	b := newBrowser(t, g)
	verifier, challenge := pkce()
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, "openid documents:fishing_licence", challenge).Encode())
	if !strings.Contains(page.body, "Балық аулау билеті") {
		t.Errorf("the consent page does not name the new type:\n%s", page.body)
	}
	tok := finishConsent(t, g, b, page, p, verifier)
	resp, body := g.api(t, tok["access_token"].(string), "/api/v1/documents/fishing_licence")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch: %d %s", resp.StatusCode, body)
	}
	doc, err := verifyDocument(g.base, p.id, string(body))
	if err != nil {
		t.Fatal(err)
	}
	if by, err := verifyIssued(g.base, doc); err != nil || by != "Fisheries Committee" {
		t.Errorf("the authority's signature: %q %v", by, err)
	}
	var d consent.Document
	_ = json.Unmarshal(doc, &d)
	if d.Type != "fishing_licence" || d.Fields["waters"] != "Kapchagay" || d.Status != consent.StatusValid {
		t.Errorf("the document: %+v", d)
	}

	// The citizen sees it in their documents, in its own display form.
	br := newBrowser(t, g)
	br.logIn(aidarIIN, aidarPhone)
	form := br.get("/my/documents/0/fishing_licence?lang=en")
	for _, want := range []string{`class="form form-fishing"`, "Fishing licence", "Waters", "Kapchagay", "FL-2026-0042", "issued by Fisheries Committee"} {
		if !strings.Contains(form.body, want) {
			t.Errorf("the display form lacks %q:\n%s", want, form.body)
		}
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// finishConsent answers a consent page as the demo citizen and returns the
// partner's tokens.
func finishConsent(t *testing.T, g *gw, b *browser, page page, p partner, verifier string) map[string]any {
	t.Helper()
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v\n%s", resp.StatusCode, tok, back.body)
	}
	return tok
}
