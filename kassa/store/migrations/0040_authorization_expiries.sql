-- Card authorizations held for capture (a manual-capture PaymentIntent, a charge made with
-- capture=false) expire when their capture window closes, Stripe's
-- `payment_method_details.card.capture_before`: one row per authorization still to expire,
-- written with the charge and deleted in the unit of work that captures, cancels or expires
-- it (kassa/services/authorization_expiry.py). `expires_at` is on the clock that governs the
-- charge: the installation's (`test_clock` NULL, the `authorization_expiries` job scans them
-- across accounts in (expires_at, id) order) or a test clock's (its advance finds them,
-- earliest first, in the second index).
CREATE TABLE authorization_expiries (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL REFERENCES charges (id),
    expires_at BIGINT NOT NULL,
    test_clock TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX authorization_expiries_due ON authorization_expiries (expires_at, id)
    WHERE test_clock IS NULL;
CREATE INDEX authorization_expiries_clock ON authorization_expiries (test_clock, expires_at, id)
    WHERE test_clock IS NOT NULL;
