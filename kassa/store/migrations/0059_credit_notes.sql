-- Credit notes (kassa/services/billing/credit_notes.py): listed by customer and by invoice,
-- as Stripe's list filters them; an invoice's notes are also read to number the next one
-- ({invoice number}-CN-01, ...) and to know what its lines have left to credit.
CREATE TABLE credit_notes (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    invoice TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX credit_notes_account_seq ON credit_notes (account_id, seq);
CREATE INDEX credit_notes_account_customer ON credit_notes (account_id, customer, seq);
CREATE INDEX credit_notes_account_invoice ON credit_notes (account_id, invoice, seq);
CREATE INDEX credit_notes_account_created ON credit_notes (account_id, created);
