-- Stripe's billing credits (kassa/services/billing/credit_grants.py,
-- credit_balance_transactions.py, credit_application.py). Credit grants (`credgr_...`): listed
-- by customer; `spendable` (true while the grant has something left and is not voided, NULL
-- otherwise) lets an invoice's finalization read only the customer's grants it may draw on,
-- through one index (a customer without any finds nothing at the cost of one probe).
CREATE TABLE billing_credit_grants (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    spendable BOOLEAN,
    doc TEXT NOT NULL
);
CREATE INDEX billing_credit_grants_account_seq ON billing_credit_grants (account_id, seq);
CREATE INDEX billing_credit_grants_account_created
    ON billing_credit_grants (account_id, created);
CREATE INDEX billing_credit_grants_account_customer
    ON billing_credit_grants (account_id, customer, seq);
CREATE INDEX billing_credit_grants_account_customer_spendable
    ON billing_credit_grants (account_id, customer, spendable, seq);

-- Credit balance transactions (`cbtxn_...`): written once, never changed; listed by customer
-- (Kassa's own copy of it: Stripe's object does not show it) and by credit grant.
CREATE TABLE billing_credit_balance_transactions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    credit_grant TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX billing_credit_balance_transactions_account_seq
    ON billing_credit_balance_transactions (account_id, seq);
CREATE INDEX billing_credit_balance_transactions_account_created
    ON billing_credit_balance_transactions (account_id, created);
CREATE INDEX billing_credit_balance_transactions_account_customer
    ON billing_credit_balance_transactions (account_id, customer, seq);
CREATE INDEX billing_credit_balance_transactions_account_credit_grant
    ON billing_credit_balance_transactions (account_id, credit_grant, seq);
