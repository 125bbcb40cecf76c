-- Stripe's Reporting API: report runs (`frr_...`) and the files their results are
-- (`file_...`, purpose `finance_report_run`): JSON documents with the columns their lists
-- filter on (kassa/services/reporting.py, files.py). A run is `pending` until the
-- `reporting` job computes it from the ledger: the job scans pending runs across accounts.
CREATE TABLE report_runs (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    status TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX report_runs_account_seq ON report_runs (account_id, seq);
CREATE INDEX report_runs_account_created ON report_runs (account_id, created);
CREATE INDEX report_runs_account_status ON report_runs (account_id, status, seq);
CREATE INDEX report_runs_pending ON report_runs (seq) WHERE status = 'pending' AND deleted = 0;

CREATE TABLE files (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    purpose TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX files_account_seq ON files (account_id, seq);
CREATE INDEX files_account_created ON files (account_id, created);
CREATE INDEX files_account_purpose ON files (account_id, purpose, seq);

-- A file's bytes, apart from its document so lists never read them. Report results are
-- CSV text, so the column is text on both engines; `size_bytes` is bounded by
-- FILE_BYTES_MAX (kassa/services/files.py).
CREATE TABLE file_contents (
    file_id TEXT NOT NULL PRIMARY KEY REFERENCES files (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    contents TEXT NOT NULL
);

-- Reports read an account's balance transactions by creation time (an interval, oldest
-- first, keyset-paged on created then seq).
CREATE INDEX ledger_transactions_account_created
    ON ledger_transactions (account_id, visible, created, seq);
