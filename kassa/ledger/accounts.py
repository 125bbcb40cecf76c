"""Ledger accounts: a typed value (`LedgerAccount`) and the registry of buckets it may name.

A ledger account is stored by its name, `holder:bucket:currency`, and this module is the only
place that builds or reads that text:

- a merchant (a Kassa account) has `acct_X:pending:usd`, `acct_X:available:usd`, and, as
  payouts and reserves arrive, `acct_X:in_transit:usd` and `acct_X:reserved:usd`;
- a customer's credit balance is `cus_X:customer_balance:usd`, kept in its merchant's books
  (the stored `owner` column is the merchant, see `LedgerAccount.books`); its other side is the
  merchant's `acct_X:credit_granted:usd` (adjustments) or `acct_X:credit_applied:usd` (balance
  carried to and from invoices), see `kassa.services.billing.customer_balance`;
- money arriving from or leaving to the card networks passes through
  `external:card_network:usd`, money paid out leaves through `external:bank:usd` (after
  `acct_X:in_transit:usd` while on its way), fees Kassa charges land in `platform:fees:usd`,
  and a currency conversion passes through `platform:fx:eur` and `platform:fx:usd`.

The store never rebuilds names: it stores each ledger account's bucket beside its name and
its queries filter on that column, with bucket names passed in from this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from kassa.invariants import InvariantViolated, ensure

PLATFORM = "platform"
EXTERNAL = "external"
NAME_SEPARATOR = ":"
NAME_PARTS = 3


class Holder(StrEnum):
    """Who a bucket's ledger accounts are held for; it decides the name's first part."""

    MERCHANT = "merchant"
    """A Kassa account: `acct_...`."""
    CUSTOMER = "customer"
    """One of a merchant's customers: `cus_...`, in the merchant's books."""
    PLATFORM = "platform"
    """Kassa itself: the holder is the word `platform`."""
    EXTERNAL = "external"
    """The world outside (card networks, banks): the holder is the word `external`."""


HOLDER_PREFIXES = MappingProxyType(
    {
        Holder.MERCHANT: "acct_",
        Holder.CUSTOMER: "cus_",
        Holder.PLATFORM: PLATFORM,
        Holder.EXTERNAL: EXTERNAL,
    }
)
"""What a holder's part of a name starts with (platform and external: is exactly)."""


@dataclass(frozen=True)
class Bucket:
    name: str
    holder: Holder
    balance_field: str | None = None
    """The field of Stripe's `balance` object that lists this bucket's funds; None when the
    funds are not part of the balance (paid out, held in reserve, owed to customers)."""
    description: str = ""


AVAILABLE = "available"
PENDING = "pending"
IN_TRANSIT = "in_transit"
RESERVED = "reserved"
CUSTOMER_BALANCE = "customer_balance"
CREDIT_GRANTED = "credit_granted"
CREDIT_APPLIED = "credit_applied"
FEES = "fees"
FX = "fx"
CARD_NETWORK = "card_network"
BANK = "bank"

BUCKETS = MappingProxyType(
    {
        bucket.name: bucket
        for bucket in (
            Bucket(AVAILABLE, Holder.MERCHANT, "available", "funds the merchant may pay out"),
            Bucket(PENDING, Holder.MERCHANT, "pending", "captured funds not yet settled"),
            Bucket(IN_TRANSIT, Holder.MERCHANT, None, "paid out, on its way to the bank"),
            Bucket(RESERVED, Holder.MERCHANT, None, "held back from the available balance"),
            Bucket(CUSTOMER_BALANCE, Holder.CUSTOMER, None, "credit a customer holds"),
            Bucket(
                CREDIT_GRANTED,
                Holder.MERCHANT,
                None,
                "credit granted to customers' balances (debits added: the reverse), not cash",
            ),
            Bucket(
                CREDIT_APPLIED,
                Holder.MERCHANT,
                None,
                "customer balance carried onto invoices (credit spent, debits billed) and back",
            ),
            Bucket(FEES, Holder.PLATFORM, None, "fees Kassa charged"),
            Bucket(FX, Holder.PLATFORM, None, "one side of each currency conversion"),
            Bucket(CARD_NETWORK, Holder.EXTERNAL, None, "money to and from the card networks"),
            Bucket(BANK, Holder.EXTERNAL, None, "money paid out to merchants' bank accounts"),
        )
    }
)
"""Every bucket a ledger account may name. A new kind of money gets a row here."""

