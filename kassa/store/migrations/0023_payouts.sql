-- Payouts (`po_...`), the bank accounts they go to (`ba_...`, Stripe's external accounts) and
-- each account's balance settings (its payout schedule): JSON documents with the columns their
-- lists filter on (kassa/services/payouts.py, external_accounts.py, balance_settings.py).
-- `due_at` is when a payout's next status change comes (pending -> in_transit at the bank's
-- cut-off, in_transit -> paid or failed on its arrival date), `next_payout_at` when an
-- account's next automatic payout is due: the payouts job scans both across accounts.
CREATE TABLE payouts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    arrival_date BIGINT,
    destination TEXT,
    due_at BIGINT,
    status TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX payouts_account_seq ON payouts (account_id, seq);
CREATE INDEX payouts_account_created ON payouts (account_id, created);
CREATE INDEX payouts_account_arrival_date ON payouts (account_id, arrival_date);
CREATE INDEX payouts_account_destination ON payouts (account_id, destination, seq);
CREATE INDEX payouts_account_due_at ON payouts (account_id, due_at);
CREATE INDEX payouts_account_status ON payouts (account_id, status, seq);
CREATE INDEX payouts_due ON payouts (due_at) WHERE due_at IS NOT NULL AND deleted = 0;

CREATE TABLE external_accounts (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    currency TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX external_accounts_account_seq ON external_accounts (account_id, seq);
CREATE INDEX external_accounts_account_created ON external_accounts (account_id, created);
CREATE INDEX external_accounts_account_currency ON external_accounts (account_id, currency, seq);

CREATE TABLE balance_settings (
    seq {{SEQ_PK}},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created BIGINT NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    next_payout_at BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX balance_settings_account_seq ON balance_settings (account_id, seq);
CREATE INDEX balance_settings_account_created ON balance_settings (account_id, created);
CREATE INDEX balance_settings_account_next_payout_at
    ON balance_settings (account_id, next_payout_at);
CREATE INDEX balance_settings_payout_due ON balance_settings (next_payout_at)
    WHERE next_payout_at IS NOT NULL AND deleted = 0;
