package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/adapters/registry"
)

type partner struct{ id, secret string }

type bench struct {
	o        options
	client   *http.Client // shared transport, no redirects
	sms      *smsReceiver
	bank     partner // pull partner allowed id_card and driver_license
	verifier partner // verifier for client_credentials
	app      partner // the first-party app, for "me" tokens (onboarded when needed)
	next     atomic.Int64
	dp       *dpop     // set with -dpop
	stats    *pgx.Conn // to -database, for PostgreSQL's block reads (nil without it)
	turns    *turns    // with -twin: shared with the other side, which is 1 - side
	side     int
	measured int   // measurements begun, to meet the other side's alike
	turnErr  error // a measurement not taken in turns, for both()
}

const redirectURI = "http://127.0.0.1:9/callback" // never visited: the tool reads the code from Location

func newBench(ctx context.Context, o options) (*bench, error) {
	// The tool shares the machine with the gateway: it keeps its own cost
	// low. No client-wide timeout (each request carries the run's context,
	// and a timeout costs a timer per request), no compression.
	tr := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, IdleConnTimeout: 90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second, DisableCompression: true}
	b := &bench{o: o, client: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	sms, err := newSMSReceiver(o.smsAddr)
	if err != nil {
		return nil, err
	}
	b.sms = sms
	if o.dpop {
		if b.dp, err = newDPoP(); err != nil {
			sms.close()
			return nil, err
		}
	}
	if b.bank, err = b.onboard(ctx, map[string]any{"client_name": "Bench Bank", "redirect_uris": []string{redirectURI},
		"documents": []string{"id_card", "driver_license"}, "admission": map[string]string{"legal_name": "Bench Bank JSC", "decision": "Operator decision No. 1", "date": "2026-11-01"}}); err != nil {
		sms.close()
		return nil, err
	}
	if b.verifier, err = b.onboard(ctx, map[string]any{"client_name": "Bench Verifier", "redirect_uris": []string{redirectURI},
		"documents": []string{}, "verifier": true, "admission": map[string]string{"legal_name": "Bench Verifier LLP", "decision": "Operator decision No. 1", "date": "2026-11-01"}}); err != nil {
		sms.close()
		return nil, err
	}
	if o.database != "" {
		if b.stats, err = pgx.Connect(ctx, o.database); err != nil {
			sms.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) close() {
	b.sms.close()
	if b.stats != nil {
		b.stats.Close(context.Background())
	}
}

func (b *bench) onboard(ctx context.Context, reg map[string]any) (partner, error) {
	body, _ := json.Marshal(reg)
	req, _ := http.NewRequestWithContext(ctx, "POST", b.o.base+"/admin/v1/partners", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.o.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return partner{}, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		return partner{}, fmt.Errorf("onboard: %d %v", resp.StatusCode, out)
	}
	return partner{id: out["client_id"].(string), secret: out["client_secret"].(string)}, nil
}

// named is a scenario's name, marked when proofs are sent.
func (b *bench) named(name string) string {
	if b.dp != nil {
		return name + " (DPoP)"
	}
	return name
}

func (b *bench) scenario(ctx context.Context, name string, conc int) ([]result, error) {
	switch name {
	case "raw":
		r, err := b.bound(ctx, conc)
		return []result{r}, err
	case "token":
		conns := b.rawConns(conc)
		defer closeAll(conns)
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}}
		req := rawForm(hostOf(b.o.base), "/oauth2/token", b.verifier, form, "")
		if b.dp != nil { // the nonce, once, before the clock runs
			_, _, _ = b.rawToken(ctx, conns[0], b.verifier, form)
		}
		cc := b.measure(ctx, b.named("token/client_credentials"), conc, func(w, _ int) (int, bool) {
			r := req
			if b.dp != nil {
				r = rawForm(hostOf(b.o.base), "/oauth2/token", b.verifier, form, b.dp.proof("POST", b.o.base+"/oauth2/token", ""))
			}
			status, body, h, err := conns[w].do(ctx, r)
			if b.dp != nil && h != nil {
				b.dp.remember(h)
			}
			return status, err == nil && status == 200 && bytes.Contains(body, []byte(`"access_token":"`))
		})
		chains := make([]string, conc)
		if err := b.parallel(ctx, conc, func(i int) error {
			tok, err := b.consent(ctx, nil, "openid offline_access documents:id_card")
			chains[i] = tok.refresh
			return err
		}); err != nil {
			return nil, err
		}
		rt := b.measure(ctx, b.named("token/refresh_token"), conc, func(w, _ int) (int, bool) {
			status, body, err := b.rawToken(ctx, conns[w], b.bank, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {chains[w]}})
			if err != nil || status != 200 {
				return status, false
			}
			chains[w] = body["refresh_token"].(string)
			return status, true
		})
		return []result{cc, rt}, nil
	case "introspect":
		pool := make([]string, 4000)
		if err := b.parallel(ctx, 32, func(i int) error {
			conn, err := newRawConn(b.o.base)
			if err != nil {
				return err
			}
			defer conn.close()
			for j := i; j < len(pool); j += 32 {
				status, body, err := b.rawToken(ctx, conn, b.bank, url.Values{"grant_type": {"client_credentials"}})
				if err != nil || status != 200 {
					return fmt.Errorf("token for the pool: %d %v", status, err)
				}
				pool[j] = body["access_token"].(string)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		reqs := make([][]byte, len(pool))
		for i, tok := range pool {
			reqs[i] = rawForm(hostOf(b.o.base), "/oauth2/introspect", b.bank, url.Values{"token": {tok}}, "")
		}
		conns := b.rawConns(conc)
		defer closeAll(conns)
		return []result{b.measure(ctx, "introspect", conc, func(w, i int) (int, bool) {
			status, body, _, err := conns[w].do(ctx, reqs[(w*7919+i*31)%len(reqs)])
			return status, err == nil && status == 200 && bytes.Contains(body, []byte(`"active":true`))
		})}, nil
	case "documents":
		tokens := make([]string, 512)
		if err := b.parallel(ctx, 16, func(i int) error {
			for j := i; j < len(tokens); j += 16 {
				tok, err := b.consent(ctx, nil, "openid documents:id_card documents:driver_license")
				if err != nil {
					return err
				}
				tokens[j] = tok.access
			}
			return nil
		}); err != nil {
			return nil, err
		}
		reqs := make([][]byte, len(tokens))
		for i, tok := range tokens {
			reqs[i] = rawGet(hostOf(b.o.base), "/api/v1/documents/id_card", tok)
		}
		conns := b.rawConns(conc)
		defer closeAll(conns)
		return []result{b.measure(ctx, b.named("documents"), conc, func(w, i int) (int, bool) {
			r := reqs[(w*131+i)%len(reqs)]
			if b.dp != nil {
				tok := tokens[(w*131+i)%len(tokens)]
				r = rawGetDPoP(hostOf(b.o.base), "/api/v1/documents/id_card", tok, b.dp.proof("GET", b.o.base+"/api/v1/documents/id_card", tok))
			}
			status, body, h, err := conns[w].do(ctx, r)
			if b.dp != nil && h != nil {
				b.dp.remember(h)
			}
			return status, err == nil && status == 200 && h.Get("Content-Type") == "application/jose" && len(body) > 0
		})}, nil
	case "citizen":
		return b.citizen(ctx, conc)
	case "consent":
		conns := b.rawConns(conc)
		defer closeAll(conns)
		return []result{b.measure(ctx, "consent (full flow)", conc, func(w, _ int) (int, bool) {
			_, err := b.consent(ctx, conns[w], "openid documents:id_card")
			var se statusError
			if errors.As(err, &se) {
				return int(se), false
			}
			return 200, err == nil
		})}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// rawConns are one lean connection per worker (see rawConn).
func (b *bench) rawConns(n int) []*rawConn {
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i], _ = newRawConn(b.o.base)
	}
	return conns
}

func closeAll(conns []*rawConn) {
	for _, c := range conns {
		c.close()
	}
}

// parallel runs fn(0..n-1) at once and returns the first error.
func (b *bench) parallel(ctx context.Context, n int, fn func(i int) error) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- fn(i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

type statusError int

func (e statusError) Error() string { return fmt.Sprintf("status %d", int(e)) }

type tokens struct{ access, refresh string }

var (
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	docRE    = regexp.MustCompile(`name="doc" value="([a-z_]+)" checked`)
	daysRE   = regexp.MustCompile(`<option value="([0-9]+)" selected>`)
)

// consent runs the whole citizen path for the next synthetic citizen:
// authorize → consent page → IIN/phone → SMS → code → token, on conn (a
// connection of its own when nil).
//
// Each citizen comes from an address of its own (10.0.0.0/8, sent as
// X-Forwarded-For; the gateway trusts the tool as a proxy), as citizens
// do: the per-IP OTP limit then holds at its real value instead of
// serialising every flow on one key.
func (b *bench) consent(ctx context.Context, conn *rawConn, scope string) (tokens, error) {
	return b.consentAs(ctx, conn, b.bank, int(b.next.Add(1)-1)%b.o.population, scope)
}

// consentAs runs the citizen path for synthetic citizen n with partner p.
// The pages go over one lean keep-alive connection (see rawConn), as a
// browser's do, with the cookies they set sent back as a browser would:
// net/http's client cost the shared machine twice as much a flow, the
// gateway's share and the tool's then moving together with the tool's.
func (b *bench) consentAs(ctx context.Context, conn *rawConn, p partner, n int, scope string) (tokens, error) {
	if conn == nil {
		conn, _ = newRawConn(b.o.base)
		defer conn.close()
	}
	iin, phone := registry.Synthetic(n)
	br := &browser{conn: conn, host: hostOf(b.o.base), base: b.o.base, addr: fmt.Sprintf("10.%d.%d.%d", (n>>16)&255, (n>>8)&255, n&255)}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	verifier := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {p.id}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {"bench-state-123"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	post := func(page string, fields url.Values) (int, string, string, error) {
		m := actionRE.FindStringSubmatch(page)
		if m == nil {
			return 0, "", "", errors.New("no form")
		}
		form := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
			form.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
		}
		for _, d := range docRE.FindAllStringSubmatch(page, -1) {
			form.Add("doc", d[1])
		}
		if d := daysRE.FindStringSubmatch(page); d != nil {
			form.Set("days", d[1])
		}
		for k, v := range fields {
			form[k] = v
		}
		return br.do(ctx, "POST", strings.ReplaceAll(m[1], "&amp;", "&"), form)
	}
	status, loc, _, err := br.do(ctx, "GET", "/oauth2/auth?"+q.Encode(), nil)
	if err != nil || status != 303 {
		return tokens{}, orStatus(err, status)
	}
	status, _, page, err := br.do(ctx, "GET", loc, nil)
	if err != nil || status != 200 {
		return tokens{}, orStatus(err, status)
	}
	codes := b.sms.expect(string(phone))
	status, loc, _, err = post(page, url.Values{"iin": {string(iin)}, "phone": {string(phone)}, "decision": {"start"}})
	if err != nil || status != 303 {
		return tokens{}, orStatus(err, status)
	}
	status, _, otpPage, err := br.do(ctx, "GET", loc, nil)
	if err != nil || status != 200 {
		return tokens{}, orStatus(err, status)
	}
	var code string
	select {
	case code = <-codes:
	case <-time.After(15 * time.Second):
		return tokens{}, errors.New("no SMS")
	case <-ctx.Done():
		return tokens{}, ctx.Err()
	}
	status, loc, _, err = post(otpPage, url.Values{"otp": {code}, "decision": {"allow"}})
	if err != nil || status != 303 {
		return tokens{}, orStatus(err, status)
	}
	u, _ := url.Parse(loc)
	st, body, err := b.rawToken(ctx, conn, p, url.Values{"grant_type": {"authorization_code"},
		"code": {u.Query().Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if err != nil || st != 200 {
		return tokens{}, orStatus(err, st)
	}
	t := tokens{}
	t.access, _ = body["access_token"].(string)
	t.refresh, _ = body["refresh_token"].(string)
	if t.access == "" {
		return tokens{}, errors.New("no access token")
	}
	return t, nil
}

// rawToken is form (a token request with the partner's authentication,
// and a proof under -dpop, asked again once for a nonce) on conn.
func (b *bench) rawToken(ctx context.Context, conn *rawConn, p partner, form url.Values) (int, map[string]any, error) {
	for try := 0; ; try++ {
		proof := ""
		if b.dp != nil {
			proof = b.dp.proof("POST", b.o.base+"/oauth2/token", "")
		}
		status, body, h, err := conn.do(ctx, rawForm(hostOf(b.o.base), "/oauth2/token", p, form, proof))
		if err != nil {
			return 0, nil, err
		}
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		if b.dp != nil {
			b.dp.remember(h)
		}
		if b.dp == nil || out["error"] != "use_dpop_nonce" || try > 0 {
			return status, out, nil
		}
	}
}

// browser is one citizen's browser on a rawConn: it sends the cookies the
// gateway set (by path, as a browser does) and an address of its own.
type browser struct {
	conn             *rawConn
	host, base, addr string
	cookies          []*http.Cookie
}

// do sends a GET, or a POST of form, to target (a path, or a URL of the
// gateway) and returns the status, the redirect and the page.
func (br *browser) do(ctx context.Context, method, target string, form url.Values) (int, string, string, error) {
	path := strings.TrimPrefix(target, br.base)
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\n", method, path, br.host, br.addr)
	sep := "Cookie: "
	for _, c := range br.cookies {
		if strings.HasPrefix(path, c.Path) {
			req.WriteString(sep + c.Name + "=" + c.Value)
			sep = "; "
		}
	}
	if sep == "; " {
		req.WriteString("\r\n")
	}
	body := ""
	if method == "POST" {
		body = form.Encode()
		fmt.Fprintf(&req, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	status, page, h, err := br.conn.do(ctx, []byte(req.String()))
	if err != nil {
		return 0, "", "", err
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Path == "" {
			c.Path = "/"
		}
		br.cookies = slices.DeleteFunc(br.cookies, func(o *http.Cookie) bool { return o.Name == c.Name && o.Path == c.Path })
		if c.MaxAge >= 0 && c.Value != "" {
			br.cookies = append(br.cookies, c)
		}
	}
	return status, h.Get("Location"), string(page), nil
}

func orStatus(err error, status int) error {
	if err != nil {
		return err
	}
	return statusError(status)
}

// citizen measures what the citizen's app reads, with "me" tokens of the
// first synthetic citizens (on a loaded database, those with a long
// history): their grants (the settings), the first page of their history,
// and a page deep in it — the deepest the next links reach, or from the
// top where the history is short.
func (b *bench) citizen(ctx context.Context, conc int) ([]result, error) {
	if b.app.id == "" {
		app, err := b.onboard(ctx, map[string]any{"client_name": "Bench App", "redirect_uris": []string{redirectURI}, "first_party": true,
			"documents": []string{}, "scope": "openid me", "admission": map[string]string{"legal_name": "Bench Operator", "decision": "Operator decision No. 1", "date": "2026-11-01"}})
		if err != nil {
			return nil, err
		}
		b.app = app
	}
	const citizens = 256
	toks, deep := make([]string, citizens), make([]string, citizens)
	if err := b.parallel(ctx, 16, func(i int) error {
		for j := i; j < citizens; j += 16 {
			tok, err := b.consentAs(ctx, nil, b.app, j%b.o.population, "openid me")
			if err != nil {
				return err
			}
			// The deepest full page: the cursor before the last one (the
			// last page holds what is left over).
			toks[j] = tok.access
			cursors := []string{"/api/v1/me/history?limit=100"}
			for next := "/api/v1/me/history?limit=100"; next != ""; {
				status, body, err := b.getJSON(ctx, next, tok.access)
				if err != nil || status != 200 {
					return fmt.Errorf("history %s: %d %v", next, status, err)
				}
				next, _ = body["next"].(string)
				if next != "" {
					cursors = append(cursors, next)
				}
			}
			deep[j] = cursors[max(0, len(cursors)-2)]
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []result
	for _, sc := range []struct {
		name string
		path func(i int) string
		want []byte
	}{
		{"settings (grants)", func(int) string { return "/api/v1/me/grants" }, []byte(`"grants":`)},
		{"history (first page)", func(int) string { return "/api/v1/me/history" }, []byte(`"events":`)},
		{"history (deep page)", func(i int) string { return deep[i] }, []byte(`"events":`)},
	} {
		reqs := make([][]byte, citizens)
		for i, tok := range toks {
			reqs[i] = rawGet(hostOf(b.o.base), sc.path(i), tok)
		}
		conns := b.rawConns(conc)
		out = append(out, b.measure(ctx, sc.name, conc, func(w, i int) (int, bool) {
			status, body, _, err := conns[w].do(ctx, reqs[(w*37+i)%len(reqs)])
			return status, err == nil && status == 200 && bytes.Contains(body, sc.want)
		}))
		closeAll(conns)
	}
	return out, nil
}

// getJSON sends a GET with a bearer token and decodes the JSON answer.
func (b *bench) getJSON(ctx context.Context, path, token string) (int, map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.o.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}
