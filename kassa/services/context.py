"""What every service call gets: whose request it is, the unit of work, and the clock."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.clock import Clock, unix_seconds
from kassa.store import Transaction


@dataclass(frozen=True)
class Context:
    account_id: str
    tx: Transaction
    clock: Clock
    livemode: bool = False

    def now(self) -> int:
        return unix_seconds(self.clock)
