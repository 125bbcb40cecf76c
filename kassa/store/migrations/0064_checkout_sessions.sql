-- Checkout Sessions (`cs_...`, kassa/services/checkout_sessions.py): JSON documents with the
-- columns their list filters on (customer, payment_intent, subscription, status), and
-- `expires_due`, when an open session expires (Kassa's own, from the document's private
-- facts; null once it is complete or expired): the checkout_sessions job scans it across
-- accounts, in real time (a session hangs off no test clock: Stripe's expire at their
-- `expires_at` whatever clock their customer lives on).
CREATE TABLE checkout_sessions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    payment_intent TEXT,
    subscription TEXT,
    status TEXT,
    expires_due BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX checkout_sessions_account_seq ON checkout_sessions (account_id, seq);
CREATE INDEX checkout_sessions_account_created ON checkout_sessions (account_id, created);
CREATE INDEX checkout_sessions_account_customer ON checkout_sessions (account_id, customer, seq);
CREATE INDEX checkout_sessions_account_payment_intent
    ON checkout_sessions (account_id, payment_intent, seq);
CREATE INDEX checkout_sessions_account_subscription
    ON checkout_sessions (account_id, subscription, seq);
CREATE INDEX checkout_sessions_account_status ON checkout_sessions (account_id, status, seq);
CREATE INDEX checkout_sessions_due ON checkout_sessions (expires_due, id)
    WHERE expires_due IS NOT NULL AND deleted = 0;
