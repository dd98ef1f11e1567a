-- The indexes on active grants that only background searches use name a
-- column of theirs in their predicate, so that only a search naming it can
-- take them. Before a table is first analyzed (a new deployment's first
-- minutes, a restored database) the planner takes every active grant for
-- a few rows, and the generic plans the store's connections keep for as
-- long as they live are made then: with a few hundred grants, the search
-- for the grants a new consent replaces was planned as a full read of
-- grants_active_expiry_idx or grants_terms_idx, which match status =
-- 'active' and nothing else, the smaller index costing less on paper.
-- Each consent then read every active grant until autovacuum analyzed the
-- table. The expiry sweep names expires_at in a strict comparison, and
-- the search for grants not yet told of new terms names terms_told IS NOT
-- NULL; the replacement names neither.
--
-- On a large table, build them first without stopping writes:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS grants_expiry_due_idx ON grants (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS grants_terms_due_idx ON grants (terms_told, id) WHERE status = 'active' AND terms_told IS NOT NULL;
-- then upgrade. A build that failed half way leaves the index invalid, and
-- stops the upgrade here: drop it and build it again.
DO $$
DECLARE
    name text;
BEGIN
    SELECT c.relname INTO name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname IN ('grants_expiry_due_idx', 'grants_terms_due_idx')
          AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
        LIMIT 1;
    IF name IS NOT NULL THEN
        RAISE EXCEPTION '%, built ahead, is invalid (a failed CONCURRENTLY build): drop it and build it again (this migration''s header), then upgrade', name;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS grants_expiry_due_idx ON grants (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS grants_terms_due_idx ON grants (terms_told, id) WHERE status = 'active' AND terms_told IS NOT NULL;
DROP INDEX grants_active_expiry_idx;
DROP INDEX grants_terms_idx;
