package partners_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/consent"
	"github.com/kelisim/kelisim/partners"
)

// The partner registry on the memory store, with a fake clock, a plain
// hash and a revoker that records whose tokens it ended.

type hasher struct{}

func (hasher) HashSecret(s []byte) []byte { h := sha256.Sum256(s); return h[:] }

type revoker struct{ ended []string }

func (r *revoker) RevokeClientTokens(_ context.Context, id string) error {
	r.ended = append(r.ended, id)
	return nil
}

type registry struct {
	*partners.Service
	store   *memory.Store
	revoked *revoker
	now     time.Time
}

func newRegistry(t *testing.T) *registry {
	t.Helper()
	r := &registry{store: memory.New(), revoked: &revoker{}, now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	svc, err := partners.NewService(partners.Config{Store: r.store, Hasher: hasher{}, Revoker: r.revoked, Tx: r.store, Types: types,
		Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	r.Service = svc
	return r
}

func bank() partners.Registration {
	return partners.Registration{ClientName: "Bank", RedirectURIs: []string{"https://bank.example/cb"},
		Documents: []consent.DocumentType{"id_card"}, Admission: admission()}
}

func TestNewServiceNeedsItsParts(t *testing.T) {
	if _, err := partners.NewService(partners.Config{Store: memory.New()}); err == nil {
		t.Error("a registry without a hasher, revoker, transactor and clock was built")
	}
}

// Onboarding validates, shows the secret once and stores only its hash,
// and writes the audit trail with the partner.
func TestOnboardAndValidate(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	bad := bank()
	bad.RedirectURIs = []string{"http://bank.example/cb"}
	_, _, err := r.Onboard(ctx, "admin", bad)
	var invalid *partners.InvalidError
	if !errors.As(err, &invalid) || consent.KindOf(err) != consent.KindInvalid || len(consent.FieldsOf(err)) == 0 {
		t.Fatalf("plain-http redirect: %v", err)
	}
	for field, mutate := range map[string]func(*partners.Registration){
		"admission": func(r *partners.Registration) { r.Admission = nil },
		"admission.legal_name": func(r *partners.Registration) {
			r.Admission = &partners.Admission{Decision: "No. 1", Date: "2026-11-01"}
		},
		"admission.date": func(r *partners.Registration) {
			r.Admission = &partners.Admission{LegalName: "Bank JSC", LegalBasis: "Law", Date: "soon"}
		},
	} {
		reg := bank()
		mutate(&reg)
		if _, _, err := r.Onboard(ctx, "admin", reg); !slices.ContainsFunc(consent.FieldsOf(err), func(f consent.FieldError) bool { return f.Field == field }) {
			t.Errorf("onboarding with a bad %s: %v", field, err)
		}
	}
	p, secret, err := r.Onboard(ctx, "admin", bank())
	if err != nil || secret == "" || p.Status != partners.StatusActive {
		t.Fatalf("onboard: %+v %q %v", p, secret, err)
	}
	stored, _ := r.Get(ctx, p.ID)
	if !bytes.Equal(stored.SecretHash, hasher{}.HashSecret([]byte(secret))) || bytes.Contains(stored.SecretHash, []byte(secret)) {
		t.Error("the stored secret is not its hash")
	}
	if audit, _ := r.Audit(ctx, p.ID, 10); len(audit) != 1 || audit[0].Action != "partner.create" || audit[0].Actor != "admin" {
		t.Errorf("audit: %+v", audit)
	}
	if _, err := r.Get(ctx, "nobody"); !errors.Is(err, partners.ErrNotFound) || consent.KindOf(err) != consent.KindNotFound {
		t.Errorf("unknown partner: %v", err)
	}
	if _, err := r.Update(ctx, "admin", p.ID, []byte(`{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://bank.example/jwks.json"}`)); !errors.As(err, &invalid) {
		t.Errorf("changing the authentication method: %v", err)
	}
	u, err := r.Update(ctx, "admin", p.ID, []byte(`{"documents":["id_card","diploma"]}`))
	if err != nil || !strings.Contains(u.Scope, "documents:diploma") {
		t.Errorf("documents patched: scope %q, %v", u.Scope, err)
	}
}

// A rotated secret replaces the old one; with a grace period the old one
// works until it ends, never beyond MaxSecretGrace.
func TestRotateSecret(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	p, old, _ := r.Onboard(ctx, "admin", bank())
	if _, _, err := r.RotateSecret(ctx, "admin", p.ID, partners.MaxSecretGrace+time.Second); consent.KindOf(err) != consent.KindInvalid {
		t.Errorf("a grace past the maximum: %v", err)
	}
	q, fresh, err := r.RotateSecret(ctx, "admin", p.ID, time.Hour)
	if err != nil || fresh == old || fresh == "" {
		t.Fatalf("rotate: %v", err)
	}
	if !bytes.Equal(q.SecretHash, hasher{}.HashSecret([]byte(fresh))) || !bytes.Equal(q.PreviousSecretHash, hasher{}.HashSecret([]byte(old))) ||
		!q.PreviousSecretExpiresAt.Equal(r.now.Add(time.Hour)) {
		t.Errorf("after a rotation with grace: %+v", q)
	}
	q, _, _ = r.RotateSecret(ctx, "admin", p.ID, 0)
	if q.PreviousSecretHash != nil || !q.PreviousSecretExpiresAt.IsZero() {
		t.Errorf("a rotation without grace kept the old secret: %+v", q)
	}
	jwt := bank()
	jwt.TokenEndpointAuthMethod = partners.AuthPrivateKeyJWT
	jwt.JWKSURI = "https://bank.example/jwks.json"
	k, secret, err := r.Onboard(ctx, "admin", jwt)
	if err != nil || secret != "" {
		t.Fatalf("a private_key_jwt partner: %q %v", secret, err)
	}
	if _, _, err := r.RotateSecret(ctx, "admin", k.ID, 0); consent.KindOf(err) != consent.KindInvalid {
		t.Errorf("rotating the secret of a partner without one: %v", err)
	}
}

// Suspension moves the epoch once and ends the partner's tokens; resuming
// does not move it back.
func TestSuspendAndResume(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	p, _, _ := r.Onboard(ctx, "admin", bank())
	s, err := r.Suspend(ctx, "admin", p.ID)
	if err != nil || s.Status != partners.StatusSuspended || s.Epoch != 1 || len(r.revoked.ended) != 1 || r.revoked.ended[0] != p.ID {
		t.Fatalf("suspend: %+v %v, tokens ended for %v", s, err, r.revoked.ended)
	}
	if s, _ = r.Suspend(ctx, "admin", p.ID); s.Epoch != 1 {
		t.Errorf("suspending twice moved the epoch to %d", s.Epoch)
	}
	a, err := r.Resume(ctx, "admin", p.ID)
	if err != nil || a.Status != partners.StatusActive || a.Epoch != 1 {
		t.Errorf("resume: %+v %v", a, err)
	}
	if _, err := r.Suspend(ctx, "admin", "nobody"); !errors.Is(err, partners.ErrNotFound) {
		t.Errorf("suspending an unknown partner: %v", err)
	}
	audit, _ := r.Audit(ctx, p.ID, 10)
	if len(audit) != 4 || audit[0].Action != "partner.resume" {
		t.Errorf("audit, newest first: %+v", audit)
	}
}

// The operator's default profile holds for partners onboarded without
// one; a partner may still ask for the baseline by name.
func TestDefaultProfile(t *testing.T) {
	st := memory.New()
	svc, err := partners.NewService(partners.Config{Store: st, Hasher: hasher{}, Revoker: &revoker{}, Tx: st, Types: types,
		Now: time.Now, DefaultProfile: partners.ProfileFAPI2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg := bank()
	reg.JWKSURI = "https://bank.example/jwks.json"
	p, secret, err := svc.Onboard(ctx, "admin", reg)
	if err != nil || p.Profile != partners.ProfileFAPI2 || secret != "" || !p.RequirePAR || !p.DPoPBoundAccessTokens {
		t.Fatalf("a partner onboarded under the fapi2 default: %+v %v", p, err)
	}
	base := bank()
	base.Profile = partners.ProfileBaseline
	if p, secret, err := svc.Onboard(ctx, "admin", base); err != nil || secret == "" || p.RequirePAR || p.DPoPBoundAccessTokens {
		t.Errorf("a partner asking for the baseline: %+v %v", p, err)
	}
	if _, err := partners.NewService(partners.Config{Store: st, Hasher: hasher{}, Revoker: &revoker{}, Tx: st, Types: types, Now: time.Now, DefaultProfile: "fapi9"}); err == nil {
		t.Error("an unknown default profile was taken")
	}
}

func admission() *partners.Admission {
	return &partners.Admission{LegalName: "Bank JSC", Decision: "Operator decision No. 12", Date: "2026-11-01"}
}

var types = func() *consent.Catalogue {
	c, err := consent.ShippedCatalogue()
	if err != nil {
		panic(err)
	}
	return c
}()
