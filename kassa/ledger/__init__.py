"""The double-entry ledger: the only code that moves money (see `postings`), the views
Stripe's `balance` and `balance_transaction` objects are derived from (`views`), settlement
of pending funds (`settlement`) and the consistency check behind `kassa ledger verify`
(`verify`)."""
