-- Events are kept 30 days of real time, as Stripe keeps them: `recorded` is when an event was
-- written by the server's clock, beside `created`, which for a test clock's objects is the
-- clock's frozen time (40 days in the past, say: purged at once when the purge read it).
-- Rows written before this migration take their `created`, as the purge read them until now.
ALTER TABLE events ADD COLUMN recorded BIGINT;
UPDATE events SET recorded = created;
DROP INDEX events_created;
CREATE INDEX events_recorded ON events (recorded);
