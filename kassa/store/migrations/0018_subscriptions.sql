-- Subscriptions and their items (kassa/services/billing/subscriptions.py): JSON documents with
-- the columns their lists filter on. `renews_at` is when the subscription's next period
-- begins (its renewal, the end of its trial, or an incomplete one's expiry): the renewal job
-- scans it across accounts for subscriptions in real time, the test clock work per clock.
CREATE TABLE subscriptions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    renews_at BIGINT,
    status TEXT,
    test_clock TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX subscriptions_account_seq ON subscriptions (account_id, seq);
CREATE INDEX subscriptions_account_created ON subscriptions (account_id, created);
CREATE INDEX subscriptions_account_customer ON subscriptions (account_id, customer, seq);
CREATE INDEX subscriptions_account_status ON subscriptions (account_id, status, seq);
CREATE INDEX subscriptions_account_renews_at ON subscriptions (account_id, renews_at);
CREATE INDEX subscriptions_account_test_clock ON subscriptions (account_id, test_clock, seq)
    WHERE test_clock IS NOT NULL;
CREATE INDEX subscriptions_renewal_due ON subscriptions (renews_at)
    WHERE test_clock IS NULL AND deleted = 0;
CREATE INDEX subscriptions_clock_renewal ON subscriptions (test_clock, renews_at, id)
    WHERE test_clock IS NOT NULL AND deleted = 0;

CREATE TABLE subscription_items (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    price TEXT,
    subscription TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX subscription_items_account_seq ON subscription_items (account_id, seq);
CREATE INDEX subscription_items_account_created ON subscription_items (account_id, created);
CREATE INDEX subscription_items_account_subscription
    ON subscription_items (account_id, subscription, seq);
CREATE INDEX subscription_items_account_price ON subscription_items (account_id, price, seq);
