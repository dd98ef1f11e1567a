package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/httpapi"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
	"github.com/ory/fosite"
)

// The router over fakes of the small interfaces it declares: each fake
// answers with state.err when it is set, and notes what was called.

type state struct {
	mu    sync.Mutex
	err   error
	calls []string
	prefs consent.NotificationPrefs // what the settings keep
}

func (s *state) call(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, name)
	return s.err
}

func (s *state) called(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c == name {
			return true
		}
	}
	return false
}

func (s *state) fail(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

type fakeOAuth struct{}

func (fakeOAuth) Authorize(w http.ResponseWriter, _ *http.Request)  { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) Token(w http.ResponseWriter, _ *http.Request)      { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) PAR(w http.ResponseWriter, _ *http.Request)        { w.WriteHeader(http.StatusCreated) }
func (fakeOAuth) Introspect(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) Revoke(w http.ResponseWriter, _ *http.Request)     { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) Userinfo(w http.ResponseWriter, _ *http.Request)   { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) Discovery(w http.ResponseWriter, _ *http.Request)  { w.WriteHeader(http.StatusOK) }
func (fakeOAuth) JWKS(w http.ResponseWriter, _ *http.Request)       { w.WriteHeader(http.StatusOK) }

// fakeAuth knows one pending request, "req1", from "bank".
type fakeAuth struct{ *state }

func (a fakeAuth) PendingRequest(_ context.Context, id, carried string) (oauth.Pending, error) {
	if carried != "" {
		a.mu.Lock()
		a.calls = append(a.calls, "carried:"+carried)
		a.mu.Unlock()
	}
	params := url.Values{"grant_days": {"30"}, "purpose": {"a loan"}}
	switch id {
	case "req1":
	case "merge1": // merges into grant g1
		params.Set("grant_id", "g1")
		params.Set("grant_management_action", "merge")
	default:
		return oauth.Pending{}, oauth.ErrNotFound
	}
	return oauth.Pending{ID: id, ClientID: "bank", Scopes: []string{"openid", "documents:id_card", "documents:diploma"},
		ExpiresAt: time.Now().Add(10 * time.Minute), Params: params, Carried: carried}, nil
}

func (a fakeAuth) Finish(w http.ResponseWriter, r *http.Request, _ oauth.Pending, decide func(context.Context) (oauth.Decision, error)) error {
	d, err := decide(r.Context())
	if err != nil {
		return err
	}
	var rfc *fosite.RFC6749Error
	switch {
	case d.Allow:
		a.call("finish:allow")
	case errors.As(d.Err, &rfc):
		a.call("finish:" + rfc.ErrorField)
	default:
		a.call("finish:deny")
	}
	http.Redirect(w, r, "https://bank.example/cb?code=c", http.StatusSeeOther)
	return nil
}

type fakeConsents struct{ *state }

func (f fakeConsents) Start(context.Context, consent.StartRequest) (consent.Challenge, error) {
	return consent.Challenge{ID: "ch1", PendingID: "req1"}, f.call("start")
}
func (f fakeConsents) Challenge(_ context.Context, id, _ string) (consent.Challenge, error) {
	_ = f.call("challenge:" + id) // noted only: the store's failures are the other calls'
	return consent.Challenge{ID: id, PendingID: "req1", Documents: []consent.DocumentType{"id_card"}, Days: 30}, nil
}
func (f fakeConsents) CarryChallenge(c consent.Challenge) string { return "carried-" + c.ID }
func (f fakeConsents) CarriedChallenge(carried, id, _ string) (consent.Challenge, bool) {
	if carried != "carried-"+id {
		return consent.Challenge{}, false
	}
	return consent.Challenge{ID: id, PendingID: "req1", Documents: []consent.DocumentType{"id_card"}, Days: 7}, true
}
func (f fakeConsents) Resend(context.Context, string, string, string, []consent.DocumentType, int, string) (consent.Challenge, time.Duration, error) {
	return consent.Challenge{ID: "ch1", PendingID: "req1"}, 0, f.call("resend")
}
func (f fakeConsents) Approve(_ context.Context, r consent.ApproveRequest) (consent.Grant, error) {
	return consent.Grant{ID: "g1", Citizen: "850315300128", Documents: r.Documents}, f.call("approve")
}
func (f fakeConsents) Holders(context.Context, string, string, []string) ([]consent.HolderChoice, error) {
	return nil, f.call("holders")
}
func (f fakeConsents) Grant(_ context.Context, id string) (consent.Grant, error) {
	_ = f.call("grant") // read whatever fails next
	return consent.Grant{ID: id, Status: consent.GrantActive, Documents: []consent.DocumentType{"id_card"}, ExpiresAt: time.Now().Add(time.Hour)}, nil
}
func (f fakeConsents) Config() consent.OTPConfig { return consent.DefaultOTPConfig }
func (f fakeConsents) SignaturesOffered() bool   { return true }
func (f fakeConsents) StartSigned(_ context.Context, r consent.StartRequest) (consent.Challenge, error) {
	return consent.Challenge{ID: "sig1", PendingID: "req1", PartnerID: r.PartnerID, Method: consent.MethodSignature,
		Documents: r.Documents, Days: r.Days}, f.call("start-signed")
}
func (f fakeConsents) VerifySignature(_ context.Context, id, _ string, signed []byte, _ []consent.DocumentType, _ int) (consent.Challenge, error) {
	if err := f.call("verify-signature"); err != nil {
		return consent.Challenge{}, err
	}
	if string(signed) != "good signature" {
		return consent.Challenge{}, fmt.Errorf("%w: revoked", consent.ErrBadSignature)
	}
	return consent.Challenge{ID: id, Method: consent.MethodSignature, Status: consent.ChallengeVerified}, nil
}

type fakeDirectory struct{}

func (fakeDirectory) GetPartner(_ context.Context, id string) (partners.Partner, error) {
	if id != "bank" {
		return partners.Partner{}, partners.ErrNotFound
	}
	return partners.Partner{ID: id, Registration: partners.Registration{ClientName: "Bank"}, Status: partners.StatusActive}, nil
}

// fakeTokens admits "citizen-token" (a citizen's grant, with me) and
// "verifier-token".
type fakeTokens struct{ *state }

func (f fakeTokens) Access(r *http.Request) (oauth.AccessInfo, error) {
	raw, dpop, ok := oauth.AuthorizationToken(r)
	if !ok {
		return oauth.AccessInfo{}, &oauth.ResourceError{Challenge: oauth.Challenge(false, ""), Description: "no token"}
	}
	if dpop {
		return oauth.AccessInfo{}, &oauth.ResourceError{Challenge: oauth.Challenge(false, "invalid_token"), Description: "not bound"}
	}
	switch raw {
	case "citizen-token":
		return oauth.AccessInfo{ClientID: "bank", Citizen: "850315300128", GrantID: "g1",
			Scopes: []string{"openid", "me", "documents:id_card"}}, nil
	case "verifier-token":
		return oauth.AccessInfo{ClientID: "airport", Scopes: []string{"verify"}}, nil
	}
	return oauth.AccessInfo{}, &oauth.ResourceError{Challenge: oauth.Challenge(false, "invalid_token"), Description: "invalid"}
}

type fakeDocuments struct{ *state }

func (f fakeDocuments) List(context.Context, consent.Token) ([]consent.Summary, error) {
	return []consent.Summary{}, f.call("list")
}
func (f fakeDocuments) Fetch(context.Context, consent.Token, consent.DocumentType, string) (string, error) {
	return "a.b.c", f.call("fetch")
}

type fakeSettings struct{ *state }

func (f fakeSettings) StartLogin(context.Context, string, string, string, string, string) (consent.Challenge, error) {
	return consent.Challenge{ID: "ch1"}, f.call("start-login")
}
func (f fakeSettings) LogIn(context.Context, string, string, string) (string, consent.IIN, error) {
	return "session-token", "850315300128", f.call("login")
}
func (f fakeSettings) Citizen(_ context.Context, token string) (consent.IIN, error) {
	if err := f.call("citizen"); err != nil {
		return "", err
	}
	if token != "session-token" {
		return "", consent.ErrNoSession
	}
	return "850315300128", nil
}
func (f fakeSettings) StartSignatureLogin(context.Context, string, string, string, string) (consent.Challenge, error) {
	return consent.Challenge{ID: "sig-login", Method: consent.MethodSignature}, f.call("start-signature-login")
}
func (f fakeSettings) LogInBySignature(_ context.Context, _, _ string, signed []byte) (string, consent.IIN, error) {
	if string(signed) != "good signature" {
		return "", "", fmt.Errorf("%w: revoked", consent.ErrBadSignature)
	}
	return "session-token", "850315300128", f.call("signature-login")
}
func (f fakeSettings) UnderOlderTerms(context.Context, consent.IIN) ([]consent.Grant, error) {
	return nil, nil
}
func (f fakeSettings) CurrentTerms() string { return "2026-11-01" }
func (f fakeSettings) DeclineTerms(context.Context, consent.IIN) (int, error) {
	return 0, f.call("decline-terms")
}
func (f fakeSettings) LogOut(context.Context, string) error { return f.call("logout") }
func (f fakeSettings) Grants(context.Context, consent.IIN) ([]consent.GrantView, error) {
	return nil, f.call("grants")
}
func (f fakeSettings) Revoke(context.Context, consent.IIN, consent.Revocation, string) (int, error) {
	return 1, f.call("revoke")
}
func (f fakeSettings) History(context.Context, consent.IIN, int) ([]consent.Event, error) {
	return nil, f.call("history")
}

// HistoryPage has a history of 250 entries, the one with ID i at i
// seconds past 1970: a page is the entries before the cursor, and its next
// cursor its last one's.
func (f fakeSettings) HistoryPage(_ context.Context, _ consent.IIN, before consent.HistoryCursor, limit int) ([]consent.Event, consent.HistoryCursor, error) {
	from := int64(250)
	if !before.IsZero() {
		from = before.ID - 1
	}
	var out []consent.Event
	var last consent.HistoryCursor
	for id := from; id >= 1 && len(out) < limit; id-- {
		out, last = append(out, consent.Event{At: time.Unix(id, 0), Kind: consent.AccessFetch, PartnerID: fmt.Sprint(id)}), fakeCursor(id)
	}
	if len(out) < limit {
		last = consent.HistoryCursor{}
	}
	return out, last, f.call(fmt.Sprintf("history %d %d", from, limit))
}

func fakeCursor(id int64) consent.HistoryCursor {
	return consent.HistoryCursor{At: time.Unix(id, 0).UTC(), ID: id}
}

func (f fakeSettings) Erase(context.Context, consent.IIN) (consent.Erasure, error) {
	return consent.Erasure{}, f.call("erase")
}
func (f fakeSettings) Report(context.Context, consent.IIN, consent.DocumentType, string) (consent.ErrorReport, error) {
	return consent.ErrorReport{ID: "KL-0123456789"}, f.call("report")
}
func (f fakeSettings) Reports(context.Context, consent.IIN) ([]consent.ErrorReport, error) {
	return nil, f.call("reports")
}

func (f fakeSettings) Documents(context.Context, consent.IIN) ([]consent.ReadDocument, error) {
	holder := consent.Holder{Name: "Aidar Serikov", IIN: "850315300128"}
	return []consent.ReadDocument{
		{Document: consent.Document{Type: "driver_license", Number: "KZ AB 123456", Issued: "2020-06-01", Expires: "2030-05-31",
			Authority: "Ministry of Internal Affairs", Holder: holder, Status: consent.StatusValid, Fields: map[string]string{"categories": "B, C"}},
			Signature: consent.SignatureState{Verified: true, Authority: "Ministry of Internal Affairs", KeyID: "kz-mia-2026"}},
		{Document: consent.Document{Type: "diploma", Number: "ЖБ-Б 0456789", Issued: "2007-06-25", Authority: "University", Holder: holder,
			Status: consent.StatusValid}, Signature: consent.SignatureState{Problem: "bad"}, Err: consent.ErrIssuerSignature},
	}, f.call("documents")
}
func (f fakeSettings) Channels() []string { return consent.Channels }
func (f fakeSettings) NotificationPrefs(context.Context, consent.IIN) (consent.NotificationPrefs, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prefs, nil
}
func (f fakeSettings) SetNotificationChannels(_ context.Context, _ consent.IIN, channels []string, lang string) error {
	if err := f.call("notifications"); err != nil {
		return err
	}
	p := consent.NotificationPrefs{Channels: channels, Lang: lang}
	if err := p.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefs = p
	return nil
}

type fakeShares struct{ *state }

func (f fakeShares) ViewAsPerson(_ context.Context, _ consent.IIN, code, token string) (consent.PersonView, error) {
	if err := f.call("view-as-person"); err != nil {
		return consent.PersonView{}, err
	}
	if code != "123456" && token != strings.Repeat("T", 43) {
		return consent.PersonView{}, consent.ErrShareNotFound
	}
	return consent.PersonView{Document: consent.Document{Type: "id_card", Number: "045123456", Issued: "2019-04-10", Expires: "2029-04-09",
		Authority: "Ministry of Internal Affairs", Holder: consent.Holder{Name: "Aidar Serikov", IIN: "850315300128"}, Status: consent.StatusValid},
		Signature: consent.SignatureState{Verified: true, Authority: "Ministry of Internal Affairs"}, SharedBy: "Aidar Serikov",
		Share: consent.Share{ID: "s1", ExpiresAt: time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC)}}, nil
}

