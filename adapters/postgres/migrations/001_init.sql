-- Partners: the OAuth clients the operator onboarded.
CREATE TABLE partners (
    id                         text PRIMARY KEY,
    registration               jsonb       NOT NULL,
    status                     text        NOT NULL CHECK (status IN ('active', 'suspended')),
    version                    integer     NOT NULL,
    secret_hash                bytea,
    previous_secret_hash       bytea,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

-- The operator's audit trail: never holds a secret.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    partner_id text        NOT NULL,
    before     jsonb,
    after      jsonb
);
CREATE INDEX audit_log_partner_idx ON audit_log (partner_id, id DESC);

-- OAuth artefacts, tokens keyed by their HMAC signature only.
CREATE TABLE oauth_records (
    kind       text        NOT NULL,
    signature  text        NOT NULL,
    request_id text        NOT NULL,
    client_id  text        NOT NULL,
    grant_id   text,
    active     boolean     NOT NULL,
    expires_at timestamptz NOT NULL,
    request    bytea       NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth_records_request_idx ON oauth_records (request_id, kind) WHERE active;
CREATE INDEX oauth_records_client_idx ON oauth_records (client_id) WHERE active;
CREATE INDEX oauth_records_grant_idx ON oauth_records (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oauth_records_expires_idx ON oauth_records (expires_at);

-- Signing keys, sealed with the gateway secret.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    alg         text        NOT NULL,
    private_key bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
