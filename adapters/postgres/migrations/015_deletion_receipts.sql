-- A partner's signed confirmation that it deleted what it received under
-- a grant that ended, and what it keeps by law (deletion_detail, with the
-- partner's JWS as it signed it); and its place in the history.
ALTER TABLE grants ADD COLUMN deletion_at timestamptz;
ALTER TABLE grants ADD COLUMN deletion_detail jsonb;
CREATE INDEX grants_deletion_due_idx ON grants (status_changed_at) WHERE status <> 'active' AND deletion_at IS NULL;
ALTER TABLE access_events DROP CONSTRAINT access_events_kind_check;
ALTER TABLE access_events ADD CONSTRAINT access_events_kind_check
    CHECK (kind IN ('fetch', 'delivery', 'view', 'consent', 'merge', 'replace', 'revocation', 'expiry', 'erasure', 'deletion'));
