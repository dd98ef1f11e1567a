-- A consent may change a grant its partner holds (FAPI Grant Management):
-- a merge or a replacement lands in the citizen's history beside the uses
-- of documents.
ALTER TABLE access_events DROP CONSTRAINT access_events_kind_check;
ALTER TABLE access_events ADD CONSTRAINT access_events_kind_check
    CHECK (kind IN ('fetch', 'delivery', 'view', 'merge', 'replace'));
