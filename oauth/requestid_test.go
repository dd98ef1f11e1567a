package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// familyStore notes the request ID of every record stored, by kind, in
// the order they were stored.
type familyStore struct {
	*countingStore
	mu  sync.Mutex
	ids map[oauth.Kind][]string
}

func (f *familyStore) note(recs ...oauth.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		f.ids[r.Kind] = append(f.ids[r.Kind], r.RequestID)
	}
}

func (f *familyStore) CreateRecord(ctx context.Context, r oauth.Record) error {
	f.note(r)
	return f.countingStore.CreateRecord(ctx, r)
}

func (f *familyStore) UseRecord(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	f.note(recs...)
	return f.countingStore.UseRecord(ctx, kind, sig, drop, recs)
}

func (f *familyStore) UseRecordAndCommit(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	return oauth.UseRecordThenCommit(ctx, f, kind, sig, drop, recs)
}

// last is the request ID of the last record of kind stored.
func (f *familyStore) last(t *testing.T, kind oauth.Kind) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids[kind]) == 0 {
		t.Fatalf("no %s record stored", kind)
	}
	return f.ids[kind][len(f.ids[kind])-1]
}

// A new authorization's request ID, which every code and token of it
// carries and oauth_records_request_idx is keyed by, grows with time
// (UUIDv7), so a stored token lands on that index's newest leaves instead
// of anywhere in it: for a client_credentials token, a code asked for
// directly and one asked for through PAR. A family keeps its ID from the
// request to its tokens.
func TestRequestIDsGrowWithTime(t *testing.T) {
	st := &familyStore{countingStore: &countingStore{Store: memory.New(), calls: map[string]int{}, stored: map[oauth.Kind]string{}},
		ids: map[oauth.Kind][]string{}}
	pending := new(string)
	srv := newTestServer(t, st, oauth.Config{Consent: waiting{pending}},
		partners.Partner{ID: "bank", Registration: partners.Registration{
			ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope: "openid documents:id_card", Documents: []consent.DocumentType{"id_card"}, Delivery: partners.DeliveryPull}},
		partners.Partner{ID: "airport", Registration: partners.Registration{ClientName: "airport", TokenEndpointAuthMethod: partners.AuthSecretBasic,
			Scope: "verify", Verifier: true, Delivery: partners.DeliveryPull}})
	timeOrdered := func(what, id string) {
		t.Helper()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Errorf("%s: request ID %q is not a UUIDv7 (%v)", what, id, err)
		}
	}

	var previous string
	for i := range 3 {
		rec := postAs(srv.Token, oauth.PathToken, "airport", url.Values{"grant_type": {"client_credentials"}, "scope": {"verify"}})
		if rec.Code != http.StatusOK {
			t.Fatalf("client_credentials: %d %s", rec.Code, rec.Body)
		}
		id := st.last(t, oauth.KindAccess)
		timeOrdered("client_credentials", id)
		if i > 0 && id <= previous {
			t.Errorf("client_credentials: request ID %q after %q", id, previous)
		}
		previous = id
	}

	code, verifier := approvedCode(t, srv, st.countingStore, pending)
	family := st.last(t, oauth.KindCode)
	timeOrdered("a code", family)
	if family <= previous {
		t.Errorf("a code: request ID %q after %q", family, previous)
	}
	if tokens := exchange(t, srv, code, verifier); tokens["access_token"] == nil {
		t.Fatalf("the exchange: %v", tokens)
	}
	if id := st.last(t, oauth.KindAccess); id != family {
		t.Errorf("the code's access token: request ID %q, the code's %q", id, family)
	}

	form := url.Values{"response_type": {"code"}, "client_id": {"bank"}, "redirect_uri": {"https://bank.example/cb"},
		"scope": {"openid documents:id_card"}, "state": {"state-1234567890"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	rec := postAs(srv.PAR, oauth.PathPAR, "bank", form)
	if rec.Code != http.StatusCreated {
		t.Fatalf("PAR: %d %s", rec.Code, rec.Body)
	}
	pushed := st.last(t, oauth.KindPAR)
	timeOrdered("a pushed request", pushed)
	if pushed <= family {
		t.Errorf("a pushed request: request ID %q after %q", pushed, family)
	}
	uri := strings.Split(strings.Split(rec.Body.String(), `"request_uri":"`)[1], `"`)[0]
	*pending = ""
	rec = httptest.NewRecorder()
	srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+url.Values{"client_id": {"bank"}, "request_uri": {uri}}.Encode(), nil))
	if *pending == "" {
		t.Fatalf("authorize with the pushed request: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	got := finishFamily(t, srv, st, *pending)
	if got != pushed {
		t.Errorf("the pushed request's code: request ID %q, the pushed request's %q", got, pushed)
	}
}

// postAs posts form to handler at path as partner client (secret "s3cret").
func postAs(handler http.HandlerFunc, path, client string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, "s3cret")
	rec := httptest.NewRecorder()
	handler(rec, req)
	return rec
}

// finishFamily approves the pending request and returns the request ID
// of the code it stored.
func finishFamily(t *testing.T, srv *oauth.Server, st *familyStore, pending string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/x/otp", nil), oauth.Pending{ID: pending}, func(ctx context.Context) (oauth.Decision, error) {
		return oauth.Decision{Allow: true, Citizen: "850315300128", GrantID: "g1", Scopes: []string{"openid", "documents:id_card"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st.last(t, oauth.KindCode)
}
