-- Inline prices (made from `price_data` on invoice items, subscription items, invoice lines,
-- `add_invoice_items`) are not the account's own prices: Stripe's price list and search
-- leave them out, and they do not keep a product from being deleted. `inline` is true for
-- one (the private flag in its document, kassa/store/tables.py PRICES), NULL for every
-- other price. Inline prices stored before this migration carried no flag and cannot be
-- told apart from prices created inactive: they stay NULL, listed as before.
--
-- Every read of the column is beside `active` (the lists) or `product` (the lists by
-- product, a product's delete), and every such read now has it: the indexes on those
-- columns are replaced by ones holding `inline` before `seq`, which serve `inline IS NULL`
-- in the order the lists read.
ALTER TABLE prices ADD COLUMN inline BOOLEAN;
DROP INDEX prices_account_active;
DROP INDEX prices_account_product;
CREATE INDEX prices_account_active_inline ON prices (account_id, active, inline, seq);
CREATE INDEX prices_account_product_inline ON prices (account_id, product, inline, seq);