func (f fakeShares) Open(context.Context, consent.IIN, consent.IIN, consent.DocumentType) (consent.Share, error) {
	return consent.Share{ID: "sh1"}, f.call("open")
}
func (f fakeShares) Get(context.Context, consent.IIN, string) (consent.Share, error) {
	return consent.Share{ID: "sh1"}, f.call("get")
}
func (f fakeShares) Extend(context.Context, consent.IIN, string) (consent.Share, error) {
	return consent.Share{ID: "sh1"}, f.call("extend")
}
func (f fakeShares) Close(context.Context, consent.IIN, string) (consent.Share, error) {
	return consent.Share{ID: "sh1"}, f.call("close")
}
func (f fakeShares) Sharable(context.Context, consent.IIN) ([]consent.Sharable, error) {
	return nil, nil
}
func (f fakeShares) Active(consent.Share) bool        { return true }
func (f fakeShares) Left(consent.Share) time.Duration { return time.Minute }
func (f fakeShares) Code(string) string               { return "123456" }
func (f fakeShares) URL(id string) string             { return "https://kelisim.test/v/" + id }
func (f fakeShares) Verify(context.Context, string, string, string) (string, consent.Share, error) {
	return "a.b.c", consent.Share{}, f.call("verify")
}
func (f fakeShares) Views(context.Context, string) ([]consent.AccessEvent, error) {
	return nil, f.call("views")
}

