"""Which currency a charge settles in, and at what rate: used by captures, refunds and
disputes. No resource is declared here.

An account settles in its default currency (from its country) and in the extra currencies
its document lists under `SETTLEMENT_FIELD` (a Kassa extension, whose first entry is the
default currency), as a Stripe account settles in its own currency and those it has
enabled. A charge in any other currency is converted into the default one at the rate in
force when it is captured. Extra currencies are enabled by adding a bank account in the
currency (`external_accounts`, as Stripe settles only where it can pay out) or with
`kassa fx settle`.

Refunds and disputes of a converted charge convert back at the rate in force when they
happen, as Stripe does (https://docs.stripe.com/currencies/disputes-refunds): the
cardholder gets back exactly what was paid, in the charge's currency, and the merchant's
balance pays what that costs today, more or less than the charge brought in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kassa import fx, money
from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ledger import postings
from kassa.money import SUPPORTED_CURRENCIES
from kassa.services import exchange_rates
from kassa.services.accounts import DEFAULT_CURRENCY
from kassa.services.context import Context
from kassa.store import Transaction

SETTLEMENT_FIELD = "kassa_settlement_currencies"
SETTLEMENT_CURRENCIES_MAX = 20
"""Extra settlement currencies an account may enable."""


@dataclass(frozen=True)
class Conversion:
    """A charge's currency into the one it settles in: `rate` per major unit, along
    `chain` (the currencies passed through, first to last)."""

    presented: str
    settlement: str
    rate: Decimal
    chain: tuple[str, ...]

    def settle(self, amount: int) -> int:
        """`amount` in the settlement currency. Stripe's maximum amount limits the `amount`
        a charge asks for, in its own currency, not what it settles as (EUR 990,000.00
        settles over $999,999.99), so what is refused is only an amount past what the
        ledger's 64-bit columns hold (`fx.CONVERTED_MINOR_UNITS_MAX`, which a chain of rates
        far from any real one can reach): an `InvalidParameter` naming `amount`
        (`amount_too_large`) before anything is written."""
        try:
            return fx.convert(amount, self.presented, self.settlement, self.rate)
        except fx.ConvertedAmountTooLarge:
            raise InvalidParameter(
                f"{money.format_amount(amount, self.presented)} converts to more than "
                f"{fx.CONVERTED_MINOR_UNITS_MAX:,} minor units of "
                f"{self.settlement.upper()}, beyond what a balance can hold, at the exchange "
                f"rate in force ({self.rate}).",
                param="amount",
                code="amount_too_large",
            ) from None

    def presentment(self, amount: int) -> postings.Presentment:
        return postings.Presentment(amount, self.presented)


class ConversionUnavailable(InvalidRequest):
    """No chain of known rates converts the charge's currency to the settlement one."""

    code = "currency_conversion_unavailable"


class TooManySettlementCurrencies(ValueError):
    """More settlement currencies than SETTLEMENT_CURRENCIES_MAX besides the default."""


async def settlement_currencies(tx: Transaction, account_id: str) -> list[str]:
    """The currencies an account settles in, its default first."""
    return _settling(await _account(tx, account_id))


async def _account(tx: Transaction, account_id: str) -> dict[str, Any]:
    account = await tx.get_account(account_id)
    if account is None:
        raise ResourceMissing("account", account_id)
    return account


def _settling(account: dict[str, Any]) -> list[str]:
    listed = account.get(SETTLEMENT_FIELD)
    if listed is None:
        return [_default_currency(account)]
    return [str(currency) for currency in listed]


def _default_currency(account: dict[str, Any]) -> str:
    return str(account.get("default_currency") or DEFAULT_CURRENCY)


async def set_settlement_currencies(
    tx: Transaction, account_id: str, extra: Iterable[str]
) -> list[str]:
    """The account settles in its default currency and `extra`; every other currency its
    charges are made in is converted. Returns the list stored."""
    return await _store_settling(tx, await _account(tx, account_id), extra)


