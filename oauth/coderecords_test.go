package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// countingStore counts the reads and writes of a code's records.
type countingStore struct {
	*memory.Store
	mu     sync.Mutex
	calls  map[string]int
	stored map[oauth.Kind]string // kind → signature
}

func (c *countingStore) count(what string) {
	c.mu.Lock()
	c.calls[what]++
	c.mu.Unlock()
}

func codeKind(k oauth.Kind) bool {
	return k == oauth.KindCode || k == oauth.KindPKCE || k == oauth.KindOIDC
}

func (c *countingStore) CreateRecord(ctx context.Context, r oauth.Record) error {
	if codeKind(r.Kind) {
		c.count("create one")
	}
	return c.Store.CreateRecord(ctx, r)
}

// UseRecordAndCommit is the memory store's, through the counting UseRecord.
func (c *countingStore) UseRecordAndCommit(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	return oauth.UseRecordThenCommit(ctx, c, kind, sig, drop, recs)
}

func (c *countingStore) UseRecord(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	c.count("use " + string(kind))
	c.mu.Lock()
	for _, r := range recs {
		if codeKind(r.Kind) {
			c.stored[r.Kind] = r.Signature
		}
	}
	c.mu.Unlock()
	return c.Store.UseRecord(ctx, kind, sig, drop, recs)
}

func (c *countingStore) DeactivateRecord(ctx context.Context, kind oauth.Kind, sig string) error {
	c.count("deactivate " + string(kind))
	return c.Store.DeactivateRecord(ctx, kind, sig)
}

func (c *countingStore) DeleteRecord(ctx context.Context, kind oauth.Kind, sig string) error {
	c.count("delete " + string(kind))
	return c.Store.DeleteRecord(ctx, kind, sig)
}

func (c *countingStore) BeginTx(ctx context.Context) (context.Context, error) {
	c.count("begin")
	return c.Store.BeginTx(ctx)
}

func (c *countingStore) GetRecord(ctx context.Context, kind oauth.Kind, signature string) (oauth.Record, error) {
	if codeKind(kind) {
		c.count("read one")
	}
	c.count("read " + string(kind))
	return c.Store.GetRecord(ctx, kind, signature)
}

func (c *countingStore) GetRecords(ctx context.Context, signature string, kinds ...oauth.Kind) (map[oauth.Kind]oauth.Record, error) {
	c.count("read together")
	return c.Store.GetRecords(ctx, signature, kinds...)
}

// A code's three records (the code, its PKCE challenge and its OpenID
// request) are one row, written when the citizen approves, under the
// code's signature (the store never holds a usable code): fosite stores
// the challenge and the OpenID request as the code's request with
// another form, and the code's record keeps those forms. It is read in
// one go when the partner exchanges the code, though fosite asks for
// each, and for the code twice; the exchange still checks the verifier
// against the challenge and yields an ID token with the nonce.
func TestCodeRecordsTogether(t *testing.T) {
	srv, st, pending := codeServer(t)
	code, _ := approvedCode(t, srv, st, pending)
	if st.calls["use pending"] != 1 || st.calls["create one"] != 0 ||
		st.calls["deactivate pending"] != 0 || len(st.stored) != 1 || st.stored[oauth.KindCode] == "" {
		t.Errorf("the code's records written: %v, kinds %v", st.calls, st.stored)
	}
	for kind, sig := range st.stored {
		if sig == code || !strings.HasSuffix(code, "."+sig) {
			t.Errorf("the %s record is stored under %q, not under the code's signature", kind, sig)
		}
	}

	if wrong := exchange(t, srv, code, strings.Repeat("w", 50)); wrong["error"] != "invalid_grant" {
		t.Fatalf("the exchange with another verifier: %v", wrong)
	}
	code, verifier := approvedCode(t, srv, st, pending)
	st.calls = map[string]int{}
	tokens := exchange(t, srv, code, verifier)
	if tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Fatalf("the exchange: %v", tokens)
	}
	if st.calls["read together"] != 1 || st.calls["read one"] != 0 {
		t.Errorf("the code's records read: %v", st.calls)
	}
	if nonce := idTokenClaims(t, tokens)["nonce"]; nonce != "nonce-1234567890" {
		t.Errorf("the ID token's nonce: %v", nonce)
	}
}

