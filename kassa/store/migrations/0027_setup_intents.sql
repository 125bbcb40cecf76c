-- SetupIntents: saving a card for later without charging it (kassa/services/setup_intents.py).
-- Listed by customer and by payment method, as Stripe's list filters them.
CREATE TABLE setup_intents (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    payment_method TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX setup_intents_account_seq ON setup_intents (account_id, seq);
CREATE INDEX setup_intents_account_customer ON setup_intents (account_id, customer, seq);
CREATE INDEX setup_intents_account_payment_method
    ON setup_intents (account_id, payment_method, seq);
CREATE INDEX setup_intents_account_created ON setup_intents (account_id, created);

-- SetupAttempts: one per confirmation of a SetupIntent that reached the card, listed by
-- their SetupIntent (the only way Stripe lists them).
CREATE TABLE setup_attempts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    setup_intent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX setup_attempts_account_seq ON setup_attempts (account_id, seq);
CREATE INDEX setup_attempts_account_setup_intent
    ON setup_attempts (account_id, setup_intent, seq);
CREATE INDEX setup_attempts_account_created ON setup_attempts (account_id, created);
