"""Inserts a write unit holds back to write in batches: its events and their webhook outbox
rows, which nothing in the unit reads back before the unit ends.

A renewal on a test clock announces about a dozen events; one INSERT each was a round trip
each on PostgreSQL. Held back, they go as one `executemany` per statement (on PostgreSQL one
round trip) before the unit's next statement that names one of their tables, once
HELD_ROWS_MAX rows are held, or when the unit ends (`HeldInserts.flush`, before the commit).
Within each statement the rows keep their order, and the statements are written in the order
each was first held (events before the outbox rows that reference them), so every row gets
the values and the order it would have had.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from kassa.store.queries import Executor, Row

HELD_ROWS_MAX: Final = 512
"""Rows held at most before they are written (a unit seeding 50,000 events holds no more)."""
HELD_TABLE_MARKS: Final = ("events", "webhook_")
"""A statement whose text holds one of these may read or change a held row: write the held
rows first (events, webhook deliveries and attempts; webhook endpoints too, harmlessly)."""


class HeldInserts:
    """A write unit's executor: statements go to `inner`, after any held rows they might
    see (`HELD_TABLE_MARKS`)."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self.commit_ordered = inner.commit_ordered
        self._held: dict[str, list[Sequence[Any]]] = {}
        self._rows = 0

    async def hold(self, sql: str, row: Sequence[Any]) -> None:
        """Insert `row` with `sql` later, in order with the other rows held for `sql`."""
        self._held.setdefault(sql, []).append(row)
        self._rows += 1
        if self._rows >= HELD_ROWS_MAX:
            await self.flush()

    async def flush(self) -> None:
        """Write every held row now."""
        held, self._held, self._rows = self._held, {}, 0
        for sql, rows in held.items():
            await self._inner.executemany(sql, rows)

    async def _before(self, sql: str) -> None:
        if self._rows and any(mark in sql for mark in HELD_TABLE_MARKS):
            await self.flush()

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._before(sql)
        await self._inner.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._before(sql)
        await self._inner.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        await self._before(sql)
        return await self._inner.fetchone(sql, args)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        await self._before(sql)
        return await self._inner.fetchall(sql, args)
