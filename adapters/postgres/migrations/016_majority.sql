-- A grant narrowed when a minor it covered came of age: in the history.
ALTER TABLE access_events DROP CONSTRAINT access_events_kind_check;
ALTER TABLE access_events ADD CONSTRAINT access_events_kind_check
    CHECK (kind IN ('fetch', 'delivery', 'view', 'consent', 'merge', 'replace', 'revocation', 'expiry', 'erasure', 'deletion', 'narrowing'));
-- The active grants that name someone besides their citizen: the upkeep
-- reads them to end a representative's access at majority.
CREATE INDEX grants_guardian_idx ON grants (id) WHERE status = 'active' AND holders <> ARRAY[citizen] AND cardinality(holders) > 0;
