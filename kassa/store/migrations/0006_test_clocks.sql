-- Stripe's test clocks: the frozen time that governs the customers attached to one (and,
-- through them, their payment intents, invoices, subscriptions and payouts). The API for
-- them arrives with billing; the core already resolves "now" through this table.
CREATE TABLE test_clocks (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    status TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX test_clocks_account_seq ON test_clocks (account_id, seq);
CREATE INDEX test_clocks_account_created ON test_clocks (account_id, created);
CREATE INDEX test_clocks_account_status ON test_clocks (account_id, status, seq);
