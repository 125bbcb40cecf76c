-- A subscription's `pending_setup_intent`, as a column: when the SetupIntent succeeds, the
-- subscription it was opened for is one index read away, however many subscriptions its
-- customer has (kassa/services/billing/subscription_setup.py).
ALTER TABLE subscriptions ADD COLUMN pending_setup_intent TEXT;
UPDATE subscriptions SET pending_setup_intent = {{DOC_TEXT:pending_setup_intent}};
CREATE INDEX subscriptions_account_pending_setup_intent
    ON subscriptions (account_id, pending_setup_intent) WHERE pending_setup_intent IS NOT NULL;
