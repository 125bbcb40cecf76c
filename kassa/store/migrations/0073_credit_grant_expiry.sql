-- A credit grant's expiry is due work (kassa/services/billing/credit_grants.py,
-- `expire_when_due`): `expires_due` is when the expiry of a grant with something left and not
-- voided is to be written (Kassa's own, derived from the document on every write:
-- kassa/store/tables.py BILLING_CREDIT_GRANTS; null once nothing is left, once voided, or
-- when it never expires), `test_clock` the clock its customer lives on. The `invoices` job
-- scans the real-time ones across accounts (`billing_credit_grants_due`); a test clock's
-- advance finds its next one due (`ClockQueries.next_clock_work`, kind
-- `credit_grant_expiry`) by `billing_credit_grants_clock_expiry`, as it finds its other
-- objects' work. The rows stored before are filled in from their documents alike (an
-- expired grant not yet settled is due at once: the job or its clock's next advance writes
-- its debit, dated at its `expires_at`).
ALTER TABLE billing_credit_grants ADD COLUMN test_clock TEXT;
ALTER TABLE billing_credit_grants ADD COLUMN expires_due BIGINT;
UPDATE billing_credit_grants SET test_clock = {{DOC_TEXT:test_clock}};
UPDATE billing_credit_grants SET expires_due = CAST({{DOC_TEXT:expires_at}} AS BIGINT)
    WHERE {{DOC_TEXT:expires_at}} IS NOT NULL AND {{DOC_TEXT:voided_at}} IS NULL
        AND CAST({{DOC_TEXT:_kassa.balance}} AS BIGINT) > 0;
CREATE INDEX billing_credit_grants_due ON billing_credit_grants (expires_due, id)
    WHERE expires_due IS NOT NULL AND deleted = 0 AND test_clock IS NULL;
CREATE INDEX billing_credit_grants_clock_expiry
    ON billing_credit_grants (test_clock, expires_due, id)
    WHERE expires_due IS NOT NULL AND deleted = 0 AND test_clock IS NOT NULL;
