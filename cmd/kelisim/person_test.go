package main

import (
	"bytes"
	"html"
	"image"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

var shortCodeRE = regexp.MustCompile(`id="short-code">([0-9]{6})<`)

// openShareAs logs a browser in as the demo citizen, opens access to their
// ID card from the settings page and returns its short code and QR URL.
func openShareAs(t *testing.T, g *gw) (code, qrURL string) {
	t.Helper()
	br := newBrowser(t, g)
	home := br.logIn(aidarIIN, aidarPhone)
	csrf := html.UnescapeString(hiddenRE.FindStringSubmatch(home.body)[2])
	res := br.do("POST", "/my/share", url.Values{"csrf": {csrf}, "document": {aidarIIN + "/id_card"}})
	page := br.get(res.location)
	m := shortCodeRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no short code on the share page:\n%s", page.body)
	}
	qr := br.get(res.location + "/qr.png")
	img, _, err := image.Decode(bytes.NewReader([]byte(qr.body)))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	result, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m[1], result.GetText()
}

// A person not logged in opens a share's QR link: the gateway asks them to
// log in, brings them back, and shows the document once they confirm.
func TestPersonOpensTheQRLink(t *testing.T) {
	g := startConsent(t)
	_, qrURL := openShareAs(t, g)
	b := newBrowser(t, g)
	login := b.follow(b.get(strings.TrimPrefix(qrURL, g.base)))
	if !strings.Contains(login.body, `action="/my/login`) || !strings.Contains(login.body, "next=") {
		t.Fatalf("the QR link, not logged in:\n%s", login.body)
	}
	otp := b.follow(b.submit(login, url.Values{"iin": {aigerimIIN}, "phone": {aigerimTel}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aigerimTel))}})
	if back.status != http.StatusSeeOther || !strings.HasPrefix(back.location, "/my/v/") {
		t.Fatalf("after log-in: %d %s", back.status, back.location)
	}
	confirm := b.get(back.location)
	shown := b.submit(confirm, nil)
	for _, want := range []string{"form-id_card", "045123456", "Aidar Serikov", "Ministry of Internal Affairs"} {
		if !strings.Contains(html.UnescapeString(shown.body), want) {
			t.Errorf("the shared document lacks %q:\n%s", want, shown.body)
		}
	}
}

// A citizen logged in to the settings in a real browser enters another's
// short code and sees the document's display form, with the issuer and who
// shared it; the view shows in both histories.
func TestBrowserPersonVerifies(t *testing.T) {
	ctx := chromium(t)
	g := startConsent(t)
	shortCode, _ := openShareAs(t, g)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	browserLogIn(ctx, t, g, "ru", aigerimIIN, aigerimTel)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(css(`#verify-code`)),
		chromedp.SendKeys(css(`#verify-code`), shortCode),
		chromedp.Click(css(`#verify button`)),
		chromedp.WaitVisible(css(`article.form-id_card`)),
	); err != nil {
		t.Fatal(err)
	}
	signed, err := chromedp.Run(ctx, chromedp.Text(css(`#verified-signed`)))
	if err != nil || !strings.Contains(signed, "Подпись проверена: выдан органом Ministry of Internal Affairs") {
		t.Errorf("signature line: %q %v", signed, err)
	}
	shared, err := chromedp.Run(ctx, chromedp.Text(css(`#verified-shared`)))
	if err != nil || !strings.Contains(shared, "Показан: Aidar Serikov, до") {
		t.Errorf("shared line: %q %v", shared, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "verified-ru.png", shot)
	if err := chromedp.Do(ctx, chromedp.Navigate(g.base+"/my/?lang=ru"), chromedp.WaitVisible(css(`.timeline`))); err != nil {
		t.Fatal(err)
	}
	mine, err := chromedp.Run(ctx, chromedp.Text(css(`.timeline`)))
	if err != nil || !strings.Contains(mine, "Вы просмотрели документ «Удостоверение личности» (Aidar S.)") {
		t.Errorf("the viewer's history:\n%s %v", mine, err)
	}
	holder := newBrowser(t, g)
	holder.lang = "ru"
	theirs := holder.logIn(aidarIIN, aidarPhone)
	if !strings.Contains(html.UnescapeString(theirs.body), "Aigerim N.") {
		t.Errorf("the holder's history lacks the view by Aigerim N.:\n%s", theirs.body)
	}
}
