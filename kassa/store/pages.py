"""The conditions every cursor-paginated list shares: `created` bounds and the seq window
that `starting_after` / `ending_before` cursors set. One place for both object lists and
balance transactions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
