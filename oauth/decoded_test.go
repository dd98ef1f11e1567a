package oauth

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
)

// A token's record decoded once and kept gives what decoding it again
// gives, in objects of the caller's own; a record whose bytes changed is
// decoded again.
func TestDecodedTokensMatchDecoding(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	session := NewSession()
	session.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour)}
	session.Subject, session.Citizen, session.GrantID, session.JKT = "pairwise-sub", "850315300128", "g-1", "thumb"
	session.AuthorizationDetails = json.RawMessage(`[{"type":"kelisim_documents","documents":["id_card"]}]`)
	req := &fosite.Request{ID: "r-1", RequestedAt: at, Client: &fosite.DefaultClient{ID: "bank"},
		RequestedScope: fosite.Arguments{"openid", "documents:id_card"}, GrantedScope: fosite.Arguments{"documents:id_card"},
		GrantedAudience: fosite.Arguments{"https://bank.example"}, Form: url.Values{"dpop_jkt": {"thumb"}}, Session: session}
	raw, err := encodeRequest(req, KindAccess)
	if err != nil {
		t.Fatal(err)
	}
	var d decodedTokens
	for round := range 2 { // a miss, then a hit
		e, err := d.decode("sig", raw)
		if err != nil {
			t.Fatal(err)
		}
		got := NewSession()
		e.fill(got)
		want := NewSession()
		var sr storedRequest
		if err := json.Unmarshal(raw, &sr); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sr.Session, want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: session %+v, decoding gives %+v", round, got, want)
		}
		sr.Session = nil
		copied := e.storedCopy()
		if !reflect.DeepEqual(copied, sr) {
			t.Errorf("round %d: request %+v, decoding gives %+v", round, copied, sr)
		}
		// What a caller changes stays its own.
		copied.GrantedScope[0], copied.Form["dpop_jkt"][0] = "changed", "changed"
		got.ExpiresAt[fosite.AccessToken] = at
		got.AuthorizationDetails[0] = '{'
	}
	session.GrantID = "g-2"
	changed, _ := encodeRequest(req, KindAccess)
	e, err := d.decode("sig", changed)
	if err != nil {
		t.Fatal(err)
	}
	if e.session.GrantID != "g-2" {
		t.Errorf("a changed record was served as kept: grant %q", e.session.GrantID)
	}
}

