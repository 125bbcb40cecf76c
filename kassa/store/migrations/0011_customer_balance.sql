-- Customer balance transactions (`cbtxn_...`): JSON documents with the columns their lists
-- filter on. A customer's `balance` is the sum of its transactions' amounts in its currency,
-- and every transaction that moves it is a posting on the ledger (the source of truth:
-- `kassa ledger verify` checks the three agree).
CREATE TABLE customer_balance_transactions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    invoice TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX customer_balance_transactions_account_seq
    ON customer_balance_transactions (account_id, seq);
CREATE INDEX customer_balance_transactions_account_created
    ON customer_balance_transactions (account_id, created);
CREATE INDEX customer_balance_transactions_account_customer
    ON customer_balance_transactions (account_id, customer, seq);
CREATE INDEX customer_balance_transactions_account_invoice
    ON customer_balance_transactions (account_id, invoice, seq);