async def _store_settling(
    tx: Transaction, account: dict[str, Any], extra: Iterable[str]
) -> list[str]:
    default = _default_currency(account)
    chosen = sorted({currency.lower() for currency in extra} - {default})
    if len(chosen) > SETTLEMENT_CURRENCIES_MAX:
        raise TooManySettlementCurrencies(
            f"at most {SETTLEMENT_CURRENCIES_MAX} extra settlement currencies"
        )
    unknown = [currency for currency in chosen if currency not in SUPPORTED_CURRENCIES]
    if unknown:
        raise ValueError(f"unknown currencies: {', '.join(unknown)[:80]}")
    listed = [default, *chosen]
    await tx.update_account_document(str(account["id"]), {SETTLEMENT_FIELD: listed})
    return listed


async def for_charge(ctx: Context, currency: str) -> Conversion | None:
    """How a new charge in `currency` settles: None when the account settles in it."""
    if currency == DEFAULT_CURRENCY:
        # Every Kassa account's default currency (accounts are created in the US), which it
        # always settles in: no read on the common path.
        return None
    settles = await settlement_currencies(ctx.tx, ctx.account_id)
    if currency in settles:
        return None
    return await _current(ctx, currency, settles[0])


async def enable_settlement_currency(ctx: Context, currency: str) -> None:
    """The account now also settles in `currency` (it has a bank account for it)."""
    account = await _account(ctx.tx, ctx.account_id)
    settles = _settling(account)
    if currency in settles:
        return
    try:
        await _store_settling(ctx.tx, account, [*settles[1:], currency])
    except TooManySettlementCurrencies as error:
        raise InvalidRequest(
            f"An account settles in at most {SETTLEMENT_CURRENCIES_MAX} currencies besides "
            f"its own; it already settles in {', '.join(settles)}.",
            param="external_account[currency]",
        ) from error


async def check_settled_minimum(
    ctx: Context, amount: int, currency: str, *, param: str = "amount"
) -> None:
    """Stripe's minimum for a charge that will be converted: it must bring in at least the
    settlement currency's minimum charge amount (50 cents for USD), so its fee never exceeds
    it. Raises `InvalidParameter` (`amount_too_small`) before anything is written."""
    conversion = await for_charge(ctx, currency)
    if conversion is None:
        return
    settled = conversion.settle(amount)
    minimum = money.minimum_charge_amount(conversion.settlement)
    if settled < minimum:
        raise InvalidParameter(
            f"Amount must convert to at least "
            f"{money.format_amount(minimum, conversion.settlement)}. "
            f"{money.format_amount(amount, currency)} converts to approximately "
            f"{money.format_amount(settled, conversion.settlement)}.",
            param=param,
            code="amount_too_small",
        )


async def for_return(ctx: Context, charge: dict[str, Any]) -> Conversion | None:
    """How money going back to `charge`'s card (a refund, a dispute) converts: into the
    currency the charge settled in, at the rate in force now; None when it was not converted."""
    currency = str(charge["currency"])
    transaction_id = charge.get("balance_transaction")
    if currency == DEFAULT_CURRENCY or not isinstance(transaction_id, str):
        return None
    row = await ctx.tx.get_ledger_transaction(ctx.account_id, transaction_id)
    if row is None or row.currency == currency:
        return None
    return await _current(ctx, currency, row.currency)


async def _current(ctx: Context, presented: str, settlement: str) -> Conversion:
    table = await exchange_rates.rate_table(ctx.tx)
    chain = table.graph.best_chain(presented, settlement)
    if chain is None:
        raise ConversionUnavailable(
            f"Kassa has no exchange rate converting {presented} to {settlement} (the "
            f"account's settlement currency): add one with `kassa fx load` or "
            f"POST /v1/test_helpers/exchange_rates.",
            param="currency",
        )
    return Conversion(presented, settlement, chain.rate, chain.currencies)


def settled_amounts(
    conversion: Conversion | None, amount: int, currency: str
) -> tuple[int, str, postings.Presentment | None, Decimal | None]:
    """(amount, currency) on the merchant's side, what the card network saw (None: the
    same), and the rate."""
    if conversion is None:
        return amount, currency, None, None
    return (
        conversion.settle(amount),
        conversion.settlement,
        conversion.presentment(amount),
        conversion.rate,
    )
