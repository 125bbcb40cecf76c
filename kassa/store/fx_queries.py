"""SQL behind exchange rates (the versioned rate table) and an account's settlement
currencies. Mixed into `Transaction`.

A version holds the whole table as it stood after one change; the newest is in force, and
the one in force at a time `t` is the newest created at or before `t`. Rates travel as text
so that neither engine rounds them; `kassa.fx` parses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kassa.invariants import ensure
from kassa.store.statements import FOR_UPDATE, dumps_doc, loads_doc

if TYPE_CHECKING:
    from kassa.store.queries import Executor

RATES_PER_VERSION_MAX = 5_000
"""Pairs one version may hold: every pair of Stripe's currencies with a few quotes each
fits many times over; a version is read whole for each conversion."""


@dataclass(frozen=True)
class RateVersion:
    version: int
    created: int
    origin: str
    """Where the change came from: `kassa fx load rates.csv`, `api acct_...`."""
    rates: list[tuple[str, str, str]]
    """(base, quote, rate as text), sorted by base then quote."""


class FxQueries:
    _db: Executor
    _account_docs: dict[str, Any]
    """Transaction's own: the account documents this unit read (`get_account`)."""

    async def rate_version_at(self, at: int | None = None) -> RateVersion | None:
        """The version in force at `at` (None: the newest); None when no version exists
        (the built-in table is in force)."""
        if at is None:
            row = await self._db.fetchone(
                "SELECT version, created, origin FROM exchange_rate_versions "
                "ORDER BY version DESC LIMIT 1"
            )
        else:
            row = await self._db.fetchone(
                "SELECT version, created, origin FROM exchange_rate_versions "
                "WHERE created <= ? ORDER BY created DESC, version DESC LIMIT 1",
                (at,),
            )
        if row is None:
            return None
        rates = await self._db.fetchall(
            "SELECT base, quote, rate FROM exchange_rates WHERE version = ? "
            "ORDER BY base, quote LIMIT ?",
            (int(row[0]), RATES_PER_VERSION_MAX),
        )
        return RateVersion(
            int(row[0]), int(row[1]), str(row[2]), [(str(b), str(q), str(r)) for b, q, r in rates]
        )

    async def insert_rate_version(
        self, created: int, origin: str, rates: Sequence[tuple[str, str, str]]
    ) -> int:
        """A new version holding exactly `rates`; its number."""
        ensure(len(rates) <= RATES_PER_VERSION_MAX, "a rate version holds a bounded table")
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(version), 0) FROM exchange_rate_versions"
        )
        version = (int(row[0]) if row else 0) + 1
        await self._db.execute(
            "INSERT INTO exchange_rate_versions (version, created, origin) VALUES (?, ?, ?)",
            (version, created, origin),
        )
        await self._db.executemany(
            "INSERT INTO exchange_rates (version, base, quote, rate) VALUES (?, ?, ?, ?)",
            [(version, base, quote, rate) for base, quote, rate in rates],
        )
        return version

    async def update_account_document(self, account_id: str, change: dict[str, object]) -> bool:
        """Merge `change` into the account's document (top-level keys); False when there
        is no such account."""
        row = await self._db.fetchone(
            f"SELECT doc FROM accounts WHERE id = ? {FOR_UPDATE}", (account_id,)
        )
        if row is None:
            return False
        doc = loads_doc(row[0]) | change
        self._account_docs.pop(account_id, None)
        await self._db.execute(
            "UPDATE accounts SET doc = ? WHERE id = ?", (dumps_doc(doc), account_id)
        )
        return True
