-- `kassa reconcile --record`: each run (what was compared, its parameters and the count of
-- each outcome) and a bounded sample of its breaks (kassa/reconciliation/report.py), which
-- the dashboard lists. Not API objects: plain tables, read by account.
CREATE TABLE reconciliation_runs (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('files', 'balance_transactions', 'payouts')),
    ledger TEXT NOT NULL,
    bank TEXT NOT NULL,
    parameters TEXT NOT NULL,
    counts TEXT NOT NULL,
    breaks BIGINT NOT NULL CHECK (breaks >= 0)
);
CREATE INDEX reconciliation_runs_account_seq ON reconciliation_runs (account_id, seq);

CREATE TABLE reconciliation_breaks (
    seq {{SEQ_PK}},
    run_id TEXT NOT NULL REFERENCES reconciliation_runs (id),
    outcome TEXT NOT NULL,
    position BIGINT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (run_id, outcome, position)
);
