-- Plans: a plan is a recurring price under the same id, and a plan's id may be chosen by the
-- API user (`gold-monthly`), so two accounts may each hold one of the same id: the prices
-- table's key becomes (account_id, id), as products' is. The table is rebuilt (SQLite cannot
-- drop a constraint), keeping every row's seq so list order and cursors are unchanged.
CREATE TABLE prices_rebuilt (
    seq {{SEQ_PK}},
    id TEXT NOT NULL,
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
    doc TEXT NOT NULL,
    UNIQUE (account_id, id)
);
INSERT INTO prices_rebuilt (
    seq, id, account_id, created, deleted, active, currency, lookup_key, product,
    recurring_interval, recurring_meter, recurring_usage_type, type, doc
)
SELECT
    seq, id, account_id, created, deleted, active, currency, lookup_key, product,
    recurring_interval, recurring_meter, recurring_usage_type, type, doc
FROM prices;
DROP TABLE prices;
ALTER TABLE prices_rebuilt RENAME TO prices;
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

-- Customer tax ids (kassa/services/tax_ids.py): listed per customer.
CREATE TABLE tax_ids (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX tax_ids_account_seq ON tax_ids (account_id, seq);
CREATE INDEX tax_ids_account_customer ON tax_ids (account_id, customer, seq);
CREATE INDEX tax_ids_account_created ON tax_ids (account_id, created);
