-- Refunds that fail after they were made (Stripe's test card 4000000000005126): one row per
-- refund whose failure is still to come, deleted in the unit of work that fails the refund
-- (kassa/services/refund_failures.py). `fails_at` is on the clock that governs the refund:
-- the installation's (`test_clock` NULL, the `refund_failures` job scans them across
-- accounts) or a test clock's (its advance finds them, earliest first, in the second index).
CREATE TABLE refund_failures (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL REFERENCES refunds (id),
    fails_at BIGINT NOT NULL,
    test_clock TEXT,
    failure_reason TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX refund_failures_due ON refund_failures (fails_at) WHERE test_clock IS NULL;
CREATE INDEX refund_failures_clock ON refund_failures (test_clock, fails_at, id)
    WHERE test_clock IS NOT NULL;
