-- Billing alerts (kassa/services/billing/alerts.py, `alrt_...`): JSON documents with the
-- columns their list filters on (`status`, `meter`) and the customer of an alert's filter,
-- which a meter event reads beside the meter: the alerts watching one customer's usage on
-- one meter (kassa/services/billing/alert_triggers.py). `customer` is NULL for an alert on
-- every customer.
CREATE TABLE billing_alerts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    status TEXT,
    meter TEXT,
    customer TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX billing_alerts_account_seq ON billing_alerts (account_id, seq);
CREATE INDEX billing_alerts_account_created ON billing_alerts (account_id, created);
CREATE INDEX billing_alerts_account_status ON billing_alerts (account_id, status, seq);
CREATE INDEX billing_alerts_account_meter ON billing_alerts (account_id, meter, customer, seq);

-- Which customers each alert has triggered for: a `one_time` alert triggers once per
-- customer, ever (the key: two meter events racing past the threshold cannot both announce).
CREATE TABLE billing_alert_triggers (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    alert_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    value BIGINT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (account_id, alert_id, customer)
);

-- When each meter event was reported, in the installation's time in milliseconds (its
-- `created` is the customer's, a test clock's frozen time): an alert counts only the usage
-- reported after it was made. Events recorded before this migration count for no alert.
ALTER TABLE billing_meter_events ADD COLUMN recorded_ms BIGINT NOT NULL DEFAULT 0;
