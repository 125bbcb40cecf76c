-- Accounts, API keys, customers, idempotency keys and the request log.
-- {{SEQ_PK}} and the other markers are filled in per engine by kassa.store.schema.

CREATE TABLE accounts (
    id TEXT NOT NULL PRIMARY KEY,
    created BIGINT NOT NULL,
    doc TEXT NOT NULL
);

-- Only a SHA-256 hash of each key is kept: a stolen database yields no usable key.
CREATE TABLE api_keys (
    key_hash TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
    created BIGINT NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE customers (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    email TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX customers_account_seq ON customers (account_id, seq);
CREATE INDEX customers_account_email ON customers (account_id, email, seq);
CREATE INDEX customers_account_created ON customers (account_id, created);

-- Stripe's idempotency: one row per (account, key). A row with no response yet is a claim
-- held until locked_until_ms; a claim left by a crashed request expires and is retaken.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint TEXT NOT NULL,
    created BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    PRIMARY KEY (account_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

CREATE TABLE request_log (
    seq {{SEQ_PK}},
    request_id TEXT NOT NULL,
    account_id TEXT,
    created_ms BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_us BIGINT NOT NULL,
    idempotency_key TEXT,
    source_ip TEXT
);
CREATE INDEX request_log_created ON request_log (created_ms);
CREATE INDEX request_log_account_seq ON request_log (account_id, seq);
