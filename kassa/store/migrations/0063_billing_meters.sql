-- Billing Meters (kassa/services/billing/meters.py): listed by status; found by event_name
-- when a meter event arrives (Stripe: "You can only use an event name with a single meter").
CREATE TABLE billing_meters (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    status TEXT,
    event_name TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX billing_meters_account_seq ON billing_meters (account_id, seq);
CREATE INDEX billing_meters_account_status ON billing_meters (account_id, status, seq);
CREATE INDEX billing_meters_account_event_name ON billing_meters (account_id, event_name, seq);
CREATE INDEX billing_meters_account_created ON billing_meters (account_id, created);

-- Meter events (kassa/services/billing/meter_events.py): one row per event, keyed by its
-- identifier (a second event with the same identifier is refused), aggregated by SQL over
-- (account, event name, customer, occurred_at) for event summaries and invoices
-- (kassa/store/meter_event_queries.py). `occurred_at` is the event's `timestamp`; a
-- canceled event (a meter event adjustment) stays, marked, and counts no more.
CREATE TABLE billing_meter_events (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    identifier TEXT NOT NULL,
    event_name TEXT NOT NULL,
    customer TEXT NOT NULL,
    value BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    created BIGINT NOT NULL,
    canceled SMALLINT NOT NULL DEFAULT 0 CHECK (canceled IN (0, 1)),
    PRIMARY KEY (account_id, identifier)
);
CREATE INDEX billing_meter_events_usage
    ON billing_meter_events (account_id, event_name, customer, occurred_at);
