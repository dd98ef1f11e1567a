-- One-time-password challenges: the code only as a keyed hash.
CREATE TABLE otp_challenges (
    id         text PRIMARY KEY,
    pending_id text        NOT NULL,
    partner_id text        NOT NULL,
    session    text        NOT NULL,
    citizen    text,                    -- NULL for a decoy
    documents  text[]      NOT NULL,
    days       integer     NOT NULL,
    code_hash  bytea       NOT NULL,
    attempts   integer     NOT NULL,
    resends    integer     NOT NULL,
    status     text        NOT NULL CHECK (status IN ('pending', 'used', 'dead')),
    lang       text        NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    version    integer     NOT NULL
);
CREATE INDEX otp_challenges_citizen_idx ON otp_challenges (citizen) WHERE citizen IS NOT NULL;
CREATE INDEX otp_challenges_expires_idx ON otp_challenges (expires_at);

-- Grants: the record of each consent.
CREATE TABLE grants (
    id                text PRIMARY KEY,
    citizen           text        NOT NULL,
    partner_id        text        NOT NULL,
    documents         text[]      NOT NULL,
    purpose           text        NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    terms_version     text        NOT NULL,
    challenge_id      text        NOT NULL UNIQUE, -- kept after erasure deletes the challenge
    status            text        NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    status_changed_at timestamptz,
    status_by         text        NOT NULL DEFAULT '',
    status_reason     text        NOT NULL DEFAULT ''
);
CREATE INDEX grants_citizen_idx ON grants (citizen, created_at DESC);
CREATE INDEX grants_partner_idx ON grants (partner_id);

-- Sliding-window rate limits: one row per counted event.
CREATE TABLE rate_events (
    key text        NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX rate_events_key_idx ON rate_events (key, at);
