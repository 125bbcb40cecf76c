"""Invariant checks that survive `python -O` (unlike bare `assert`)."""

from __future__ import annotations


class InvariantViolated(Exception):
    """A condition the code relies on did not hold: a bug, never bad input."""


def ensure(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolated(message)
