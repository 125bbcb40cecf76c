"""Ledger accounts as typed values: the stored name format, parsing it back, and the registry
of buckets."""

from __future__ import annotations

import pytest

from kassa.invariants import InvariantViolated
from kassa.ledger import accounts
from kassa.ledger.accounts import BUCKETS, Holder, LedgerAccount

MERCHANT = "acct_1ABCdef"
CUSTOMER = "cus_9XYZabc"


@pytest.mark.parametrize(
    ("account", "name"),
    [
        (accounts.merchant(MERCHANT, accounts.AVAILABLE, "usd"), f"{MERCHANT}:available:usd"),
        (accounts.merchant(MERCHANT, accounts.PENDING, "jpy"), f"{MERCHANT}:pending:jpy"),
        (accounts.merchant(MERCHANT, accounts.IN_TRANSIT, "eur"), f"{MERCHANT}:in_transit:eur"),
        (accounts.merchant(MERCHANT, accounts.RESERVED, "usd"), f"{MERCHANT}:reserved:usd"),
        (accounts.customer_balance(CUSTOMER, "usd"), f"{CUSTOMER}:customer_balance:usd"),
        (accounts.platform_fees("usd"), "platform:fees:usd"),
        (accounts.currency_conversion("eur"), "platform:fx:eur"),
        (accounts.card_network("usd"), "external:card_network:usd"),
    ],
)
def test_name_is_the_stored_form_and_parses_back(account: LedgerAccount, name: str) -> None:
    assert account.name == name
    assert str(account) == name
    assert LedgerAccount.parse(name) == account


def test_names_are_unchanged_from_before_the_registry() -> None:
    """Existing databases hold these names: the format must not move."""
    assert accounts.merchant_account(MERCHANT, "pending", "usd") == f"{MERCHANT}:pending:usd"
    assert accounts.bucket_of(f"{MERCHANT}:available:usd") == "available"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "acct_1:available",
        "acct_1:available:usd:extra",
        "acct_1:savings:usd",
        "platform:available:usd",
        "cus_1:available:usd",
        "acct_1:customer_balance:usd",
        "external:fees:usd",
        "acct_1:available:USD",
    ],
)
def test_parse_refuses_names_the_registry_cannot_have_written(name: str) -> None:
    with pytest.raises(ValueError, match="not a ledger account name"):
        LedgerAccount.parse(name)


def test_accounts_are_built_only_for_their_holders() -> None:
    with pytest.raises(InvariantViolated):
        accounts.merchant(CUSTOMER, accounts.AVAILABLE, "usd")
    with pytest.raises(InvariantViolated):
        accounts.merchant(MERCHANT, accounts.FEES, "usd")


def test_books_keep_a_customer_balance_with_its_merchant() -> None:
    assert accounts.customer_balance(CUSTOMER, "usd").books(MERCHANT) == MERCHANT
    assert accounts.merchant(MERCHANT, accounts.AVAILABLE, "usd").books(MERCHANT) == MERCHANT
    assert accounts.platform_fees("usd").books(MERCHANT) == "platform"
    assert accounts.card_network("usd").books(MERCHANT) == "external"


def test_registry_holds_every_kind_of_money() -> None:
    expected = {
        "available": Holder.MERCHANT,
        "pending": Holder.MERCHANT,
        "in_transit": Holder.MERCHANT,
        "reserved": Holder.MERCHANT,
        "customer_balance": Holder.CUSTOMER,
        "credit_granted": Holder.MERCHANT,
        "credit_applied": Holder.MERCHANT,
        "fees": Holder.PLATFORM,
        "fx": Holder.PLATFORM,
        "card_network": Holder.EXTERNAL,
        "bank": Holder.EXTERNAL,
    }
    assert {name: bucket.holder for name, bucket in BUCKETS.items()} == expected
    for name, bucket in BUCKETS.items():
        assert bucket.name == name
        assert ":" not in name


def test_the_balance_shows_available_and_pending_only() -> None:
    shown = {bucket.name: bucket.balance_field for bucket in accounts.BALANCE_BUCKETS}
    assert shown == {"available": "available", "pending": "pending"}
