-- A test clock's customers' funds settle at the clock's time, as its advance reaches their
-- `available_on` (kassa/services/clock_advance.py), not in real time: the balance
-- transactions a clock-governed operation posts name the clock, and the clock's work finds
-- its pending ones, earliest first, in one index.
ALTER TABLE ledger_transactions ADD COLUMN test_clock TEXT;
CREATE INDEX ledger_transactions_clock_pending
    ON ledger_transactions (test_clock, available_on, id)
    WHERE test_clock IS NOT NULL AND status = 'pending';
