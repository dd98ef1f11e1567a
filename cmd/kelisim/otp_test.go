package main

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/adapters/postgres/pgtest"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
)

// otpSetup runs a consent gateway on a test clock and brings a browser to
// the code page for Aidar. env adds configuration.
func otpSetup(t *testing.T, env map[string]string) (*gw, *clock, *browser, partner, page) {
	t.Helper()
	clk := &clock{}
	g := startWith(t, options{db: pgtest.URL(t), consent: httpapi.ConsentRedirect{}, clock: clk, env: env})
	p := g.onboard(t, nil)
	b := newBrowser(t, g)
	return g, clk, b, p, b.codePage(p, aidarIIN, aidarPhone)
}

// codePage opens a consent for partner p and asks a code for iin and phone.
func (b *browser) codePage(p partner, iin, phone string) page {
	b.t.Helper()
	consentPage := b.open(p, consentDocs)
	otp := b.follow(b.submit(consentPage, url.Values{"iin": {iin}, "phone": {phone}, "decision": {"start"}}))
	if otp.status != http.StatusOK || !strings.Contains(otp.body, `name="challenge"`) {
		b.t.Fatalf("code page: %d\n%s", otp.status, otp.body)
	}
	return otp
}

func text(p page) string { return html.UnescapeString(p.body) }

func isCodeRedirect(p page) bool {
	return p.status == http.StatusSeeOther && strings.Contains(p.location, "code=")
}

func TestOTPFiveWrongCodesKill(t *testing.T) {
	g, _, b, _, otp := otpSetup(t, nil)
	right := code(t, g.sms.next(t, aidarPhone))
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	for left := 4; left >= 1; left-- {
		res := b.submit(otp, url.Values{"otp": {wrong}, "decision": {"allow"}})
		if res.status != http.StatusBadRequest || !strings.Contains(text(res), "Код қате. "+strconv.Itoa(left)+" әрекет қалды.") {
			t.Fatalf("wrong code with %d left: %d\n%s", left, res.status, res.body)
		}
	}
	res := b.submit(otp, url.Values{"otp": {wrong}, "decision": {"allow"}})
	if !strings.Contains(text(res), "Қате код тым көп") {
		t.Fatalf("fifth wrong code: %d\n%s", res.status, res.body)
	}
	// Dead: even the right code fails now.
	if res := b.submit(otp, url.Values{"otp": {right}, "decision": {"allow"}}); isCodeRedirect(res) || !strings.Contains(text(res), "Қате код тым көп") {
		t.Errorf("the right code worked on a dead challenge: %d %s", res.status, res.location)
	}
}

func TestOTPExpires(t *testing.T) {
	g, clk, b, _, otp := otpSetup(t, nil)
	c := code(t, g.sms.next(t, aidarPhone))
	clk.advance(5*time.Minute + time.Second)
	res := b.submit(otp, url.Values{"otp": {c}, "decision": {"allow"}})
	if isCodeRedirect(res) || !strings.Contains(text(res), "Кодтың мерзімі өтті") {
		t.Fatalf("expired code: %d %s\n%s", res.status, res.location, res.body)
	}
	// A new code works.
	res = b.submit(otp, url.Values{"action": {"resend"}})
	if res.status != http.StatusOK {
		t.Fatalf("resend after expiry: %d\n%s", res.status, res.body)
	}
	if res := b.submit(res, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}}); !isCodeRedirect(res) {
		t.Errorf("the new code failed: %d %s\n%s", res.status, res.location, res.body)
	}
}

func TestOTPResendRules(t *testing.T) {
	g, clk, b, _, otp := otpSetup(t, nil)
	first := code(t, g.sms.next(t, aidarPhone))

	res := b.submit(otp, url.Values{"action": {"resend"}})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(text(res), "секундтан кейін") {
		t.Fatalf("resend at once: %d Retry-After %q\n%s", res.status, res.header.Get("Retry-After"), res.body)
	}
	var last string
	for i := 1; i <= 3; i++ {
		clk.advance(61 * time.Second)
		res = b.submit(otp, url.Values{"action": {"resend"}})
		if res.status != http.StatusOK {
			t.Fatalf("resend %d: %d\n%s", i, res.status, res.body)
		}
		last = code(t, g.sms.next(t, aidarPhone))
		otp = res
	}
	if strings.Contains(otp.body, `value="resend"`) {
		t.Error("the page offers a fourth resend")
	}
	clk.advance(61 * time.Second)
	if res := b.submit(otp, url.Values{"action": {"resend"}}); res.status == http.StatusOK && g.sms.count() > 0 {
		t.Error("a fourth resend sent a code")
	}
	// Only the newest code works.
	if first != last {
		if res := b.submit(otp, url.Values{"otp": {first}, "decision": {"allow"}}); isCodeRedirect(res) {
			t.Error("the first code still works after resends")
		}
	}
	if res := b.submit(otp, url.Values{"otp": {last}, "decision": {"allow"}}); !isCodeRedirect(res) {
		t.Errorf("the newest code failed: %d\n%s", res.status, res.body)
	}
}

