"""The composition root: the one place that builds the store, the payment configuration, the
ASGI apps and the background jobs, and joins the edges (API, 3-D Secure page, dashboard,
hosted invoice pages and PDFs, workers) that must not import each other.

`kassa serve` runs `KassaApp`: the apps, and every job whose `in_serve` says so.
`kassa worker` runs `run_worker`: every job, without the apps. Both take their jobs from
`JOBS`, so a new background job is added here once and runs under both commands.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType

import uvicorn

from kassa import observers  # noqa: F401  (installs the observers of domain writes)
from kassa.clock import Clock, SystemClock, unix_seconds
from kassa.config import Settings
from kassa.dashboard.app import PREFIX as DASHBOARD_PREFIX
from kassa.dashboard.site import dashboard
from kassa.database import open_migrated_store, open_unmigrated_store
from kassa.http.api import ApiApp
from kassa.http.app import EdgeApp, Mount, Routes
from kassa.http.authentication_page import AuthenticationPage
from kassa.http.metrics import RequestMetrics
from kassa.http.rate_limits import rate_limiter
from kassa.http.request_log import RequestLogWriter
from kassa.pages.checkout_backend import CheckoutBackend
from kassa.pages.checkout_page import PATH_PREFIX as CHECKOUT_PAGES_PREFIX
from kassa.pages.checkout_page import CheckoutPages
from kassa.pages.credit_note_backend import CreditNoteBackend
from kassa.pages.credit_note_page import PATH_PREFIX as CREDIT_NOTE_PAGES_PREFIX
from kassa.pages.credit_note_page import CreditNotePages
from kassa.pages.invoice_backend import InvoiceBackend
from kassa.pages.invoice_page import PATH_PREFIX as INVOICE_PAGES_PREFIX
from kassa.pages.invoice_page import InvoicePages
from kassa.pages.page_responses import HtmlPages, PdfRenders
from kassa.pages.portal_backend import PortalBackend
from kassa.pages.portal_page import PATH_PREFIX as PORTAL_PAGES_PREFIX
from kassa.pages.portal_page import PortalPages
from kassa.services import accounts
from kassa.services.accounts import NewAccount
from kassa.services.billing.rendering.render_bound import RenderBound
from kassa.services.context import PaymentConfig
from kassa.services.setup import load_payment_config
from kassa.store import Store
from kassa.store.schema import apply_pending
from kassa.workers.authorization_expiries import AUTHORIZATION_EXPIRIES
from kassa.workers.capture_postings import CAPTURE_POSTINGS
from kassa.workers.checkout_sessions import CHECKOUT_SESSIONS
from kassa.workers.invoices import INVOICES
from kassa.workers.mail import mail_settings, run_mail
from kassa.workers.payouts import PAYOUTS
from kassa.workers.polling import PollingJob, run_polling
from kassa.workers.quotes import QUOTES
from kassa.workers.refund_failures import REFUND_FAILURES
from kassa.workers.reporting import REPORTING
from kassa.workers.retention import run_retention
from kassa.workers.settlement import SETTLEMENT
from kassa.workers.test_clocks import TEST_CLOCKS
from kassa.workers.webhooks import delivery_settings, run_delivery

log = logging.getLogger("kassa.runtime")

# --- the store ----------------------------------------------------------------------------


async def prepare_for_serving(
    settings: Settings, clock: Clock, announce: Callable[[NewAccount], None] | None = None
) -> NewAccount | None:
    """Migrate, and make a default account if the database has none.

    Both happen in one transaction: on PostgreSQL the migration lock is held until it
    commits, so servers starting at once on an empty database make one default account.
    `announce` shows the new account's keys before that commit: only their hashes are
    stored, so keys shown after it would be lost for good to a crash in between, while keys
    shown for a unit that then fails are replaced by the next start's.
    """
    store = await open_unmigrated_store(settings)
    try:
        async with store.write() as tx:
            await apply_pending(tx, store.engine, unix_seconds(clock))
            if await accounts.count_accounts(tx) > 0:
                return None
            new = await accounts.create_account(tx, clock, "Default account")
            if announce is not None:
                announce(new)
            return new
    finally:
        await store.close()


# --- background jobs ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobContext:
    store: Store
    clock: Clock
    settings: Settings
    stopping: asyncio.Event
    """Set to stop: every job finishes its current batch and returns."""


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[JobContext], Awaitable[None]]
    in_serve: Callable[[Settings], bool]
    """Whether `kassa serve` runs this job in its own process; `kassa worker` runs every job."""


def _deliver_webhooks(ctx: JobContext) -> Awaitable[None]:
    return run_delivery(ctx.store, ctx.clock, delivery_settings(ctx.settings), ctx.stopping)


def _send_mail(ctx: JobContext) -> Awaitable[None]:
    """Emails from the outbox: over SMTP with KASSA_SMTP_URL, else into the captured mailbox."""
    return run_mail(ctx.store, ctx.clock, mail_settings(ctx.settings), ctx.stopping)


def _polling(job: PollingJob) -> Callable[[JobContext], Awaitable[None]]:
    """A job that runs `job`'s rounds (`kassa.workers.polling`) until asked to stop; what
    each does is told by its module in `kassa.workers`."""

    def run(ctx: JobContext) -> Awaitable[None]:
        return run_polling(job, ctx.store, ctx.clock, ctx.settings, ctx.stopping)

    return run


def _purge_expired(ctx: JobContext) -> Awaitable[None]:
    """Request log, idempotency keys, events (with their deliveries), dashboard sessions."""
    return run_retention(
        ctx.store, ctx.clock, ctx.settings.request_log_retention_days, ctx.stopping
    )


def _always(_: Settings) -> bool:
    return True


def _when_serve_delivers_webhooks(settings: Settings) -> bool:
    # KASSA_WEBHOOK_WORKERS=0 leaves delivery to `kassa worker` processes.
    return settings.webhook_workers > 0


JOBS: tuple[Job, ...] = (
    Job("settlement", _polling(SETTLEMENT), in_serve=_always),
    Job("webhooks", _deliver_webhooks, in_serve=_when_serve_delivers_webhooks),
    Job("retention", _purge_expired, in_serve=_always),
    Job("mail", _send_mail, in_serve=_always),
    Job("invoices", _polling(INVOICES), in_serve=_always),
    Job("test_clocks", _polling(TEST_CLOCKS), in_serve=_always),
    Job("payouts", _polling(PAYOUTS), in_serve=_always),
    Job("refund_failures", _polling(REFUND_FAILURES), in_serve=_always),
    Job("capture_postings", _polling(CAPTURE_POSTINGS), in_serve=_always),
    Job("authorization_expiries", _polling(AUTHORIZATION_EXPIRIES), in_serve=_always),
    Job("reporting", _polling(REPORTING), in_serve=_always),
    Job("checkout_sessions", _polling(CHECKOUT_SESSIONS), in_serve=_always),
    Job("quotes", _polling(QUOTES), in_serve=_always),
)


def serve_jobs(settings: Settings) -> tuple[Job, ...]:
    return tuple(job for job in JOBS if job.in_serve(settings))


def worker_jobs() -> tuple[Job, ...]:
    return JOBS


def start_jobs(jobs: tuple[Job, ...], ctx: JobContext) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(_run(job, ctx), name=f"kassa-{job.name}") for job in jobs]


async def _run(job: Job, ctx: JobContext) -> None:
    await job.run(ctx)


async def stop_jobs(tasks: list[asyncio.Task[None]], stopping: asyncio.Event) -> list[Exception]:
    """Ask every job to stop, wait for all of them, and return what the failed ones raised."""
    stopping.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    return [outcome for outcome in outcomes if isinstance(outcome, Exception)]


async def run_worker(
    store: Store, settings: Settings, clock: Clock, stopping: asyncio.Event
) -> None:
    """`kassa worker`: every job until `stopping` is set; the first job that fails stops
    the others and is raised, so the process exits and its supervisor restarts it."""
    tasks = start_jobs(worker_jobs(), JobContext(store, clock, settings, stopping))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        failures = await stop_jobs(tasks, stopping)
    if failures:
        raise failures[0]


# --- the server ---------------------------------------------------------------------------


@dataclass
class _Running:
    """What startup built and shutdown takes apart, in reverse order."""

    store: Store
    request_log: RequestLogWriter
    stopping: asyncio.Event
    jobs: list[asyncio.Task[None]]


class Server:
    """The server process's lifespan: build the apps and start the jobs; stop them."""

    def __init__(self, settings: Settings, clock: Clock, metrics: RequestMetrics) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.running: _Running | None = None

    async def start(self) -> Routes:
        store = await open_migrated_store(self.settings, self.clock)
        try:
            routes, request_log = await self._build_apps(store)
        except BaseException:
            await store.close()
            raise
        request_log.start()
        stopping = asyncio.Event()
        ctx = JobContext(store, self.clock, self.settings, stopping)
        self.running = _Running(
            store, request_log, stopping, start_jobs(serve_jobs(self.settings), ctx)
        )
        return routes

    async def _build_apps(self, store: Store) -> tuple[Routes, RequestLogWriter]:
        payments = await load_payment_config(store, self.settings)
        request_log = RequestLogWriter(store)
        # One bound on the documents rendered at once, the API's and the pages' together.
        renders = RenderBound()
        api = ApiApp(
            store,
            self.clock,
            self.metrics,
            request_log,
            payments,
            rate_limiter(self.settings, self.metrics.registry),
            renders,
        )
        routes = Routes(
            api=api,
            authentication_page=AuthenticationPage(store, self.clock, payments),
            mounts=(
                Mount(DASHBOARD_PREFIX, dashboard(store, self.clock, payments)),
                *self._customer_pages(store, payments, renders),
            ),
        )
        return routes, request_log

    def _customer_pages(
        self, store: Store, payments: PaymentConfig, bound: RenderBound
    ) -> tuple[Mount, ...]:
        """`hosted_invoice_url` and `invoice_pdf` over the invoice operations, a credit
        note's `pdf` over the credit note operations (their PDFs share one render bound), a
        Checkout Session's `url` over the checkout operations, and a billing portal session's
        `url` over the portal operations."""
        renders = PdfRenders(HtmlPages(), bound)
        invoices = InvoicePages(
            InvoiceBackend(store, self.clock, payments), payments.public_url, renders
        )
        notes = CreditNotePages(CreditNoteBackend(store, self.clock, payments), renders)
        checkout = CheckoutPages(
            CheckoutBackend(store, self.clock, payments), payments.public_url, renders
        )
        portal = PortalPages(
            PortalBackend(store, self.clock, payments), payments.public_url, renders
        )
        return (
            Mount(INVOICE_PAGES_PREFIX, invoices),
            Mount(CREDIT_NOTE_PAGES_PREFIX, notes),
            Mount(CHECKOUT_PAGES_PREFIX, checkout),
            Mount(PORTAL_PAGES_PREFIX, portal),
        )

    async def stop(self) -> None:
        running, self.running = self.running, None
        if running is None:
            return
        for failure in await stop_jobs(running.jobs, running.stopping):
            log.error("a background job failed", exc_info=failure)
        await running.request_log.stop()
        await running.store.close()


