-- A subscription's period charge is marked in its own document now: the code that makes it
-- sets `_kassa.period_item` (kassa/services/billing/subscription_invoices.py), the store
-- copies it into the `period_item` column (kassa/store/tables.py INVOICE_ITEMS, as prices'
-- `_kassa.inline`), and billing reads the flag. The rows 0053 marked, and those written
-- before this version, have the column but not the flag: it is set in their documents.
-- (An account snapshot saved before this version gets the same when it is restored:
-- kassa/store/account_queries.py.)
UPDATE invoiceitems SET doc = {{DOC_FLAGGED:_kassa.period_item}}
    WHERE period_item IS NOT NULL AND {{DOC_TEXT:_kassa.period_item}} IS NULL;
