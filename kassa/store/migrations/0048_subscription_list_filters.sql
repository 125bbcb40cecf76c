-- The subscription list's filters (kassa/services/billing/subscriptions.py): its
-- `collection_method`, and the period its items' periods give it (`current_period_end`, the
-- earliest item period end, and `current_period_start`, the latest item period start: what
-- Stripe's list filters on since the periods moved to the items), as columns derived from
-- the document on every write (kassa/store/tables.py SUBSCRIPTIONS). `price` and `plan`
-- read subscription_items_account_price.
ALTER TABLE subscriptions ADD COLUMN collection_method TEXT;
ALTER TABLE subscriptions ADD COLUMN current_period_end BIGINT;
ALTER TABLE subscriptions ADD COLUMN current_period_start BIGINT;
UPDATE subscriptions SET
    collection_method = {{DOC_TEXT:collection_method}},
    current_period_end = {{DOC_EACH_MIN:items.data:current_period_end}},
    current_period_start = {{DOC_EACH_MAX:items.data:current_period_start}};
CREATE INDEX subscriptions_account_collection_method
    ON subscriptions (account_id, collection_method, seq);
CREATE INDEX subscriptions_account_current_period_end
    ON subscriptions (account_id, current_period_end);
CREATE INDEX subscriptions_account_current_period_start
    ON subscriptions (account_id, current_period_start);
