package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// bound measures what a document fetch cannot beat on this machine and
// this PostgreSQL: per request, one primary-key read of a grant-shaped
// row, one insert of a history-shaped row, and one ES256 signature over a
// payload the size of a delivered document, with pgx and crypto/ecdsa
// directly, at the same concurrency and pool size as the gateway. Its own
// two tables are made for the run and dropped after it.
func (b *bench) bound(ctx context.Context, conc int) (result, error) {
	if b.o.database == "" {
		return result{}, fmt.Errorf("the raw bound needs -database (or KELISIM_DATABASE_URL)")
	}
	cfg, err := pgxpool.ParseConfig(b.o.database)
	if err != nil {
		return result{}, err
	}
	cfg.MaxConns = 32 // as the gateway in make bench (KELISIM_DB_MAX_CONNS)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return result{}, err
	}
	defer pool.Close()
	const items = 20000
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_bound_items, bench_bound_events`,
		`CREATE TABLE bench_bound_items (id text PRIMARY KEY, citizen text NOT NULL, partner_id text NOT NULL,
			documents text[] NOT NULL, expires_at timestamptz NOT NULL, status text NOT NULL)`,
		`CREATE TABLE bench_bound_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, citizen text NOT NULL,
			holder text NOT NULL, partner_id text NOT NULL, grant_id text NOT NULL, document_type text NOT NULL, kind text NOT NULL)`,
		`CREATE INDEX ON bench_bound_events (citizen, at DESC)`,
		fmt.Sprintf(`INSERT INTO bench_bound_items SELECT 'g-' || i, lpad((800000000000 + i)::text, 12, '0'), 'bank',
			ARRAY['id_card'], now() + interval '30 days', 'active' FROM generate_series(1, %d) i`, items),
		`ANALYZE bench_bound_items`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return result{}, fmt.Errorf("raw bound: %w", err)
		}
	}
	defer func() {
		_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_bound_items, bench_bound_events`)
	}()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return result{}, err
	}
	// A compact JWS's signing input, the size of a delivered ID card.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"bound","typ":"document+jwt"}`))
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"document":"` + strings.Repeat("x", 1400) + `"}`))
	input := header + "." + payload
	r := b.measure(ctx, "raw bound (pgx read + insert + ES256)", conc, func(_, i int) (int, bool) {
		id := fmt.Sprintf("g-%d", 1+i%items)
		var citizen, partner, status string
		var docs []string
		var expires time.Time
		if err := pool.QueryRow(ctx, `SELECT citizen, partner_id, documents, expires_at, status FROM bench_bound_items WHERE id = $1`, id).
			Scan(&citizen, &partner, &docs, &expires, &status); err != nil {
			return 0, false
		}
		if _, err := pool.Exec(ctx, `INSERT INTO bench_bound_events (at, citizen, holder, partner_id, grant_id, document_type, kind)
			VALUES ($1, $2, $2, $3, $4, $5, 'fetch')`, time.Now(), citizen, partner, id, docs[0]); err != nil {
			return 0, false
		}
		digest := sha256.Sum256([]byte(input))
		rs, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			return 0, false
		}
		sig := make([]byte, 64)
		rs.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		jws := input + "." + base64.RawURLEncoding.EncodeToString(sig)
		return 200, len(jws) > 0
	})
	return r, nil
}
