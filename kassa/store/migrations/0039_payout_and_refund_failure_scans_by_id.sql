-- The payouts and refund_failures jobs' real-time scans (payout moves, automatic payouts,
-- refund failures) now read in (due time, id) order and resume each batch after the last row
-- read (`kassa.store.due_order`), as migration 0038 made the invoices job's: objects whose
-- work failed cannot hide those due after them. Each scan's index gains `id`, so a batch is
-- one index range with no sort however many rows share a due time. They replace the
-- single-column indexes of migrations 0023 and 0026, which nothing else reads (one account's
-- payouts are read through `payouts_account_due_at`).

DROP INDEX payouts_due;
CREATE INDEX payouts_due ON payouts (due_at, id) WHERE due_at IS NOT NULL AND deleted = 0;
DROP INDEX balance_settings_payout_due;
CREATE INDEX balance_settings_payout_due ON balance_settings (next_payout_at, id)
    WHERE next_payout_at IS NOT NULL AND deleted = 0;
DROP INDEX refund_failures_due;
CREATE INDEX refund_failures_due ON refund_failures (fails_at, id) WHERE test_clock IS NULL;
