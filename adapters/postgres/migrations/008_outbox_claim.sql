-- The lease a worker holds on an outbox entry: renewed before each post,
-- and an attempt is recorded only by the worker that still holds it.
ALTER TABLE outbox ADD COLUMN claim text;
