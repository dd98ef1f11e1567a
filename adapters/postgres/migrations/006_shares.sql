-- Open access for third parties: short codes and QR tokens as keyed hashes.
CREATE TABLE shares (
    id         text PRIMARY KEY,
    citizen    text        NOT NULL,
    holder     text        NOT NULL,
    document   text        NOT NULL,
    code_key   text        NOT NULL,
    token_key  text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    status     text        NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at  timestamptz
);
-- An open short code belongs to one share; expired ones are closed first.
CREATE UNIQUE INDEX shares_open_code_idx ON shares (code_key) WHERE status = 'open';
CREATE INDEX shares_citizen_idx ON shares (citizen, created_at DESC);
CREATE INDEX access_events_partner_idx ON access_events (partner_id, id DESC) WHERE kind = 'view';
