"""What the store reports when a unit of work cannot complete for reasons outside it: a
collision with a concurrent unit, or a database it cannot reach."""

from __future__ import annotations


class WriteConflict(Exception):
    """A unit of work lost a race on a unique key to a concurrent one (PostgreSQL: a unique
    violation on a row another transaction committed after this one read), or PostgreSQL
    failed it to break a deadlock (two units locking rows in opposite orders). The unit has been
    rolled back; run again, it reads the other's row and answers as a serial run would (a
    second coupon with the same id is told that it exists, not a 500).

    SQLite serializes writes, so there a unique violation means a service wrote without
    checking first: a bug, and it stays one (sqlite3.IntegrityError)."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used right now (down, refusing connections, no
    connection free in time, its disk full). Nothing of the unit was committed; the same
    request may succeed once the database is back (the API answers 503 with Retry-After)."""
