-- The invoice items a subscription's invoice makes for its items' periods back those lines
-- only: Stripe's line is the subscription item's ("Each line item is backed by either an
-- invoice item or a subscription item"), and `/v1/invoiceitems` neither lists nor finds it
-- (prorations and one-off items are invoice items). `period_item` is true for one, NULL for
-- every other item, derived from the document on every write (kassa/store/tables.py
-- INVOICE_ITEMS, `is_period_item`: it names its subscription item and is not a proration);
-- the rows stored before are filled in from their documents alike (`proration` is 0 or 1
-- in SQLite's JSON, false or true in PostgreSQL's: compared as text, either way; absent, not one).
--
-- The API's list reads `period_item IS NULL` beside nothing else or beside `customer`: an
-- index holding it before `seq` for each keeps either list a range of the index however
-- many renewals a customer has had. `invoiceitems_account_seq` stays (an account's rows by
-- `seq`: snapshots); the one on (account_id, customer, seq) is replaced (the pending items
-- of a customer read `invoiceitems_pending`).
ALTER TABLE invoiceitems ADD COLUMN period_item BOOLEAN;
UPDATE invoiceitems SET period_item = TRUE
    WHERE {{DOC_TEXT:parent.subscription_details.subscription_item}} IS NOT NULL
        AND COALESCE(CAST({{DOC_TEXT:proration}} AS TEXT), '0') IN ('0', 'false');
DROP INDEX invoiceitems_account_customer;
CREATE INDEX invoiceitems_account_period_item ON invoiceitems (account_id, period_item, seq);
CREATE INDEX invoiceitems_account_customer_period_item
    ON invoiceitems (account_id, customer, period_item, seq);
