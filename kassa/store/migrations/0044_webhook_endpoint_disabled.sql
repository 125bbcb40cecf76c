-- A disabled webhook endpoint keeps its pending deliveries, held: the delivery workers
-- claim nothing of an endpoint whose `disabled` is 1, and it gets them again (retries
-- that came due meanwhile at once) when it is enabled, as on Stripe. The flag mirrors the
-- endpoint's `status` so the workers' due scan need not read its JSON.
ALTER TABLE webhook_endpoint_state ADD COLUMN disabled SMALLINT NOT NULL DEFAULT 0
    CHECK (disabled IN (0, 1));
UPDATE webhook_endpoint_state SET disabled = 1 WHERE endpoint_id IN (
    SELECT id FROM webhook_endpoints WHERE {{DOC_TEXT:status}} = 'disabled');
