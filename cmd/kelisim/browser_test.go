package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// chromium starts a headless Chromium for the test. Without one the test
// skips, except under CI=true, where it fails.
func chromium(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed, and CI=true: browser tests must run (apt-get install chromium)")
		}
		t.Skip("Chromium is not installed: skipping a browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(480, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// artifact saves a screenshot where CI keeps test artifacts.
func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", filepath.Join(dir, name))
}

// A citizen in a real browser consents in Kazakh and in Russian, unticking
// a document; the token's scopes shrink accordingly.
func TestBrowserConsent(t *testing.T) {
	ctx := chromium(t)
	g := startConsent(t)

	codes := make(chan url.Values, 4)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser asks for a favicon too
			return
		}
		codes <- r.URL.Query()
		_, _ = w.Write([]byte("partner app"))
	}))
	t.Cleanup(callback.Close)
	p := g.onboard(t, map[string]any{"redirect_uris": []string{callback.URL + "/callback"}, "client_name#kk": "Демо Банк", "client_name#ru": "Демо Банк"})

	for _, lang := range []string{"kk", "ru"} {
		t.Run(lang, func(t *testing.T) {
			verifier, challenge := pkce()
			authURL := g.base + oauth.PathAuthorize + "?" + authQuery(p, consentDocs, challenge).Encode()
			css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
			steps := []chromedp.Action[chromedp.Void]{
				chromedp.Navigate(authURL),
				chromedp.WaitVisible(css(`input[name=iin]`)),
			}
			// Chromium asks for English; the citizen switches language on the page.
			steps = append(steps, chromedp.Click(css(`a[hreflang=`+lang+`]`)), chromedp.WaitVisible(css(`html[lang=`+lang+`]`)))
			steps = append(steps,
				chromedp.Click(css(`input[value=driver_license]`)),
				chromedp.SendKeys(css(`input[name=iin]`), aidarIIN),
				chromedp.SendKeys(css(`input[name=phone]`), "+7 701 123 45 67"),
			)
			if err := chromedp.Do(ctx, steps...); err != nil {
				t.Fatal(err)
			}
			heading, err := chromedp.Run(ctx, chromedp.Text(css(`legend`)))
			if err != nil {
				t.Fatal(err)
			}
			consentShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Click(css(`button[value=start]`)), chromedp.WaitVisible(css(`input[name=otp]`))); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"kk": "Құжаттар", "ru": "Документы"}[lang]
			if heading != want {
				t.Errorf("documents legend %q, want %q", heading, want)
			}
			sms := g.sms.next(t, aidarPhone)
			if strings.Contains(sms.Text, map[string]string{"kk": "Жүргізуші", "ru": "Водительское"}[lang]) {
				t.Errorf("the SMS names the unticked document: %q", sms.Text)
			}
			if err := chromedp.Do(ctx, chromedp.SendKeys(css(`input[name=otp]`), code(t, sms))); err != nil {
				t.Fatal(err)
			}
			otpShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Click(css(`button[value=allow]`))); err != nil {
				t.Fatal(err)
			}
			artifact(t, "consent-"+lang+".png", consentShot)
			artifact(t, "consent-otp-"+lang+".png", otpShot)
			var q url.Values
			select {
			case q = <-codes:
			case <-time.After(20 * time.Second):
				t.Fatal("the browser never reached the partner")
			}
			if q.Get("iss") != g.base || q.Get("code") == "" {
				t.Fatalf("partner callback %v", q)
			}
			resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
			if resp.StatusCode != http.StatusOK || tok["scope"] != "openid offline_access documents:id_card" {
				t.Errorf("token: %d scope %v, want the driving licence left out", resp.StatusCode, tok["scope"])
			}
		})
	}
}

