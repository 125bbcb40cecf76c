-- Each ledger account's bucket (`available`, `pending`, `customer_balance`, `fees`, ...) as a
-- column of its own, so that queries filter on it instead of rebuilding account names
-- (`kassa.ledger.accounts` is the one place that knows the name format).
--
-- The table is rebuilt because SQLite adds a NOT NULL column only with a default. The
-- backfill reads the middle part of each existing name, `holder:bucket:currency`: until
-- now every ledger account's holder was its stored owner (a merchant, `platform` or
-- `external`), and its currency the stored currency.
CREATE TABLE ledger_balances_with_bucket (
    ledger_account TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    bucket TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL
);

INSERT INTO ledger_balances_with_bucket (ledger_account, owner, bucket, currency, amount)
SELECT ledger_account, owner,
       substr(ledger_account, length(owner) + 2,
              length(ledger_account) - length(owner) - length(currency) - 2),
       currency, amount
FROM ledger_balances;

DROP TABLE ledger_balances;

ALTER TABLE ledger_balances_with_bucket RENAME TO ledger_balances;

CREATE INDEX ledger_balances_owner ON ledger_balances (owner, bucket);
