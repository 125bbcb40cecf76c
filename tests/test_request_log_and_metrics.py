"""The request log (every API request, written in batches) and `/metrics`, against a live
server on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kassa.clock import FrozenClock
from kassa.config import Settings
from kassa.http.request_log import BUFFER_ENTRIES_MAX, RequestLogWriter
from kassa.store import Store, log_bodies, migrate, open_store
from kassa.store.dashboard_queries import RequestLogFilter, request_log_clauses
from kassa.store.request_queries import RequestLogEntry
from kassa.workers.retention import PURGE_BATCH_ROWS
from tests import loopback
from tests.direct_store import (
    logged_request,
    purge,
    raw_row,
    request_log,
    wait_for_request_log,
    with_store,
)
from tests.harness import Account, KassaServer, create_account

DAY_SECONDS = 86_400


def _requests(http: httpx.Client) -> dict[str, tuple[str, str, int, str | None]]:
    """A mix of outcomes; request id -> (method, path, status, idempotency key)."""
    made: dict[str, tuple[str, str, int, str | None]] = {}
    key = f"key-{uuid.uuid4().hex}"
    email = f"{uuid.uuid4().hex[:10]}@example.com"

    def note(response: httpx.Response, key: str | None = None) -> httpx.Response:
        request = response.request
        made[response.headers["request-id"]] = (
            request.method,
            request.url.path,
            response.status_code,
            key,
        )
        return response

    created = note(
        http.post("/v1/customers", data={"email": email}, headers={"Idempotency-Key": key}), key
    )
    assert created.status_code == 200, created.text
    replayed = note(
        http.post("/v1/customers", data={"email": email}, headers={"Idempotency-Key": key}), key
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    assert note(http.post("/v1/customers", data={"name": "No key"})).status_code == 200
    assert note(http.get("/v1/customers/cus_missing")).status_code == 404
    assert note(http.post("/v1/customers", data={"email": "bad"})).status_code == 400
    assert note(http.get("/v1/customers", params={"limit": 3})).status_code == 200
    return made


def test_every_request_is_logged(server: KassaServer, account: Account) -> None:
    before_ms = int(time.time() * 1000)
    with server.http(account.secret_key) as http:
        made = _requests(http)
    after_ms = int(time.time() * 1000)
    entries = wait_for_request_log(server.database_url, account.id, set(made))
    assert set(entries) == set(made), "every request reaches the log within the timeout"
    for request_id, (method, path, status, key) in made.items():
        entry = entries[request_id]
        assert entry.account_id == account.id
        assert (entry.method, entry.path, entry.status) == (method, path, status)
        assert entry.idempotency_key == key
        assert entry.source_ip == "127.0.0.1"
        assert before_ms - 1000 <= entry.created_ms <= after_ms + 1000
        assert 0 < entry.duration_us < 30_000_000
    routes = {entries[r].path: entries[r].route for r in made}
    assert routes["/v1/customers"] == "/v1/customers"
    assert routes["/v1/customers/cus_missing"] == "/v1/customers/{id}"


def test_the_dashboards_filters_find_each_outcome(server: KassaServer, account: Account) -> None:
    """The log's status and key indexes hold only the rows they serve (an error status, a
    key: migration 0055); every filter still finds exactly its requests, 200 included."""
    with server.http(account.secret_key) as http:
        made = _requests(http)
    wait_for_request_log(server.database_url, account.id, set(made))

    def found(wanted: RequestLogFilter) -> set[str]:
        async def search(store: Store) -> set[str]:
            async with store.read() as tx:
                logged = await tx.search_request_log(account.id, wanted, len(made) + 10)
            return {entry.request_id for entry in logged}

        return with_store(server.database_url, search)

    def made_where(status: int | None = None, path: str | None = None) -> set[str]:
        return {
            request_id
            for request_id, (_, made_path, made_status, _) in made.items()
            if status in (None, made_status) and path in (None, made_path)
        }

    assert found(RequestLogFilter(status=404)) == made_where(status=404) != set()
    assert found(RequestLogFilter(status=400, route="/v1/customers")) == made_where(400) != set()
    assert found(RequestLogFilter(status=200, route="/v1/customers")) == made_where(
        200, "/v1/customers"
    )
    assert found(RequestLogFilter(status=200)) == made_where(status=200)
    [key] = {key for (_, _, _, key) in made.values() if key is not None}
    assert found(RequestLogFilter(idempotency_key=key)) == {
        request_id for request_id, made_request in made.items() if made_request[3] == key
    }
    if server.database_url.startswith("sqlite"):
        # The condition written beside an error status is what lets SQLite's planner use
        # the partial index: without it the filter would read the account's whole log.
        where, args = request_log_clauses(account.id, RequestLogFilter(status=404))
        plan = raw_row(
            server.database_url,
            f"EXPLAIN QUERY PLAN SELECT seq FROM request_log WHERE {' AND '.join(where)} "
            "ORDER BY seq DESC LIMIT 10",
            *args,
        )
        assert plan is not None and "request_log_account_error_status" in str(plan[-1])


def test_graceful_stop_flushes_the_log(database_url: str, tmp_path: Path) -> None:
    kassa = KassaServer(database_url, tmp_path / "kassa.log").start()
    try:
        account = create_account(database_url)
        with kassa.http(account.secret_key) as http:
            made = _requests(http)
    finally:
        kassa.stop()  # at once: entries still buffered must be written on the way out
    logged = {e.request_id for e in request_log(database_url, account.id)}
    assert logged == set(made)


def test_paths_any_engine_refuses_are_logged_storably(database_url: str, tmp_path: Path) -> None:
    """A NUL in a path is legal HTTP but not PostgreSQL text; it must not wedge the log.
    Its own server, so that a wedged writer could not spoil the session's."""
    kassa = KassaServer(database_url, tmp_path / "kassa.log").start()
    try:
        account = create_account(database_url)
        with kassa.http(account.secret_key) as http:
            odd = http.get("/v1/customers/cus_%00x%ED%A0%80")
            assert odd.status_code == 404
            time.sleep(0.5)  # past a flush interval: the later request is in another batch
            later = http.get("/v1/customers")
            assert later.status_code == 200
        ids = {odd.headers["request-id"], later.headers["request-id"]}
        entries = wait_for_request_log(database_url, account.id, ids)
        assert set(entries) == ids, "neither the odd entry nor those after it are lost"
        path = entries[odd.headers["request-id"]].path
        assert path.startswith("/v1/customers/cus_\ufffdx")
        assert "\x00" not in path
    finally:
        kassa.stop()


