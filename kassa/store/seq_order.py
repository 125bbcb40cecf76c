"""The order of an account's rows on PostgreSQL: seq tickets, and the bound below which a
list's page can no longer change.

Lists order rows by `seq`. A client following new rows (`ending_before`, as `kassa listen`
does) or paging (`starting_after`) while writers commit is exact only if no row of lower seq
commits after a row it has read. SQLite has one writer: rows take rowids in the order they
commit, and nothing here is needed (`Executor.commit_ordered`).

PostgreSQL runs writers at once, so a seq taken at insert commits out of order (A takes 10,
B takes 11, B commits first). So each write unit, at its first insert for an account:

1. takes the account's *writer lock*, a transaction-scoped shared advisory lock (writers of
   one account never wait for each other on it);
2. draws a *ticket* from the `kassa_seq_tickets` sequence;
3. takes a shared advisory lock that names the ticket, so readers can see it in `pg_locks`.

Its rows for that account take seqs `ticket * SEQ_SLOTS_PER_TICKET + n`, n counting its rows
per table. All three steps are one statement; the locks last until commit or rollback.

A read computes the account's *settled bound*: first the newest ticket issued so far, then
the lowest ticket held by a transaction that holds the account's writer lock (both in one
statement, in that order). Every ticket at or below the issued one was drawn under the
writer lock, so its holder is either still listed in `pg_locks` or has finished, and rows of
tickets below the bound can no longer appear or move: a page restricted to them is a prefix
of the final order. Only the account's own writers matter: a long transaction of another
account (or of another database on the server) never holds back this account's lists.

A holder seen with its writer lock but not yet its ticket lock (between steps 1 and 3) makes
the bound unknown for that moment; the reader asks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEQ_SLOTS_PER_TICKET = 1 << 18
"""Seqs one ticket has for the rows its unit inserts into one table (262,144; the dashboard
seed bench's largest unit writes about 50,000 events). With 18 bits for the row a bigint seq
holds 2**45 tickets: 111 years at 10,000 inserting units a second."""

ACCOUNT_LOCK_SPACE = 0x4B53
"""The first key of an account's writer lock (the second is `hashtext(account_id)`). Two
accounts whose hashes collide share a lock: their readers wait for each other's writers."""

TICKET_LOCK_SPACE = 0x4B540000
"""The first key of a ticket lock is this plus the ticket's high bits; the second key holds
its low 32 bits."""

TICKET_HIGH_BITS_SPAN = 1 << 13
"""Ticket lock first keys run from TICKET_LOCK_SPACE up to this many more (2**45 tickets)."""

TICKETS_SEQUENCE = "kassa_seq_tickets"

DRAW_TICKET = f"""
SELECT issued.ticket
FROM (
    SELECT nextval('{TICKETS_SEQUENCE}') AS ticket
    FROM (SELECT pg_advisory_xact_lock_shared({ACCOUNT_LOCK_SPACE}, hashtext(?))) AS writer_lock
    OFFSET 0
) AS issued
CROSS JOIN LATERAL (
    SELECT pg_advisory_xact_lock_shared(
        {TICKET_LOCK_SPACE} + (issued.ticket >> 32)::int, issued.ticket::bit(32)::int
    )
) AS ticket_lock
"""
"""Steps 1 to 3 in order: the writer lock, the ticket, the ticket's lock. The nested
subqueries fix the order (PostgreSQL does not flatten a subquery with volatile calls)."""

READ_SETTLED = f"""
SELECT issued.newest, holders.unticketed, holders.lowest
FROM (
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS newest
    FROM {TICKETS_SEQUENCE}
    OFFSET 0
) AS issued
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE held.lowest IS NULL) AS unticketed,
           min(held.lowest) AS lowest
    FROM pg_locks AS writer
    LEFT JOIN LATERAL (
        SELECT min(((own.classid::bigint - {TICKET_LOCK_SPACE}) << 32) | own.objid::bigint)
            AS lowest
        FROM pg_locks AS own
        WHERE own.virtualtransaction = writer.virtualtransaction
          AND own.locktype = 'advisory' AND own.objsubid = 2 AND own.granted
          AND own.classid::bigint >= {TICKET_LOCK_SPACE}
          AND own.classid::bigint < {TICKET_LOCK_SPACE + TICKET_HIGH_BITS_SPAN}
    ) AS held ON true
    WHERE writer.locktype = 'advisory' AND writer.objsubid = 2 AND writer.granted
      AND writer.classid::bigint = {ACCOUNT_LOCK_SPACE}
      AND writer.objid::bigint = (hashtext(?)::bigint & 4294967295)
      AND writer.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND issued.newest IS NOT NULL
) AS holders
"""
"""The newest ticket issued, then (lateral, so after it) the account's writer-lock holders:
how many show no ticket lock yet, and the lowest ticket they hold."""


@dataclass(frozen=True)
class SettledTickets:
    newest_issued: int
    """The newest ticket drawn when the read began."""
    below: int | None
    """Tickets below this are settled; None while a writer is between its lock and ticket."""


def settled_tickets(row: Sequence[Any]) -> SettledTickets:
    """READ_SETTLED's row as a bound."""
    newest = int(row[0])
    if int(row[1]):
        return SettledTickets(newest, None)
    lowest_held = None if row[2] is None else int(row[2])
    bound = newest + 1 if lowest_held is None else min(newest + 1, lowest_held)
    return SettledTickets(newest, bound)
