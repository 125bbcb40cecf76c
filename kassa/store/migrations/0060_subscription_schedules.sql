-- Subscription schedules (kassa/services/billing/subscription_schedules.py): JSON documents
-- with the columns their list filters on (`customer`, `status` for `scheduled`, and the
-- `canceled_at`, `completed_at` and `released_at` ranges). `transitions_at` is when the
-- schedule next has work due (its start, a phase's end, the `expiring` notice), derived
-- from the document on every write: the `invoices` job scans it across accounts for
-- schedules in real time, a test clock's advance per clock (kassa/store/clock_queries.py).
CREATE TABLE subscription_schedules (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    canceled_at BIGINT,
    completed_at BIGINT,
    customer TEXT,
    released_at BIGINT,
    status TEXT,
    test_clock TEXT,
    transitions_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX subscription_schedules_account_seq ON subscription_schedules (account_id, seq);
CREATE INDEX subscription_schedules_account_created
    ON subscription_schedules (account_id, created);
CREATE INDEX subscription_schedules_account_customer
    ON subscription_schedules (account_id, customer, seq);
CREATE INDEX subscription_schedules_account_status
    ON subscription_schedules (account_id, status, seq);
CREATE INDEX subscription_schedules_account_canceled_at
    ON subscription_schedules (account_id, canceled_at);
CREATE INDEX subscription_schedules_account_completed_at
    ON subscription_schedules (account_id, completed_at);
CREATE INDEX subscription_schedules_account_released_at
    ON subscription_schedules (account_id, released_at);
CREATE INDEX subscription_schedules_transition_due ON subscription_schedules (transitions_at, id)
    WHERE test_clock IS NULL AND deleted = 0;
CREATE INDEX subscription_schedules_clock_transition
    ON subscription_schedules (test_clock, transitions_at, id)
    WHERE test_clock IS NOT NULL AND deleted = 0;
