package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// A token issued under an epoch of its partner works only while the
// partner stays in it: once the partner has been suspended, the token
// never works again, even after a resume and even if the suspension's
// sweep of tokens missed it (it was being issued at that moment).
func TestTokenVoidAfterSuspensionEpoch(t *testing.T) {
	srv, st, _ := setupServer(t)
	secrets, _ := oauth.NewSecrets([]byte("test-secret-test-secret-test-secret-0123"))
	ctx := context.Background()
	p, _ := st.GetPartner(ctx, "bank")
	p.SecretHash = secrets.HashSecret([]byte("bank-secret"))
	if err := st.UpdatePartner(ctx, p, partners.AuditEntry{At: time.Now(), Action: "partner.update", PartnerID: "bank"}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", oauth.PathToken, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bank", "bank-secret")
	rec := httptest.NewRecorder()
	srv.Token(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	if _, err := srv.AccessToken(ctx, tok.AccessToken); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	// Suspended and resumed, the token left active by the sweep.
	p, _ = st.GetPartner(ctx, "bank")
	p.Epoch++
	if err := st.UpdatePartner(ctx, p, partners.AuditEntry{At: time.Now(), Action: "partner.resume", PartnerID: "bank"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AccessToken(ctx, tok.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Errorf("a token from before a suspension, after the resume: %v, want ErrInvalidToken", err)
	}
}
