-- What an operator's action on no partner acted on (a key, a delivery, a
-- report, a document).
ALTER TABLE audit_log ADD COLUMN subject text NOT NULL DEFAULT '';
