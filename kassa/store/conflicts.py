"""Collisions between concurrent units of work, as the store reports them."""

from __future__ import annotations


class WriteConflict(Exception):
    """A unit of work lost a race on a unique key to a concurrent one (PostgreSQL: a unique
    violation on a row another transaction committed after this one read). The unit has been
    rolled back; run again, it reads the other's row and answers as a serial run would (a
    second coupon with the same id is told that it exists, not a 500).

    SQLite serializes writes, so there a unique violation means a service wrote without
    checking first: a bug, and it stays one (sqlite3.IntegrityError)."""
