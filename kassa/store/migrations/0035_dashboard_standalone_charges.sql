-- The dashboard's payments list shows charges made through the Charges API (no PaymentIntent)
-- beside the PaymentIntents. Its status filter tells a captured charge (Succeeded) from an
-- uncaptured one, so `captured` becomes a column. It is read only together with
-- `payment_intent IS NULL`, so its indexes are partial and hold only such charges: a filtered
-- page walks them alone, never the charges of the account's PaymentIntents, and writing an
-- intent's charge costs no upkeep of them.

ALTER TABLE charges ADD COLUMN captured BOOLEAN;
UPDATE charges SET captured = CAST({{DOC_TEXT:captured}} AS BOOLEAN);
-- Unfiltered: PostgreSQL does not take `payment_intent IS NULL` on the (account_id,
-- payment_intent, seq) index as fixing that column, and would sort every such charge by seq.
CREATE INDEX charges_standalone_seq ON charges (account_id, seq) WHERE payment_intent IS NULL;
CREATE INDEX charges_standalone_captured_status ON charges (account_id, captured, status, seq) WHERE payment_intent IS NULL;
CREATE INDEX charges_standalone_customer ON charges (account_id, customer, seq) WHERE payment_intent IS NULL;
CREATE INDEX charges_standalone_customer_status ON charges (account_id, customer, captured, status, seq) WHERE payment_intent IS NULL;