class KassaApp(EdgeApp):
    """What `kassa serve` runs under uvicorn: the edge router over the apps and jobs built
    here. `clock` replaces the wall clock (tests run a server ahead of real time)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        metrics = RequestMetrics()
        self.server = Server(settings, self.clock, metrics)
        super().__init__(metrics, self.server, settings.instance_id)

    async def startup(self) -> None:
        await super().startup()
        _before_stop_signals(self._begin_draining)
        _freeze_startup_objects()

    def _begin_draining(self) -> None:
        self.draining = True


def _freeze_startup_objects() -> None:
    """Put what startup built (modules, the catalog, routes, templates) out of the cyclic
    collector's reach. Each full collection otherwise walks all of it again: pauses of tens
    of milliseconds that set the create scenario's p99 at concurrency 32 (about 29 ms; 13 to
    17 ms frozen, bench/README.md). Garbage is collected first, so what is frozen lives as
    long as the process anyway."""
    gc.collect()
    gc.freeze()


def app_from_environment() -> KassaApp:
    """The app each of `kassa serve --workers N`'s processes builds, from the KASSA_*
    environment the parent set (uvicorn starts workers from an import string)."""
    return KassaApp(Settings())


class GracefulServer(uvicorn.Server):
    """uvicorn's server, but a stop by SIGTERM or SIGINT that drained cleanly exits 0:
    uvicorn re-raises the signal it caught once it has shut down (exit status -15), which
    tells a supervisor the process was killed when it stopped as asked."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for requests in flight
        self.should_exit = True


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _before_stop_signals(then: Callable[[], None]) -> None:
    """Call `then` on SIGTERM or SIGINT, then the handler already there (uvicorn's, which
    stops accepting, lets requests in flight finish for up to `timeout_graceful_shutdown`,
    and runs the shutdown: jobs stopped, claims released, the request log flushed)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only: an app run in a test thread has none

    for stop_signal in STOP_SIGNALS:
        previous = signal.getsignal(stop_signal)

        def handler(signum: int, frame: FrameType | None, previous: object = previous) -> None:
            then()
            if callable(previous):
                previous(signum, frame)

        signal.signal(stop_signal, handler)
