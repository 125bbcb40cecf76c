-- The dashboard: sign-in sessions, the columns its lists filter on, per-day payment counters
-- for the home page's chart, and request and response bodies in the request log.

CREATE TABLE dashboard_sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_ms);

ALTER TABLE payment_intents ADD COLUMN status TEXT;
UPDATE payment_intents SET status = {{DOC_TEXT:status}};
CREATE INDEX payment_intents_account_status ON payment_intents (account_id, status, seq);

ALTER TABLE charges ADD COLUMN status TEXT;
UPDATE charges SET status = {{DOC_TEXT:status}};
CREATE INDEX charges_account_status ON charges (account_id, status, seq);

-- The object an event is about, so an object's page can list its events.
ALTER TABLE events ADD COLUMN object_id TEXT;
UPDATE events SET object_id = {{DOC_TEXT:data.object.id}};
CREATE INDEX events_account_object ON events (account_id, object_id, seq);

-- Counters per account, UTC day and currency, split over a few shards so that concurrent
-- payments on PostgreSQL rarely wait on one hot row; readers sum the shards.
CREATE TABLE payment_volume_days (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    day BIGINT NOT NULL,
    currency TEXT NOT NULL,
    shard SMALLINT NOT NULL,
    succeeded_count BIGINT NOT NULL DEFAULT 0,
    succeeded_amount BIGINT NOT NULL DEFAULT 0,
    failed_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day, currency, shard)
);

ALTER TABLE request_log ADD COLUMN request_body TEXT;
ALTER TABLE request_log ADD COLUMN response_body TEXT;
CREATE INDEX request_log_account_status ON request_log (account_id, status, seq);
CREATE INDEX request_log_account_key ON request_log (account_id, idempotency_key, seq);
CREATE INDEX request_log_account_route ON request_log (account_id, route, seq);
CREATE INDEX request_log_account_request ON request_log (account_id, request_id);