// A citizen in a real browser logs in to the settings, revokes a grant and
// sees the revocation in the history.
func TestBrowserSettings(t *testing.T) {
	ctx := chromium(t)
	_, pushURL := newPushService(t, 0)
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, env: map[string]string{"KELISIM_PUSH_URL": pushURL}})
	p := g.onboard(t, map[string]any{"client_name#kk": "Демо Банк", "client_name#ru": "Демо Банк"})
	other := g.onboard(t, map[string]any{"client_name": "Halyk-style Bank", "client_name#kk": "Екінші Банк"})
	tok := consentAs(t, g, p, aidarIIN, aidarPhone, "openid documents:id_card documents:driver_license")
	g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card")
	consentAs(t, g, other, aidarIIN, aidarPhone, "openid documents:id_card")
	grantID := g.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)

	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	browserLogIn(ctx, t, g, "kk", aidarIIN, aidarPhone)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`#grant-`+grantID)),
	); err != nil {
		t.Fatal(err)
	}
	before, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "settings-kk.png", before)
	// The grant's receipt, downloaded as the page's link gives it.
	downloads := t.TempDir()
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Click(css(`#grant-`+grantID+` a.receipt`)),
	); err != nil {
		t.Fatal(err)
	}
	var receipt string
	for deadline := time.Now().Add(10 * time.Second); receipt == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		raw, _ := os.ReadFile(filepath.Join(downloads, "kelisim-receipt-"+grantID+".jwt"))
		receipt = string(raw)
	}
	if claims, header := verify(t, g, receipt); header["typ"] != consent.TypeReceipt || claims["grant_id"] != grantID || claims["citizen"] != aidarIIN {
		t.Errorf("the receipt the settings page gives: %v %v", header, claims)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(css(`#reason-`+grantID), "not_me"),
		chromedp.Click(css(`#grant-`+grantID+` button.secondary`)),
		chromedp.WaitVisible(css(`#grant-`+grantID+` .status-revoked`)),
	); err != nil {
		t.Fatal(err)
	}
	var reason string
	if err := dbConn(t, g).QueryRow(ctx, `SELECT status_reason FROM grants WHERE id = $1`, grantID).Scan(&reason); err != nil ||
		reason != "revoked by the citizen: the citizen did not give this consent" {
		t.Errorf("the reason the citizen chose: %q %v", reason, err)
	}

	// Notifications: by the app instead of SMS, kept and shown.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#notifications input[value=sms]`)),
		chromedp.Click(css(`#notifications input[value=app]`)),
		chromedp.Click(css(`#notifications button`)),
		chromedp.WaitVisible(css(`#notifications .notice`)),
	); err != nil {
		t.Fatal(err)
	}
	saved, err := chromedp.Run(ctx, chromedp.Text(css(`#notifications .notice`)))
	if err != nil || !strings.Contains(saved, "Хабарлама баптаулары сақталды") {
		t.Errorf("after saving the channels: %q %v", saved, err)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[[]bool](`[...document.querySelectorAll('#notifications input[name=channel]')].map(i => i.checked)`))
	if err != nil || len(checked) != 2 || checked[0] || !checked[1] {
		t.Errorf("channels shown after saving (sms, app): %v %v", checked, err)
	}
	var channels []string
	if err := dbConn(t, g).QueryRow(ctx, `SELECT channels FROM notification_prefs WHERE citizen = $1`, aidarIIN).Scan(&channels); err != nil ||
		len(channels) != 1 || channels[0] != "app" {
		t.Errorf("channels kept: %v %v", channels, err)
	}
	notifyShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "settings-notifications-kk.png", notifyShot)
	history, err := chromedp.Run(ctx, chromedp.Text(css(`.timeline`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(history, "Демо Банк рұқсаты кері қайтарылды") || !strings.Contains(history, "Демо Банк алды: Жеке куәлік") {
		t.Errorf("history after revocation:\n%s", history)
	}
	deletion, err := chromedp.Run(ctx, chromedp.Text(css(`#grant-`+grantID+` .deletion`)))
	if err != nil || !strings.Contains(deletion, "Демо Банк деректеріңізді жойғанын әлі растаған жоқ") {
		t.Errorf("the revoked grant's deletion status: %q %v", deletion, err)
	}
	after, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "settings-revoked-kk.png", after)

	// Open access to the ID card for a third party: the page shows the
	// QR code and the short code.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(css(`select[name=document]`), aidarIIN+"/id_card"),
		chromedp.Click(css(`form[action="/my/share"] button`)),
		chromedp.WaitVisible(css(`#short-code`)),
	); err != nil {
		t.Fatal(err)
	}
	shortCode, err := chromedp.Run(ctx, chromedp.Text(css(`#short-code`)))
	if err != nil || len(strings.TrimSpace(shortCode)) != 6 {
		t.Errorf("short code %q %v", shortCode, err)
	}
	shareShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "share-kk.png", shareShot)
	if resp, _ := g.api(t, tok["access_token"].(string), "/api/v1/documents/id_card"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token after revoking in the browser: %d", resp.StatusCode)
	}
}

