"""SQL behind `kassa import`: the key of each imported row and the object it made (table
`imported_objects`), looked up a batch of keys at a time and written with the batch's objects.
Mixed into `Transaction`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure

if TYPE_CHECKING:
    from kassa.store.queries import Executor

IMPORT_KEYS_PER_QUERY_MAX = 1_000
"""Keys one lookup names at most (SQLite allows 32,766 parameters a statement; a batch of
rows asks for its own keys, well under this)."""


@dataclass(frozen=True)
class ImportedObject:
    """One row's key and the object made from it."""

    external_id: str
    object_id: str
    created: int


class ImportQueries:
    _db: Executor

    async def imported_object_ids(
        self, account_id: str, kind: str, external_ids: Sequence[str]
    ) -> dict[str, str]:
        """external id -> object id, for those of `external_ids` imported before as `kind`."""
        ensure(
            len(external_ids) <= IMPORT_KEYS_PER_QUERY_MAX,
            f"an imported-key lookup names at most {IMPORT_KEYS_PER_QUERY_MAX} keys",
        )
        if not external_ids:
            return {}
        # One primary-key probe per key. `external_id IN (...)` let PostgreSQL, its statistics
        # not yet counting a large import's rows, walk every key of the account and filter:
        # each batch slower than the last.
        values = ", ".join("(?)" for _ in external_ids)
        rows = await self._db.fetchall(
            "SELECT wanted.column1, (SELECT object_id FROM imported_objects "
            "WHERE account_id = ? AND kind = ? AND external_id = wanted.column1) "
            f"FROM (VALUES {values}) AS wanted",
            (account_id, kind, *external_ids),
        )
        return {str(row[0]): str(row[1]) for row in rows if row[1] is not None}

    async def record_imported_objects(
        self, account_id: str, kind: str, imported: Sequence[ImportedObject]
    ) -> None:
        """The keys of a batch's new objects, in one statement; a key recorded already (a
        concurrent import of the same file, on PostgreSQL) fails the unit as a
        `WriteConflict`, and the batch run again finds it."""
        if imported:
            await self._db.executemany(
                "INSERT INTO imported_objects (account_id, kind, external_id, object_id, created) "
                "VALUES (?, ?, ?, ?, ?)",
                [(account_id, kind, i.external_id, i.object_id, i.created) for i in imported],
            )
