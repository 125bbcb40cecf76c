-- Payment Links (`plink_...`, kassa/services/payment_links.py): JSON documents with the column
-- their list filters on (active). Each visit to a link's `url` makes a Checkout Session whose
-- `payment_link` names it: checkout_sessions gains that column, which its list filters on.
CREATE TABLE payment_links (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    doc TEXT NOT NULL
);
CREATE INDEX payment_links_account_seq ON payment_links (account_id, seq);
CREATE INDEX payment_links_account_created ON payment_links (account_id, created);
CREATE INDEX payment_links_account_active ON payment_links (account_id, active, seq);

ALTER TABLE checkout_sessions ADD COLUMN payment_link TEXT;
CREATE INDEX checkout_sessions_account_payment_link
    ON checkout_sessions (account_id, payment_link, seq);