// The consent and code pages fit a phone (390×844, as in an in-app
// browser tab): nothing scrolls sideways, the buttons are reachable, and
// the flow completes. Its screenshots are the README's.
func TestBrowserPhone(t *testing.T) {
	ctx := chromium(t)
	g := startConsent(t)
	codes := make(chan url.Values, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			codes <- r.URL.Query()
		}
		_, _ = w.Write([]byte("partner app"))
	}))
	t.Cleanup(callback.Close)
	p := g.onboard(t, map[string]any{"redirect_uris": []string{callback.URL + "/callback"}, "client_name#kk": "Демо Банк"})
	_, challenge := pkce()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	fits := func(page string) {
		t.Helper()
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if width > 390 {
			t.Errorf("%s is %d px wide on a 390 px screen", page, width)
		}
	}
	q := authQuery(p, consentDocs, challenge)
	q.Set("ui_locales", "kk")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(g.base+oauth.PathAuthorize+"?"+q.Encode()), chromedp.WaitVisible(css(`input[name=iin]`)),
		chromedp.SendKeys(css(`input[name=iin]`), aidarIIN), chromedp.SendKeys(css(`input[name=phone]`), "+7 701 123 45 67")); err != nil {
		t.Fatal(err)
	}
	fits("the consent page")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keep(t, "phone-consent-kk.png", shot)
	if err := chromedp.Do(ctx, chromedp.Click(css(`button[value=start]`)), chromedp.WaitVisible(css(`input[name=otp]`))); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(css(`body`)))
		t.Fatalf("%v at %s: %s", err, loc, body)
	}
	fits("the code page")
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	keep(t, "phone-code-kk.png", shot)
	if err := chromedp.Do(ctx, chromedp.SendKeys(css(`input[name=otp]`), code(t, g.sms.next(t, aidarPhone)))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`button[value=allow]`))); err != nil {
		t.Fatal(err)
	}
	select {
	case q := <-codes:
		if q.Get("code") == "" {
			t.Fatalf("callback %v", q)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the phone never reached the partner")
	}
}

// keep saves a screenshot as an artifact and, with
// KELISIM_UPDATE_SCREENSHOTS=1, as the one the README shows.
func keep(t *testing.T, name string, png []byte) {
	t.Helper()
	artifact(t, name, png)
	if os.Getenv("KELISIM_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A citizen in a real browser opens their documents and one display form,
// in Kazakh and then in Russian, with the issuer's signature verified; the
// form prints without the page around it.
func TestBrowserDocuments(t *testing.T) {
	ctx := chromium(t)
	g := startConsent(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	browserLogIn(ctx, t, g, "kk", aigerimIIN, aigerimTel)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`a.my-documents`)),
		chromedp.Click(css(`a.my-documents`)),
		chromedp.WaitVisible(css(`ul.documents`)),
	); err != nil {
		t.Fatal(err)
	}
	list, err := chromedp.Run(ctx, chromedp.Text(css(`ul.documents`)))
	if err != nil || !strings.Contains(list, "Жеке куәлік") || !strings.Contains(list, "Туу туралы куәлік") || !strings.Contains(list, "Alikhan Nurlanov") {
		t.Errorf("the list names her documents and her son's: %q %v", list, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`a[href$="/1/birth_certificate"]`)),
		chromedp.WaitVisible(css(`article.form-birth_certificate`)),
	); err != nil {
		t.Fatal(err)
	}
	kk, err := chromedp.Run(ctx, chromedp.Text(css(`article.form`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Туу туралы куәлік", "Осы куәлік туудың тіркелгенін растайды", "Alikhan Nurlanov", "Анасы", "Aigerim Nurlanova",
		"I-АК 0445566", "Қолтаңба тексерілді", "Civil registry office of Almaty", "Жарамды"} {
		if !strings.Contains(kk, want) {
			t.Errorf("the Kazakh form lacks %q:\n%s", want, kk)
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "document-kk.png", shot)
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`a[hreflang=ru]`)),
		chromedp.WaitVisible(css(`html[lang=ru] article.form`)),
	); err != nil {
		t.Fatal(err)
	}
	ru, err := chromedp.Run(ctx, chromedp.Text(css(`article.form`)))
	if err != nil || !strings.Contains(ru, "Свидетельство о рождении") || !strings.Contains(ru, "Мать") || !strings.Contains(ru, "Подпись проверена") {
		t.Errorf("the Russian form:\n%s %v", ru, err)
	}
	// Printed, only the document shows: not the bar, the languages or the links.
	hidden := `[...document.querySelectorAll('.bar, .no-print')].every(e => getComputedStyle(e).display === 'none')`
	if onScreen, err := chromedp.Run(ctx, chromedp.Evaluate[bool](hidden)); err != nil || onScreen {
		t.Errorf("on screen the page around the form is hidden: %v %v", onScreen, err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	if printed, err := chromedp.Run(ctx, chromedp.Evaluate[bool](hidden)); err != nil || !printed {
		t.Errorf("printed, the page around the form shows: %v %v", printed, err)
	}
	formShown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector('article.form')).display !== 'none'`))
	if err != nil || !formShown {
		t.Errorf("printed, the form is hidden: %v", err)
	}
}

// browserLogIn logs the browser in to the settings in lang as the citizen
// with iin and phone, by the SMS code, and waits for the settings page.
func browserLogIn(ctx context.Context, t *testing.T, g *gw, lang, iin, phone string) {
	t.Helper()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(g.base+"/my/?lang="+lang),
		chromedp.WaitVisible(css(`input[name=iin]`)),
		chromedp.SendKeys(css(`input[name=iin]`), iin),
		chromedp.SendKeys(css(`input[name=phone]`), phone),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`input[name=otp]`)),
	); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`input[name=otp]`), code(t, g.sms.next(t, phone))),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`form[action="/my/logout"]`)),
	); err != nil {
		t.Fatal(err)
	}
}
