-- Citizens' error reports on documents, with a tracking number.
CREATE TABLE error_reports (
    id          text PRIMARY KEY,          -- the tracking number
    citizen     text        NOT NULL,
    document    text        NOT NULL,
    description text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('received', 'forwarded', 'resolved', 'rejected')),
    source_ref  text        NOT NULL DEFAULT '',
    note        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX error_reports_citizen_idx ON error_reports (citizen, created_at DESC);
CREATE INDEX error_reports_received_idx ON error_reports (created_at) WHERE status = 'received';
