"""The conditions every cursor-paginated list shares: `created` bounds and the seq window
that `starting_after` / `ending_before` cursors set. One place for both object lists and
balance transactions. Also the filter-column tests lists and searches share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kassa.store.tables import ObjectTable

CREATED_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
"""Stripe's `created[gte]=...` operators as SQL."""


def window_conditions(
    created: Mapping[str, int], before_seq: int | None, after_seq: int | None
) -> tuple[list[str], list[Any]]:
    """WHERE terms and their arguments: the `created` bounds, then the cursor's seq bound."""
    where: list[str] = []
    args: list[Any] = []
    for operator, bound in created.items():
        where.append(f"created {CREATED_OPERATORS[operator]} ?")
        args.append(bound)
    if before_seq is not None:
        where.append("seq < ?")
        args.append(before_seq)
    if after_seq is not None:
        where.append("seq > ?")
        args.append(after_seq)
    return where, args


def check_filter_column(table: ObjectTable, column: str) -> None:
    """Refuse a column the table does not declare: column names go into the SQL."""
    if column not in table.filter_columns:
        raise ValueError(f"{table.name} has no filter column {column}")


def null_conditions(table: ObjectTable, nulls: Mapping[str, bool]) -> list[str]:
    """WHERE terms: each filter column NULL (True) or not NULL (False)."""
    where: list[str] = []
    for column, null in nulls.items():
        check_filter_column(table, column)
        where.append(f"{column} IS {'' if null else 'NOT '}NULL")
    return where
