-- Card tokens (`tok_...`, single-use: a used token stays for retrieval) and the cards saved on
-- customers as payment sources (`card_...`), listed by customer.
CREATE TABLE tokens (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL
);
CREATE INDEX tokens_account_seq ON tokens (account_id, seq);
CREATE INDEX tokens_account_created ON tokens (account_id, created);

CREATE TABLE cards (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX cards_account_seq ON cards (account_id, seq);
CREATE INDEX cards_account_customer ON cards (account_id, customer, seq);
CREATE INDEX cards_account_created ON cards (account_id, created);
