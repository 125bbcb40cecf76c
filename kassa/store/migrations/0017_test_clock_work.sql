-- Test clocks advancing (kassa/services/clock_advance.py): the clocks with an advance under
-- way, across accounts, and each clock's invoices with work due, earliest first, one index
-- per kind of work so that a step reads one index entry however many invoices the clock has.
CREATE INDEX test_clocks_advancing ON test_clocks (seq) WHERE status = 'advancing';
CREATE INDEX invoices_clock_finalize ON invoices (test_clock, automatically_finalizes_at, id)
    WHERE test_clock IS NOT NULL AND status = 'draft' AND deleted = 0;
CREATE INDEX invoices_clock_attempt ON invoices (test_clock, next_payment_attempt, id)
    WHERE test_clock IS NOT NULL AND status = 'open' AND deleted = 0;
CREATE INDEX invoices_clock_reminder ON invoices (test_clock, next_reminder_at, id)
    WHERE test_clock IS NOT NULL AND status = 'open' AND deleted = 0;
-- A customer's test clock, as a column: Stripe's `test_clock` list filter, and a clock's
-- deletion finding the customers on it.
ALTER TABLE customers ADD COLUMN test_clock TEXT;
UPDATE customers SET test_clock = {{DOC_TEXT:test_clock}};
CREATE INDEX customers_account_test_clock ON customers (account_id, test_clock, seq)
    WHERE test_clock IS NOT NULL;
