-- Radar's early fraud warnings: one per charge the issuer reports as likely fraud (Stripe's
-- test card 4000000000005423), looked up by charge and by PaymentIntent.
CREATE TABLE early_fraud_warnings (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    charge TEXT,
    payment_intent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX early_fraud_warnings_account_seq ON early_fraud_warnings (account_id, seq);
CREATE INDEX early_fraud_warnings_account_charge ON early_fraud_warnings (account_id, charge, seq);
CREATE INDEX early_fraud_warnings_account_payment_intent
    ON early_fraud_warnings (account_id, payment_intent, seq);
CREATE INDEX early_fraud_warnings_account_created ON early_fraud_warnings (account_id, created);
