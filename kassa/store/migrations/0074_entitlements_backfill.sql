-- The entitlements of subscriptions written before migration 0068. Kassa follows a
-- subscription's grants when it writes the subscription (`entitlement_grants`), so one not
-- written since 0068 granted nothing: a feature attached to its product later would not
-- find its customer. Each such subscription in a status that grants (GRANTING_STATUSES:
-- active, past_due, trialing) gains one grant per distinct product of its live items, read
-- from the item rows and their prices (each price's product never changes). Then every
-- customer gains the active entitlements those grants give through features attached since
-- 0068 and it does not hold yet (none on a database upgraded from before 0068, which had
-- no features). Announced by no event: the upgrade changes no subscription. A document is
-- written as '{}' first and filled in from its row's columns, so each id is drawn once.
INSERT INTO entitlement_grants (id, account_id, created, customer, product, subscription, doc)
SELECT
    'entgr_' || {{RANDOM_HEX_24}}, granted.account_id, granted.created,
    granted.customer, granted.product, granted.subscription, '{}'
FROM (
    SELECT DISTINCT
        subscriptions.account_id, subscriptions.id AS subscription, subscriptions.customer,
        subscriptions.created, prices.product
    FROM subscriptions
    JOIN subscription_items
        ON subscription_items.account_id = subscriptions.account_id
        AND subscription_items.subscription = subscriptions.id
        AND subscription_items.deleted = 0
    JOIN prices
        ON prices.account_id = subscription_items.account_id
        AND prices.id = subscription_items.price
    WHERE subscriptions.deleted = 0
        AND subscriptions.status IN ('active', 'past_due', 'trialing')
        AND NOT EXISTS (
            SELECT 1 FROM entitlement_grants AS held
            WHERE held.account_id = subscriptions.account_id
                AND held.subscription = subscriptions.id
                AND held.deleted = 0
        )
) AS granted
ORDER BY granted.account_id, granted.subscription, granted.product;
UPDATE entitlement_grants SET doc = {{JSON_OBJECT}}(
    'id', id, 'created', created, 'customer', customer, 'product', product,
    'subscription', subscription
){{JSON_AS_TEXT}}
WHERE doc = '{}';
INSERT INTO active_entitlements (id, account_id, created, customer, feature, doc)
SELECT
    'ent_' || {{RANDOM_HEX_24}}, entitled.account_id, entitled.created,
    entitled.customer, entitled.feature, '{}'
FROM (
    SELECT
        entitlement_grants.account_id, entitlement_grants.customer, product_features.feature,
        max(entitlement_grants.created) AS created
    FROM entitlement_grants
    JOIN product_features
        ON product_features.account_id = entitlement_grants.account_id
        AND product_features.product = entitlement_grants.product
        AND product_features.deleted = 0
    WHERE entitlement_grants.deleted = 0
        AND NOT EXISTS (
            SELECT 1 FROM active_entitlements AS held
            WHERE held.account_id = entitlement_grants.account_id
                AND held.customer = entitlement_grants.customer
                AND held.feature = product_features.feature
                AND held.deleted = 0
        )
    GROUP BY entitlement_grants.account_id, entitlement_grants.customer, product_features.feature
) AS entitled
ORDER BY entitled.account_id, entitled.customer, entitled.feature;
UPDATE active_entitlements SET doc = {{JSON_OBJECT}}(
    'id', id, 'object', 'entitlements.active_entitlement', 'feature', feature,
    'livemode', {{JSON_FALSE}},
    'lookup_key', (
        SELECT features.lookup_key FROM entitlement_features AS features
        WHERE features.account_id = active_entitlements.account_id
            AND features.id = active_entitlements.feature
    ),
    'created', created, '_kassa', {{JSON_OBJECT}}('customer', customer)
){{JSON_AS_TEXT}}
WHERE doc = '{}';