func TestOTPPerPhoneLimit(t *testing.T) {
	begin := time.Now()
	g, clk, _, p, _ := otpSetup(t, nil) // one challenge used
	for i := 2; i <= 5; i++ {
		newBrowser(t, g).codePage(p, aidarIIN, aidarPhone)
	}
	b := newBrowser(t, g)
	page := b.open(p, consentDocs)
	res := b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}})
	// Five in this hour's window: the sixth waits for the next window,
	// until it carries at most four of them (consent.RateRetry).
	retry, _ := strconv.Atoi(res.header.Get("Retry-After"))
	want := consent.RateRetry(5, 0, 5, time.Hour, clk.now())
	if !begin.Truncate(time.Hour).Equal(clk.now().Truncate(time.Hour)) {
		want = time.Duration(retry) * time.Second // the five straddle two clock hours: any split is right
		t.Log("the codes straddled a clock hour; Retry-After not compared")
	}
	if res.status != http.StatusTooManyRequests || time.Duration(retry)*time.Second-want > time.Second || want-time.Duration(retry)*time.Second > time.Second ||
		retry < 1 || !strings.Contains(text(res), "Код тым көп сұралды") {
		t.Fatalf("sixth challenge in an hour: %d Retry-After %q, want about %v\n%s", res.status, res.header.Get("Retry-After"), want, res.body)
	}
	// The limit is per phone: another citizen is not held back, and once
	// the time it said is up the first may ask again.
	newBrowser(t, g).codePage(p, aigerimIIN, aigerimTel)
	clk.advance(time.Duration(retry+1) * time.Second)
	newBrowser(t, g).codePage(p, aidarIIN, aidarPhone)
}

func TestOTPPerIPLimit(t *testing.T) {
	g, _, _, p, _ := otpSetup(t, map[string]string{"KELISIM_OTP_IP_LIMIT": "2"})
	newBrowser(t, g).codePage(p, aigerimIIN, aigerimTel)
	b := newBrowser(t, g)
	page := b.open(p, consentDocs)
	res := b.submit(page, url.Values{"iin": {"150612601232"}, "phone": {"+77050000011"}, "decision": {"start"}})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("third challenge from one IP: %d\n%s", res.status, res.body)
	}
}

func TestOTPSwitchingDocuments(t *testing.T) {
	g, clk, b, _, otp := otpSetup(t, nil)
	c := code(t, g.sms.next(t, aidarPhone))
	// The citizen unticks a document on the code page: the code was sent
	// for both, so it cannot approve the new choice.
	changed := otp
	changed.body = strings.Replace(otp.body, `value="driver_license" checked`, `value="driver_license"`, 1)
	res := b.submit(changed, url.Values{"otp": {c}, "decision": {"allow"}})
	if isCodeRedirect(res) || !strings.Contains(text(res), "құжаттарды немесе мерзімді өзгерттіңіз") {
		t.Fatalf("code for another selection: %d %s\n%s", res.status, res.location, res.body)
	}
	// Asking a new code for the new choice works.
	clk.advance(61 * time.Second)
	res = b.submit(changed, url.Values{"action": {"resend"}})
	sms := g.sms.next(t, aidarPhone)
	if strings.Contains(sms.Text, "Жүргізуші") {
		t.Errorf("the new SMS still names the unticked document: %q", sms.Text)
	}
	res = b.submit(res, url.Values{"otp": {code(t, sms)}, "decision": {"allow"}})
	if !isCodeRedirect(res) {
		t.Fatalf("approve the new choice: %d\n%s", res.status, res.body)
	}
}

