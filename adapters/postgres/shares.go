package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kelisim/kelisim/consent"
)

var (
	_ consent.ShareStore = (*Store)(nil)
	_ consent.Releaser   = (*Store)(nil)
)

// Release implements consent.Releaser.
func (s *Store) Release(ctx context.Context, key string, window time.Duration, at time.Time) error {
	start, _ := consent.RateWindow(at, window)
	_, err := s.q(ctx).Exec(ctx, `UPDATE rate_counters SET count = count - 1
		WHERE key = $1 AND window_start = $2 AND count > 0`, key, start)
	return translate(err)
}

const shareColumns = `id, citizen, holder, document, code_key, token_key, created_at, expires_at, status, closed_at`

func scanShare(row pgx.CollectableRow) (consent.Share, error) {
	var sh consent.Share
	var citizen, holder string
	var closed *time.Time
	err := row.Scan(&sh.ID, &citizen, &holder, &sh.Document, &sh.CodeKey, &sh.TokenKey, &sh.CreatedAt, &sh.ExpiresAt, &sh.Status, &closed)
	sh.Citizen, sh.Holder = consent.IIN(citizen), consent.IIN(holder)
	if closed != nil {
		sh.ClosedAt = *closed
	}
	return sh, err
}

// CreateShare implements consent.ShareStore: a share whose code is open but
// expired is closed first, so codes free up when shares end.
func (s *Store) CreateShare(ctx context.Context, sh consent.Share, now time.Time) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `UPDATE shares SET status = 'closed', closed_at = expires_at
			WHERE code_key = $1 AND status = 'open' AND expires_at <= $2`, sh.CodeKey, now); err != nil {
			return translate(err)
		}
		_, err := q.Exec(ctx, `INSERT INTO shares (`+shareColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
			sh.ID, string(sh.Citizen), string(sh.Holder), sh.Document, sh.CodeKey, sh.TokenKey, sh.CreatedAt, sh.ExpiresAt, sh.Status)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "shares_open_code_idx" {
			return consent.ErrShareCodeTaken
		}
		return translate(err)
	})
}

func (s *Store) oneShare(ctx context.Context, sql string, args ...any) (consent.Share, error) {
	rows, err := s.q(ctx).Query(ctx, sql, args...)
	if err != nil {
		return consent.Share{}, translate(err)
	}
	sh, err := pgx.CollectExactlyOneRow(rows, scanShare)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Share{}, consent.ErrShareNotFound
	}
	return sh, translate(err)
}

// GetShare implements consent.ShareStore.
func (s *Store) GetShare(ctx context.Context, id string) (consent.Share, error) {
	return s.oneShare(ctx, `SELECT `+shareColumns+` FROM shares WHERE id = $1`, id)
}

// ShareBy implements consent.ShareStore.
func (s *Store) ShareBy(ctx context.Context, codeKey, tokenKey string) (consent.Share, error) {
	if codeKey == "" && tokenKey == "" {
		return consent.Share{}, consent.ErrShareNotFound
	}
	return s.oneShare(ctx, `SELECT `+shareColumns+` FROM shares
		WHERE status = 'open' AND ((code_key = $1 AND $1 <> '') OR (token_key = $2 AND $2 <> ''))
		ORDER BY created_at DESC LIMIT 1`, codeKey, tokenKey)
}

// UpdateShare implements consent.ShareStore.
func (s *Store) UpdateShare(ctx context.Context, sh consent.Share) error {
	_, err := s.q(ctx).Exec(ctx, `UPDATE shares SET expires_at = $2, status = $3, closed_at = $4 WHERE id = $1`,
		sh.ID, sh.ExpiresAt, sh.Status, nullTime(sh.ClosedAt))
	return translate(err)
}

// ListShares implements consent.ShareStore.
func (s *Store) ListShares(ctx context.Context, citizen consent.IIN, limit int) ([]consent.Share, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+shareColumns+` FROM shares WHERE citizen = $1 ORDER BY created_at DESC LIMIT $2`, string(citizen), limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanShare)
}

// ViewsBy implements consent.ShareStore.
func (s *Store) ViewsBy(ctx context.Context, partnerID string, limit int) ([]consent.AccessEvent, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+accessColumns+`
		FROM access_events WHERE partner_id = $1 AND kind = 'view' ORDER BY id DESC LIMIT $2`, partnerID, limit)
	if err != nil {
		return nil, translate(err)
	}
	return pgx.CollectRows(rows, scanAccess)
}
