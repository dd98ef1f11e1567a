-- Every version of the terms the gateway served, byte for byte: receipts
-- carry their digest, and citizens compare an older version with the new.
CREATE TABLE terms_texts (
    version      text PRIMARY KEY,
    digest       text        NOT NULL,
    body         bytea       NOT NULL,
    published_at timestamptz NOT NULL
);
