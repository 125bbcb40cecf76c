-- Stripe's customer list leaves out customers on test clocks unless `test_clock` names one:
-- the plain list reads this index's range (the customers on a clock have
-- customers_account_test_clock).
CREATE INDEX customers_account_no_clock ON customers (account_id, seq)
    WHERE test_clock IS NULL AND deleted = 0;
-- A PaymentMethod's `allow_redisplay`, as a column: the filter of a customer's payment
-- methods list (`GET /v1/customers/{id}/payment_methods?allow_redisplay=`), read within the
-- customer's payment methods.
ALTER TABLE payment_methods ADD COLUMN allow_redisplay TEXT;
UPDATE payment_methods SET allow_redisplay = {{DOC_TEXT:allow_redisplay}};
CREATE INDEX payment_methods_account_customer_redisplay
    ON payment_methods (account_id, customer, allow_redisplay, seq);
