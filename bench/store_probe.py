"""Instrumenting the SQLite store's statements from a benchmark, in-process.

`executor_methods_wrapped` replaces the four statement methods of Kassa's SQLite executor
(`kassa.store.sqlite.SqliteExecutor`) while inside, and restores them after: every
statement any `SqliteStore` of the process runs goes through the wrapper, with its text and
parameters. Used by bench/app_cost.py (each statement timed) and bench/renewal_floor.py
(each statement recorded for a replay). Benchmarks only: the store itself stays as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from kassa.store.sqlite import SqliteExecutor

EXECUTOR_METHODS: Final = ("execute", "executemany", "fetchone", "fetchall")

Method = Callable[..., Awaitable[Any]]
"""An executor method: `(self, sql, args)`, awaited."""


@contextmanager
def executor_methods_wrapped(wrap: Callable[[str, Method], Method]) -> Iterator[None]:
    """Each of SqliteExecutor's statement methods replaced by `wrap(name, original)` while
    inside; the originals back after, whatever happened."""
    originals: dict[str, Method] = {
        name: getattr(SqliteExecutor, name) for name in EXECUTOR_METHODS
    }
    for name, original in originals.items():
        setattr(SqliteExecutor, name, wrap(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(SqliteExecutor, name, original)
