"""Hook points: how a layer above the services (the dashboard) learns of a domain write in
the same transaction as the write, without the services importing it.

The composition root (`kassa.runtime`) installs every observer once, for every process it
builds (`kassa serve`, `kassa worker`). Storing a charge in a process where nothing was
installed is a bug, and fails loudly: a forgotten installation must not quietly leave the
dashboard's counters short of the charges.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kassa.invariants import InvariantViolated, ensure
from kassa.services.context import Context
from kassa.services.resource import ApiObject

OBSERVERS_PER_HOOK_MAX = 8
"""Observers one hook may have: each runs inside the writing transaction, so few and cheap."""

ChargeObserver = Callable[[Context, ApiObject], Awaitable[None]]
"""Told of a charge stored for the first time, inside the transaction that stores it (its
writes commit or roll back with the charge): `(ctx, charge)`."""


@dataclass(frozen=True)
class Observers:
    """Everything observing domain writes, by hook."""

    charge_created: tuple[ChargeObserver, ...] = ()


@dataclass
class _Installation:
    observers: Observers | None = None
    """None until the composition root installs them."""


_PROCESS = _Installation()


def install(observers: Observers) -> None:
    """Set the observers for this process (again: the latest installation wins)."""
    ensure(
        len(observers.charge_created) <= OBSERVERS_PER_HOOK_MAX,
        f"at most {OBSERVERS_PER_HOOK_MAX} charge observers",
    )
    _PROCESS.observers = observers


def installed() -> Observers:
    if _PROCESS.observers is None:
        raise InvariantViolated(
            "no observers installed: build the process through kassa.runtime, which installs "
            "them before any charge is stored"
        )
    return _PROCESS.observers


async def charge_created(ctx: Context, charge: ApiObject) -> None:
    """Tell every observer of a new charge (the caller has just stored it in `ctx.tx`)."""
    for observer in installed().charge_created:
        await observer(ctx, charge)
