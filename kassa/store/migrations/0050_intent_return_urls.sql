-- The return_url an intent accepting automatic payment methods (Stripe's default since API
-- version 2023-08-16) was last confirmed with: a later confirmation of the same intent (after
-- a decline, or a failed 3-D Secure challenge) may leave it out, as on Stripe
-- (kassa/services/intent_helpers.py). PaymentIntents and SetupIntents alike; one row per
-- intent, replaced by each confirmation that gives one. Not part of the intent's document:
-- the API never shows it.
CREATE TABLE intent_return_urls (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    intent_id TEXT NOT NULL,
    return_url TEXT NOT NULL,
    PRIMARY KEY (account_id, intent_id)
);
