"""SQL for the dashboard's payments and customers pages. Mixed into `Transaction`.

Each statement is bounded by an index and a LIMIT (or by a list of ids no longer than a
named bound), so a page stays one short index walk however many payments are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kassa.invariants import ensure
from kassa.store.ledger_queries import TRANSACTION_COLUMNS, LedgerTransactionRow, transaction_row
from kassa.store.tables import CHARGES, CUSTOMERS, EVENTS, PAYMENT_INTENTS, ObjectTable

if TYPE_CHECKING:
    from kassa.store.queries import Executor

IDS_PER_LOOKUP_MAX = 100
"""Ids one `IN (...)` lookup may name: a page's worth of rows, with room to spare."""


@dataclass(frozen=True)
class PaymentPosition:
    """A payment's place in its kind's list: where a page continues after it."""

    created: int
    seq: int


@dataclass(frozen=True)
class PaymentWindow:
    """One page of payments of one kind (PaymentIntents, or charges made without one through
    the Charges API), newest first by creation time (then seq): optional equality filters,
    a `created` range, and the row the page continues after.

    The order and the range are on `created` itself, never on seq: creation time does not
    grow with seq (an object on a test clock is created at the clock's time, years ahead
    or behind), so no seq range stands for a date range."""

    limit: int
    status: str | None = None
    captured: bool | None = None
    """Charges only: the status filter tells an uncaptured charge from a captured one."""
    customer: str | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    after: PaymentPosition | None = None


@dataclass(frozen=True)
class DocPage:
    docs: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class EmailCursor:
    """Where a page of an email-prefix search resumes: after this (email, seq)."""

    email: str
    seq: int


@dataclass(frozen=True)
class EntryLine:
    """One line of a ledger transaction: the double-entry side of a balance transaction."""

    transaction_id: str
    ledger_account: str
    currency: str
    amount: int


