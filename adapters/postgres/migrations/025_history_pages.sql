-- Reads of a citizen's history that cost what a page costs, however long
-- the history grows.
--
-- On a large history, build these indexes first, without stopping writes
-- (each as its own statement, outside a transaction):
--   CREATE INDEX CONCURRENTLY access_events_use_idx ON access_events (grant_id, id) WHERE kind IN ('fetch', 'delivery', 'view');
--   CREATE INDEX CONCURRENTLY access_events_held_idx ON access_events (holder, id DESC) WHERE holder <> citizen;
--   CREATE INDEX CONCURRENTLY grants_holders_idx ON grants USING gin (holders);
--   CREATE INDEX CONCURRENTLY access_events_holders_idx ON access_events USING gin ((detail -> 'holders') jsonb_path_ops) WHERE detail IS NOT NULL;
--   CREATE INDEX CONCURRENTLY shares_held_idx ON shares (holder) WHERE holder <> citizen;
-- check that each was built (a build cut short leaves an invalid index,
-- which this migration would keep: none may be listed by
--   SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid;
-- drop and build again any that is), then upgrade: this migration keeps
-- them and only drops the old index.

-- The settings show when each grant was last used: through this index,
-- one probe per grant instead of every use in the citizen's history.
CREATE INDEX IF NOT EXISTS access_events_use_idx ON access_events (grant_id, id) WHERE kind IN ('fetch', 'delivery', 'view');

-- A citizen's own rows are found by the citizen index; by holder, only
-- the rows about a minor they represent (or the representative's about
-- them) are needed. The index keeps those alone: a page no longer reads
-- each own row twice, and most history rows add one index entry fewer.
CREATE INDEX IF NOT EXISTS access_events_held_idx ON access_events (holder, id DESC) WHERE holder <> citizen;
DROP INDEX access_events_holder_idx;

-- An erasure finds the grants, the consents' rows and the shares that
-- name the citizen as a minor through an index too. A consent's row keeps
-- the holders as the grant had them then (a grant may be narrowed since),
-- so the rows are found by what they say.
CREATE INDEX IF NOT EXISTS grants_holders_idx ON grants USING gin (holders);
CREATE INDEX IF NOT EXISTS access_events_holders_idx ON access_events USING gin ((detail -> 'holders') jsonb_path_ops) WHERE detail IS NOT NULL;
CREATE INDEX IF NOT EXISTS shares_held_idx ON shares (holder) WHERE holder <> citizen;
