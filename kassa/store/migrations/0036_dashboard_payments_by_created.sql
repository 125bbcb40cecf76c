-- The dashboard's payments list is in creation order (created, then seq), and its date filters
-- are ranges on `created` itself. Creation time does not grow with seq: an object of a
-- customer on a test clock is created at the clock's frozen time, years ahead or behind, so
-- the list's earlier translation of a date range into a seq range hid payments. Each filter
-- combination now walks one of these indexes, its filters fixing the leading columns and the
-- date range and cursor bounding `created`, in the list's order: no sort, LIMIT-bounded.
--
-- They replace the list's seq-ordered indexes of migrations 0004, 0005 and 0035, which
-- nothing else reads. payment_intents_account_customer (account_id, customer, seq) stays for
-- the API's list by customer, and the created index keeps serving the API's created filters.

DROP INDEX payment_intents_account_created;
CREATE INDEX payment_intents_account_created ON payment_intents (account_id, created, seq);
DROP INDEX payment_intents_account_status;
CREATE INDEX payment_intents_account_status_created ON payment_intents (account_id, status, created, seq);
DROP INDEX payment_intents_account_customer_status;
CREATE INDEX payment_intents_account_customer_status_created ON payment_intents (account_id, customer, status, created, seq);
CREATE INDEX payment_intents_account_customer_created ON payment_intents (account_id, customer, created, seq);

-- Charges made without a PaymentIntent (the Charges API), as in migration 0035: partial,
-- so a page walks only such charges and an intent's charge costs no upkeep of them.
DROP INDEX charges_standalone_seq;
CREATE INDEX charges_standalone_created ON charges (account_id, created, seq) WHERE payment_intent IS NULL;
DROP INDEX charges_standalone_captured_status;
CREATE INDEX charges_standalone_captured_status_created ON charges (account_id, captured, status, created, seq) WHERE payment_intent IS NULL;
DROP INDEX charges_standalone_customer;
CREATE INDEX charges_standalone_customer_created ON charges (account_id, customer, created, seq) WHERE payment_intent IS NULL;
DROP INDEX charges_standalone_customer_status;
CREATE INDEX charges_standalone_customer_status_created ON charges (account_id, customer, captured, status, created, seq) WHERE payment_intent IS NULL;
