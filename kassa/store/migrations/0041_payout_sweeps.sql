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
-- Payouts made before: each swept what it paid out, as worked out from the ledger
-- (`kassa.store.payout_queries.sweeps_backfill_sql`, which a restore of an account
-- snapshot saved before this migration runs too): its own transaction and those available
-- when it was made that no earlier one swept. A test clock's transaction was available once
-- the clock's settlement of it was posted, whatever its `available_on` (the clock's time).
{{STATEMENT:sweeps_backfill}};
