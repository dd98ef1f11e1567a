-- A citizen who checks another's shared document: "viewed" in their own
-- history (the holder's shows a "view" by a person).
ALTER TABLE access_events DROP CONSTRAINT access_events_kind_check;
ALTER TABLE access_events ADD CONSTRAINT access_events_kind_check
    CHECK (kind IN ('fetch', 'delivery', 'view', 'viewed', 'consent', 'merge', 'replace', 'revocation', 'expiry', 'erasure', 'deletion', 'narrowing'));
