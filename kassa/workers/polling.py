"""The loop of the jobs that poll for due work in real time (`invoices`, `payouts`,
`settlement`, `refund_failures`, `capture_postings`, `reporting`, `test_clocks`): run the
job's steps in order, log what each did or why the round failed, then wait the job's poll
interval (`idle_poll_seconds`: longer once the job has long found nothing), or until the
job is woken or told to stop. A failed round is retried at the next poll: what
it had claimed is still due in the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.context import PaymentConfig
from kassa.services.setup import load_payment_config
from kassa.services.wakeups import Wakeup
from kassa.store import Store

ROUNDS_WITHOUT_WAIT_MAX = 100
"""Rounds a job with `again_after_work` runs one after another before it waits one poll
interval anyway, so that a job always finding work still lets its stop signal and the
rest of the process in at a known rate."""

IDLE_ROUNDS_AT_FULL_RATE = 20
"""Rounds in a row that find nothing to do before a job polls at `IDLE_POLL_SECONDS_MAX`
instead of its own interval: a job busy a moment ago likely has more coming soon."""
IDLE_POLL_SECONDS_MAX = 1.0
"""How often an idle job with a short interval still polls. An idle `kassa serve` made about
forty reads a second across its jobs, a few per cent of a core each on PostgreSQL (the
process and its connections' backends); a test suite keeps many such servers open. Work
this process gives wakes its job at once (`kassa.services.wakeups`), so only work another
process gives (a second server, a `kassa worker`) waits up to this long once all is quiet."""


def idle_poll_seconds(poll_seconds: float, idle_rounds: int) -> float:
    """The wait after the `idle_rounds`-th round in a row that found nothing to do."""
    if idle_rounds < IDLE_ROUNDS_AT_FULL_RATE:
        return poll_seconds
    return max(poll_seconds, IDLE_POLL_SECONDS_MAX)


PollStep = Callable[[Store, Clock, PaymentConfig], Awaitable[int]]
"""One step of a job's work; how many pieces of it were done."""


@dataclass(frozen=True)
class Step:
    run: PollStep
    done: str
    """What the step logs when it did something, with its count (`failed %d refunds`)."""


@dataclass(frozen=True)
class PollingJob:
    steps: tuple[Step, ...]
    """Run in this order each round; a step that raises ends the round."""
    poll_seconds: float
    log: logging.Logger
    failed: str
    """What a round that raised logs, with the traceback."""
    startup: Step | None = None
    """Run once, before the first round's steps (again each round until it succeeds)."""
    again_after_work: bool = False
    """Run the next round at once when this one did something (more may be due: a test
    clock finishes over several rounds), instead of waiting the poll interval."""
    wakeup: Wakeup | None = None
    """Run the next round as soon as a unit of work of this process notifies it (work due at
    once), not at the next poll; the poll stays for work other processes give."""
    gather_seconds: float = 0.0
    """With `wakeup`: after a round that did more than one piece of work (the sign of load:
    work came while the round before ran), the least wait before the next, so that work
    gathers into batches instead of a round per notification. After a round of one piece
    (a caller doing one thing at a time, likely waiting for it), none."""


async def run_polling(
    job: PollingJob, store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    if job.wakeup is None:
        await _run_rounds(job, store, clock, settings, stopping, None)
        return
    with job.wakeup.listening() as woken:
        await _run_rounds(job, store, clock, settings, stopping, woken)


async def _run_rounds(
    job: PollingJob,
    store: Store,
    clock: Clock,
    settings: Settings,
    stopping: asyncio.Event,
    woken: asyncio.Event | None,
) -> None:
    payments = await load_payment_config(store, settings)
    rounds_without_wait = 0
    idle_rounds = 0
    startup = job.startup
    while not stopping.is_set():
        if woken is not None:
            # Cleared before the round: a notification during it is kept for the next.
            woken.clear()
        count = 0
        try:
            if startup is not None:
                done = await startup.run(store, clock, payments)
                if done:
                    job.log.info(startup.done, done)
                startup = None
            for step in job.steps:
                done = await step.run(store, clock, payments)
                if done:
                    job.log.info(step.done, done)
                count += done
        except Exception:
            job.log.exception(job.failed)
        rounds_without_wait += 1
        if count and job.again_after_work and rounds_without_wait < ROUNDS_WITHOUT_WAIT_MAX:
            continue
        rounds_without_wait = 0
        idle_rounds = 0 if count else idle_rounds + 1
        poll_seconds = idle_poll_seconds(job.poll_seconds, idle_rounds)
        if woken is None:
            await _until(stopping, poll_seconds)
        else:
            await _until_woken(job, stopping, woken, poll_seconds, under_load=count > 1)


async def _until(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def _until_woken(
    job: PollingJob,
    stopping: asyncio.Event,
    woken: asyncio.Event,
    poll_seconds: float,
    *,
    under_load: bool,
) -> None:
    """Wait for a notification, the stop signal or `poll_seconds`, whichever comes first;
    under load, no less than the job's gathering time."""
    gather = job.gather_seconds if under_load else 0.0
    if gather > 0:
        await _until(stopping, gather)
    if stopping.is_set() or woken.is_set():
        return
    await until_any((stopping, woken), poll_seconds - gather)


async def until_any(events: Sequence[asyncio.Event], seconds: float) -> None:
    """Wait until one of `events` is set or `seconds` have passed, whichever comes first."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
