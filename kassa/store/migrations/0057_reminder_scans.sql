-- The reminder schedule under which the invoices job's startup scan last brought every open
-- invoice's next reminder up to date (kassa/services/billing/invoice_reminders.py,
-- `reschedule_reminders`): a process started with the same schedule skips reading every open
-- invoice again. The installation's, no account's: one row at most. A restored account
-- snapshot deletes it (its invoices may hold another schedule's instants).
CREATE TABLE reminder_scans (
    id SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    schedule TEXT NOT NULL
);
