-- Indexes for the dashboard's combined filters, found by bench/dashboard.py with 1,000,000
-- payments: a customer's payments by status, and the request log by route and status. With
-- only the two-column indexes, a combination that matches nothing read every payment of the
-- customer or every request to the route.

CREATE INDEX payment_intents_account_customer_status ON payment_intents (account_id, customer, status, seq);
CREATE INDEX request_log_account_route_status ON request_log (account_id, route, status, seq);
