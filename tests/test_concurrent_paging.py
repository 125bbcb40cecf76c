"""Paging and following stay exact while many writers commit out of order.

On PostgreSQL two transactions can take seqs 10 and 11 and commit 11 first: a follower asking
for what is newer than 11 (`ending_before`, as `kassa listen` does) would never see 10, and a
pager that read 11 before 10 committed would skip it. Here writers hold their transactions open
on purpose (directly through Kassa's store, beside a real `kassa serve`) while a follower, the
real `kassa listen` and pagers read through the API; each must see every row exactly once, in
the order of the final list.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kassa.clock import SystemClock
from kassa.ids import new_id
from kassa.listen import listen
from kassa.store import Store, open_store
from kassa.store.tables import CUSTOMERS, EVENTS
from tests import loopback
from tests.conftest import fresh_database
from tests.harness import Account, KassaServer, create_account
from tests.webhook_receiver import WebhookReceiver

STORE_WRITERS = 8
UNITS_PER_STORE_WRITER = 30
API_WRITERS = 2
CUSTOMERS_PER_API_WRITER = 15
HOLD_SECONDS_MAX = 0.012
"""How long a PostgreSQL writer keeps its transaction open after inserting: long enough for
others to take later seqs and commit first."""
PAUSE_SECONDS_MAX = 0.03
FOLLOW_POLL_SECONDS = 0.01
PAGE_LIMIT = 7
FULL_PAGE_LIMIT = 100
PAGES_PER_WALK_MAX = 200
PAGER_PASSES_MAX = 100
FOLLOW_POLLS_MAX = 3_000
RUN_SECONDS_MAX = 25.0
"""The whole run, writers to last check, is bounded by this."""
FORWARDED_WAIT_SECONDS = 8.0
WAIT_POLL_SECONDS = 0.05
SEED = 20_261_028
LISTEN_PATH = "listen"
LISTEN_SECRET = re.compile(r"secret is (whsec_\S+)")


@dataclass(frozen=True)
class Templates:
    """A customer and its `customer.created` event as the server made them: the writers
    clone these, so every row they write is shaped like a real one."""

    customer: dict[str, Any]
    event: dict[str, Any]

    def clone(self) -> tuple[dict[str, Any], dict[str, Any]]:
        customer = {**copy.deepcopy(self.customer), "id": new_id("cus")}
        event = copy.deepcopy(self.event)
        event.update(id=new_id("evt"), data={"object": copy.deepcopy(customer)})
        return customer, event


@dataclass
class Run:
    server: KassaServer
    account: Account
    engine: str


@dataclass
class Seen:
    followed: list[str] = field(default_factory=list)
    pager_passes: list[list[str]] = field(default_factory=list)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    with fresh_database(request.param, tmp_path) as url:
        server = KassaServer(url, tmp_path / "kassa-serve.log").start()
        try:
            yield Run(server, create_account(url), request.param)
        finally:
            server.stop()


@contextlib.asynccontextmanager
async def _opened(run: Run) -> AsyncIterator[tuple[Store, httpx.AsyncClient]]:
    store = await open_store(run.server.database_url)
    auth = (run.account.secret_key, "")
    try:
        async with loopback.AsyncClient(base_url=run.server.url, auth=auth, timeout=30) as http:
            yield store, http
    finally:
        await store.close()


# -- reading through the API ------------------------------------------------------------------


async def _get_list(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> dict[str, Any]:
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _walk_down(http: httpx.AsyncClient, path: str, limit: int) -> list[str]:
    """The whole list, newest first, page by page with `starting_after`."""
    ids: list[str] = []
    for _ in range(PAGES_PER_WALK_MAX):
        params = {"limit": str(limit), **({"starting_after": ids[-1]} if ids else {})}
        body = await _get_list(http, path, params)
        ids.extend(obj["id"] for obj in body["data"])
        if not body["has_more"]:
            return ids
    raise AssertionError(f"{path} has more than {PAGES_PER_WALK_MAX} pages")


async def _newer_than(http: httpx.AsyncClient, path: str, cursor: str) -> list[str]:
    """Everything newer than `cursor`, oldest first, as a follower polls with
    `ending_before` (the page adjacent to the cursor, newest first, then the next)."""
    ids: list[str] = []
    for _ in range(PAGES_PER_WALK_MAX):
        params = {"limit": str(PAGE_LIMIT), "ending_before": ids[-1] if ids else cursor}
        body = await _get_list(http, path, params)
        ids.extend(obj["id"] for obj in reversed(body["data"]))
        if not body["has_more"]:
            return ids
    raise AssertionError(f"{path} has more than {PAGES_PER_WALK_MAX} pages of new rows")


async def _follow(http: httpx.AsyncClient, cursor: str, done: asyncio.Event, seen: Seen) -> None:
    for _ in range(FOLLOW_POLLS_MAX):
        finished = done.is_set()  # read first: the poll after the last commit sees it
        newer = await _newer_than(http, "/v1/customers", cursor)
        seen.followed.extend(newer)
        cursor = seen.followed[-1] if seen.followed else cursor
        if finished:
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
    raise AssertionError(f"the writers were not done after {FOLLOW_POLLS_MAX} polls")


async def _page_repeatedly(http: httpx.AsyncClient, done: asyncio.Event, seen: Seen) -> None:
    for _ in range(PAGER_PASSES_MAX):
        if done.is_set():
            return
        seen.pager_passes.append(await _walk_down(http, "/v1/customers", PAGE_LIMIT))


# -- writing ----------------------------------------------------------------------------------


async def _templates(http: httpx.AsyncClient) -> Templates:
    created = await http.post("/v1/customers", data={"email": "baseline@example.com"})
    assert created.status_code == 200, created.text
    events = await _get_list(http, "/v1/events", {"limit": "1"})
    return Templates(created.json(), events["data"][0])


async def _store_writer(
    store: Store, account_id: str, templates: Templates, rng: random.Random, hold_max: float
) -> None:
    for _ in range(UNITS_PER_STORE_WRITER):
        customer, event = templates.clone()
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, account_id, customer)
            await tx.insert_object(EVENTS, account_id, event)
            await asyncio.sleep(rng.uniform(0, hold_max))
        await asyncio.sleep(rng.uniform(0, PAUSE_SECONDS_MAX))


async def _api_writer(http: httpx.AsyncClient, rng: random.Random) -> None:
    for _ in range(CUSTOMERS_PER_API_WRITER):
        response = await http.post("/v1/customers")
        assert response.status_code == 200, response.text
        await asyncio.sleep(rng.uniform(0, PAUSE_SECONDS_MAX))


# -- kassa listen -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _listening(run: Run, receiver: WebhookReceiver) -> AsyncIterator[asyncio.Task[None]]:
    """The real `kassa listen` loop, forwarding to `receiver`; ready once it is yielded."""
    ready = asyncio.Event()
    stopping = asyncio.Event()

    def say(line: str) -> None:
        if found := LISTEN_SECRET.search(line):
            receiver.set_secret(LISTEN_PATH, found.group(1))
            ready.set()

    task = asyncio.create_task(
        listen(
            run.server.url,
            run.account.secret_key,
            receiver.url(LISTEN_PATH),
            say=say,
            stopping=stopping,
            clock=SystemClock(),
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), FORWARDED_WAIT_SECONDS)
        yield task
    finally:
        stopping.set()
        await task


async def _wait_for_forwarded(receiver: WebhookReceiver, count: int) -> None:
    for _ in range(int(FORWARDED_WAIT_SECONDS / WAIT_POLL_SECONDS)):
        if len(receiver.event_ids(LISTEN_PATH)) >= count:
            return
        await asyncio.sleep(WAIT_POLL_SECONDS)


# -- the tests --------------------------------------------------------------------------------


async def _concurrent_run(run: Run, receiver: WebhookReceiver) -> tuple[Seen, list[str], list[str]]:
    seen = Seen()
    async with _opened(run) as (store, http), _listening(run, receiver):
        # Listening began on an account without events: it must forward every one.
        templates = await _templates(http)
        done = asyncio.Event()
        readers = [
            asyncio.create_task(_follow(http, templates.customer["id"], done, seen)),
            asyncio.create_task(_page_repeatedly(http, done, seen)),
        ]
        await _write_concurrently(run, store, http, templates)
        done.set()
        await asyncio.gather(*readers)
        events = await _walk_down(http, "/v1/events", FULL_PAGE_LIMIT)
        customers = await _walk_down(http, "/v1/customers", FULL_PAGE_LIMIT)
        await _wait_for_forwarded(receiver, len(events))
    return seen, customers, events


async def _write_concurrently(
    run: Run, store: Store, http: httpx.AsyncClient, templates: Templates
) -> None:
    rng = random.Random(SEED)
    # SQLite has one writer: a unit held open would only stall the others, never reorder.
    hold_max = HOLD_SECONDS_MAX if run.engine == "postgres" else 0.0
    await asyncio.gather(
        *(
            _store_writer(store, run.account.id, templates, random.Random(rng.random()), hold_max)
            for _ in range(STORE_WRITERS)
        ),
        *(_api_writer(http, random.Random(rng.random())) for _ in range(API_WRITERS)),
    )


def test_followers_and_pagers_see_every_row_once_in_order_under_concurrent_writers(
    run: Run,
) -> None:
    with WebhookReceiver() as receiver:
        seen, customers, events = asyncio.run(
            asyncio.wait_for(_concurrent_run(run, receiver), RUN_SECONDS_MAX)
        )
    written = 1 + STORE_WRITERS * UNITS_PER_STORE_WRITER + API_WRITERS * CUSTOMERS_PER_API_WRITER
    assert len(customers) == len(set(customers)) == written
    oldest_first = customers[::-1]
    assert seen.followed == oldest_first[1:], "the follower missed, repeated or reordered rows"
    assert seen.pager_passes, "the pager ran while the writers wrote"
    for walked in seen.pager_passes:
        top = customers.index(walked[0])
        assert walked == customers[top:], "a pager missed, repeated or reordered rows"
    forwarded = receiver.event_ids(LISTEN_PATH)
    assert receiver.rejected() == []
    assert forwarded == events[::-1], "kassa listen missed, repeated or reordered events"


@pytest.mark.postgres
def test_a_row_committed_before_a_lower_seq_is_listed_after_it(tmp_path: Path) -> None:
    """The race made exact: A takes the lower seq, B the higher and commits first. Neither a
    follower nor a pager may then see B before A."""
    with fresh_database("postgres", tmp_path) as url:
        server = KassaServer(url, tmp_path / "kassa-serve.log").start()
        try:
            run = Run(server, create_account(url), "postgres")
            seen, final, (lower, higher) = asyncio.run(
                asyncio.wait_for(_out_of_order_commits(run), RUN_SECONDS_MAX)
            )
        finally:
            server.stop()
    assert final[:2] == [higher, lower], "the unit that wrote first is listed first"
    assert seen.followed == [lower, higher], f"followed {seen.followed}, final order {final}"
    (walked,) = seen.pager_passes
    assert walked == final[final.index(walked[0]) :], f"paged {walked}, final order {final}"


async def _out_of_order_commits(run: Run) -> tuple[Seen, list[str], tuple[str, str]]:
    async with _opened(run) as (store, http):
        templates = await _templates(http)
        baseline = templates.customer["id"]
        lower_written, release_lower = asyncio.Event(), asyncio.Event()
        lower_customer, _ = templates.clone()
        higher_customer, _ = templates.clone()

        async def write_lower() -> None:
            async with store.write() as tx:
                await tx.insert_object(CUSTOMERS, run.account.id, lower_customer)
                lower_written.set()
                await release_lower.wait()

        lower = asyncio.create_task(write_lower())
        await lower_written.wait()
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, run.account.id, higher_customer)
        seen = Seen(followed=await _newer_than(http, "/v1/customers", baseline))
        seen.pager_passes.append(await _walk_down(http, "/v1/customers", 1))
        release_lower.set()
        await lower
        cursor = seen.followed[-1] if seen.followed else baseline
        seen.followed += await _newer_than(http, "/v1/customers", cursor)
        final = await _walk_down(http, "/v1/customers", FULL_PAGE_LIMIT)
    return seen, final, (lower_customer["id"], higher_customer["id"])


@pytest.mark.postgres
def test_another_accounts_open_transaction_never_hides_a_new_row(tmp_path: Path) -> None:
    """Only an account's own writers can hold back its lists. Another account's unit that
    stays open (here for longer than a list waits for writers at most) must not keep a
    client from seeing the customer it has just created, nor from searching for it. (With
    the cluster-wide bound of transaction ids Kassa used before, both reads waited half a
    second and then left the customer out.)"""
    with fresh_database("postgres", tmp_path) as url:
        server = KassaServer(url, tmp_path / "kassa-serve.log").start()
        try:
            run = Run(server, create_account(url), "postgres")
            other = create_account(url, "other")
            created, listed, found = asyncio.run(
                asyncio.wait_for(_beside_an_open_unit(run, other.id), RUN_SECONDS_MAX)
            )
        finally:
            server.stop()
    assert created in listed, "a customer created through the API is missing from its list"
    assert created in found, "a customer created through the API is missing from search"


async def _beside_an_open_unit(run: Run, other_account_id: str) -> tuple[str, list[str], list[str]]:
    async with _opened(run) as (store, http):
        templates = await _templates(http)
        customer, event = templates.clone()
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, other_account_id, customer)
            await tx.insert_object(EVENTS, other_account_id, event)
            response = await http.post("/v1/customers", data={"email": "beside@example.com"})
            assert response.status_code == 200, response.text
            created = response.json()["id"]
            listed = await _get_list(http, "/v1/customers", {"limit": "3"})
            found = await _get_list(
                http, "/v1/customers/search", {"query": "email:'beside@example.com'"}
            )
    return created, [c["id"] for c in listed["data"]], [c["id"] for c in found["data"]]
