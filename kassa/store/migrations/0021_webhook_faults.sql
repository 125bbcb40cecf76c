-- Webhook fault injection (kassa/services/webhook_faults.py), a Kassa test helper.
--
-- Per endpoint, a queue of faults applied to its next delivery attempts, oldest first. A
-- fault is taken from the queue in the transaction that claims a delivery and moves onto
-- that delivery's row (`fault`, `fault_status_code`) until the attempt is recorded, so a
-- crash between the two neither loses the fault nor applies it twice. An exhausted fault's
-- row is deleted.
CREATE TABLE webhook_faults (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    type TEXT NOT NULL
        CHECK (type IN ('duplicate', 'delay', 'out_of_order', 'status', 'timeout')),
    count INTEGER NOT NULL CHECK (count > 0),
    remaining INTEGER NOT NULL CHECK (remaining > 0 AND remaining <= count),
    status_code INTEGER,
    delay_seconds INTEGER,
    created BIGINT NOT NULL,
    -- The parameter a type needs, and no other type has.
    CHECK ((type = 'status') = (status_code IS NOT NULL)),
    CHECK ((type = 'delay') = (delay_seconds IS NOT NULL))
);
CREATE INDEX webhook_faults_endpoint ON webhook_faults (endpoint_id, seq);

ALTER TABLE webhook_deliveries ADD COLUMN fault TEXT
    CHECK (fault IN ('duplicate', 'delay', 'out_of_order', 'status', 'timeout'));
ALTER TABLE webhook_deliveries ADD COLUMN fault_status_code INTEGER
    CHECK ((fault = 'status') = (fault_status_code IS NOT NULL));
-- Deliveries an `out_of_order` fault holds back until a later delivery to their endpoint has
-- been attempted: the recorder looks for them after every batch, usually finding none.
CREATE INDEX webhook_deliveries_held ON webhook_deliveries (endpoint_id, seq)
    WHERE fault = 'out_of_order' AND status = 'pending';

ALTER TABLE webhook_attempts ADD COLUMN injected_fault TEXT;