BALANCE_BUCKETS = tuple(bucket for bucket in BUCKETS.values() if bucket.balance_field)
"""The merchant's balance (`GET /v1/balance`): a balance transaction's `net` is what it
moves into these, and its `status` names the one its net sits in."""


@dataclass(frozen=True)
class LedgerAccount:
    holder: str
    """`acct_X`, `cus_X`, `platform` or `external`, as the bucket's `Holder` says."""
    bucket: Bucket
    currency: str

    def __post_init__(self) -> None:
        prefix = HOLDER_PREFIXES[self.bucket.holder]
        if self.bucket.holder in (Holder.PLATFORM, Holder.EXTERNAL):
            ensure(self.holder == prefix, f"a {self.bucket.name} account is held by {prefix}")
        else:
            ensure(
                self.holder.startswith(prefix) and NAME_SEPARATOR not in self.holder,
                f"a {self.bucket.name} account is held by an id starting {prefix}",
            )
        ensure(
            self.currency.isalpha() and self.currency.islower(),
            "a ledger account's currency is a lowercase ISO code",
        )

    @property
    def name(self) -> str:
        """The stored form: `acct_X:available:usd`."""
        return NAME_SEPARATOR.join((self.holder, self.bucket.name, self.currency))

    @classmethod
    def parse(cls, name: str) -> LedgerAccount:
        """The account a stored name denotes; ValueError for a name this registry cannot
        have written."""
        parts = name.split(NAME_SEPARATOR)
        if len(parts) != NAME_PARTS or parts[1] not in BUCKETS:
            raise ValueError(f"not a ledger account name: {name!r}")
        holder, bucket, currency = parts
        try:
            return cls(holder, BUCKETS[bucket], currency)
        except InvariantViolated as error:
            raise ValueError(f"not a ledger account name: {name!r} ({error})") from error

    def books(self, merchant_id: str) -> str:
        """The stored `owner`: whose ledger lists this account. A customer's balance is in
        its merchant's books; every other account in its holder's."""
        return merchant_id if self.bucket.holder is Holder.CUSTOMER else self.holder

    def __str__(self) -> str:
        return self.name


def merchant(account_id: str, bucket: str, currency: str) -> LedgerAccount:
    ensure(BUCKETS[bucket].holder is Holder.MERCHANT, f"{bucket} is not a merchant's bucket")
    return LedgerAccount(account_id, BUCKETS[bucket], currency)


def customer_balance(customer_id: str, currency: str) -> LedgerAccount:
    return LedgerAccount(customer_id, BUCKETS[CUSTOMER_BALANCE], currency)


def platform_fees(currency: str) -> LedgerAccount:
    return LedgerAccount(PLATFORM, BUCKETS[FEES], currency)


def currency_conversion(currency: str) -> LedgerAccount:
    return LedgerAccount(PLATFORM, BUCKETS[FX], currency)


def card_network(currency: str) -> LedgerAccount:
    return LedgerAccount(EXTERNAL, BUCKETS[CARD_NETWORK], currency)


def bank(currency: str) -> LedgerAccount:
    """Where paid-out money goes: the merchants' banks, outside Kassa."""
    return LedgerAccount(EXTERNAL, BUCKETS[BANK], currency)


def merchant_account(account_id: str, bucket: str, currency: str) -> str:
    """The name of a merchant's ledger account (kept for callers holding names)."""
    return merchant(account_id, bucket, currency).name


def bucket_of(ledger_account: str) -> str:
    """The bucket a stored ledger account name denotes: `pending`, `available`, ..."""
    return LedgerAccount.parse(ledger_account).bucket.name
