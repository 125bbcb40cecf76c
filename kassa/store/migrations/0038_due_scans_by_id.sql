-- The real-time scans for due work (renewals, drafts to finalize, payment attempts,
-- reminders) read in (due time, id) order and resume each batch after the last row read
-- (`kassa.store.due_order`), so that objects whose work failed and stays due cannot hide
-- those due after them. Each scan's index gains `id`: a batch is one index range with no
-- sort, however many rows share a due time (migration 0037 left every live subscription at
-- 0). They replace the single-column indexes of migrations 0010, 0013 and 0018, which
-- nothing else reads.

DROP INDEX subscriptions_renewal_due;
CREATE INDEX subscriptions_renewal_due ON subscriptions (renews_at, id)
    WHERE test_clock IS NULL AND deleted = 0;
DROP INDEX invoices_finalization_due;
CREATE INDEX invoices_finalization_due ON invoices (automatically_finalizes_at, id);
DROP INDEX invoices_payment_attempt_due;
CREATE INDEX invoices_payment_attempt_due ON invoices (next_payment_attempt, id);
DROP INDEX invoices_reminder_due;
CREATE INDEX invoices_reminder_due ON invoices (next_reminder_at, id);
