"""Webhook delivery: claim due outbox rows, POST each signed event, record every attempt,
and retry failures with exponential backoff and jitter (DESIGN.md section 6).

Fairness: every sweep walks the endpoints with due work round-robin and gives each at most
its free share of `PER_ENDPOINT_CONCURRENCY` slots, so a backlog on one endpoint takes only
its own slots and a quiet endpoint's next delivery is claimed on the next sweep.
Durability: a claim is a lease (the send timeout plus `CLAIM_MARGIN_SECONDS`); if the process
dies, the lease expires and any worker retakes the delivery. Delivery is therefore at least once.
Injected faults (`kassa.services.webhook_faults`) are taken from an endpoint's queue in the
claim's transaction and change how the claimed attempt is made; each attempt's record names
the fault it carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.clock import Clock
from kassa.config import Settings, retry_schedule
from kassa.ids import new_id
from kassa.services import webhook_faults
from kassa.services.wakeups import DELIVERIES_DUE
from kassa.services.webhook_endpoints import disable_failing_endpoint
from kassa.store import Store, Transaction
from kassa.store.webhook_queries import (
    ClaimedDelivery,
    EndpointWithWork,
    WebhookAttempt,
    WebhookTarget,
)
from kassa.webhook_signing import signature_header
from kassa.workers.polling import idle_poll_seconds, until_any

if TYPE_CHECKING:
    from kassa.workers.webhook_http import Answer, WebhookSender

PER_ENDPOINT_CONCURRENCY = 8
IN_FLIGHT_MAX = 256
CLAIM_MARGIN_SECONDS = 20
"""A claim lasts the send timeout plus this margin for queueing and recording the outcome, so
a live claim is never retaken, while a crashed worker's claims come back within half a minute
(with the default 10 s timeout)."""
ENDPOINTS_PER_SWEEP = 64
GIVEN_UP_PER_ENDPOINT_MAX = 256
"""Deliveries of a disabled endpoint given up in one sweep (the rest in the next sweeps), so
that a long backlog never holds the writer for long."""
IDLE_POLL_SECONDS = 0.1
RECORD_BATCH_MAX = 256
RECORD_ATTEMPTS_MAX = 3
RESPONSE_EXCERPT_CHARS = 500
JITTER_FRACTION = 0.1
SHUTDOWN_GRACE_SECONDS = 5.0
USER_AGENT = "Kassa/1.0 (+https://github.com/kassa; like Stripe/1.0)"
INJECTED_TIMEOUT_ERROR = "timed out (injected fault: the endpoint's answer was not used)"

SENDER_MODULE = "kassa.workers.webhook_http"
"""The sender's module, imported with the first delivery to make (it loads aiohttp)."""

log = logging.getLogger("kassa.webhooks")


@dataclass(frozen=True)
class DeliverySettings:
    retry_schedule: tuple[int, ...]
    timeout_seconds: float

    @property
    def claim_ms(self) -> int:
        return int((self.timeout_seconds + CLAIM_MARGIN_SECONDS) * 1000)


@dataclass(frozen=True)
class Attempted:
    """One POST of a delivery (or, for an injected `status`, the failure in its place)."""

    attempted_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    excerpt: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Outcome:
    delivery: ClaimedDelivery
    copies: tuple[Attempted, ...]
    """One, or two for an injected `duplicate`: each is logged as an attempt."""

    @property
    def succeeded(self) -> bool:
        return all(copy.succeeded for copy in self.copies)

    @property
    def attempted_ms(self) -> int:
        """When the last copy went: a retry's delay counts from it."""
        return self.copies[-1].attempted_ms


