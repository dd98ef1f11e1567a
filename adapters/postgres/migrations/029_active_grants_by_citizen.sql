-- A citizen's active grants for a partner are found by both whatever the
-- planner's statistics say. On a table never analyzed yet (a new
-- deployment's first minutes, a restored database) the planner costs the
-- indexes of an empty table alike, and the generic plans the store's
-- connections keep are made then: the grants a new consent replaces were
-- looked for through grants_terms_idx, which matches status = 'active' and
-- nothing else, reading every active grant, so each consent cost more than
-- the one before until autovacuum analyzed the table. This index matches
-- the same status and finds the citizen and partner by their keys.
--
-- On a large table, build it first without stopping writes:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS grants_active_citizen_idx ON grants (citizen, partner_id) WHERE status = 'active';
-- then upgrade. A build that failed half way leaves the index invalid, and
-- stops the upgrade here: drop it and build it again.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = 'grants_active_citizen_idx'
                 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid) THEN
        RAISE EXCEPTION 'grants_active_citizen_idx, built ahead, is invalid (a failed CONCURRENTLY build): drop it and build it again (this migration''s header), then upgrade';
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS grants_active_citizen_idx ON grants (citizen, partner_id) WHERE status = 'active';
