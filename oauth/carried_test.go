package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// keeping leaves every request for the test to finish, and keeps it as
// the browser gets it.
type keeping struct{ p *oauth.Pending }

func (k keeping) Prompt(rw http.ResponseWriter, _ *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	*k.p = p
	rw.WriteHeader(http.StatusAccepted)
	return oauth.Decision{}, false
}

// The browser carries its pending request between the consent pages: the
// pages and the answer take it from what the browser hands back, not from
// the store. What was altered, carried for another request or has expired
// is not believed. A request answered already is found answered when it is
// answered again, though the browser still carries it.
func TestPendingRequestCarried(t *testing.T) {
	st := &countingStore{Store: memory.New(), calls: map[string]int{}, stored: map[oauth.Kind]string{}}
	var offset atomic.Int64
	srv, ask := carryingServer(t, st, func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	ctx := context.Background()
	first, second := ask(), ask()
	if strings.Contains(first.Carried, "850315300128") {
		t.Error("the browser can read what it carries")
	}

	tampered := []byte(first.Carried)
	tampered[len(tampered)/2] ^= 1
	for _, tc := range []struct {
		name    string
		carried string
		reads   int
	}{
		{"as carried", first.Carried, 0},
		{"altered", string(tampered), 1},
		{"carried for another request", second.Carried, 1},
		{"nothing carried", "", 1},
	} {
		st.calls = map[string]int{}
		p, err := srv.PendingRequest(ctx, first.ID, tc.carried)
		if err != nil || p.ClientID != "bank" || p.LoginHint != "850315300128" || !slices.Equal(p.Scopes, []string{"openid", "documents:id_card"}) {
			t.Errorf("%s: %+v, %v", tc.name, p, err)
		}
		if st.calls["read pending"] != tc.reads {
			t.Errorf("%s: the store read %d times, want %d", tc.name, st.calls["read pending"], tc.reads)
		}
		if believed := p.Carried != ""; believed != (tc.reads == 0) {
			t.Errorf("%s: carried on %v", tc.name, believed)
		}
	}

	p, err := srv.PendingRequest(ctx, first.ID, first.Carried)
	if err != nil {
		t.Fatal(err)
	}
	st.calls = map[string]int{}
	if loc := answer(t, srv, st, p, "c1"); !strings.Contains(loc, "code=") {
		t.Fatalf("the answer: %s", loc)
	}
	if st.calls["read pending"] != 0 || st.calls["use pending"] != 1 {
		t.Errorf("the answer's calls to the store: %v", st.calls)
	}
	// Answered: the store says so; the browser's copy still opens, but
	// answering it again issues nothing.
	if _, err := srv.PendingRequest(ctx, first.ID, ""); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("an answered request from the store: %v", err)
	}
	again, err := srv.PendingRequest(ctx, first.ID, first.Carried)
	if err != nil {
		t.Fatal(err)
	}
	if loc := answer(t, srv, st, again, "c2"); strings.Contains(loc, "code=") {
		t.Errorf("an answered request answered again: %s", loc)
	}
	if _, err := st.GetGrant(ctx, "g-c2"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("the second answer's grant stayed: %v", err)
	}

	offset.Store(int64(11 * time.Minute))
	if _, err := srv.PendingRequest(ctx, second.ID, second.Carried); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("an expired request the browser carries: %v", err)
	}

	// A partner suspended since: the pages find the request gone, and an
	// answer begun before the suspension issues nothing.
	third := ask()
	before, err := srv.PendingRequest(ctx, third.ID, third.Carried)
	if err != nil {
		t.Fatal(err)
	}
	bank, err := st.GetPartner(ctx, "bank")
	if err != nil {
		t.Fatal(err)
	}
	bank.Status, bank.Epoch = partners.StatusSuspended, bank.Epoch+1
	if err := st.UpdatePartner(ctx, bank, partners.AuditEntry{At: time.Now(), Action: "partner.suspend", PartnerID: "bank"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PendingRequest(ctx, third.ID, third.Carried); err == nil {
		t.Error("a suspended partner's request the browser carries is still shown")
	}
	if loc := answer(t, srv, st, before, "c3"); strings.Contains(loc, "code=") {
		t.Errorf("a suspended partner's request answered: %s", loc)
	}

}

// carryingServer is an OAuth server with partner "bank" on st, and ask,
// which starts a request of the bank's and returns it as the browser
// gets it.
func carryingServer(tb testing.TB, st *countingStore, now func() time.Time) (*oauth.Server, func() oauth.Pending) {
	var kept oauth.Pending
	srv := newTestServer(tb, st, oauth.Config{Consent: keeping{&kept}, Now: now, ConsentLifespan: 10 * time.Minute},
		partners.Partner{ID: "bank", Registration: partners.Registration{
			ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope: "openid documents:id_card", Documents: []consent.DocumentType{"id_card"}, Delivery: partners.DeliveryPull}})
	return srv, func() oauth.Pending {
		tb.Helper()
		kept = oauth.Pending{}
		q := url.Values{"response_type": {"code"}, "client_id": {"bank"}, "redirect_uri": {"https://bank.example/cb"},
			"scope": {"openid documents:id_card"}, "state": {"state-1234567890"}, "login_hint": {"850315300128"},
			"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		rec := httptest.NewRecorder()
		srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+q.Encode(), nil))
		if kept.ID == "" || kept.Carried == "" || len(kept.Carried) > oauth.MaxCarried {
			tb.Fatalf("authorize: %d, carried %d bytes", rec.Code, len(kept.Carried))
		}
		return kept
	}
}

