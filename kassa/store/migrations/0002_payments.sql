-- Payments: payment methods, payment intents, charges, refunds and disputes (JSON documents
-- with the columns their lists filter on), and the double-entry ledger under every balance.

CREATE TABLE payment_methods (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    type TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX payment_methods_account_seq ON payment_methods (account_id, seq);
CREATE INDEX payment_methods_account_customer ON payment_methods (account_id, customer, seq);
CREATE INDEX payment_methods_account_type ON payment_methods (account_id, type, seq);
CREATE INDEX payment_methods_account_created ON payment_methods (account_id, created);

CREATE TABLE payment_intents (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX payment_intents_account_seq ON payment_intents (account_id, seq);
CREATE INDEX payment_intents_account_customer ON payment_intents (account_id, customer, seq);
CREATE INDEX payment_intents_account_created ON payment_intents (account_id, created);

CREATE TABLE charges (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    payment_intent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX charges_account_seq ON charges (account_id, seq);
CREATE INDEX charges_account_customer ON charges (account_id, customer, seq);
CREATE INDEX charges_account_payment_intent ON charges (account_id, payment_intent, seq);
CREATE INDEX charges_account_created ON charges (account_id, created);

CREATE TABLE refunds (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    charge TEXT,
    payment_intent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX refunds_account_seq ON refunds (account_id, seq);
CREATE INDEX refunds_account_charge ON refunds (account_id, charge, seq);
CREATE INDEX refunds_account_payment_intent ON refunds (account_id, payment_intent, seq);
CREATE INDEX refunds_account_created ON refunds (account_id, created);

CREATE TABLE disputes (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    charge TEXT,
    payment_intent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX disputes_account_seq ON disputes (account_id, seq);
CREATE INDEX disputes_account_charge ON disputes (account_id, charge, seq);
CREATE INDEX disputes_account_payment_intent ON disputes (account_id, payment_intent, seq);
CREATE INDEX disputes_account_created ON disputes (account_id, created);

-- Secrets Kassa generates once per installation (the card fingerprint key).
CREATE TABLE instance_secrets (
    name TEXT NOT NULL PRIMARY KEY,
    secret TEXT NOT NULL
);

-- The ledger. A transaction groups two or more entries whose amounts sum to zero per
-- currency; entries are never updated or deleted. A transaction that an API user sees
-- (`visible` = 1) is a Stripe balance transaction; its amount, fee and net are derived from
-- its entries when it is written, and `kassa ledger verify` re-derives them.
CREATE TABLE ledger_transactions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    type TEXT NOT NULL,
    visible SMALLINT NOT NULL CHECK (visible IN (0, 1)),
    source TEXT,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    net BIGINT NOT NULL,
    fee_details TEXT NOT NULL,
    available_on BIGINT NOT NULL,
    -- 'pending' until settlement moves the net to the available balance; the only column
    -- that ever changes, and only from 'pending' to 'available'.
    status TEXT NOT NULL CHECK (status IN ('pending', 'available')),
    reporting_category TEXT NOT NULL,
    description TEXT,
    CHECK (net = amount - fee)
);
CREATE INDEX ledger_transactions_account_seq ON ledger_transactions (account_id, visible, seq);
CREATE INDEX ledger_transactions_account_type ON ledger_transactions (account_id, type, seq);
CREATE INDEX ledger_transactions_account_source ON ledger_transactions (account_id, source);
CREATE INDEX ledger_transactions_pending ON ledger_transactions (status, available_on);

CREATE TABLE ledger_entries (
    seq {{SEQ_PK}},
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    ledger_account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account ON ledger_entries (ledger_account);

-- Materialized balances: always the sum of the account's entries (verified).
CREATE TABLE ledger_balances (
    ledger_account TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL
);
CREATE INDEX ledger_balances_owner ON ledger_balances (owner);
