-- Coupons, promotion codes and tax rates: JSON documents with the columns their lists filter on.

-- A coupon's id is chosen by the API user (`SUMMER25`), so two accounts may each have one of
-- the same id: the key is (account_id, id), not id alone.
CREATE TABLE coupons (
    seq {{SEQ_PK}},
    id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    doc TEXT NOT NULL,
    UNIQUE (account_id, id)
);
CREATE INDEX coupons_account_seq ON coupons (account_id, seq);
CREATE INDEX coupons_account_created ON coupons (account_id, created);

-- `code` holds the code upper-cased: codes are unique (among active ones) and listed
-- regardless of case.
CREATE TABLE promotion_codes (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    code TEXT,
    coupon TEXT,
    customer TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX promotion_codes_account_seq ON promotion_codes (account_id, seq);
CREATE INDEX promotion_codes_account_created ON promotion_codes (account_id, created);
CREATE INDEX promotion_codes_account_active ON promotion_codes (account_id, active, seq);
CREATE INDEX promotion_codes_account_code ON promotion_codes (account_id, code, seq);
-- The service refuses a second active code with the same code; this keeps two concurrent
-- creates on PostgreSQL from both getting through (the later one fails instead).
CREATE UNIQUE INDEX promotion_codes_active_code ON promotion_codes (account_id, code) WHERE active;
CREATE INDEX promotion_codes_account_coupon ON promotion_codes (account_id, coupon, seq);
CREATE INDEX promotion_codes_account_customer ON promotion_codes (account_id, customer, seq);

CREATE TABLE tax_rates (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    active BOOLEAN,
    inclusive BOOLEAN,
    doc TEXT NOT NULL
);
CREATE INDEX tax_rates_account_seq ON tax_rates (account_id, seq);
CREATE INDEX tax_rates_account_created ON tax_rates (account_id, created);
CREATE INDEX tax_rates_account_active ON tax_rates (account_id, active, seq);
CREATE INDEX tax_rates_account_inclusive ON tax_rates (account_id, inclusive, seq);
