"""The request log (every API request, written in batches) and `/metrics`, against a live
server on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kassa.clock import FrozenClock
from kassa.config import Settings
from tests.direct_store import purge, request_log, wait_for_request_log
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
    response = httpx.get(f"{server.url}/metrics", timeout=10)
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