def _loads(doc: str | bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded


def _placeholders(values: Sequence[Any]) -> str:
    ensure(0 < len(values) <= IDS_PER_LOOKUP_MAX, "an id lookup names a bounded list of ids")
    return ", ".join("?" * len(values))


class DashboardPaymentQueries:
    _db: Executor

    async def payment_intent_window(self, account_id: str, window: PaymentWindow) -> DocPage:
        """The window's intents, newest first, and whether more lie beyond it: one walk of
        an (account_id, [customer,] [status,] created, seq) index of migration 0036 (the
        filters fix the leading columns, the range and the cursor bound `created`),
        bounded by the LIMIT."""
        ensure(window.captured is None, "a PaymentIntent has no captured column")
        return await self._payment_window(PAYMENT_INTENTS, ["account_id = ?"], account_id, window)

    async def standalone_charge_window(self, account_id: str, window: PaymentWindow) -> DocPage:
        """The window's charges made without a PaymentIntent (the Charges API), newest
        first, and whether more lie beyond it. `payment_intent IS NULL` selects the partial
        indexes of migration 0036 (laid out as the intents'), which hold only such charges:
        a page never walks the charges of the account's PaymentIntents."""
        where = ["account_id = ?", "payment_intent IS NULL"]
        return await self._payment_window(CHARGES, where, account_id, window)

    async def _payment_window(
        self, table: ObjectTable, where: list[str], account_id: str, window: PaymentWindow
    ) -> DocPage:
        conditions, args = _window_conditions(window)
        rows = await self._db.fetchall(
            f"SELECT doc FROM {table.name} WHERE {' AND '.join([*where, *conditions])} "
            "ORDER BY created DESC, seq DESC LIMIT ?",
            (account_id, *args, window.limit + 1),
        )
        return DocPage([_loads(r[0]) for r in rows[: window.limit]], len(rows) > window.limit)

    async def payment_position(
        self, table: ObjectTable, account_id: str, object_id: str
    ) -> PaymentPosition | None:
        row = await self._db.fetchone(
            f"SELECT created, seq FROM {table.name} WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )
        return None if row is None else PaymentPosition(int(row[0]), int(row[1]))

    async def objects_by_ids(
        self, table: ObjectTable, account_id: str, object_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """id -> document for those of `object_ids` this account has. Only the unique id
        index is searched: the account is checked on the rows found, because a condition
        on account_id lets the planner prefer an (account_id, ...) index and read every
        row the account has."""
        if not object_ids:
            return {}
        rows = await self._db.fetchall(
            f"SELECT doc, account_id FROM {table.name} WHERE id IN ({_placeholders(object_ids)})",
            tuple(object_ids),
        )
        docs = [_loads(row[0]) for row in rows if row[1] == account_id]
        return {doc["id"]: doc for doc in docs}

    async def balance_transactions_of_sources(
        self, account_id: str, sources: Sequence[str], limit: int
    ) -> list[LedgerTransactionRow]:
        """Visible ledger transactions whose source is one of `sources` (charges, refunds,
        disputes), oldest first, through the (account_id, source) index (`+visible` and
        `+seq` keep the planner off the (account_id, visible, seq) one, which would walk
        the account's whole ledger)."""
        if not sources:
            return []
        rows = await self._db.fetchall(
            f"SELECT {TRANSACTION_COLUMNS} FROM ledger_transactions "
            f"WHERE account_id = ? AND source IN ({_placeholders(sources)}) AND +visible = 1 "
            "ORDER BY +seq LIMIT ?",
            (account_id, *sources, limit),
        )
        return [transaction_row(row) for row in rows]

    async def events_about(
        self, account_id: str, object_ids: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        """The newest events whose `data.object` is one of `object_ids`: each id is one seek
        of the (account_id, object_id, seq) index, and only those few events are sorted."""
        if not object_ids:
            return []
        rows = await self._db.fetchall(
            f"SELECT doc FROM {EVENTS.name} WHERE account_id = ? "
            f"AND object_id IN ({_placeholders(object_ids)}) AND deleted = 0 "
            "ORDER BY +seq DESC LIMIT ?",
            (account_id, *object_ids, limit),
        )
        return [_loads(row[0]) for row in rows]

    async def ledger_lines(self, transaction_ids: Sequence[str], limit: int) -> list[EntryLine]:
        """The entries of these ledger transactions (ids the caller read for its own
        account), in the order they were written."""
        if not transaction_ids:
            return []
        rows = await self._db.fetchall(
            "SELECT transaction_id, ledger_account, currency, amount FROM ledger_entries "
            f"WHERE transaction_id IN ({_placeholders(transaction_ids)}) ORDER BY +seq LIMIT ?",
            (*transaction_ids, limit),
        )
        return [EntryLine(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    async def customers_by_email_prefix(
        self, account_id: str, prefix: str, after: EmailCursor | None, limit: int
    ) -> DocPage:
        """Live customers whose email starts with `prefix`, by email then newest first: a
        range of the (account_id, email, seq) index. The range assumes a bytewise order;
        the `substr` check keeps results right under any collation."""
        # A later page starts at the cursor's email (which has the prefix) rather than at
        # the prefix, so that each page is one short walk of the index.
        lower = prefix if after is None else after.email
        where = ["account_id = ?", "deleted = 0", "email >= ?", "substr(email, 1, ?) = ?"]
        args: list[Any] = [account_id, lower, len(prefix), prefix]
        upper = _prefix_upper_bound(prefix)
        if upper is not None:
            where.append("email < ?")
            args.append(upper)
        if after is not None:
            where.append("(email > ? OR seq < ?)")
            args.extend((after.email, after.seq))
        rows = await self._db.fetchall(
            f"SELECT doc FROM {CUSTOMERS.name} WHERE {' AND '.join(where)} "
            "ORDER BY email, seq DESC LIMIT ?",
            (*args, limit + 1),
        )
        return DocPage([_loads(r[0]) for r in rows[:limit]], len(rows) > limit)

    async def customer_email_cursor(self, account_id: str, customer_id: str) -> EmailCursor | None:
        row = await self._db.fetchone(
            f"SELECT email, seq FROM {CUSTOMERS.name} WHERE id = ? AND account_id = ?",
            (customer_id, account_id),
        )
        if row is None or row[0] is None:
            return None
        return EmailCursor(str(row[0]), int(row[1]))


def _window_conditions(window: PaymentWindow) -> tuple[list[str], list[Any]]:
    """The window's filters, date range and cursor as conditions, with their arguments.
    The range's end and the cursor's second make one upper bound on `created`, so that the
    index walk starts at the cursor; the cursor's own second is then cut at its seq."""
    after = window.after
    upper_bounds = [window.created_lt, None if after is None else after.created + 1]
    conditions, args = ["deleted = 0"], []
    for condition, value in (
        ("customer = ?", window.customer),
        ("status = ?", window.status),
        ("captured = ?", window.captured),
        ("created >= ?", window.created_gte),
        ("created < ?", min((b for b in upper_bounds if b is not None), default=None)),
    ):
        if value is not None:
            conditions.append(condition)
            args.append(value)
    if after is not None:
        conditions.append("(created < ? OR seq < ?)")
        args.extend((after.created, after.seq))
    return conditions, args


_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string starting with `prefix` (its last character
    incremented), or None when no such bound exists."""
    trimmed = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not trimmed:
        return None
    following = ord(trimmed[-1]) + 1
    # Surrogates cannot be stored; skip past them to the next storable character.
    if following in _SURROGATES:
        following = _SURROGATES.stop
    return trimmed[:-1] + chr(following)
