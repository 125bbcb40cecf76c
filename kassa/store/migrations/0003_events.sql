-- Events, webhook endpoints, and the webhook outbox: one delivery row per (event, matching
-- endpoint), written in the event's transaction, and every delivery attempt.

CREATE TABLE events (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    type TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX events_account_seq ON events (account_id, seq);
CREATE INDEX events_account_type ON events (account_id, type, seq);
CREATE INDEX events_account_created ON events (account_id, created);
CREATE INDEX events_created ON events (created);

CREATE TABLE webhook_endpoints (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_account_seq ON webhook_endpoints (account_id, seq);
CREATE INDEX webhook_endpoints_account_created ON webhook_endpoints (account_id, created);

-- What delivery needs about an endpoint and the API never shows again: its signing secret,
-- and since when it has failed without a success (it is disabled once that passes the
-- retry window).
CREATE TABLE webhook_endpoint_state (
    endpoint_id TEXT NOT NULL PRIMARY KEY REFERENCES webhook_endpoints (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    secret TEXT NOT NULL,
    failing_since_ms BIGINT
);

CREATE TABLE webhook_deliveries (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    event_id TEXT NOT NULL REFERENCES events (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, status, next_attempt_ms);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempted_ms BIGINT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, seq);
