"""The home chart's per-day counters agree with the charges: every charge a payment stores
is counted once, by the dashboard's observer of the services' `charge_created` hook, which
the composition root installs for every process it builds."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import Counter
from typing import Literal

import stripe

from kassa.clock import DAY_SECONDS
from kassa.dashboard.views.home import CHARGE_OBSERVERS
from kassa.store import Store
from kassa.store.dashboard_queries import VolumeDay
from tests.direct_store import with_store
from tests.harness import Account, KassaServer

PROBE_TIMEOUT_SECONDS = 60
CHARGES_LISTED_MAX = 100
"""More than the test makes: one page of `GET /v1/charges` holds them all."""

Tally = Counter[tuple[int, str, str]]
"""(day, currency, what) -> sum: `what` is succeeded_count, succeeded_amount or failed_count."""


def test_the_composition_root_installs_the_dashboard_counters() -> None:
    """In a fresh interpreter, importing the composition root alone installs them (this
    process may have installed them already through another import)."""
    import kassa.observers

    assert kassa.observers.OBSERVERS.charge_created == CHARGE_OBSERVERS
    probe = (
        "import kassa.runtime\n"
        "from kassa.services import hooks\n"
        "from kassa.dashboard.views.home import count_charge\n"
        "assert count_charge in hooks.installed().charge_created\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=PROBE_TIMEOUT_SECONDS)


def _pay(
    client: stripe.StripeClient,
    amount: int,
    currency: str,
    card: str,
    capture: Literal["automatic", "manual"],
) -> None:
    # A declined payment raises, and still stores its (failed) charge.
    with contextlib.suppress(stripe.CardError):
        client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "payment_method": card,
                "capture_method": capture,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )


def _from_charges(charges: list[stripe.Charge]) -> Tally:
    tally: Tally = Counter()
    for charge in charges:
        day = charge.created - charge.created % DAY_SECONDS
        if charge.status == "succeeded":
            tally[day, charge.currency, "succeeded_count"] += 1
            tally[day, charge.currency, "succeeded_amount"] += charge.amount
        else:
            tally[day, charge.currency, "failed_count"] += 1
    return tally


def _from_counters(rows: list[VolumeDay]) -> Tally:
    tally: Tally = Counter()
    for row in rows:
        tally[row.day, row.currency, "succeeded_count"] += row.succeeded_count
        tally[row.day, row.currency, "succeeded_amount"] += row.succeeded_amount
        tally[row.day, row.currency, "failed_count"] += row.failed_count
    return +tally  # zero sums dropped, as in `_from_charges`


def _counters(database_url: str, account_id: str) -> list[VolumeDay]:
    async def read(store: Store) -> list[VolumeDay]:
        async with store.read() as tx:
            return await tx.payment_volume(account_id, 0)

    return with_store(database_url, read)


def test_counters_match_the_charges_after_payments(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    _pay(client, 1_000, "usd", "pm_card_visa", "automatic")
    _pay(client, 2_500, "usd", "pm_card_visa", "manual")
    _pay(client, 700, "usd", "pm_card_chargeDeclined", "automatic")
    _pay(client, 4_200, "eur", "pm_card_visa", "automatic")
    charges = client.v1.charges.list(params={"limit": CHARGES_LISTED_MAX}).data
    assert len(charges) == 4
    assert sorted(charge.status for charge in charges) == ["failed", *["succeeded"] * 3]

    counted = _from_counters(_counters(server.database_url, account.id))
    assert counted == _from_charges(charges)