// BenchmarkCodeExchange measures a code's exchange at the token endpoint
// on the memory store: the code's records read and decoded, the PKCE and
// OpenID checks, the tokens made and the ID token signed.
func BenchmarkCodeExchange(b *testing.B) {
	srv, st, pending := codeServer(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code, verifier := approvedCode(b, srv, st, pending)
		b.StartTimer()
		if tokens := exchange(b, srv, code, verifier); tokens["access_token"] == nil {
			b.Fatalf("the exchange: %v", tokens)
		}
	}
}

// idTokenClaims reads the claims of the ID token in tokens, unverified:
// the tests that verify it are the server's.
func idTokenClaims(t *testing.T, tokens map[string]any) map[string]any {
	t.Helper()
	parts := strings.Split(tokens["id_token"].(string), ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// A code's exchange is one write and no transaction: the code used, its
// PKCE challenge and OpenID request dropped and its tokens stored at once
// (Store.UseRecord). The exchange after it is refused, and what is left
// of the code is only the used code.
func TestCodeExchangedInOneWrite(t *testing.T) {
	srv, st, pending := codeServer(t)
	code, verifier := approvedCode(t, srv, st, pending)
	st.calls = map[string]int{}
	tokens := exchange(t, srv, code, verifier)
	if tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Fatalf("the exchange: %v", tokens)
	}
	want := map[string]int{"read together": 1, "use code": 1}
	if !maps.Equal(st.calls, want) {
		t.Errorf("the exchange's calls to the store: %v, want %v", st.calls, want)
	}
	sig := code[strings.LastIndexByte(code, '.')+1:]
	left, err := st.GetRecords(context.Background(), sig, oauth.KindCode, oauth.KindPKCE, oauth.KindOIDC)
	if err != nil || len(left) != 1 || left[oauth.KindCode].Active {
		t.Errorf("left of the code: %+v, %v", left, err)
	}
	if again := exchange(t, srv, code, verifier); again["error"] != "invalid_grant" {
		t.Errorf("the code exchanged again: %v", again)
	}
}

// Codes issued by the versions before are exchanged as they were stored:
// with the PKCE challenge and the OpenID request as records of their own
// under the code's signature, or the OpenID request under the code
// itself. The exchange checks the challenge, yields the ID token, and the
// records stored apart go with it.
func TestCodeFromBeforeTheUpgrade(t *testing.T) {
	for _, under := range []string{"signature", "code"} {
		t.Run("OpenID request under the "+under, func(t *testing.T) {
			srv, st, pending := codeServer(t)
			ctx := context.Background()
			code, _ := approvedCode(t, srv, st, pending)
			sig := code[strings.LastIndexByte(code, '.')+1:]
			oidcUnder := sig
			if under == "code" {
				oidcUnder = code
			}
			unfold(t, st, sig, oidcUnder)
			if wrong := exchange(t, srv, code, strings.Repeat("w", 50)); wrong["error"] != "invalid_grant" {
				t.Fatalf("the exchange with another verifier: %v", wrong)
			}

			code, verifier := approvedCode(t, srv, st, pending)
			sig = code[strings.LastIndexByte(code, '.')+1:]
			if under == "code" {
				oidcUnder = code
			} else {
				oidcUnder = sig
			}
			unfold(t, st, sig, oidcUnder)
			tokens := exchange(t, srv, code, verifier)
			if tokens["id_token"] == nil || idTokenClaims(t, tokens)["nonce"] != "nonce-1234567890" {
				t.Errorf("the exchange of a code from before the upgrade: %v", tokens)
			}
			if _, err := st.GetRecord(ctx, oauth.KindOIDC, oidcUnder); err == nil {
				t.Error("the old OpenID request outlived its code's exchange")
			}
			if _, err := st.GetRecord(ctx, oauth.KindPKCE, sig); err == nil {
				t.Error("the old PKCE challenge outlived its code's exchange")
			}
		})
	}
}

// unfold stores the code under sig as the version before did: its PKCE
// challenge and OpenID request as records of their own (the OpenID
// request under oidcUnder), each the code's request with its own form.
func unfold(t *testing.T, st *countingStore, sig, oidcUnder string) {
	t.Helper()
	ctx := context.Background()
	code, err := st.GetRecord(ctx, oauth.KindCode, sig)
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	if err := json.Unmarshal(code.Request, &req); err != nil {
		t.Fatal(err)
	}
	also, _ := req["also"].(map[string]any)
	if also["pkce"] == nil || also["oidc"] == nil {
		t.Fatalf("the code's record holds %v", also)
	}
	delete(req, "also")
	rewrite := func(kind oauth.Kind, under string, form any) {
		rec := code
		rec.Kind, rec.Signature = kind, under
		if form != nil {
			req["form"] = form
		}
		if rec.Request, err = json.Marshal(req); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteRecord(ctx, kind, under); err != nil {
			t.Fatal(err)
		}
		if err := st.Store.CreateRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(oauth.KindCode, sig, nil)
	rewrite(oauth.KindPKCE, sig, also["pkce"])
	rewrite(oauth.KindOIDC, oidcUnder, also["oidc"])
}

// codeServer is an OAuth server with partner "bank" on a store that
// counts the code records' reads and writes.
func codeServer(t testing.TB) (*oauth.Server, *countingStore, *string) {
	st := &countingStore{Store: memory.New(), calls: map[string]int{}, stored: map[oauth.Kind]string{}}
	pending := new(string)
	srv := newTestServer(t, st, oauth.Config{Consent: waiting{pending}}, partners.Partner{ID: "bank", Registration: partners.Registration{
		ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, TokenEndpointAuthMethod: partners.AuthSecretBasic,
		Scope: "openid documents:id_card", Documents: []consent.DocumentType{"id_card"}, Delivery: partners.DeliveryPull}})
	return srv, st, pending
}

// approvedCode is a code the citizen approved for "bank", and its PKCE
// verifier.
func approvedCode(t testing.TB, srv *oauth.Server, st *countingStore, pending *string) (code, verifier string) {
	t.Helper()
	verifier = strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"bank"}, "redirect_uri": {"https://bank.example/cb"},
		"scope": {"openid documents:id_card"}, "state": {"state-1234567890"}, "nonce": {"nonce-1234567890"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	rec := httptest.NewRecorder()
	srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+q.Encode(), nil))
	if *pending == "" {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
	}
	now := time.Now()
	c := consent.Challenge{ID: "c1", PartnerID: "bank", Citizen: "850315300128", Status: consent.ChallengePending, Version: 1, ExpiresAt: now.Add(time.Minute)}
	if err := st.CreateChallenge(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/x/otp", nil), oauth.Pending{ID: *pending}, func(ctx context.Context) (oauth.Decision, error) {
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: "g1", Citizen: "850315300128", PartnerID: "bank", Documents: []consent.DocumentType{"id_card"},
			ChallengeID: "c1", Status: consent.GrantActive, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		return oauth.Decision{Allow: true, Citizen: "850315300128", GrantID: "g1", Scopes: []string{"openid", "documents:id_card"}},
			st.ApproveChallenge(ctx, c, g, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if code = loc.Query().Get("code"); code == "" {
		t.Fatalf("no code: %s", rec.Header().Get("Location"))
	}
	return code, verifier
}

// exchange sends "bank"'s token request for code and returns the answer.
func exchange(t testing.TB, srv *oauth.Server, code, verifier string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://bank.example/cb"}, "code_verifier": {verifier}}
	req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bank", "s3cret")
	rec := httptest.NewRecorder()
	srv.Token(rec, req)
	var tokens map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &tokens); err != nil {
		t.Fatalf("the exchange: %d %s", rec.Code, rec.Body)
	}
	return tokens
}
