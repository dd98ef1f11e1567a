-- Notifications to citizens travel through the outbox: who they are for
-- and in which language. The partner's entries leave both empty.
ALTER TABLE outbox ADD COLUMN citizen text NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lang text NOT NULL DEFAULT '';
CREATE INDEX outbox_citizen_idx ON outbox (citizen) WHERE citizen <> '';

-- How each citizen wants to be told; no row: by SMS.
CREATE TABLE notification_prefs (
    citizen    text PRIMARY KEY,
    channels   text[]      NOT NULL,
    lang       text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);
