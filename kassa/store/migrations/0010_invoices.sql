-- Invoice items, invoices, invoice payments and the discounts applied to them: JSON
-- documents with the columns their lists filter on.

-- An item is pending (its next invoice will take it) while `invoice` is NULL.
CREATE TABLE invoiceitems (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    invoice TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX invoiceitems_account_seq ON invoiceitems (account_id, seq);
CREATE INDEX invoiceitems_account_created ON invoiceitems (account_id, created);
CREATE INDEX invoiceitems_account_customer ON invoiceitems (account_id, customer, seq);
CREATE INDEX invoiceitems_account_invoice ON invoiceitems (account_id, invoice, seq);

-- `subscription` holds `parent.subscription_details.subscription`. `number` is unique per
-- account once assigned (NULLs, drafts without one, are distinct in both engines): the
-- service checks first, the index is the last guard. `automatically_finalizes_at` and
-- `next_payment_attempt` are when the auto-advance job next has work on the invoice; the
-- job's scan across accounts uses the two indexes without `account_id`.
CREATE TABLE invoices (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    automatically_finalizes_at BIGINT,
    collection_method TEXT,
    customer TEXT,
    due_date BIGINT,
    next_payment_attempt BIGINT,
    number TEXT,
    status TEXT,
    subscription TEXT,
    test_clock TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX invoices_account_seq ON invoices (account_id, seq);
CREATE INDEX invoices_account_created ON invoices (account_id, created);
CREATE INDEX invoices_account_automatically_finalizes_at
    ON invoices (account_id, automatically_finalizes_at, seq);
CREATE INDEX invoices_account_collection_method ON invoices (account_id, collection_method, seq);
CREATE INDEX invoices_account_customer ON invoices (account_id, customer, seq);
CREATE INDEX invoices_account_due_date ON invoices (account_id, due_date, seq);
CREATE INDEX invoices_account_next_payment_attempt
    ON invoices (account_id, next_payment_attempt, seq);
CREATE UNIQUE INDEX invoices_account_number ON invoices (account_id, number);
CREATE INDEX invoices_account_status ON invoices (account_id, status, seq);
CREATE INDEX invoices_account_subscription ON invoices (account_id, subscription, seq);
CREATE INDEX invoices_account_test_clock ON invoices (account_id, test_clock, seq);
CREATE INDEX invoices_finalization_due ON invoices (automatically_finalizes_at);
CREATE INDEX invoices_payment_attempt_due ON invoices (next_payment_attempt);

-- `payment_intent` holds `payment.payment_intent`.
CREATE TABLE invoice_payments (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    invoice TEXT,
    payment_intent TEXT,
    status TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX invoice_payments_account_seq ON invoice_payments (account_id, seq);
CREATE INDEX invoice_payments_account_created ON invoice_payments (account_id, created);
CREATE INDEX invoice_payments_account_invoice ON invoice_payments (account_id, invoice, seq);
CREATE INDEX invoice_payments_account_payment_intent
    ON invoice_payments (account_id, payment_intent, seq);
CREATE INDEX invoice_payments_account_status ON invoice_payments (account_id, status, seq);

-- Discounts: a coupon (or promotion code) applied to an invoice or an invoice item. Read by
-- id only (expansion, and the invoice's arithmetic).
CREATE TABLE discounts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL
);
CREATE INDEX discounts_account_seq ON discounts (account_id, seq);
CREATE INDEX discounts_account_created ON discounts (account_id, created);
