-- The customer portal (kassa/services/billing_portal.py). Configurations (`bpc_...`): JSON
-- documents with the columns their list filters on (active, is_default); an account has at
-- most one default configuration (the unique partial index: two requests racing to make it
-- cannot both commit; the loser runs again and finds it). Sessions (`bps_...`): JSON
-- documents, never listed (Stripe has no list or retrieve for them); the hosted portal page
-- finds one by id and its link's secret.
CREATE TABLE billing_portal_configurations (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    is_default BOOLEAN,
    doc TEXT NOT NULL
);
CREATE INDEX billing_portal_configurations_account_seq
    ON billing_portal_configurations (account_id, seq);
CREATE INDEX billing_portal_configurations_account_created
    ON billing_portal_configurations (account_id, created);
CREATE INDEX billing_portal_configurations_account_active
    ON billing_portal_configurations (account_id, active, seq);
CREATE INDEX billing_portal_configurations_account_is_default
    ON billing_portal_configurations (account_id, is_default, seq);
CREATE UNIQUE INDEX billing_portal_configurations_one_default
    ON billing_portal_configurations (account_id) WHERE is_default;

CREATE TABLE billing_portal_sessions (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL
);
CREATE INDEX billing_portal_sessions_account_seq ON billing_portal_sessions (account_id, seq);
CREATE INDEX billing_portal_sessions_account_created
    ON billing_portal_sessions (account_id, created);
