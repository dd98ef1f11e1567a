-- The history as a tamper-evident log (RFC 9162): each event, once
-- sealed, is a leaf of one Merkle tree, linked to its citizen's previous
-- event (the chain, named by pseudonym); the perfect subtrees above the
-- leaves, and every signed head published.
ALTER TABLE access_events ADD COLUMN leaf_index bigint;
ALTER TABLE access_events ADD COLUMN chain text;
ALTER TABLE access_events ADD COLUMN leaf_hash bytea;
CREATE UNIQUE INDEX access_events_leaf_idx ON access_events (leaf_index) WHERE leaf_index IS NOT NULL;
CREATE INDEX access_events_chain_idx ON access_events (chain, leaf_index) WHERE leaf_index IS NOT NULL;
CREATE INDEX access_events_unsealed_idx ON access_events (id) WHERE leaf_index IS NULL;

CREATE TABLE history_nodes (
    level smallint NOT NULL,
    idx   bigint   NOT NULL,
    hash  bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE history_checkpoints (
    tree_size  bigint PRIMARY KEY,
    root_hash  bytea       NOT NULL,
    signed     text        NOT NULL,
    created_at timestamptz NOT NULL
);