def test_request_log_retention(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        made = _requests(http)
    assert len(wait_for_request_log(server.database_url, account.id, set(made))) == len(made)
    retention_days = Settings().request_log_retention_days

    not_yet = FrozenClock(time.time() + retention_days * DAY_SECONDS - 3600)
    purge(server.database_url, not_yet, retention_days)
    kept = {e.request_id for e in request_log(server.database_url, account.id)}
    assert set(made) <= kept

    past = FrozenClock(time.time() + (retention_days + 1) * DAY_SECONDS)
    counts = purge(server.database_url, past, retention_days)
    assert counts.request_log_entries >= len(made)
    assert request_log(server.database_url, account.id) == []


# -- metrics -----------------------------------------------------------------------------------


def _samples(server: KassaServer) -> list[Sample]:
    response = loopback.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return 0.0


def test_metrics_count_requests_per_route_and_status(server: KassaServer, account: Account) -> None:
    created = {"method": "POST", "route": "/v1/customers", "status": "200"}
    missing = {"method": "GET", "route": "/v1/customers/{id}", "status": "404"}
    before = _samples(server)
    with server.http(account.secret_key) as http:
        for _ in range(3):
            assert http.post("/v1/customers", data={"name": "m"}).status_code == 200
        for suffix in ("a", "b"):
            assert http.get(f"/v1/customers/cus_nope{suffix}").status_code == 404
        assert http.get("/v1/nothing/here").status_code == 404
        assert http.get("/v1/nothing/else").status_code == 404
    after = _samples(server)

    total = "kassa_http_requests_total"
    assert _value(after, total, **created) - _value(before, total, **created) == 3
    assert _value(after, total, **missing) - _value(before, total, **missing) == 2
    # Unknown URLs share one label value: no unbounded label cardinality from paths.
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _value(after, total, **unmatched) - _value(before, total, **unmatched) == 2
    routes = {s.labels.get("route") for s in after if s.name == total}
    assert not any("nothing" in (route or "") for route in routes)

    buckets = "kassa_http_request_duration_seconds_bucket"
    for labels in (created, missing):
        lines = [
            s
            for s in after
            if s.name == buckets and all(s.labels[k] == v for k, v in labels.items())
        ]
        assert len(lines) >= 10, f"histogram buckets for {labels}"
        infinite = _value(after, buckets, le="+Inf", **labels)
        assert infinite == _value(after, total, **labels)
        counts = [s.value for s in sorted(lines, key=lambda s: float(s.labels["le"]))]
        assert counts == sorted(counts), "cumulative buckets never decrease"
        assert _value(after, "kassa_http_request_duration_seconds_sum", **labels) > 0


def test_log_buffer_stays_bounded_while_the_database_refuses_writes(tmp_path: Path) -> None:
    """In-process, on a real database that has no request_log table until it is migrated."""

    def entry(number: int) -> RequestLogEntry:
        return RequestLogEntry(
            request_id=f"req_{number}",
            account_id="acct_buffer",
            created_ms=number,
            method="GET",
            path="/v1/customers",
            route="/v1/customers",
            status=200,
            duration_us=1,
            idempotency_key=None,
            source_ip="127.0.0.1",
        )

    extra = 25
    total = BUFFER_ENTRIES_MAX + extra

    async def scenario() -> list[RequestLogEntry]:
        store = await open_store(f"sqlite:///{tmp_path / 'kassa.db'}")
        try:
            writer = RequestLogWriter(store)
            for number in range(total):
                await writer.record(entry(number))  # never raises into a request
            assert writer.pending_entries == BUFFER_ENTRIES_MAX
            assert writer.dropped_entries == extra
            await migrate(store, int(time.time()))
            await writer.flush()
            assert writer.pending_entries == 0
            async with store.read() as tx:
                return await tx.list_request_log("acct_buffer", total)
        finally:
            await store.close()

    written = asyncio.run(scenario())
    assert len(written) == BUFFER_ENTRIES_MAX
    ids = {e.request_id for e in written}
    assert f"req_{total - 1}" in ids, "the newest entries are kept"
    assert not ids & {f"req_{n}" for n in range(extra)}, "the oldest were dropped"


def test_purge_removes_exactly_the_expired_entries_in_batches(database_url: str) -> None:
    """More expired entries than one purge batch holds; the boundary is the retention."""
    account_id = f"acct_purge{uuid.uuid4().hex[:10]}"
    retention_days = 7
    now = time.time()
    cutoff_ms = int((now - retention_days * DAY_SECONDS) * 1000)
    expired = PURGE_BATCH_ROWS * 2 + 5

    def entry(number: int, created_ms: int) -> RequestLogEntry:
        return RequestLogEntry(
            f"req_{number}", account_id, created_ms, "GET", "/v1/x", "/v1/x", 200, 1, None, None
        )

    rows = [entry(n, cutoff_ms - 1 - n) for n in range(expired)]
    rows += [entry(expired + n, cutoff_ms + 60_000 + n) for n in range(5)]

    async def insert(store: Store) -> None:
        async with store.write() as tx:
            await tx.insert_request_log(rows)

    with_store(database_url, insert)
    counts = purge(database_url, FrozenClock(now), retention_days)
    assert counts.request_log_entries >= expired
    kept = request_log(database_url, account_id, limit=expired + 10)
    assert sorted(e.request_id for e in kept) == sorted(f"req_{expired + n}" for n in range(5))


def test_long_response_bodies_are_kept_compressed_and_read_back_whole(database_url: str) -> None:
    """A list's answer (several KB) is packed, a single object's stays text; the dashboard's
    reads give both back as sent, characters outside ASCII included."""
    account_id = f"acct_bodies{uuid.uuid4().hex[:10]}"
    long_body = orjson.dumps(
        {"object": "list", "data": [{"id": f"cus_{n}", "name": "Zoë Ünal"} for n in range(200)]}
    ).decode()
    short_body = '{"id": "cus_1", "name": "Zoë"}'
    assert len(long_body.encode()) >= log_bodies.COMPRESS_FROM_BYTES > len(short_body.encode())

    def entry(request_id: str, body: str) -> RequestLogEntry:
        return RequestLogEntry(
            request_id, account_id, 1, "GET", "/v1/x", "/v1/x", 200, 1, None, None, None, body
        )

    async def insert(store: Store) -> None:
        async with store.write() as tx:
            await tx.insert_request_log(
                [entry("req_long", long_body), entry("req_short", short_body)]
            )

    with_store(database_url, insert)
    for request_id, body in (("req_long", long_body), ("req_short", short_body)):
        read = logged_request(database_url, account_id, request_id)
        assert read is not None and read.response_body == body
    sql = "SELECT response_body, response_zstd FROM request_log WHERE request_id = ?"
    long_row = raw_row(database_url, sql, "req_long")
    assert long_row is not None, "the long body's entry is stored"
    long_text, long_packed = long_row
    assert long_text is None and len(long_packed) < len(long_body) // 4
    assert raw_row(database_url, sql, "req_short") == (short_body, None)
