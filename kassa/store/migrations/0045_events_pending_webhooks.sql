-- `GET /v1/events?delivery_success=` filters on whether an event still has deliveries that
-- have not succeeded (pending, or given up): its `pending_webhooks`, kept as a column beside
-- the document (written with it, and by every count up or down).
ALTER TABLE events ADD COLUMN pending_webhooks BIGINT;
UPDATE events SET pending_webhooks = CAST({{DOC_TEXT:pending_webhooks}} AS BIGINT);
CREATE INDEX events_account_pending_webhooks ON events (account_id, pending_webhooks, seq);
