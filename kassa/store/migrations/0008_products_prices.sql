-- Products and prices: JSON documents with the columns their lists filter on.

-- A product's id may be chosen by the API user (`gold`), so two accounts may each have one of
-- the same id: the key is (account_id, id), not id alone.
CREATE TABLE products (
    seq {{SEQ_PK}},
    id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    shippable BOOLEAN,
    type TEXT,
    url TEXT,
    doc TEXT NOT NULL,
    UNIQUE (account_id, id)
);
CREATE INDEX products_account_seq ON products (account_id, seq);
CREATE INDEX products_account_created ON products (account_id, created);
CREATE INDEX products_account_active ON products (account_id, active, seq);
CREATE INDEX products_account_shippable ON products (account_id, shippable, seq);
CREATE INDEX products_account_type ON products (account_id, type, seq);
CREATE INDEX products_account_url ON products (account_id, url, seq);

-- `recurring_*` hold the fields of the price's `recurring` hash. A lookup key names at most
-- one price of an account: the unique index is the last guard behind the service's check
-- (NULLs, prices without a key, are distinct in both engines).
CREATE TABLE prices (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    currency TEXT,
    lookup_key TEXT,
    product TEXT,
    recurring_interval TEXT,
    recurring_meter TEXT,
    recurring_usage_type TEXT,
    type TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX prices_account_seq ON prices (account_id, seq);
CREATE INDEX prices_account_created ON prices (account_id, created);
CREATE INDEX prices_account_active ON prices (account_id, active, seq);
CREATE INDEX prices_account_currency ON prices (account_id, currency, seq);
CREATE UNIQUE INDEX prices_account_lookup_key ON prices (account_id, lookup_key);
CREATE INDEX prices_account_product ON prices (account_id, product, seq);
CREATE INDEX prices_account_recurring_interval ON prices (account_id, recurring_interval, seq);
CREATE INDEX prices_account_recurring_meter ON prices (account_id, recurring_meter, seq);
CREATE INDEX prices_account_recurring_usage_type ON prices (account_id, recurring_usage_type, seq);
CREATE INDEX prices_account_type ON prices (account_id, type, seq);
