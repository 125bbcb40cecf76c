-- Seq tickets (kassa/store/seq_order.py): each write unit draws one per account it inserts
-- rows for, and its rows' seqs come from it. Tickets start above every seq written before,
-- which took the inserting transaction's id as their high part: no new row sorts below an
-- old one. (Every Kassa process on the database must run this version: an older one still
-- writes seqs from transaction ids.)
CREATE SEQUENCE kassa_seq_tickets AS BIGINT;
SELECT setval('kassa_seq_tickets', pg_current_xact_id()::text::bigint + 1, false);
