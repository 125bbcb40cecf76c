-- PaymentMethods that may not be used again, as Stripe refuses them: detached from a customer
-- (detachment is permanent), or used with a PaymentIntent while attached to no customer (a
-- card not saved is good for one payment). A row is written in the unit of work that retires
-- the PaymentMethod and never changes (kassa/services/payment_methods.py).
CREATE TABLE retired_payment_methods (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL REFERENCES payment_methods (id),
    reason TEXT NOT NULL CHECK (reason IN ('detached', 'used_without_customer')),
    PRIMARY KEY (account_id, id)
);
