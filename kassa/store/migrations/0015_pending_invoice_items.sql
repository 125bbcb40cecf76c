-- A customer's pending invoice items (not yet on an invoice), newest first: what an invoice
-- created with `pending_invoice_items_behavior=include` takes. Through the customer index
-- that read walked the customer's whole item history; this index holds the pending ones only.
CREATE INDEX invoiceitems_pending ON invoiceitems (account_id, customer, seq) WHERE invoice IS NULL;
