-- A citizen's grants for one partner are found by both, whatever the
-- planner's statistics say. With an index on partner_id alone, a partner
-- onboarded since the last ANALYZE was estimated at a row or two, and
-- replacing a citizen's grant read every grant of that partner: a new
-- bank's consents grew dearer with each one until autovacuum analyzed the
-- table (a tenth of it changed). The index on (partner_id, citizen) serves
-- what the old one served, by its first column, and finds the pair exactly.
--
-- On a large table, build it first without stopping writes:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS grants_partner_citizen_idx ON grants (partner_id, citizen);
-- then upgrade. A build that failed half way leaves the index invalid, and
-- stops the upgrade here: drop it and build it again.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = 'grants_partner_citizen_idx'
                 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid) THEN
        RAISE EXCEPTION 'grants_partner_citizen_idx, built ahead, is invalid (a failed CONCURRENTLY build): drop it and build it again (this migration''s header), then upgrade';
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS grants_partner_citizen_idx ON grants (partner_id, citizen);
DROP INDEX grants_partner_idx;
