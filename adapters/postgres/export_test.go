package postgres

import (
	"context"

	"github.com/kelisim/kelisim/oauth"
)

// MigrateTo brings the schema to version target, for tests of upgrades.
func (s *Store) MigrateTo(ctx context.Context, target int32) error { return s.migrate(ctx, target) }

// Scalar reads one value as text, in ctx's transaction if it has one.
func (s *Store) Scalar(ctx context.Context, sql string) (string, error) {
	var v string
	err := s.q(ctx).QueryRow(ctx, `SELECT (`+sql+`)::text`).Scan(&v)
	return v, err
}

// WriteRecords writes recs as one batch of the records' writer.
func (s *Store) WriteRecords(ctx context.Context, recs []oauth.Record) []error {
	return s.writeRecords(ctx, recs)
}
