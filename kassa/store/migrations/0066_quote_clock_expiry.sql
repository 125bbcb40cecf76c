-- A test clock's quotes expire in the clock's time: the clock's advance finds the next one due
-- (`ClockQueries.next_clock_work`, kind `quote_expiry`) by this index, as it finds its other
-- objects' work; the real-time `quotes_due` index (0065) leaves them out.
CREATE INDEX quotes_clock_expiry ON quotes (test_clock, expires_due, id)
    WHERE expires_due IS NOT NULL AND deleted = 0 AND test_clock IS NOT NULL;
