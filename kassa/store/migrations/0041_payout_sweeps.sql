-- What an automatic payout swept is recorded when it is made, not derived afterwards: the
-- payout names, in `swept_by`, every available balance transaction of its account and
-- currency that no earlier automatic payout had swept (its own transaction too, which its
-- list leaves out), so `GET /v1/balance_transactions?payout=` lists exactly what it paid
-- out and never changes afterwards (kassa/services/payouts.py, pay_out_on_schedule). A
-- transaction still pending is swept by the first automatic payout after it settles.
ALTER TABLE ledger_transactions ADD COLUMN swept_by TEXT;
-- A payout's swept transactions, newest first.
CREATE INDEX ledger_transactions_swept
    ON ledger_transactions (swept_by, seq)
    WHERE swept_by IS NOT NULL;
-- What the next automatic payout of an account in a currency sweeps.
CREATE INDEX ledger_transactions_unswept
    ON ledger_transactions (account_id, currency)
    WHERE swept_by IS NULL AND status = 'available' AND visible = 1;
-- Payouts made before: each swept, as it now would have, its own transaction and the
-- available transactions made before it whose `available_on` had come by then that no
-- earlier automatic payout in the currency swept (a clock-governed one settled at its
-- clock's time, which these rows do not keep: its `available_on` stands in for it).
UPDATE ledger_transactions SET swept_by = (
    SELECT p.id FROM payouts p
    WHERE p.account_id = ledger_transactions.account_id
        AND {{DOC_TEXT:_kassa.swept.upto_seq}} IS NOT NULL
        AND {{DOC_TEXT:currency}} = ledger_transactions.currency
        AND (ledger_transactions.id = {{DOC_TEXT:balance_transaction}} OR (
            ledger_transactions.seq < CAST({{DOC_TEXT:_kassa.swept.upto_seq}} AS BIGINT)
            AND ledger_transactions.available_on <= CAST({{DOC_TEXT:created}} AS BIGINT)))
    ORDER BY p.seq LIMIT 1)
WHERE visible = 1 AND status = 'available'
    AND EXISTS (SELECT 1 FROM payouts p WHERE p.account_id = ledger_transactions.account_id);
