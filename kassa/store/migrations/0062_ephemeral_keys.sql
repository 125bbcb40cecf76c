-- Ephemeral keys (kassa/services/ephemeral_keys.py): created for a customer and deleted, never
-- listed, so no filter columns. The key's secret is not stored: Kassa authenticates no
-- request with it, and a secret kept would be one more to leak.
CREATE TABLE ephemeral_keys (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL
);
CREATE INDEX ephemeral_keys_account_seq ON ephemeral_keys (account_id, seq);
CREATE INDEX ephemeral_keys_account_created ON ephemeral_keys (account_id, created);
