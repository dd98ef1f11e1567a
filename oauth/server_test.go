package oauth_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/oauth"
	"github.com/kelisim/kelisim/partners"
)

// testStore is what a unit test's server runs on: the memory store, or
// one that wraps it with a fault.
type testStore interface {
	oauth.Store
	oauth.PartnerGetter
	consent.GrantGetter
	CreatePartner(ctx context.Context, p partners.Partner, e partners.AuditEntry) error
}

// testSecret is the gateway secret of the unit tests.
const testSecret = "test-secret-test-secret-test-secret-0123"

// newTestServer is an OAuth server on st with partners ps (each secret
// "s3cret"), the rest of cfg as given; Issuer, Observer, Log and Now
// default for a test.
func newTestServer(t testing.TB, st testStore, cfg oauth.Config, ps ...partners.Partner) *oauth.Server {
	t.Helper()
	secrets, err := oauth.NewSecrets([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := oauth.NewKeys(context.Background(), st, secrets, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	for _, p := range ps {
		p.Status, p.Version, p.CreatedAt, p.UpdatedAt = partners.StatusActive, 1, at, at
		p.SecretHash = secrets.HashSecret([]byte("s3cret"))
		if err := st.CreatePartner(context.Background(), p, partners.AuditEntry{At: at, Action: "partner.create", PartnerID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Store, cfg.Partners, cfg.Keys, cfg.Secrets, cfg.Grants = st, st, keys, secrets, st
	if cfg.Issuer == "" {
		cfg.Issuer = "https://kelisim.test"
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	srv, err := oauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
