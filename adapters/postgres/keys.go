package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kelisim/kelisim/oauth"
)

// SigningKeys implements oauth.Store.
func (s *Store) SigningKeys(ctx context.Context) ([]oauth.SigningKey, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT kid, alg, private_key, created_at, activates_at, retired_at
		FROM signing_keys ORDER BY activates_at DESC, created_at DESC, kid`)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (oauth.SigningKey, error) {
		var k oauth.SigningKey
		var retired *time.Time
		err := row.Scan(&k.KID, &k.Alg, &k.Private, &k.CreatedAt, &k.ActivatesAt, &retired)
		if retired != nil {
			k.RetiredAt = *retired
		}
		return k, err
	})
}

// EnsureSigningKey implements oauth.Store. An advisory lock makes replicas
// that start together agree on one key.
func (s *Store) EnsureSigningKey(ctx context.Context, generate func() (oauth.SigningKey, error)) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('kelisim signing keys'))`); err != nil {
			return err
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE retired_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		k, err := generate()
		if err != nil {
			return err
		}
		return insertKey(ctx, q, k)
	})
}

// RotateSigningKey implements oauth.Store.
func (s *Store) RotateSigningKey(ctx context.Context, k oauth.SigningKey) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('kelisim signing keys'))`); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL`, k.ActivatesAt); err != nil {
			return translate(err)
		}
		return insertKey(ctx, q, k)
	})
}

func insertKey(ctx context.Context, q querier, k oauth.SigningKey) error {
	_, err := q.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, private_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)`,
		k.KID, k.Alg, k.Private, k.CreatedAt, k.ActivatesAt)
	return translate(err)
}

// partnerColumns are read in this order by scanPartner.
