-- Quotes (`qt_...`, kassa/services/billing/quotes.py): JSON documents with the columns their
-- list filters on (customer, status, test_clock), `number` (a finalized quote's, counted for
-- the next one's sequence, unique in the account) and `expires_due`, when a draft or open quote is canceled at its
-- `expires_at` (Kassa's own, from the document's private facts; null once accepted or
-- canceled): the quotes job scans it across accounts, in real time, for the quotes no test
-- clock governs.
CREATE TABLE quotes (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    status TEXT,
    test_clock TEXT,
    number TEXT,
    expires_due BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX quotes_account_seq ON quotes (account_id, seq);
CREATE INDEX quotes_account_created ON quotes (account_id, created);
CREATE INDEX quotes_account_customer ON quotes (account_id, customer, seq);
CREATE INDEX quotes_account_status ON quotes (account_id, status, seq);
CREATE INDEX quotes_account_test_clock ON quotes (account_id, test_clock, seq);
-- Unique: two finalizes racing for one number (each counts the numbered quotes) cannot both
-- commit; the loser's request runs again (`WriteConflict`) and takes the next.
CREATE UNIQUE INDEX quotes_account_number ON quotes (account_id, number);
CREATE INDEX quotes_due ON quotes (expires_due, id)
    WHERE expires_due IS NOT NULL AND deleted = 0 AND test_clock IS NULL;
