-- The upkeep's rounds read what they change through indexes, never the
-- whole table: active grants by expiry, and active grants under older
-- terms not yet told of the newest. A grant's terms_told starts as its own
-- terms version, so "still to tell" is one equality the index answers.
UPDATE grants SET terms_told = terms_version WHERE terms_told = '';
CREATE INDEX grants_active_expiry_idx ON grants (expires_at) WHERE status = 'active';
CREATE INDEX grants_terms_idx ON grants (terms_told, id) WHERE status = 'active';
