-- Limits count events in fixed windows, one row per key and window, which
-- a hit upserts in one statement (see consent.RateWindow); the per-event
-- rows and the advisory lock that guarded them are gone. A counter is
-- purged once no current window can carry it (expires_at).
CREATE TABLE rate_counters (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_expires_idx ON rate_counters (expires_at);
DROP TABLE rate_events;
