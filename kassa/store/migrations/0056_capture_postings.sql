-- Card payments captured asynchronously (a PaymentIntent's `capture_method=automatic_async`,
-- Stripe's default): the charge is captured in the request, its ledger posting (and so its
-- `balance_transaction`) comes a moment later, with `charge.updated`. One row per charge
-- whose posting is still to come, deleted in the unit of work that posts it
-- (kassa/services/capture_postings.py). `posts_at` is on the clock that governs the charge:
-- the installation's (`test_clock` NULL, the `capture_postings` job scans them across
-- accounts) or a test clock's (its advance finds them, earliest first, in the second index).
-- `amount` is what was captured, in the charge's currency.
CREATE TABLE capture_postings (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL REFERENCES charges (id),
    posts_at BIGINT NOT NULL,
    test_clock TEXT,
    amount BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX capture_postings_due ON capture_postings (posts_at, id) WHERE test_clock IS NULL;
CREATE INDEX capture_postings_clock ON capture_postings (test_clock, posts_at, id)
    WHERE test_clock IS NOT NULL;
