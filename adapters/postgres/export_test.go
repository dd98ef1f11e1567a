package postgres

import "context"

// MigrateTo brings the schema to version target, for tests of upgrades.
func (s *Store) MigrateTo(ctx context.Context, target int32) error { return s.migrate(ctx, target) }
