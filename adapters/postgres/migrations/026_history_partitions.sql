-- The history and the operators' audit log, partitioned by month, so that
-- retention drops a month instead of deleting rows; and the log's seals in
-- an append-only table of their own, so that a history row is written
-- once and its leaf outlives the month that held it.
--
-- The upgrade copies the history into its partitions: on a large history,
-- plan it as a maintenance window (about a minute per 10 M rows here).

-- The seals: one row per leaf, never updated. Nothing about a person is in
-- it; the chain is a pseudonym.
CREATE TABLE history_leaves (
    leaf_index bigint PRIMARY KEY,
    event_id   bigint      NOT NULL,
    at         timestamptz NOT NULL, -- the event's, to find it in its partition
    chain      text        NOT NULL,
    leaf_hash  bytea       NOT NULL
);
INSERT INTO history_leaves (leaf_index, event_id, at, chain, leaf_hash)
    SELECT leaf_index, id, at, chain, leaf_hash FROM access_events WHERE leaf_index IS NOT NULL;
CREATE INDEX history_leaves_chain_idx ON history_leaves (chain, leaf_index);

-- The events written and not yet sealed, the sealer's queue: written by
-- a trigger on the history (below), deleted when they are sealed.
CREATE TABLE history_unsealed (
    id bigint      PRIMARY KEY,
    at timestamptz NOT NULL
);
INSERT INTO history_unsealed (id, at) SELECT id, at FROM access_events WHERE leaf_index IS NULL;

-- Where retention has cut the history: events before it are gone, their
-- leaves kept.
CREATE TABLE history_retention (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    dropped_before timestamptz NOT NULL
);

ALTER SEQUENCE access_events_id_seq OWNED BY NONE;
ALTER TABLE access_events RENAME TO access_events_unpartitioned;
CREATE TABLE access_events (
    id            bigint      NOT NULL DEFAULT nextval('access_events_id_seq'),
    at            timestamptz NOT NULL,
    citizen       text        NOT NULL,
    holder        text        NOT NULL,
    partner_id    text        NOT NULL,
    grant_id      text        NOT NULL,
    document_type text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('fetch', 'delivery', 'view', 'viewed', 'consent', 'merge', 'replace',
                                                      'revocation', 'expiry', 'erasure', 'deletion', 'narrowing')),
    by_whom       text        NOT NULL DEFAULT '',
    detail        jsonb,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE access_events_id_seq OWNED BY access_events.id;

ALTER SEQUENCE audit_log_id_seq OWNED BY NONE;
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
CREATE TABLE audit_log (
    id         bigint      NOT NULL DEFAULT nextval('audit_log_id_seq'),
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    partner_id text        NOT NULL,
    before     jsonb,
    after      jsonb,
    subject    text        NOT NULL DEFAULT '',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;

-- The months the rows need, and this one and the next three; the upkeep
-- keeps three months ready from then on. There is no default partition:
-- with one, a search for the newest rows could no longer read the months
-- newest first and stop.
DO $$
DECLARE
    t text;
    m timestamptz;
    first timestamptz;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_events', 'audit_log'] LOOP
        EXECUTE format('SELECT min(at) FROM %I', t || '_unpartitioned') INTO first;
        m := date_trunc('month', least(coalesce(first, now()), now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        WHILE m < (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '4 months') AT TIME ZONE 'UTC' LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                t || '_p' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM'), t, m,
                ((m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC'));
            m := (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
        END LOOP;
    END LOOP;
END $$;

INSERT INTO access_events (id, at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail)
    SELECT id, at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail FROM access_events_unpartitioned;
DROP TABLE access_events_unpartitioned;
INSERT INTO audit_log (id, at, actor, action, partner_id, before, after, subject)
    SELECT id, at, actor, action, partner_id, before, after, subject FROM audit_log_unpartitioned;
DROP TABLE audit_log_unpartitioned;

-- Every event, whoever writes it (the gateway, a replica of the version
-- before during an upgrade, an operator's backfill), takes its place in
-- the sealer's queue: once per statement, from the rows it wrote.
CREATE FUNCTION history_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO history_unsealed (id, at) SELECT id, at FROM written;
    RETURN NULL;
END $$;
CREATE TRIGGER access_events_queued AFTER INSERT ON access_events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION history_queue();

-- Each index on the parent is one per partition: a month's index is the
-- month's size. Receipt ids are random and read by value; their
-- uniqueness can no longer span the months, so the index is plain.
CREATE INDEX access_events_citizen_idx ON access_events (citizen, id DESC);
CREATE INDEX access_events_held_idx ON access_events (holder, id DESC) WHERE holder <> citizen;
CREATE INDEX access_events_partner_idx ON access_events (partner_id, id DESC) WHERE kind = 'view';
CREATE INDEX access_events_receipt_idx ON access_events ((detail->>'receipt')) WHERE detail IS NOT NULL;
CREATE INDEX access_events_grant_idx ON access_events (grant_id, id) WHERE detail IS NOT NULL;
-- A grant's last use by time: the months are read newest first, and the
-- newest that holds a use ends the search.
CREATE INDEX access_events_use_idx ON access_events (grant_id, at DESC) WHERE kind IN ('fetch', 'delivery', 'view');
CREATE INDEX access_events_holders_idx ON access_events USING gin ((detail -> 'holders') jsonb_path_ops) WHERE detail IS NOT NULL;
CREATE INDEX access_events_at_brin ON access_events USING brin (at);
CREATE INDEX audit_log_partner_idx ON audit_log (partner_id, id DESC);