def next_attempt_delay_ms(
    schedule: tuple[int, ...], attempts: int, rng: random.Random
) -> int | None:
    """Milliseconds until the retry after `attempts` failures; None: give up."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1] * 1000
    return int(base * (1 + rng.uniform(-JITTER_FRACTION, JITTER_FRACTION)))


def retry_window_ms(schedule: tuple[int, ...]) -> int:
    return sum(schedule) * 1000


class DeliveryWorker:
    def __init__(
        self, store: Store, clock: Clock, settings: DeliverySettings, stopping: asyncio.Event
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.stopping = stopping
        self.in_flight: dict[str, int] = defaultdict(int)
        self.tasks: set[asyncio.Task[None]] = set()
        self.outcomes: asyncio.Queue[Outcome] = asyncio.Queue(maxsize=IN_FLIGHT_MAX)
        self.wake = asyncio.Event()
        self.cursor = ""
        self.rng = random.Random()
        self.delivered = 0
        self.sender: WebhookSender | None = None
        """Opened with the first delivery to send (`_open_sender`)."""

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def run(self) -> None:
        recorder = asyncio.create_task(self._record_loop(), name="kassa-webhook-recorder")
        try:
            await self._claim_loop()
        finally:
            await self._drain()
            # Let the recorder finish the outcomes it holds: cancelling it mid-batch
            # would roll back attempts for deliveries the endpoint already answered.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outcomes.join(), SHUTDOWN_GRACE_SECONDS)
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            await self._record_pending()
            if self.sender is not None:
                await self.sender.close()

    async def _open_sender(self) -> WebhookSender:
        """The sender, opened on the first call. Its module (aiohttp) is imported on a thread:
        the import takes a tenth of a second or more, through which the event loop keeps
        serving requests."""
        if self.sender is None:
            await asyncio.to_thread(importlib.import_module, SENDER_MODULE)
            from kassa.workers.webhook_http import WebhookSender

            self.sender = WebhookSender(IN_FLIGHT_MAX)
        return self.sender

    async def _claim_loop(self) -> None:
        with DELIVERIES_DUE.listening() as due:
            idle_rounds = 0
            while not self.stopping.is_set():
                # Before the sweep: deliveries written and slots freed during it are kept
                # (cleared after it, a slot freed meanwhile waited out a whole poll).
                due.clear()
                self.wake.clear()
                try:
                    claimed = await self.sweep()
                except Exception:
                    log.exception("claiming webhook deliveries failed; will retry")
                    claimed = 0
                if claimed:
                    idle_rounds = 0
                    continue
                idle_rounds += 1
                await self._until_woken(due, idle_rounds)

    async def _until_woken(self, due: asyncio.Event, idle_rounds: int) -> None:
        """Wait out an empty sweep. While deliveries came lately, the poll interval as
        always, or a free slot; once quiet (`idle_poll_seconds`), the longer idle interval
        or, as well, this process's next delivery written: it is sent at once, and a busy
        worker still gathers deliveries between sweeps instead of a sweep per event."""
        poll_seconds = idle_poll_seconds(IDLE_POLL_SECONDS, idle_rounds)
        quiet = poll_seconds > IDLE_POLL_SECONDS
        events = (self.wake, self.stopping, due) if quiet else (self.wake, self.stopping)
        await until_any(events, poll_seconds)

    async def sweep(self) -> int:
        """One round-robin pass: claim each endpoint's share of due deliveries and send
        them, and give up those due to a disabled endpoint. How many were sent or given up."""
        free_total = IN_FLIGHT_MAX - len(self.tasks)
        if free_total <= 0:
            return 0
        now_ms = self._now_ms()
        endpoints = [
            endpoint
            for endpoint in await self._endpoints_with_work(now_ms)
            if self.in_flight[endpoint.endpoint_id] < PER_ENDPOINT_CONCURRENCY
        ]
        if not endpoints:
            return 0  # nothing claimable: no write transaction (on SQLite, a commit) for it
        batches: list[tuple[WebhookTarget | None, list[ClaimedDelivery]]] = []
        given_up = 0
        async with self.store.write() as tx:
            faulted = await tx.endpoints_with_queued_faults([e.endpoint_id for e in endpoints])
            for endpoint in endpoints:
                endpoint_id = endpoint.endpoint_id
                if endpoint.disabled:
                    given_up += await tx.give_up_deliveries_due_while_disabled(
                        endpoint_id, now_ms, GIVEN_UP_PER_ENDPOINT_MAX
                    )
                    continue
                share = min(PER_ENDPOINT_CONCURRENCY - self.in_flight[endpoint_id], free_total)
                if share <= 0:
                    continue
                claimed = await self._claim(tx, endpoint_id, endpoint_id in faulted, now_ms, share)
                if claimed:
                    batches.append((await tx.webhook_target(endpoint_id), claimed))
                    free_total -= len(claimed)
        if not batches:
            return given_up
        sender = await self._open_sender()
        count = 0
        for target, claimed in batches:
            for delivery in claimed:
                self._start(sender, target, delivery)
                count += 1
        return count + given_up

    async def _endpoints_with_work(self, now_ms: int) -> list[EndpointWithWork]:
        """Up to `ENDPOINTS_PER_SWEEP` endpoints with a delivery due, from the cursor on,
        wrapping around to the first; the cursor moves past them for the next sweep."""
        async with self.store.read() as tx:
            endpoints = await tx.webhook_endpoints_with_work(
                self.cursor, now_ms, ENDPOINTS_PER_SWEEP
            )
            if len(endpoints) < ENDPOINTS_PER_SWEEP and self.cursor:
                wrapped = await tx.webhook_endpoints_with_work(
                    "", now_ms, ENDPOINTS_PER_SWEEP - len(endpoints)
                )
                seen = {e.endpoint_id for e in endpoints}
                endpoints += [e for e in wrapped if e.endpoint_id not in seen]
        self.cursor = endpoints[-1].endpoint_id if len(endpoints) == ENDPOINTS_PER_SWEEP else ""
        return endpoints

    async def _claim(
        self, tx: Transaction, endpoint_id: str, faulted: bool, now_ms: int, share: int
    ) -> list[ClaimedDelivery]:
        """Up to `share` of the endpoint's due deliveries to send now, each with the fault it
        carries; an endpoint with queued faults is skipped while another worker holds its
        queue (it comes back on the next sweep)."""
        if faulted and not await tx.lock_webhook_fault_queue(endpoint_id):
            return []
        claimed = await tx.claim_webhook_deliveries(
            endpoint_id, now_ms, now_ms + self.settings.claim_ms, share
        )
        if not faulted or not claimed:
            return claimed
        return await webhook_faults.apply_queued_faults(tx, claimed, now_ms)

    def _start(
        self,
        sender: WebhookSender,
        target: WebhookTarget | None,
        delivery: ClaimedDelivery,
    ) -> None:
        self.in_flight[delivery.endpoint_id] += 1
        task = asyncio.create_task(self._send(sender, target, delivery))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(
        self,
        sender: WebhookSender,
        target: WebhookTarget | None,
        delivery: ClaimedDelivery,
    ) -> None:
        copies = 2 if delivery.fault == webhook_faults.DUPLICATE else 1
        try:
            # The copies of a duplicate go one after the other, as a retry would.
            attempts = [await self._attempt(sender, target, delivery) for _ in range(copies)]
        finally:
            self.in_flight[delivery.endpoint_id] -= 1
            self.wake.set()  # a slot is free: the next sweep need not wait for the recorder
        await self.outcomes.put(Outcome(delivery, tuple(attempts)))

    async def _attempt(
        self,
        sender: WebhookSender,
        target: WebhookTarget | None,
        delivery: ClaimedDelivery,
    ) -> Attempted:
        attempted_ms = self._now_ms()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        try:
            if target is None or not target.enabled:
                error = "endpoint disabled or deleted"
            elif delivery.fault == webhook_faults.STATUS:
                status = delivery.fault_status_code  # the endpoint is not called
            else:
                answer = await self._post(sender, target, delivery)
                status, excerpt, error = answer.status, answer.excerpt, answer.error
        except TimeoutError:
            error = f"timed out after {self._timeout_seconds(delivery):g} s"
        duration_ms = int((time.perf_counter() - started) * 1000)
        if delivery.fault == webhook_faults.TIMEOUT and target is not None and target.enabled:
            status, error, excerpt = None, INJECTED_TIMEOUT_ERROR, None
        return Attempted(attempted_ms, duration_ms, status, error, excerpt)

    def _timeout_seconds(self, delivery: ClaimedDelivery) -> float:
        if delivery.fault == webhook_faults.TIMEOUT:
            return min(webhook_faults.TIMEOUT_FAULT_WAIT_SECONDS, self.settings.timeout_seconds)
        return self.settings.timeout_seconds

    async def _post(
        self, sender: WebhookSender, target: WebhookTarget, delivery: ClaimedDelivery
    ) -> Answer:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": signature_header(
                delivery.payload, target.secret, int(self.clock.now())
            ),
        }
        return await sender.post(
            target.url,
            delivery.payload,
            headers,
            self._timeout_seconds(delivery),
            RESPONSE_EXCERPT_CHARS,
        )

    async def _record_loop(self) -> None:
        while True:
            first = await self.outcomes.get()
            batch = [first]
            while len(batch) < RECORD_BATCH_MAX and not self.outcomes.empty():
                batch.append(self.outcomes.get_nowait())
            await self._record_with_retries(batch)
            for _ in batch:
                self.outcomes.task_done()
            self.wake.set()

    async def _record_with_retries(self, batch: list[Outcome]) -> None:
        """A batch is one transaction, so a failed one (a deadlock PostgreSQL broke between
        two workers) left nothing behind and can simply run again."""
        for attempt in range(1, RECORD_ATTEMPTS_MAX + 1):
            try:
                await self.record(batch)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS_MAX:
                    # The claims stay until their lease passes; then the deliveries are
                    # retried (at least once: the endpoint may see them twice).
                    log.exception("recording %d webhook attempts failed", len(batch))
                    return
                log.warning("recording webhook attempts failed; retrying", exc_info=True)

    async def _record_pending(self) -> None:
        batch = []
        while not self.outcomes.empty():
            batch.append(self.outcomes.get_nowait())
        if batch:
            await self.record(batch)

    async def _drain(self) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=SHUTDOWN_GRACE_SECONDS)

    async def record(self, outcomes: list[Outcome]) -> None:
        # Event rows are locked in id order, so two workers' batches cannot deadlock on them.
        ordered = sorted(outcomes, key=lambda o: (o.delivery.event_id, o.delivery.id))
        async with self.store.write() as tx:
            ordered = await self._still_there(tx, ordered)
            for outcome in ordered:
                await self._record_attempts(tx, outcome)
                await self._finish(tx, outcome)
            await webhook_faults.release_held_deliveries(
                tx, [o.delivery for o in ordered], self._now_ms()
            )

    async def _still_there(self, tx: Transaction, outcomes: list[Outcome]) -> list[Outcome]:
        """The outcomes whose delivery still exists, locked. A delivery whose account was
        reset while it was in flight is gone with the account's events: its attempt is not
        recorded (it would name a missing row and fail the whole batch, other accounts'
        outcomes with it)."""
        live = await tx.lock_webhook_deliveries(sorted(o.delivery.id for o in outcomes))
        for outcome in outcomes:
            if outcome.delivery.id not in live:
                log.warning(
                    "delivery %s of event %s is gone (its account was reset); its attempt "
                    "is not recorded",
                    outcome.delivery.id,
                    outcome.delivery.event_id,
                )
        return [outcome for outcome in outcomes if outcome.delivery.id in live]

    async def _record_attempts(self, tx: Transaction, outcome: Outcome) -> None:
        delivery = outcome.delivery
        for copy in outcome.copies:
            await tx.record_webhook_attempt(
                WebhookAttempt(
                    id=new_id("wha"),
                    account_id=delivery.account_id,
                    delivery_id=delivery.id,
                    event_id=delivery.event_id,
                    endpoint_id=delivery.endpoint_id,
                    attempted_ms=copy.attempted_ms,
                    duration_ms=copy.duration_ms,
                    status_code=copy.status_code,
                    error=copy.error,
                    response_excerpt=copy.excerpt,
                    injected_fault=delivery.fault,
                )
            )

    async def _finish(self, tx: Transaction, outcome: Outcome) -> None:
        """The delivery succeeded, is retried later, or is given up; the endpoint is told."""
        delivery = outcome.delivery
        attempts = delivery.attempts + 1
        target = await tx.webhook_target(delivery.endpoint_id)
        if outcome.succeeded:
            self.delivered += 1
            await tx.finish_webhook_delivery(delivery.id, "succeeded", attempts, 0)
            await tx.adjust_pending_webhooks(delivery.event_id, -1)
            if target is not None and target.failing_since_ms is not None:
                await tx.set_webhook_endpoint_failing_since(delivery.endpoint_id, None)
            return
        delay = next_attempt_delay_ms(self.settings.retry_schedule, attempts, self.rng)
        if delay is None or target is None or target.deleted:
            await tx.finish_webhook_delivery(delivery.id, "failed", attempts, 0)
        else:
            # Pending again, even if the endpoint was disabled meanwhile: the retry is made
            # if the endpoint is enabled again before its time, and given up if its time
            # comes while the endpoint is still disabled (as on Stripe).
            await tx.finish_webhook_delivery(
                delivery.id, "pending", attempts, outcome.attempted_ms + delay
            )
        if target is None or not target.enabled:
            return
        since_ms = target.failing_since_ms
        if since_ms is None:
            await tx.set_webhook_endpoint_failing_since(delivery.endpoint_id, outcome.attempted_ms)
        elif await self._failed_for_whole_schedule(tx, delivery, since_ms, outcome, delay):
            await disable_failing_endpoint(tx, self.clock, target)

    async def _failed_for_whole_schedule(
        self,
        tx: Transaction,
        delivery: ClaimedDelivery,
        since_ms: int,
        outcome: Outcome,
        delay: int | None,
    ) -> bool:
        """Whether the endpoint, failing since `since_ms` (its first failure after its last
        success), has now failed without a single success for a whole retry schedule: for
        the nominal window, or for every attempt of a delivery that just used up its
        retries (jitter may have made that schedule a little shorter than the window). A
        success in between, on any delivery, keeps it enabled."""
        if outcome.attempted_ms - since_ms >= retry_window_ms(self.settings.retry_schedule):
            return True
        if delay is not None:
            return False
        first_ms = await tx.first_webhook_attempt_ms(delivery.event_id, delivery.id)
        return first_ms is not None and since_ms <= first_ms


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        retry_schedule=retry_schedule(settings), timeout_seconds=settings.webhook_timeout_seconds
    )


async def run_delivery(
    store: Store, clock: Clock, settings: DeliverySettings, stopping: asyncio.Event
) -> None:
    await DeliveryWorker(store, clock, settings, stopping).run()
