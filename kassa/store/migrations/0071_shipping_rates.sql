-- Shipping rates (`shr_...`, kassa/services/shipping_rates.py): JSON documents with the columns
-- their list filters on (active, and currency: the rate's `fixed_amount[currency]`).
CREATE TABLE shipping_rates (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    currency TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX shipping_rates_account_seq ON shipping_rates (account_id, seq);
CREATE INDEX shipping_rates_account_created ON shipping_rates (account_id, created);
CREATE INDEX shipping_rates_account_active ON shipping_rates (account_id, active, seq);
CREATE INDEX shipping_rates_account_currency ON shipping_rates (account_id, currency, seq);