// What a replica keeps decoded, full, fits well inside the memory the
// Helm chart gives a replica (256 MiB): at most 72 MiB live, so that the
// heap, which the collector lets grow to twice what is live, stays under
// the limit with the rest of the gateway's. Filled with realistic records (an access token's of 590
// bytes, a pending request's as the browser carries it).
func TestDecodedCachesFitAReplica(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	session := NewSession()
	session.SetExpiresAt(fosite.AccessToken, at.Add(time.Hour))
	session.Subject, session.Citizen, session.GrantID = "c2Vjb25kLXN1YmplY3QtMTIzNDU2Nzg5MDEyMzQ1Njc4OTA", "850315300128", "g-0123456789abcdef0123456789abcdef"
	token := &fosite.Request{ID: "0123456789abcdef0123456789abcdef", RequestedAt: at, Client: &fosite.DefaultClient{ID: "d6a2e31e8768e05828d2e24c3983c371"},
		RequestedScope: fosite.Arguments{"openid", "offline_access", "documents:id_card", "documents:driver_license"},
		GrantedScope:   fosite.Arguments{"openid", "offline_access", "documents:id_card", "documents:driver_license"},
		Form:           url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {"https://bank.example/callback"}}, Session: session}
	tokenRaw, err := encodeRequest(token, KindAccess)
	if err != nil {
		t.Fatal(err)
	}
	pending := fosite.NewAuthorizeRequest()
	pending.ID, pending.RequestedAt, pending.Client = token.ID, at, token.Client
	pending.RequestedScope, pending.State = token.RequestedScope, "state-0123456789abcdef"
	pending.RedirectURI, _ = url.Parse("https://bank.example/callback")
	pending.ResponseTypes = fosite.Arguments{"code"}
	pending.Form = url.Values{"response_type": {"code"}, "client_id": {"d6a2e31e8768e05828d2e24c3983c371"},
		"redirect_uri": {"https://bank.example/callback"}, "scope": {"openid offline_access documents:id_card documents:driver_license"},
		"state": {"state-0123456789abcdef"}, "nonce": {"nonce-0123456789abcdef"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"}, "login_hint": {"850315300128"}, "ui_locales": {"kk ru"}}
	pendingSession := NewSession()
	pendingSession.SetExpiresAt(fosite.PushedAuthorizeRequestContext, at.Add(10*time.Minute))
	pending.Session = pendingSession
	pendingRaw, err := encodeRequest(pending, KindPending)
	if err != nil {
		t.Fatal(err)
	}
	var sr storedRequest
	if err := json.Unmarshal(pendingRaw, &sr); err != nil {
		t.Fatal(err)
	}
	sealed := strings.Repeat("s", 4*(len(pendingRaw)+150)/3) // the carried record, sealed and in base64

	var tokens decodedTokens
	var pendings decodedPending
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Filled to what the budgets hold by the entries' footprints.
	if _, err := tokens.decode("signature-of-an-access-token-0", tokenRaw); err != nil {
		t.Fatal(err)
	}
	wantTokens := decodedTokensBudget / (tokens.size + 16) // later signatures are a few bytes longer
	for i := 1; i < wantTokens; i++ {
		if _, err := tokens.decode("signature-of-an-access-token-"+strconv.Itoa(i), tokenRaw); err != nil {
			t.Fatal(err)
		}
	}
	keepPending := func(i int) {
		id := "pending-" + strconv.Itoa(i)
		rec := Record{Kind: KindPending, Signature: id, RequestID: token.ID, ClientID: "d6a2e31e8768e05828d2e24c3983c371",
			Active: true, ExpiresAt: at, Request: bytes.Clone(pendingRaw)}
		pendings.keep(id, sealed+strconv.Itoa(i), &rec, nil, nil, nil)
		pendings.keep(id, "", nil, pendingRaw, &sr, pendingSession)
	}
	keepPending(0)
	wantPending := decodedPendingBudget / (pendings.size + 16)
	for i := 1; i < wantPending; i++ {
		keepPending(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d tokens (%d B each, estimated) and %d pending requests (%d B): %d MiB live",
		len(tokens.entries), tokens.size/len(tokens.entries), len(pendings.entries), pendings.size/len(pendings.entries), live>>20)
	if len(tokens.entries) != wantTokens || len(pendings.entries) != wantPending {
		t.Fatalf("filled to %d and %d, want %d and %d", len(tokens.entries), len(pendings.entries), wantTokens, wantPending)
	}
	// A replica at a national peak has about 3,600 consents open.
	if len(tokens.entries) < 12_000 || len(pendings.entries) < 3_600 {
		t.Errorf("full at %d tokens and %d pending requests: too few", len(tokens.entries), len(pendings.entries))
	}
	if live > 72<<20 {
		t.Errorf("full, the caches hold %d MiB, over 72", live>>20)
	}
	runtime.KeepAlive(&tokens)
	runtime.KeepAlive(&pendings)
}

// A request with a long form costs the caches what it holds, not one
// entry: the authorization and token endpoints read forms of up to 1 MiB,
// and a few hundred such requests from one address must not take a
// replica over its memory limit. Too long to keep, a request is not kept;
// long ones kept fill the budget sooner.
func TestDecodedCachesBoundedInBytes(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	longRequest := func(keys int, kind Kind) ([]byte, storedRequest, *Session) {
		form := url.Values{"response_type": {"code"}, "client_id": {"bank"}}
		for i := range keys {
			form.Set("k"+strconv.Itoa(i), "v")
		}
		session := NewSession()
		session.SetExpiresAt(fosite.AccessToken, at.Add(time.Hour))
		req := fosite.NewAuthorizeRequest()
		req.ID, req.RequestedAt, req.Client, req.Form, req.Session = "r-1", at, &fosite.DefaultClient{ID: "bank"}, form, session
		req.RequestedScope, req.ResponseTypes = fosite.Arguments{"openid"}, fosite.Arguments{"code"}
		raw, err := encodeRequest(req, kind)
		if err != nil {
			t.Fatal(err)
		}
		var sr storedRequest
		if err := json.Unmarshal(raw, &sr); err != nil {
			t.Fatal(err)
		}
		return raw, sr, session
	}

	// Far too long: 50,000 fields, 720 KB of JSON.
	var tokens decodedTokens
	var pendings decodedPending
	raw, sr, session := longRequest(50_000, KindPending)
	for i := range 3 {
		pendings.keep("pending-"+strconv.Itoa(i), "", nil, raw, &sr, session)
	}
	if len(pendings.entries) != 0 || pendings.size != 0 {
		t.Errorf("kept %d pending requests of %d KB of JSON (%d B estimated)", len(pendings.entries), len(raw)>>10, pendings.size)
	}
	raw, _, _ = longRequest(50_000, KindAccess)
	for i := range 3 {
		if _, err := tokens.decode("token-"+strconv.Itoa(i), raw); err != nil {
			t.Fatal(err)
		}
	}
	if len(tokens.entries) != 0 || tokens.size != 0 {
		t.Errorf("kept %d tokens of %d KB of JSON (%d B estimated)", len(tokens.entries), len(raw)>>10, tokens.size)
	}

	// Long, but short enough to keep: the most kept, each decoded on its
	// own as a miss decodes it, hold about the budget, whatever the count.
	for _, c := range []struct {
		name   string
		budget int
		fill   func() (keep func(i int), kept func() int)
	}{
		{"pending", decodedPendingBudget, func() (func(int), func() int) {
			raw, _, _ := longRequest(450, KindPending)
			var d decodedPending
			return func(i int) {
				var sr storedRequest
				if err := json.Unmarshal(raw, &sr); err != nil {
					t.Fatal(err)
				}
				session := NewSession()
				if err := json.Unmarshal(sr.Session, session); err != nil {
					t.Fatal(err)
				}
				d.keep("pending-"+strconv.Itoa(i), "", nil, raw, &sr, session)
			}, func() int { return len(d.entries) }
		}},
		{"tokens", decodedTokensBudget, func() (func(int), func() int) {
			raw, _, _ := longRequest(750, KindAccess)
			var d decodedTokens
			return func(i int) {
				if _, err := d.decode("token-"+strconv.Itoa(i), raw); err != nil {
					t.Fatal(err)
				}
			}, func() int { return len(d.entries) }
		}},
	} {
		// How many are kept at most: until the cache starts over.
		keep, kept := c.fill()
		most := 0
		for i := 0; i < 1_000 && kept() == i; i++ {
			most = i
			keep(i)
		}
		if most == 0 {
			t.Fatalf("%s: not kept at all", c.name)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		keep, kept = c.fill()
		for i := range most {
			keep(i)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("%s: at most %d kept, %d MiB live", c.name, kept(), live>>20)
		if live > int64(c.budget)*5/4 {
			t.Errorf("%s: %d long requests kept hold %d MiB, over the budget of %d MiB", c.name, most, live>>20, c.budget>>20)
		}
		runtime.KeepAlive(keep)
	}
}

// An exchange decodes its code's record once however often fosite reads
// the code, its PKCE challenge and its OpenID request, and each read gets
// a request of its own: what one read changes, the next does not see.
func TestCodeRequestDecodedOncePerExchange(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	req := &fosite.Request{ID: "r-1", RequestedAt: at, Client: &fosite.DefaultClient{ID: "bank"},
		RequestedScope: fosite.Arguments{"openid", "documents:id_card"}, GrantedScope: fosite.Arguments{"openid"},
		Form: url.Values{"scope": {"openid documents:id_card"}}, Session: NewSession()}
	raw, err := encodeWith(req, KindCode, map[Kind]url.Values{
		KindPKCE: {"code_challenge": {"abc"}}, KindOIDC: {"nonce": {"n-0123456789"}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{Kind: KindCode, Signature: "sig", Active: true, Request: raw}
	c := &requestCache{}
	c.reset()

	first, err := c.codeRequest("sig", rec)
	if err != nil {
		t.Fatal(err)
	}
	first.GrantedScope[0] = "changed"
	first.Form.Set("scope", "changed")
	first.Also[KindPKCE].Set("code_challenge", "changed")

	rec.Request = []byte("not JSON: a second decode fails")
	for i := range 3 {
		sr, err := c.codeRequest("sig", rec)
		if err != nil {
			t.Fatalf("read %d decoded the record again: %v", i+2, err)
		}
		if sr.GrantedScope[0] != "openid" || sr.Form.Get("scope") != "openid documents:id_card" {
			t.Fatalf("read %d sees the first read's changes: %v %v", i+2, sr.GrantedScope, sr.Form)
		}
		if got := sr.Also[KindPKCE].Get("code_challenge"); got != "abc" {
			t.Fatalf("read %d sees the first read's change to the challenge's form: %q", i+2, got)
		}
		sr.Also[KindPKCE].Set("code_challenge", "changed again")
	}

	c.reset() // deciding again reads and decodes again
	if _, err := c.codeRequest("sig", rec); err == nil {
		t.Fatal("a reset cache served the record decoded before")
	}
}
