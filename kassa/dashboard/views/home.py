"""What the dashboard's home page shows: the balance, payments per day, recent payments and
recent failures. Each read is one indexed, bounded query.

Payments per day come from counters (`payment_volume_days`) rather than a scan of the
charges: `count_charge` adds every new charge to them, in the transaction that stores it,
as an observer of the services' `charge_created` hook (installed by `kassa.runtime`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from kassa.clock import DAY_SECONDS
from kassa.dashboard.views.payments import PaymentFilters, PaymentRow, payment_list
from kassa.ledger.views import balance_object
from kassa.services.context import Context
from kassa.services.hooks import ChargeObserver
from kassa.services.resource import ApiObject
from kassa.store import Transaction
from kassa.store.dashboard_queries import VOLUME_SHARDS, VolumeDay
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES

CHART_DAYS = 14
RECENT_ROWS = 8


@dataclass(frozen=True)
class DayVolume:
    day: int
    succeeded_count: int
    succeeded_amount: int
    failed_count: int


@dataclass(frozen=True)
class Overview:
    balance: ApiObject
    currencies: list[str]
    """Currencies with volume in the chart's window, busiest first."""
    volume: dict[str, list[DayVolume]]
    """currency -> one entry per day of the window, oldest first (days without payments
    included, so the chart has no gaps)."""
    recent_payments: list[PaymentRow]
    recent_failures: list[ApiObject]


async def overview(ctx: Context) -> Overview:
    today = ctx.now() - ctx.now() % DAY_SECONDS
    first_day = today - (CHART_DAYS - 1) * DAY_SECONDS
    rows = await ctx.tx.payment_volume(ctx.account_id, first_day)
    volume = _per_currency(rows, first_day)
    currencies = sorted(volume, key=lambda c: -sum(d.succeeded_amount for d in volume[c]))
    # The payments list's first rows: PaymentIntents and Charges API charges alike.
    payments = await payment_list(ctx, PaymentFilters(), RECENT_ROWS)
    failures = await ctx.tx.list_objects(
        CHARGES, ctx.account_id, ObjectListQuery(limit=RECENT_ROWS, equals={"status": "failed"})
    )
    return Overview(
        balance=await balance_object(ctx.tx, ctx.account_id, ctx.livemode),
        currencies=currencies,
        volume=volume,
        recent_payments=payments.rows,
        recent_failures=failures.objects,
    )


def _per_currency(rows: list[VolumeDay], first_day: int) -> dict[str, list[DayVolume]]:
    by_key = {(row.currency, row.day): row for row in rows}
    days = [first_day + i * DAY_SECONDS for i in range(CHART_DAYS)]
    return {
        currency: [_day_volume(by_key.get((currency, day)), day) for day in days]
        for currency in {row.currency for row in rows}
    }


def _day_volume(row: VolumeDay | None, day: int) -> DayVolume:
    if row is None:
        return DayVolume(day, 0, 0, 0)
    return DayVolume(day, row.succeeded_count, row.succeeded_amount, row.failed_count)


# -- the counters behind the chart ----------------------------------------------------------


async def count_charge(ctx: Context, charge: ApiObject) -> None:
    """The `charge_created` observer: count a new charge on the home chart."""
    await count_new_charge(ctx.tx, ctx.account_id, charge)


CHARGE_OBSERVERS: tuple[ChargeObserver, ...] = (count_charge,)
"""The home chart's per-day counters, fed every new charge in the transaction storing it."""


async def count_new_charge(tx: Transaction, account_id: str, charge: ApiObject) -> None:
    """Add a charge to its day's gross volume and payment counts (an authorization counts
    when it is made, as Stripe's gross volume does). Spread over shards by charge id, so
    concurrent payments of one account and day rarely update the same row."""
    created = int(charge["created"])
    await tx.count_payment(
        account_id,
        created - created % DAY_SECONDS,
        charge["currency"],
        zlib.crc32(charge["id"].encode()) % VOLUME_SHARDS,
        int(charge["amount"]),
        succeeded=charge["status"] == "succeeded",
    )
