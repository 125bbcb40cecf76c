"""The composition root (`kassa.runtime`): one registry of background jobs that `kassa serve`
and `kassa worker` both take theirs from, so the two cannot drift apart again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kassa import database, runtime
from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services.accounts import NewAccount
from kassa.store.request_queries import RequestLogEntry
from tests.harness import run_coroutine

LOADED_WHEN_FIRST_USED = ("fpdf", "aiohttp")
"""Libraries a server imports only when it first needs them (the invoice PDF, a webhook
delivery): importing them at start was about a third of a start's CPU (bench/startup.py:
2.05 s a start importing them, 1.32-1.47 s one that does not)."""

EVERY_JOB = [
    "settlement",
    "webhooks",
    "retention",
    "mail",
    "invoices",
    "test_clocks",
    "payouts",
    "refund_failures",
    "capture_postings",
    "authorization_expiries",
    "reporting",
    "checkout_sessions",
    "quotes",
]
ACCOUNT_ID = "acct_runtime"
PURGE_POLLS_MAX = 100
POLL_INTERVAL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 10.0


def _names(jobs: tuple[runtime.Job, ...]) -> list[str]:
    return [job.name for job in jobs]


def test_kassa_worker_runs_every_job_retention_included() -> None:
    assert _names(runtime.worker_jobs()) == EVERY_JOB


def test_kassa_serve_leaves_webhook_delivery_to_workers_when_told() -> None:
    database_url = "sqlite:///unused.db"
    delivering = Settings(database_url=database_url, webhook_workers=1)
    not_delivering = Settings(database_url=database_url, webhook_workers=0)
    assert _names(runtime.serve_jobs(delivering)) == EVERY_JOB
    assert _names(runtime.serve_jobs(not_delivering)) == [
        "settlement",
        "retention",
        "mail",
        "invoices",
        "test_clocks",
        "payouts",
        "refund_failures",
        "capture_postings",
        "authorization_expiries",
        "reporting",
        "checkout_sessions",
        "quotes",
    ]


def _old_entry(created_ms: int) -> RequestLogEntry:
    return RequestLogEntry(
        request_id="req_old",
        account_id=ACCOUNT_ID,
        created_ms=created_ms,
        method="GET",
        path="/v1/customers",
        route="GET /v1/customers",
        status=200,
        duration_us=1,
        idempotency_key=None,
        source_ip=None,
    )


def test_the_worker_purges_expired_rows_and_stops_when_asked(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'kassa.db'}")
    clock = FrozenClock(time.time())
    expired_ms = int((clock.now() - (settings.request_log_retention_days + 1) * DAY_SECONDS) * 1000)

    async def scenario() -> int:
        store = await database.open_migrated_store(settings, clock)
        try:
            async with store.write() as tx:
                await tx.insert_request_log([_old_entry(expired_ms)])
            stopping = asyncio.Event()
            worker = asyncio.create_task(runtime.run_worker(store, settings, clock, stopping))
            left = 1
            for _ in range(PURGE_POLLS_MAX):
                async with store.read() as tx:
                    left = len(await tx.list_request_log(ACCOUNT_ID, 10))
                if left == 0:
                    break
                await asyncio.sleep(POLL_INTERVAL_SECONDS)
            stopping.set()
            await asyncio.wait_for(worker, STOP_TIMEOUT_SECONDS)
            return left
        finally:
            await store.close()

    assert run_coroutine(scenario) == 0, "`kassa worker` did not run retention"


def test_the_default_accounts_keys_are_shown_before_it_is_committed(tmp_path: Path) -> None:
    """Only hashes of keys are stored: keys shown after the commit would be lost for good to
    a crash in between (a reviewer's kill -9 did that two times in three). Shown first, a
    unit that fails after showing them keeps no account, and the next start shows new keys
    for the account it makes."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'kassa.db'}")
    clock = FrozenClock(1_700_000_000)
    shown: list[str] = []

    def crash_after_showing(new: NewAccount) -> None:
        shown.append(new.secret_key)
        raise KeyboardInterrupt("the process dies right after printing")

    with pytest.raises(KeyboardInterrupt):
        run_coroutine(lambda: runtime.prepare_for_serving(settings, clock, crash_after_showing))
    assert len(shown) == 1

    def show(new: NewAccount) -> None:
        shown.append(new.secret_key)

    made = run_coroutine(lambda: runtime.prepare_for_serving(settings, clock, show))
    assert made is not None, "the first unit kept no account: the next start makes one"
    assert shown[1] == made.secret_key != shown[0]
    assert run_coroutine(lambda: runtime.prepare_for_serving(settings, clock, show)) is None
    assert len(shown) == 2


def test_the_server_and_its_jobs_load_no_library_kept_for_first_use() -> None:
    # A fresh interpreter: this test process may have imported them for other tests.
    probe = "import sys, kassa.runtime, kassa.cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "kassa.runtime" in loaded
    early = [name for name in loaded if name.split(".")[0] in LOADED_WHEN_FIRST_USED]
    assert early == []
