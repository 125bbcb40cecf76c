-- Email: the outbox of messages to customers (invoices, receipts, payment failures,
-- reminders), written in the same transaction as the change that causes them; the mail
-- worker sends them over SMTP, or, without an SMTP server, captures them here.

-- The emails as the API lists them (`GET /v1/test_helpers/emails`): a JSON document with
-- the rendered subject, text and HTML, and the columns the list filters on.
CREATE TABLE emails (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    invoice TEXT,
    kind TEXT,
    recipient TEXT,
    status TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX emails_account_seq ON emails (account_id, seq);
CREATE INDEX emails_account_created ON emails (account_id, created);
CREATE INDEX emails_account_customer ON emails (account_id, customer, seq);
CREATE INDEX emails_account_invoice ON emails (account_id, invoice, seq);
CREATE INDEX emails_account_kind ON emails (account_id, kind, seq);
CREATE INDEX emails_account_recipient ON emails (account_id, recipient, seq);
CREATE INDEX emails_account_status ON emails (account_id, status, seq);

-- The queue: one row per email, claimed by mail workers with a lease (claimed_until_ms)
-- that a crashed worker's claim outlives only briefly; failures are retried at
-- next_attempt_ms.
CREATE TABLE email_deliveries (
    email_id TEXT NOT NULL PRIMARY KEY REFERENCES emails (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'captured', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX email_deliveries_due ON email_deliveries (status, next_attempt_ms);

-- Attachments (an invoice's PDF), base64 so the column is text on both engines.
CREATE TABLE email_attachments (
    email_id TEXT NOT NULL REFERENCES emails (id),
    ordinal INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    content_base64 TEXT NOT NULL,
    PRIMARY KEY (email_id, ordinal)
);
