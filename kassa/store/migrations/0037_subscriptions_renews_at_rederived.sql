-- `renews_at` (when the scheduler next has work for a subscription) is derived from the
-- document on every save since this release (`subscription_documents.next_work_at`). Rows
-- written before may hold a stale value: too early (harmless) or too late (a `cancel_at`
-- set while an update was pending ran at the period's end instead). Every live subscription
-- is made due once: the renewal work recomputes the value from the document, does what is
-- really due, and stores the rest (`subscription_cycle.renew`). On a test clock, such a row
-- is visited at the clock's next advance, at the clock's time (the clock never moves back).
UPDATE subscriptions SET renews_at = 0
    WHERE deleted = 0 AND status NOT IN ('canceled', 'incomplete_expired');