// Whatever a browser hands back as its carried request, the request is
// read from the store unless it is the seal made for it; nothing panics.
func FuzzCarriedRequest(f *testing.F) {
	st := &countingStore{Store: memory.New(), calls: map[string]int{}, stored: map[oauth.Kind]string{}}
	srv, ask := carryingServer(f, st, time.Now)
	p, other := ask(), ask()
	f.Add(p.Carried)
	f.Add(other.Carried)
	f.Add(p.Carried[:len(p.Carried)/2])
	f.Add("")
	f.Add("\x00\xff not base64")
	f.Add(strings.Repeat("A", oauth.MaxCarried+1))
	f.Fuzz(func(t *testing.T, carried string) {
		got, err := srv.PendingRequest(context.Background(), p.ID, carried)
		if err != nil || got.ID != p.ID || got.ClientID != "bank" {
			t.Fatalf("the request with %q carried: %+v, %v", carried, got, err)
		}
		if (got.Carried != "") != (carried == p.Carried) {
			t.Fatalf("%q believed: %v", carried, got.Carried != "")
		}
	})
}

// answer approves p for the citizen with challenge id and returns where
// the browser is sent.
func answer(t *testing.T, srv *oauth.Server, st *countingStore, p oauth.Pending, id string) string {
	t.Helper()
	now := time.Now()
	c := consent.Challenge{ID: id, PartnerID: "bank", Citizen: "850315300128", Status: consent.ChallengePending, Version: 1, ExpiresAt: now.Add(time.Minute)}
	if err := st.CreateChallenge(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/x/otp", nil), p, func(ctx context.Context) (oauth.Decision, error) {
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: "g-" + id, Citizen: "850315300128", PartnerID: "bank", Documents: []consent.DocumentType{"id_card"},
			ChallengeID: id, Status: consent.GrantActive, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		return oauth.Decision{Allow: true, Citizen: "850315300128", GrantID: g.ID, Scopes: []string{"openid", "documents:id_card"}},
			st.ApproveChallenge(ctx, c, g, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Header().Get("Location")
}

// A replica opens and decodes a carried request once for all the pages
// of its consent: a later page costs a fraction of the first's
// allocations (each read had been a seal opened and three JSON decodes).
// What each page gets is its own: what one changes, the next does not
// see, on any goroutine.
func TestPendingRequestDecodedOnce(t *testing.T) {
	st := &countingStore{Store: memory.New(), calls: map[string]int{}, stored: map[oauth.Kind]string{}}
	srv, ask := carryingServer(t, st, time.Now)
	p := ask()
	// Another replica on the same store and secret has decoded nothing.
	other := newTestServer(t, st, oauth.Config{Consent: keeping{&oauth.Pending{}}, ConsentLifespan: 10 * time.Minute})
	ctx := context.Background()
	read := func(srv *oauth.Server) oauth.Pending {
		got, err := srv.PendingRequest(ctx, p.ID, p.Carried)
		if err != nil || got.Carried == "" || got.LoginHint != "850315300128" || !slices.Equal(got.Scopes, []string{"openid", "documents:id_card"}) {
			t.Fatalf("the request: %+v, %v", got, err)
		}
		return got
	}
	first := mallocs(func() { read(other) }) // AllocsPerRun would warm it up first
	later := testing.AllocsPerRun(20, func() { read(other) })
	if later*2 > first {
		t.Errorf("a later page allocates %.0f times, the first %.0f: decoded again", later, first)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got := read(srv)
				got.Scopes[0] = "documents:diploma"
				got.Params.Set("login_hint", "000000000000")
				got.Params["scope"][0] = "changed"
			}
		}()
	}
	wg.Wait()
	if got := read(other); got.Params.Get("scope") != "openid documents:id_card" {
		t.Errorf("a page saw what another changed: %v", got.Params)
	}
	if loc := answer(t, srv, st, read(srv), "c1"); !strings.Contains(loc, "code=") || !strings.Contains(loc, "state=state-1234567890") {
		t.Fatalf("the answer after pages changed their copies: %s", loc)
	}
}

// mallocs is how many allocations one call of f makes.
func mallocs(f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs - before.Mallocs)
}
