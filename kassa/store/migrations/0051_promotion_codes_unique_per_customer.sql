-- A promotion code's code is unique, regardless of case, among the active codes one customer
-- could use (Stripe: "unique across all active promotion codes for a specific customer"), not
-- across the whole account: codes restricted to different customers may share a code. The
-- service refuses every clash (a code for everyone clashes with any active code of the same
-- code); these indexes keep two concurrent creates on PostgreSQL from both getting through
-- when both are for everyone, or both for the same customer. A code for everyone created
-- concurrently with one for a customer is not caught here: no index can say it.
DROP INDEX promotion_codes_active_code;
CREATE UNIQUE INDEX promotion_codes_active_code_for_everyone
    ON promotion_codes (account_id, code)
    WHERE active AND customer IS NULL;
CREATE UNIQUE INDEX promotion_codes_active_code_per_customer
    ON promotion_codes (account_id, code, customer) WHERE active AND customer IS NOT NULL;
