-- A partner's epoch moves with every suspension; a token records the
-- epoch it was issued under and works only while it is the partner's.
ALTER TABLE partners ADD COLUMN epoch integer NOT NULL DEFAULT 0;
ALTER TABLE oauth_records ADD COLUMN partner_epoch integer NOT NULL DEFAULT 0;