type fakeAdmin struct{ *state }

func (f fakeAdmin) Onboard(context.Context, string, partners.Registration) (partners.Partner, string, error) {
	return partners.Partner{ID: "p1"}, "secret", f.call("onboard")
}
func (f fakeAdmin) Get(context.Context, string) (partners.Partner, error) {
	return partners.Partner{ID: "p1"}, f.call("get")
}
func (f fakeAdmin) List(context.Context) ([]partners.Partner, error) { return nil, f.call("list") }
func (f fakeAdmin) Update(context.Context, string, string, []byte) (partners.Partner, error) {
	return partners.Partner{}, f.call("update")
}
func (f fakeAdmin) RotateSecret(context.Context, string, string, time.Duration) (partners.Partner, string, error) {
	return partners.Partner{}, "s", f.call("rotate")
}
func (f fakeAdmin) Suspend(context.Context, string, string) (partners.Partner, error) {
	return partners.Partner{}, f.call("suspend")
}
func (f fakeAdmin) Resume(context.Context, string, string) (partners.Partner, error) {
	return partners.Partner{}, f.call("resume")
}
func (f fakeAdmin) Audit(context.Context, string, int) ([]partners.AuditEntry, error) {
	return nil, f.call("audit")
}
func (f fakeAdmin) Audited(ctx context.Context, _, _ string, do func(context.Context, *partners.AuditEntry) error) error {
	return do(ctx, &partners.AuditEntry{})
}
func (f fakeAdmin) Deliveries(context.Context, consent.OutboxStatus, int) ([]consent.OutboxEntry, error) {
	return nil, f.call("deliveries")
}
func (f fakeAdmin) Replay(context.Context, string) (consent.OutboxEntry, error) {
	return consent.OutboxEntry{}, f.call("replay")
}
func (f fakeAdmin) DocumentChanged(context.Context, consent.IIN, consent.DocumentType) (int, error) {
	return 0, f.call("changed")
}
func (f fakeAdmin) Rotate(context.Context) (string, error) { return "k2", f.call("rotate-keys") }
func (f fakeAdmin) Reload(context.Context) error           { return nil }
func (f fakeAdmin) Answer(context.Context, string, consent.ReportStatus, string) (consent.ErrorReport, error) {
	return consent.ErrorReport{}, f.call("answer")
}

