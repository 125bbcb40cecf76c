-- Exchange rates (kassa/fx.py, kassa/services/exchange_rates.py). Every change of the table
-- is a new version holding the whole table as it then stood, stamped with its time and where
-- it came from (`kassa fx load FILE`, the test helper endpoint): the version in force at a
-- balance transaction's `created` explains its `exchange_rate`. No version at all: Kassa's
-- built-in table of fixed test rates (`kassa.fx.BUILT_IN_RATES`) is in force.
CREATE TABLE exchange_rate_versions (
    version BIGINT NOT NULL PRIMARY KEY,
    created BIGINT NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX exchange_rate_versions_created ON exchange_rate_versions (created, version);

-- One unit of `base` buys `rate` units of `quote` (major units); the rate is a decimal
-- written as text, so neither engine rounds it.
CREATE TABLE exchange_rates (
    version BIGINT NOT NULL REFERENCES exchange_rate_versions (version),
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    rate TEXT NOT NULL,
    PRIMARY KEY (version, base, quote)
);

-- A converted balance transaction's rate (presentment currency to its own), as text; NULL
-- when nothing was converted.
ALTER TABLE ledger_transactions ADD COLUMN exchange_rate TEXT;
