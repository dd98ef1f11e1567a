package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// failingCodes is the memory store with a fault: while armed, storing an
// authorization code fails.
type failingCodes struct {
	*memory.Store
	armed atomic.Bool
}

func (f *failingCodes) CreateRecord(ctx context.Context, r oauth.Record) error {
	if r.Kind == oauth.KindCode && f.armed.Load() {
		return errors.New("disk full")
	}
	return f.Store.CreateRecord(ctx, r)
}

// UseRecordAndCommit is the memory store's, through the failing UseRecord.
func (f *failingCodes) UseRecordAndCommit(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	return oauth.UseRecordThenCommit(ctx, f, kind, sig, drop, recs)
}

func (f *failingCodes) UseRecord(ctx context.Context, kind oauth.Kind, sig string, drop []oauth.Kind, recs []oauth.Record) error {
	for _, r := range recs {
		if r.Kind == oauth.KindCode && f.armed.Load() {
			return errors.New("disk full")
		}
	}
	return f.Store.UseRecord(ctx, kind, sig, drop, recs)
}

type noObserver struct{}

func (noObserver) TokenIssued(string)        {}
func (noObserver) OAuthError(string, string) {}

// waiting leaves every request for the test to finish.
type waiting struct{ id *string }

func (w waiting) Prompt(rw http.ResponseWriter, _ *http.Request, p oauth.Pending) (oauth.Decision, bool) {
	*w.id = p.ID
	rw.WriteHeader(http.StatusAccepted)
	return oauth.Decision{}, false
}

// setupServer is an OAuth server on the memory store with one partner,
// and a pending authorization request from it.
func setupServer(t *testing.T) (*oauth.Server, *failingCodes, string) {
	t.Helper()
	st := &failingCodes{Store: memory.New()}
	var id string
	srv := newTestServer(t, st, oauth.Config{Consent: waiting{&id}}, partners.Partner{ID: "bank", Registration: partners.Registration{
		ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"}, TokenEndpointAuthMethod: partners.AuthSecretBasic,
		Scope: "openid documents:id_card", Documents: []consent.DocumentType{"id_card"}, Delivery: partners.DeliveryPull}})
	q := url.Values{"response_type": {"code"}, "client_id": {"bank"}, "redirect_uri": {"https://bank.example/cb"},
		"scope": {"openid documents:id_card"}, "state": {"state-1234567890"}, "nonce": {"nonce-1234567890"},
		"code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	rec := httptest.NewRecorder()
	srv.Authorize(rec, httptest.NewRequest("GET", oauth.PathAuthorize+"?"+q.Encode(), nil))
	if rec.Code != http.StatusAccepted || id == "" {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
	}
	return srv, st, id
}

// The grant decide writes commits with the code or not at all: when the
// code cannot be stored, the grant is gone and the request is still open.
func TestFinishKeepsNoGrantWithoutACode(t *testing.T) {
	srv, st, id := setupServer(t)
	grant := func(ctx context.Context) (oauth.Decision, error) {
		c := consent.Challenge{ID: "c1", PartnerID: "bank", Citizen: "850315300128", Status: consent.ChallengePending, Version: 1,
			ExpiresAt: time.Now().Add(time.Minute)}
		if err := st.CreateChallenge(ctx, c); err != nil {
			return oauth.Decision{}, err
		}
		c.Status = consent.ChallengeUsed
		g := consent.Grant{ID: "g1", Citizen: "850315300128", PartnerID: "bank", Documents: []consent.DocumentType{"id_card"},
			ChallengeID: "c1", Status: consent.GrantActive, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.ApproveChallenge(ctx, c, g, nil); err != nil {
			return oauth.Decision{}, err
		}
		return oauth.Decision{Allow: true, Citizen: "850315300128", Scopes: []string{"openid", "documents:id_card"}, GrantID: "g1"}, nil
	}
	st.armed.Store(true)
	rec := httptest.NewRecorder()
	if err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/"+id+"/otp", nil), oauth.Pending{ID: id}, grant); err != nil {
		t.Fatal(err)
	}
	if loc := rec.Header().Get("Location"); strings.Contains(loc, "code=") {
		t.Fatalf("a code was sent although it was not stored: %s", loc)
	}
	if _, err := st.GetGrant(context.Background(), "g1"); !errors.Is(err, consent.ErrGrantNotFound) {
		t.Errorf("a grant is left without a code: %v", err)
	}
	if _, err := srv.PendingRequest(context.Background(), id, ""); err != nil {
		t.Errorf("the request was used up by a failed answer: %v", err)
	}

	st.armed.Store(false)
	rec = httptest.NewRecorder()
	if err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/"+id+"/otp", nil), oauth.Pending{ID: id}, grant); err != nil {
		t.Fatal(err)
	}
	if loc := rec.Header().Get("Location"); !strings.Contains(loc, "code=") {
		t.Fatalf("no code once it can be stored: %d %s", rec.Code, loc)
	}
	if _, err := st.GetGrant(context.Background(), "g1"); err != nil {
		t.Errorf("the grant of an issued code: %v", err)
	}
}

// A refusal decided inside Finish (a wrong code, say) keeps what decide
// wrote, writes nothing to the browser, and leaves the request open.
func TestFinishKeepsARefusalsWrites(t *testing.T) {
	srv, st, id := setupServer(t)
	wrong := errors.New("wrong code")
	rec := httptest.NewRecorder()
	err := srv.Finish(rec, httptest.NewRequest("POST", "/consent/"+id+"/otp", nil), oauth.Pending{ID: id}, func(ctx context.Context) (oauth.Decision, error) {
		return oauth.Decision{}, errors.Join(wrong, st.Hit(ctx, "tries", 5, time.Hour, time.Now()))
	})
	if !errors.Is(err, wrong) || rec.Body.Len() != 0 || rec.Header().Get("Location") != "" {
		t.Errorf("refusal: %v, wrote %d %q", err, rec.Code, rec.Body)
	}
	if err := st.Hit(context.Background(), "tries", 1, time.Hour, time.Now()); err == nil {
		t.Error("what the refusing decide wrote was rolled back")
	}
	if _, err := srv.PendingRequest(context.Background(), id, ""); err != nil {
		t.Errorf("a refusal used the request up: %v", err)
	}
}
