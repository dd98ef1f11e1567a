package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
)

// keysForBench is a key set on an in-test store, without adapters.
type benchStore struct{ Store }

func (benchStore) EnsureSigningKey(_ context.Context, generate func() (SigningKey, error)) error {
	k, err := generate()
	benchKey = k
	return err
}
func (benchStore) SigningKeys(context.Context) ([]SigningKey, error) {
	return []SigningKey{benchKey}, nil
}

var benchKey SigningKey

// BenchmarkSignDocument: every document a partner receives is one ES256 signature.
func BenchmarkSignDocument(b *testing.B) {
	secrets, _ := NewSecrets([]byte("bench-secret-bench-secret-bench-secret"))
	keys, err := NewKeys(context.Background(), benchStore{}, secrets, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","aud":"partner","document":{"type":"id_card","number":"045123456"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Sign(payload, "kelisim-document+jwt"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenSignature: every token use starts with an HMAC check of the
// opaque token.
func BenchmarkTokenSignature(b *testing.B) {
	secrets, _ := NewSecrets([]byte("bench-secret-bench-secret-bench-secret"))
	cfg := &fosite.Config{GlobalSecret: secrets.tokenHMAC, AccessTokenLifespan: time.Minute}
	strategy := compose.NewOAuth2HMACStrategy(cfg)
	req := fosite.NewAccessRequest(NewSession())
	req.GetSession().SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	token, _, err := strategy.GenerateAccessToken(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := strategy.ValidateAccessToken(context.Background(), req, token); err != nil {
			b.Fatal(err)
		}
		_ = strategy.AccessTokenSignature(context.Background(), token)
	}
}

// BenchmarkClientSecret: client_secret_basic costs one HMAC, not a bcrypt.
func BenchmarkClientSecret(b *testing.B) {
	secrets, _ := NewSecrets([]byte("bench-secret-bench-secret-bench-secret"))
	hash := secrets.HashSecret([]byte("a-client-secret-of-43-characters-000000000"))
	for b.Loop() {
		_ = secrets.Compare(context.Background(), hash, []byte("a-client-secret-of-43-characters-000000000"))
	}
}
