-- Cards set up for off-session payments: a SetupIntent (usage off_session) that succeeded
-- with the payment method, or a payment that saved it with setup_future_usage=off_session.
-- Stripe's "authenticate unless set up" test cards then pay off-session without 3-D Secure
-- (kassa/services/card_setups.py). One row per payment method, written once.
CREATE TABLE card_setups (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    payment_method TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (account_id, payment_method)
);
