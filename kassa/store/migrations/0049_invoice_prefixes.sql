-- Every invoice prefix a customer of the account has had, kept after the customer changes
-- it or is deleted: Stripe's customer prefix "can't match any other customer prefix,
-- including prefixes that are no longer in use" (kassa/services/customer_invoice_numbering.py).
-- The key refuses a second owner, also to two customers created at once on PostgreSQL.
-- Backfilled with each customer's current prefix (prefixes replaced before this migration
-- went unrecorded); where customers shared one, the first created keeps it.
CREATE TABLE invoice_prefixes (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    prefix TEXT NOT NULL,
    customer TEXT NOT NULL,
    PRIMARY KEY (account_id, prefix)
);
INSERT INTO invoice_prefixes (account_id, prefix, customer)
SELECT account_id, {{DOC_TEXT:invoice_prefix}}, id FROM customers
WHERE {{DOC_TEXT:invoice_prefix}} IS NOT NULL
ORDER BY seq
ON CONFLICT (account_id, prefix) DO NOTHING;
