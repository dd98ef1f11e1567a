-- Citizens logged in to their settings: the token only as a keyed hash.
CREATE TABLE citizen_sessions (
    id         text PRIMARY KEY,
    citizen    text        NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE INDEX citizen_sessions_citizen_idx ON citizen_sessions (citizen);

-- When the partner acknowledged a revocation.
ALTER TABLE grants ADD COLUMN revocation_acked_at timestamptz;
