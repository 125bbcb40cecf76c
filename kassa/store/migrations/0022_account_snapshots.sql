-- Snapshots of an account's state (kassa/store/account_queries.py): saved under a name, written
-- back by a restore. A snapshot is a header and its chunks, each chunk up to
-- SNAPSHOT_CHUNK_ROWS rows of one table as a JSON array of row arrays (the columns
-- ACCOUNT_TABLES names, in that order), numbered in the order a restore writes them back.
-- Text on both engines, written and read with the same statements.
CREATE TABLE account_snapshots (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    chunk_count INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE account_snapshot_chunks (
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    rows_json TEXT NOT NULL,
    PRIMARY KEY (account_id, name, ordinal),
    FOREIGN KEY (account_id, name) REFERENCES account_snapshots (account_id, name)
);

-- An account's webhook deliveries and attempts in seq order, for what a reset deletes and a
-- snapshot saves: without these, both would read every account's rows.
CREATE INDEX webhook_deliveries_account_seq ON webhook_deliveries (account_id, seq);
CREATE INDEX webhook_attempts_account_seq ON webhook_attempts (account_id, seq);
