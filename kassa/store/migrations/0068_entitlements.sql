-- Stripe's Entitlements (kassa/services/billing/entitlement_features.py, product_features.py,
-- active_entitlements.py, entitlement_grants.py). Features (`feat_...`): JSON documents with
-- the columns their list filters on; an account's active features have distinct lookup keys
-- (the unique partial index: two creates racing for one key cannot both commit; an archived
-- feature's key may be taken again, as on Stripe).
CREATE TABLE entitlement_features (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    lookup_key TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX entitlement_features_account_seq ON entitlement_features (account_id, seq);
CREATE INDEX entitlement_features_account_created
    ON entitlement_features (account_id, created);
CREATE INDEX entitlement_features_account_active ON entitlement_features (account_id, active, seq);
CREATE INDEX entitlement_features_account_lookup_key
    ON entitlement_features (account_id, lookup_key, seq);
CREATE UNIQUE INDEX entitlement_features_one_active_lookup_key
    ON entitlement_features (account_id, lookup_key) WHERE active;

-- A product's features (`prodft_...`): a feature is attached to a product once (the unique
-- partial index over the live rows; a detached one is marked deleted and may come back).
CREATE TABLE product_features (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    product TEXT,
    feature TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX product_features_account_seq ON product_features (account_id, seq);
CREATE INDEX product_features_account_created ON product_features (account_id, created);
CREATE INDEX product_features_account_product ON product_features (account_id, product, seq);
CREATE UNIQUE INDEX product_features_once_per_product
    ON product_features (account_id, product, feature) WHERE deleted = 0;

-- Which products each subscription grants its customer's entitlements for, one row per
-- (subscription, product) while the subscription's status grants them: how a product's
-- new or removed feature finds the customers it changes. Kassa's own, never listed.
CREATE TABLE entitlement_grants (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    product TEXT,
    subscription TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX entitlement_grants_account_seq ON entitlement_grants (account_id, seq);
CREATE INDEX entitlement_grants_account_created ON entitlement_grants (account_id, created);
CREATE INDEX entitlement_grants_account_customer
    ON entitlement_grants (account_id, customer, seq);
CREATE INDEX entitlement_grants_account_product ON entitlement_grants (account_id, product, seq);
CREATE INDEX entitlement_grants_account_subscription
    ON entitlement_grants (account_id, subscription, seq);

-- A customer's active entitlements (`ent_...`): one live row per (customer, feature), its id
-- kept while the entitlement lasts; an ended one is marked deleted.
CREATE TABLE active_entitlements (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    customer TEXT,
    feature TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX active_entitlements_account_seq ON active_entitlements (account_id, seq);
CREATE INDEX active_entitlements_account_created ON active_entitlements (account_id, created);
CREATE INDEX active_entitlements_account_customer
    ON active_entitlements (account_id, customer, seq);
CREATE UNIQUE INDEX active_entitlements_once_per_customer
    ON active_entitlements (account_id, customer, feature) WHERE deleted = 0;
