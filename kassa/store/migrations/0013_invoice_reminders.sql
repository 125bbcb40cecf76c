-- Payment reminders of open `send_invoice` invoices: `next_reminder_at` is the one instant
-- the reminder job next looks at the invoice (set at finalization, moved on by each
-- reminder, cleared when the invoice is paid, voided or marked uncollectible); never a list
-- of future reminders. The job's scan across accounts uses the index without `account_id`.
ALTER TABLE invoices ADD COLUMN next_reminder_at BIGINT;
CREATE INDEX invoices_account_next_reminder_at ON invoices (account_id, next_reminder_at, seq);
CREATE INDEX invoices_reminder_due ON invoices (next_reminder_at);
