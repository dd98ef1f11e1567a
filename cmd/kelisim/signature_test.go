package main

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/adapters/signature/sigtest"
	"github.com/kelisim/kelisim/oauth"
)

var toSignRE = regexp.MustCompile(`(?s)<pre id="to-sign" class="to-sign">(.*?)</pre>`)

// toSign is the text a signing page asks to sign.
func toSign(t *testing.T, p page) []byte {
	t.Helper()
	m := toSignRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no text to sign (%d):\n%s", p.status, p.body)
	}
	return []byte(html.UnescapeString(m[1]))
}

// signatureGateway runs a gateway that takes digital signatures of a test
// CA, which has issued the demo citizen a good certificate and a revoked
// one.
func signatureGateway(t *testing.T) (g *gw, good, revoked sigtest.Citizen) {
	t.Helper()
	ca := sigtest.New(t, "Test National CA")
	good = ca.Issue(aidarIIN, sigtest.Options{})
	revoked = ca.Issue(aidarIIN, sigtest.Options{})
	ca.Revoke(revoked)
	caFile, crlFile := ca.Files(t.TempDir())
	g = startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_SIGNATURE_CA": caFile, "KELISIM_SIGNATURE_CRL": crlFile}})
	return g, good, revoked
}

// upload posts a signing page's form with the signature as a file.
func (b *browser) upload(p page, signature string) page {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, h := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		_ = w.WriteField(h[1], html.UnescapeString(h[2]))
	}
	for _, c := range checkRE.FindAllStringSubmatch(p.body, -1) {
		if c[2] != "" {
			_ = w.WriteField("doc", c[1])
		}
	}
	for _, d := range daysRE.FindAllStringSubmatch(p.body, -1) {
		if d[2] != "" {
			_ = w.WriteField("days", d[1])
		}
	}
	_ = w.WriteField("decision", "allow")
	fw, _ := w.CreateFormFile("signature_file", "consent.p7s")
	_, _ = io.WriteString(fw, signature)
	_ = w.Close()
	action := html.UnescapeString(actionRE.FindStringSubmatch(p.body)[1])
	req, _ := http.NewRequest("POST", b.g.base+action, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(raw)}
}

// A citizen consents by digital signature instead of an SMS code: no code
// is sent; the signature of the page's text by a revoked certificate is
// refused in the citizen's language, by a good one it makes the grant,
// which (and its receipt) says how it was given.
func TestConsentBySignature(t *testing.T) {
	g, good, revoked := signatureGateway(t)
	p := g.onboard(t, nil)
	b := newBrowser(t, g)
	verifier, challenge := pkce()
	consentPage := b.consentTo("/oauth2/auth?" + authQuery(p, "openid documents:id_card", challenge).Encode())
	if !strings.Contains(consentPage.body, `id="sign-instead"`) {
		t.Fatalf("the consent page offers no signature:\n%s", consentPage.body)
	}
	signPage := b.follow(b.submit(consentPage, url.Values{"iin": {aidarIIN}, "decision": {"sign"}}))
	text := toSign(t, signPage)
	if !strings.Contains(string(text), "Partner: "+p.id) || !strings.Contains(string(text), "Documents: id_card") {
		t.Errorf("the text to sign:\n%s", text)
	}
	refused := b.submit(signPage, url.Values{"signature": {revoked.Sign(t, text, true)}, "decision": {"allow"}})
	if refused.status != http.StatusBadRequest || !strings.Contains(refused.body, "Қолтаңбаңыз қабылданбады") {
		t.Errorf("a revoked certificate: %d\n%s", refused.status, refused.body)
	}
	back := b.upload(signPage, good.Sign(t, text, false))
	loc, _ := url.Parse(back.location)
	if back.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("after signing: %d %s\n%s", back.status, back.location, back.body)
	}
	if n := g.sms.count(); n != 0 {
		t.Errorf("%d SMS codes sent for a consent by signature", n)
	}
	resp, tok := g.form(t, "/oauth2/token", p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, tok)
	}
	grantID := g.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)
	var method string
	if err := dbConn(t, g).QueryRow(t.Context(), `SELECT method FROM grants WHERE id = $1`, grantID).Scan(&method); err != nil || method != "digital-signature" {
		t.Errorf("the grant's method: %q %v", method, err)
	}
	_, cc := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"client_credentials"}})
	_, held := g.do(t, "GET", oauth.PathGrants+"/"+grantID, nil, http.Header{"Authorization": {"Bearer " + cc["access_token"].(string)}})
	r, _ := held["receipt"].(string)
	if r == "" {
		t.Fatalf("no receipt: %v", held)
	}
	if claims, _ := verify(t, g, r); claims["collection_method"] != "digital-signature" {
		t.Errorf("the receipt's collection method: %v", claims["collection_method"])
	}
}

// The settings' log-in by digital signature in a real browser, pasting the
// signature: a revoked certificate is refused, a good one logs in.
func TestBrowserSignatureLogIn(t *testing.T) {
	ctx := chromium(t)
	g, good, revoked := signatureGateway(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	signWith := func(c sigtest.Citizen) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(g.base+"/my/?lang=en"),
			chromedp.WaitVisible(css(`#sig-iin`)),
			chromedp.SendKeys(css(`#sig-iin`), aidarIIN),
			chromedp.Click(css(`#login-signature button`)),
			chromedp.WaitVisible(css(`#to-sign`)),
		); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(css(`#to-sign`)))
		if err != nil || !strings.Contains(text, "log in to my settings") {
			t.Fatalf("text to sign %q %v", text, err)
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n" // the page's text ends with its newline; the DOM's text may not
		}
		if err := chromedp.Do(ctx,
			chromedp.SetValue(css(`#signature`), c.Sign(t, []byte(text), true)),
			chromedp.Click(css(`button[value=allow]`)),
			chromedp.WaitReady(css(`body`)),
		); err != nil {
			t.Fatal(err)
		}
	}
	signWith(revoked)
	refusal, err := chromedp.Run(ctx, chromedp.Text(css(`.error`)))
	if err != nil || !strings.Contains(refusal, "Your digital signature was not accepted") {
		t.Errorf("a revoked certificate: %q %v", refusal, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		artifact(t, "signature-refused-en.png", shot)
	}
	signWith(good)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`form[action="/my/logout"]`))); err != nil {
		t.Fatalf("not logged in after a good signature: %v", err)
	}
}
