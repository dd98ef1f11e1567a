-- A page of a citizen's history in the order of its months: newest first
-- by time, then by id. The months are read in order, newest first, and the
-- reading stops once a page is full; a cursor's time leaves the months
-- after it unread. Ordered by id alone, every page read every month's
-- index and a row of each, however many months the history keeps.
--
-- On a large history, build these indexes first, without stopping writes:
-- each on the parent alone, then on every month CONCURRENTLY, attached to
-- it as it is built (in psql, \gexec runs each statement a query makes):
--   CREATE INDEX IF NOT EXISTS access_events_citizen_at_idx ON ONLY access_events (citizen, at DESC, id DESC);
--   CREATE INDEX IF NOT EXISTS access_events_held_at_idx ON ONLY access_events (holder, at DESC, id DESC) WHERE holder <> citizen;
--   SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I (citizen, at DESC, id DESC)', c.relname || '_citizen_at', c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_events'::regclass \gexec
--   SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I (holder, at DESC, id DESC) WHERE holder <> citizen', c.relname || '_held_at', c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_events'::regclass \gexec
--   SELECT format('ALTER INDEX access_events_citizen_at_idx ATTACH PARTITION %I', c.relname || '_citizen_at') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_events'::regclass AND NOT EXISTS (SELECT FROM pg_inherits x WHERE x.inhrelid = (c.relname || '_citizen_at')::regclass) \gexec
--   SELECT format('ALTER INDEX access_events_held_at_idx ATTACH PARTITION %I', c.relname || '_held_at') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'access_events'::regclass AND NOT EXISTS (SELECT FROM pg_inherits x WHERE x.inhrelid = (c.relname || '_held_at')::regclass) \gexec
-- (A month the upkeep makes meanwhile gets the parent's index with it: the
-- script then builds it a second one that cannot be attached; drop that.)
-- then upgrade: once every month's index is attached, the parent's is
-- valid, and this migration keeps it and only drops the old ones. One
-- built ahead and not yet attached to every month stops the upgrade here
-- rather than leave the pages without an index.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname IN ('access_events_citizen_at_idx', 'access_events_held_at_idx')
                 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid) THEN
        RAISE EXCEPTION 'an index of the history built ahead is not yet attached to every month: attach the rest (this migration''s header), then upgrade';
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS access_events_citizen_at_idx ON access_events (citizen, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS access_events_held_at_idx ON access_events (holder, at DESC, id DESC) WHERE holder <> citizen;
DROP INDEX access_events_citizen_idx;
DROP INDEX access_events_held_idx;