type fakeLogos struct{}

func (fakeLogos) Fetch(context.Context, string) (string, []byte, error) {
	return "image/png", []byte("png"), nil
}

// gateway is the router on fakes, and what the tests look at.
type gateway struct {
	*state
	srv      *httptest.Server
	messages *consent.Messages
	logs     *strings.Builder
}

func newGateway(t *testing.T, issuer string) *gateway {
	t.Helper()
	messages, err := consent.NewMessages(shippedTypes(t))
	if err != nil {
		t.Fatal(err)
	}
	st := &state{}
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil))
	policy, _ := consent.NewRequestPolicy(consent.RequestPolicy{DefaultDays: 90, MaxDays: 365})
	d := httpapi.Deps{
		OAuth: fakeOAuth{}, Authorizations: fakeAuth{st}, Consents: fakeConsents{st}, Requests: policy, Terms: "2026-11-01",
		Messages: messages, Pages: httpapi.PageConfig{CSRFKey: []byte("0123456789abcdef0123456789abcdef")},
		Partners: fakeAdmin{st}, Directory: fakeDirectory{}, Logos: fakeLogos{}, Tokens: fakeTokens{st},
		Documents: fakeDocuments{st}, Deliveries: fakeAdmin{st}, Keys: fakeAdmin{st}, Settings: fakeSettings{st},
		Reports: fakeAdmin{st}, Shares: fakeShares{st}, Issuer: issuer, AdminToken: "admin-token",
		Ready: func(context.Context) error { return nil }, Metrics: httpapi.NewMetrics(), Log: log,
	}
	srv := httptest.NewServer(httpapi.New(d, httpapi.Parts{Public: true, Admin: true}))
	t.Cleanup(srv.Close)
	return &gateway{state: st, srv: srv, messages: messages, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends a request and returns the answer with its body read.
func (g *gateway) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// text is what message id says in English, with data.
func (g *gateway) text(id string, count ...int) string {
	return g.messages.For("en").T(id, nil, count...)
}

func shippedTypes(t *testing.T) *consent.Catalogue {
	t.Helper()
	c, err := consent.ShippedCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