func TestOTPUsedCode(t *testing.T) {
	g, _, b, _, otp := otpSetup(t, nil)
	c := code(t, g.sms.next(t, aidarPhone))
	if res := b.submit(otp, url.Values{"otp": {c}, "decision": {"allow"}}); !isCodeRedirect(res) {
		t.Fatalf("first use: %d", res.status)
	}
	res := b.submit(otp, url.Values{"otp": {c}, "decision": {"allow"}})
	if isCodeRedirect(res) || res.status == http.StatusOK {
		t.Errorf("second use: %d %s", res.status, res.location)
	}
}

// The page speaks Russian when asked, by the switch or by Accept-Language.
func TestConsentLanguages(t *testing.T) {
	g := startConsent(t)
	p := g.onboard(t, nil)
	_, challenge := pkce()
	authURL := oauth.PathAuthorize + "?" + authQuery(p, consentDocs, challenge).Encode()

	b := newBrowser(t, g)
	b.lang = "ru-RU,ru;q=0.9"
	if page := b.consentTo(authURL); !strings.Contains(page.body, `lang="ru"`) || !strings.Contains(page.body, "Удостоверение личности") {
		t.Error("Accept-Language ru did not give Russian")
	}
	b = newBrowser(t, g)
	page := b.consentTo(authURL)
	en := b.get(page.url.Path + "?lang=en")
	if !strings.Contains(en.body, `lang="en"`) || !strings.Contains(en.body, "Identity card") {
		t.Errorf("the switch did not give English:\n%s", en.body)
	}
	q := authQuery(p, consentDocs, challenge)
	q.Set("ui_locales", "ru kk")
	if page := newBrowser(t, g).consentTo(oauth.PathAuthorize + "?" + q.Encode()); !strings.Contains(page.body, `lang="ru"`) {
		t.Error("ui_locales ru did not give Russian")
	}
	// An unknown or answered request is a readable page, not JSON.
	gone := newBrowser(t, g).get("/consent/0123456789abcdef")
	if gone.status != http.StatusNotFound || !strings.Contains(gone.body, "Сұраудың мерзімі өтті") {
		t.Errorf("unknown request: %d\n%s", gone.status, gone.body)
	}
}

// A stranger at one address who pairs any valid IIN with the owner's phone
// (no SMS goes: the pair does not match), and then the owner's own IIN
// and phone until refused, cannot stop the owner, at another address,
// from logging in to the settings and revoking.
func TestStrangerCannotLockTheOwnerOutOfRevoking(t *testing.T) {
	g := startWith(t, options{db: pgtestURL(t), consent: httpapi.ConsentRedirect{},
		env: map[string]string{"KELISIM_TRUSTED_PROXIES": "127.0.0.1"}})
	p := g.onboard(t, nil)
	owner := newBrowser(t, g)
	owner.from = "198.51.100.9"
	tok := consentAsFrom(t, g, owner, p, "openid offline_access documents:id_card")
	stranger := newBrowser(t, g)
	stranger.from = "203.0.113.7"
	for range 5 {
		stranger.codePage(p, aigerimIIN, aidarPhone)
	}
	if g.sms.count() != 0 {
		t.Fatalf("%d SMS for a pair that does not match", g.sms.count())
	}
	for {
		page := stranger.open(p, consentDocs)
		res := stranger.follow(stranger.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
		if res.status == http.StatusTooManyRequests {
			break
		}
		if res.status != http.StatusOK {
			t.Fatalf("stranger: %d\n%s", res.status, res.body)
		}
		g.sms.next(t, aidarPhone)
	}
	home := owner.logIn(aidarIIN, aidarPhone)
	grantID := g.introspect(t, p, tok["access_token"].(string))["grant_id"].(string)
	if res := owner.revokeGrant(home, grantID); res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", res.status, res.body)
	}
	if in := g.introspect(t, p, tok["access_token"].(string)); in["active"] != false {
		t.Error("the owner could not revoke")
	}
}

// consentAsFrom runs the consent path for Aidar in browser b.
func consentAsFrom(t *testing.T, g *gw, b *browser, p partner, scope string) map[string]any {
	t.Helper()
	verifier, challenge := pkce()
	page := b.consentTo(oauth.PathAuthorize + "?" + authQuery(p, scope, challenge).Encode())
	otp := b.follow(b.submit(page, url.Values{"iin": {aidarIIN}, "phone": {aidarPhone}, "decision": {"start"}}))
	back := b.submit(otp, url.Values{"otp": {code(t, g.sms.next(t, aidarPhone))}, "decision": {"allow"}})
	loc, _ := url.Parse(back.location)
	resp, tok := g.form(t, oauth.PathToken, p, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {p.redirect}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, tok)
	}
	return tok
}
