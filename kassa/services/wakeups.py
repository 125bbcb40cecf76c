"""Wake-ups of this process's background jobs by the units of work that give them work, so
that work due at once is done at once rather than at the job's next poll.

A unit asks for the wake-up after its commit (`Transaction.after_commit`), so the woken job
reads the unit's rows. Process-local, as the jobs are: work another process gives (a second
`kassa serve` on PostgreSQL) still waits for the job's poll, which stays the fallback. Module
state because the units that notify (any request, any job) and the job that listens meet
nowhere else; a notification with no job listening (a process without that job, an
in-process test) does nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Final

from kassa.invariants import ensure

LISTENERS_MAX: Final = 8
"""Jobs of one process listening to one wake-up (one `capture_postings` job per process;
in-process tests may run a few side by side)."""


class Wakeup:
    """One kind of work's wake-up: the listening jobs' events, set by `notify`."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Event] = set()

    def notify(self) -> None:
        for listener in self._listeners:
            listener.set()

    @contextlib.contextmanager
    def listening(self) -> Iterator[asyncio.Event]:
        """An event set by each `notify` while the block runs (on the block's event loop)."""
        ensure(len(self._listeners) < LISTENERS_MAX, "a wake-up has few listeners")
        listener = asyncio.Event()
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)


CAPTURES_TO_POST: Final = Wakeup()
"""A capture to post (`capture_postings.schedule`) was committed: the `capture_postings` job
posts it a moment later, not at its next poll."""

CLOCKS_TO_ADVANCE: Final = Wakeup()
"""A test clock was told to advance (`test_clocks.advance_test_clock`): the `test_clocks`
job starts on it at once, not at its next poll."""

DELIVERIES_DUE: Final = Wakeup()
"""Webhook deliveries were written (`webhook_attempts`): the delivery worker sweeps at once."""

EMAILS_DUE: Final = Wakeup()
"""An email was queued (`mail.queue_email`): the mail worker sends it at once."""
