-- Key rotation: a new key is published before it signs.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL;

-- The citizen's access history: every fetch and delivery of a document.
CREATE TABLE access_events (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    citizen       text        NOT NULL,
    holder        text        NOT NULL,  -- whose document (the citizen, or a minor)
    partner_id    text        NOT NULL,
    grant_id      text        NOT NULL,
    document_type text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('fetch', 'delivery', 'view'))
);
CREATE INDEX access_events_citizen_idx ON access_events (citizen, id DESC);
CREATE INDEX access_events_holder_idx ON access_events (holder, id DESC);

-- The outbox of push deliveries: written with the grant, sent by workers.
CREATE TABLE outbox (
    id              text PRIMARY KEY,           -- also the Idempotency-Key
    partner_id      text        NOT NULL,
    grant_id        text        NOT NULL,
    kind            text        NOT NULL,
    document_type   text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_status_idx ON outbox (status, created_at);
