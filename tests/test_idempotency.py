"""Idempotency keys with Stripe's semantics (DESIGN.md section 5), against live servers on
SQLite and PostgreSQL: replay, misuse, concurrency (one process and two), crashes, expiry."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import stripe

from kassa.clock import FrozenClock
from kassa.config import Settings
from kassa.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from kassa.http.idempotency import Claimed, KeyClaim, Replay, decide, fingerprint
from kassa.store import Store, open_store
from kassa.store.request_queries import IDEMPOTENCY_KEY_RETENTION_SECONDS, IdempotencyRecord
from kassa.store.tables import CUSTOMERS
from tests import loopback
from tests.direct_store import idempotency_record, purge, with_store
from tests.harness import Account, KassaServer, create_account, run_coroutine

LEFTOVER_LOCK_SECONDS = 2
THREADS = 16
WAIT_SECONDS_MAX = 15.0
LOCK_WAIT_POLL_SECONDS = 0.02


def _key() -> str:
    return f"key-{uuid.uuid4().hex}"


def _email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def _post(
    http: httpx.Client, key: str | None, data: Any, path: str = "/v1/customers"
) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.post(path, data=data, headers=headers)


def _customers_with_email(http: httpx.Client, email: str) -> list[dict[str, Any]]:
    response = http.get("/v1/customers", params={"email": email, "limit": 100})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- replay and misuse --------------------------------------------------------------------------


def test_replay_is_byte_for_byte_with_headers(server: KassaServer, account: Account) -> None:
    key = _key()
    params = {"email": _email(), "name": "Zoë Ünïcode", "metadata[plan]": "gold"}
    with server.http(account.secret_key) as http:
        first = _post(http, key, params)
        assert first.status_code == 200, first.text
        assert "idempotent-replayed" not in first.headers
        # The key is reflected back, as Stripe's API does, on the first answer and replays.
        assert first.headers["idempotency-key"] == key
        for _ in range(2):
            again = _post(http, key, params)
            assert again.status_code == first.status_code
            assert again.content == first.content
            assert again.headers["idempotent-replayed"] == "true"
            assert again.headers["original-request"] == first.headers["request-id"]
            assert again.headers["request-id"] != first.headers["request-id"]
            assert again.headers["idempotency-key"] == key
        assert "idempotency-key" not in http.get("/v1/customers?limit=1").headers
        # Parameter order is not part of the request's identity.
        reordered = http.post(
            "/v1/customers",
            content="metadata%5Bplan%5D=gold&name=Zo%C3%AB+%C3%9Cn%C3%AFcode&email="
            + params["email"].replace("@", "%40"),
            headers={
                "Idempotency-Key": key,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert reordered.status_code == 200, reordered.text
        assert reordered.content == first.content
        assert reordered.headers["idempotent-replayed"] == "true"
        assert len(_customers_with_email(http, params["email"])) == 1


def test_official_sdk_idempotency_keys(client: stripe.StripeClient) -> None:
    key = _key()
    email = _email()
    first = client.v1.customers.create(
        params={"email": email, "name": "SDK"}, options={"idempotency_key": key}
    )
    again = client.v1.customers.create(
        params={"email": email, "name": "SDK"}, options={"idempotency_key": key}
    )
    assert again.id == first.id
    assert again.to_dict() == first.to_dict()
    assert again.last_response is not None
    assert again.last_response.headers["idempotent-replayed"] == "true"
    assert first.last_response is not None
    assert first.last_response.idempotency_key == key
    assert again.last_response.idempotency_key == key
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"email": email}, options={"idempotency_key": key})
    assert raised.value.http_status == 400
    # An error answer reflects the key too.
    assert raised.value.headers is not None
    assert raised.value.headers["idempotency-key"] == key


def test_same_key_other_params_or_path_is_400(server: KassaServer, account: Account) -> None:
    key = _key()
    email = _email()
    with server.http(account.secret_key) as http:
        first = _post(http, key, {"email": email})
        assert first.status_code == 200, first.text
        customer_id = first.json()["id"]

        other_params = _post(http, key, {"email": email, "name": "Other"})
        assert other_params.status_code == 400
        assert _error(other_params)["type"] == "idempotency_error"

        other_path = _post(http, key, {"email": email}, path=f"/v1/customers/{customer_id}")
        assert other_path.status_code == 400
        assert _error(other_path)["type"] == "idempotency_error"

        fetched = http.get(f"/v1/customers/{customer_id}").json()
        assert fetched["name"] is None, "the rejected update must not have run"
        assert len(_customers_with_email(http, email)) == 1
        # The original is still replayed afterwards.
        assert _post(http, key, {"email": email}).content == first.content


def test_expand_is_part_of_the_fingerprint(server: KassaServer, account: Account) -> None:
    key = _key()
    email = _email()
    with server.http(account.secret_key) as http:
        plain = _post(http, key, {"email": email})
        assert plain.status_code == 200, plain.text
        expanded = _post(http, key, {"email": email, "expand[]": "sources"})
        assert expanded.status_code == 400
        assert _error(expanded)["type"] == "idempotency_error"

        other_key = _key()
        with_expand = _post(http, other_key, {"email": email, "expand[]": "sources"})
        assert with_expand.status_code == 200, with_expand.text
        assert with_expand.json()["sources"]["object"] == "list"
        replay = _post(http, other_key, {"email": email, "expand[]": "sources"})
        assert replay.content == with_expand.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert len(_customers_with_email(http, email)) == 2


def test_keys_are_scoped_per_account(server: KassaServer, account: Account) -> None:
    other = create_account(server.database_url)
    key = _key()
    email = _email()
    with server.http(account.secret_key) as mine, server.http(other.secret_key) as theirs:
        first = _post(mine, key, {"email": email})
        second = _post(theirs, key, {"email": email})
        assert first.status_code == second.status_code == 200
        assert "idempotent-replayed" not in second.headers
        assert first.json()["id"] != second.json()["id"]
        assert [c["id"] for c in _customers_with_email(mine, email)] == [first.json()["id"]]
        assert [c["id"] for c in _customers_with_email(theirs, email)] == [second.json()["id"]]
        # Each account replays its own response.
        assert _post(theirs, key, {"email": email}).content == second.content
        assert _post(mine, key, {"email": email}).content == first.content


def test_key_length_limit(server: KassaServer, account: Account) -> None:
    email = _email()
    with server.http(account.secret_key) as http:
        too_long = _post(http, "k" * 256, {"email": email})
        assert too_long.status_code == 400
        assert _error(too_long)["type"] == "invalid_request_error"
        assert "255" in _error(too_long)["message"]
        blank = _post(http, "", {"email": email})
        assert blank.status_code == 400
        assert _customers_with_email(http, email) == []
        longest = _post(http, "k" * 255, {"email": email})
        assert longest.status_code == 200, longest.text
        assert _post(http, "k" * 255, {"email": email}).content == longest.content


def test_validation_errors_are_not_stored(server: KassaServer, account: Account) -> None:
    key = _key()
    email = _email()
    with server.http(account.secret_key) as http:
        bad = _post(http, key, {"email": "not an email"})
        assert bad.status_code == 400
        assert _error(bad)["param"] == "email"
        again = _post(http, key, {"email": "not an email"})
        assert again.status_code == 400
        assert "idempotent-replayed" not in again.headers
        assert idempotency_record(server.database_url, account.id, key) is None

        fixed = _post(http, key, {"email": email})
        assert fixed.status_code == 200, fixed.text
        assert "idempotent-replayed" not in fixed.headers
        assert len(_customers_with_email(http, email)) == 1


# -- concurrency ---------------------------------------------------------------------------------


def _send_all_at_once(
    targets: list[tuple[str, str, str]], params_for: dict[str, dict[str, str]]
) -> list[tuple[str, httpx.Response]]:
    """One thread per (base url, api key, idempotency key), released together by a barrier."""
    barrier = threading.Barrier(len(targets), timeout=WAIT_SECONDS_MAX)

    def send(target: tuple[str, str, str]) -> tuple[str, httpx.Response]:
        base_url, api_key, key = target
        with loopback.Client(base_url=base_url, auth=(api_key, ""), timeout=30) as http:
            barrier.wait()
            return key, _post(http, key, params_for[key])

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        return list(pool.map(send, targets))


def _check_exactly_once(responses: list[httpx.Response]) -> bytes:
    """Every response is the one stored result or a 409 `idempotency_key_in_use`."""
    successes = {r.content for r in responses if r.status_code == 200}
    assert len(successes) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code != 200:
            assert response.status_code == 409, response.text
            assert _error(response)["type"] == "idempotency_error"
            assert _error(response)["code"] == "idempotency_key_in_use"
    executed = [
        r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers
    ]
    assert len(executed) == 1
    return successes.pop()


def test_concurrent_duplicates_execute_once(server: KassaServer, account: Account) -> None:
    key = _key()
    email = _email()
    results = _send_all_at_once(
        [(server.url, account.secret_key, key)] * THREADS, {key: {"email": email}}
    )
    body = _check_exactly_once([response for _, response in results])
    with server.http(account.secret_key) as http:
        customers = _customers_with_email(http, email)
        assert [c["id"] for c in customers] == [orjson.loads(body)["id"]]
        assert _post(http, key, {"email": email}).content == body


@pytest.mark.postgres
def test_two_processes_on_one_postgres_database(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("two-servers")
    servers = [KassaServer(postgres_url, logs / f"kassa-{i}.log").start() for i in range(2)]
    try:
        account = create_account(postgres_url)
        shared_key = _key()
        shared_email = _email()
        results = _send_all_at_once(
            [(servers[i % 2].url, account.secret_key, shared_key) for i in range(THREADS * 2)],
            {shared_key: {"email": shared_email}},
        )
        body = _check_exactly_once([response for _, response in results])
        with servers[1].http(account.secret_key) as http:
            assert len(_customers_with_email(http, shared_email)) == 1
            assert _post(http, shared_key, {"email": shared_email}).content == body

        # Distinct keys in parallel, each sent to both servers at once.
        params_for = {_key(): {"email": _email()} for _ in range(THREADS)}
        targets = [(s.url, account.secret_key, key) for key in params_for for s in servers]
        by_key: dict[str, list[httpx.Response]] = {}
        for key, response in _send_all_at_once(targets, params_for):
            by_key.setdefault(key, []).append(response)
        with servers[0].http(account.secret_key) as http:
            for key, responses in by_key.items():
                _check_exactly_once(responses)
                assert len(_customers_with_email(http, params_for[key]["email"])) == 1
    finally:
        for kassa in servers:
            kassa.stop()


async def _wait_for_a_lock_wait(database_url: str) -> None:
    """Until a session of the database waits for a row lock: the request we hold back."""
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + WAIT_SECONDS_MAX
        while time.monotonic() < deadline:
            waiting = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(LOCK_WAIT_POLL_SECONDS)
        raise AssertionError("the held-back request never waited for the customer's row")
    finally:
        await connection.close()


def test_in_flight_request_commits_nothing_and_holds_its_key(
    server: KassaServer, account: Account
) -> None:
    """The key, the work and the response are one transaction: while a request is held back
    mid-work (waiting for a customer row the test locks) no claim is visible to any other
    connection, and a duplicate gets 409 at once without running."""
    if not server.database_url.startswith("postgresql"):
        pytest.skip("on SQLite the single writer makes a duplicate wait its turn and replay")
    with server.http(account.secret_key) as http:
        created = _post(http, None, {"email": _email()})
        assert created.status_code == 200, created.text
    customer_path = f"/v1/customers/{created.json()['id']}"
    key = _key()

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        store = await open_store(server.database_url)
        auth = (account.secret_key, "")
        async with loopback.AsyncClient(base_url=server.url, auth=auth, timeout=30) as http:
            try:
                async with store.write() as tx:
                    assert await tx.get_object(CUSTOMERS, account.id, created.json()["id"])
                    first = asyncio.create_task(
                        http.post(
                            customer_path, data={"name": "First"}, headers={"Idempotency-Key": key}
                        )
                    )
                    await _wait_for_a_lock_wait(server.database_url)
                    async with store.read() as other:
                        assert await other.get_idempotency_record(account.id, key) is None
                    duplicate = await http.post(
                        customer_path, data={"name": "First"}, headers={"Idempotency-Key": key}
                    )
                    assert not first.done(), "the duplicate ran instead of the first request"
                return await first, duplicate, await http.get(customer_path)
            finally:
                await store.close()

    first, duplicate, fetched = run_coroutine(scenario)
    assert first.status_code == 200, first.text
    assert duplicate.status_code == 409, duplicate.text
    assert _error(duplicate)["code"] == "idempotency_key_in_use"
    assert fetched.json()["name"] == "First"
    with server.http(account.secret_key) as http:
        replay = _post(http, key, {"name": "First"}, path=customer_path)
        assert replay.content == first.content
        assert replay.headers["idempotent-replayed"] == "true"


# -- crashes ---------------------------------------------------------------------------------------


def _leave_a_crashed_claim(
    database_url: str, account_id: str, key: str, form: dict[str, Any], lock_ms: int
) -> None:
    """The state an older Kassa killed mid-request left: a committed claim, no response."""

    async def claim(store: Store) -> None:
        async with store.write() as tx:
            await tx.insert_idempotency_claim(
                account_id,
                key,
                fingerprint("POST", "/v1/customers", form),
                int(time.time()),
                int(time.time() * 1000) + lock_ms,
                f"req_crashed{uuid.uuid4().hex[:8]}",
            )

    with_store(database_url, claim)


def test_claim_left_by_a_crash_expires(server: KassaServer) -> None:
    account = create_account(server.database_url)
    key = _key()
    email = _email()
    _leave_a_crashed_claim(
        server.database_url, account.id, key, {"email": email}, LEFTOVER_LOCK_SECONDS * 1000
    )
    with server.http(account.secret_key) as http:
        blocked = _post(http, key, {"email": email})
        assert blocked.status_code == 409, blocked.text
        assert _error(blocked)["code"] == "idempotency_key_in_use"
        assert _customers_with_email(http, email) == []
        # Other parameters under the held key are still a misuse, not a wait.
        misuse = _post(http, key, {"email": _email()})
        assert misuse.status_code in (400, 409)
        assert _error(misuse)["type"] == "idempotency_error"

        deadline = time.monotonic() + LEFTOVER_LOCK_SECONDS + WAIT_SECONDS_MAX
        response = blocked
        while response.status_code == 409 and time.monotonic() < deadline:
            time.sleep(0.2)
            response = _post(http, key, {"email": email})
        assert response.status_code == 200, response.text
        assert "idempotent-replayed" not in response.headers
        replay = _post(http, key, {"email": email})
        assert replay.content == response.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["original-request"] == response.headers["request-id"]
        assert len(_customers_with_email(http, email)) == 1


def test_acknowledged_write_survives_kill_9(database_url: str, tmp_path: Path) -> None:
    kassa = KassaServer(database_url, tmp_path / "kassa.log").start()
    try:
        account = create_account(database_url)
        key = _key()
        email = _email()
        with kassa.http(account.secret_key) as http:
            first = _post(http, key, {"email": email})
        assert first.status_code == 200, first.text
        kassa.kill()
        kassa.start()
        with kassa.http(account.secret_key) as http:
            replay = _post(http, key, {"email": email})
            assert replay.status_code == 200
            assert replay.content == first.content
            assert replay.headers["idempotent-replayed"] == "true"
            assert len(_customers_with_email(http, email)) == 1
    finally:
        kassa.stop()


# -- expiry ----------------------------------------------------------------------------------------


def test_keys_expire_after_24_hours(server: KassaServer, account: Account) -> None:
    key = _key()
    email = _email()
    retention_days = Settings().request_log_retention_days
    with server.http(account.secret_key) as http:
        first = _post(http, key, {"email": email})
        assert first.status_code == 200, first.text

        # Just under 24 hours later the key is kept.
        almost = FrozenClock(time.time() + IDEMPOTENCY_KEY_RETENTION_SECONDS - 600)
        purge(server.database_url, almost, retention_days)
        assert idempotency_record(server.database_url, account.id, key) is not None
        assert _post(http, key, {"email": email}).headers["idempotent-replayed"] == "true"

        later = FrozenClock(time.time() + IDEMPOTENCY_KEY_RETENTION_SECONDS + 60)
        counts = purge(server.database_url, later, retention_days)
        assert counts.idempotency_keys >= 1
        assert idempotency_record(server.database_url, account.id, key) is None

        fresh = _post(http, key, {"email": email})
        assert fresh.status_code == 200, fresh.text
        assert "idempotent-replayed" not in fresh.headers
        assert fresh.json()["id"] != first.json()["id"]
        assert len(_customers_with_email(http, email)) == 2


def test_abandoned_claims_are_purged_too(server: KassaServer, account: Account) -> None:
    key = _key()
    _leave_a_crashed_claim(server.database_url, account.id, key, {"email": _email()}, 60_000)
    assert idempotency_record(server.database_url, account.id, key) is not None
    later = FrozenClock(time.time() + IDEMPOTENCY_KEY_RETENTION_SECONDS + 60)
    purge(server.database_url, later, Settings().request_log_retention_days)
    assert idempotency_record(server.database_url, account.id, key) is None


# -- the decision, given the key's row (no server) ------------------------------------------------

NOW_MS = 1_700_000_000_000


def _claim(form: dict[str, Any] | None = None) -> KeyClaim:
    return KeyClaim(
        account_id="acct_1",
        key="k",
        fingerprint=fingerprint("POST", "/v1/customers", form or {}),
        request_id="req_new",
        now_ms=NOW_MS,
    )


def _record(
    claim: KeyClaim,
    *,
    age_seconds: int = 60,
    status: int | None = 200,
    locked_until_ms: int = 0,
    other_params: bool = False,
) -> IdempotencyRecord:
    return IdempotencyRecord(
        fingerprint="other" if other_params else claim.fingerprint,
        created=claim.now - age_seconds,
        locked_until_ms=locked_until_ms,
        request_id="req_old",
        response_status=status,
        response_body=None if status is None else b"{}",
    )


def test_a_new_key_runs_only_under_its_lock() -> None:
    claim = _claim()
    assert decide(None, claim, locked=True) == Claimed()
    with pytest.raises(IdempotencyKeyInUse):
        decide(None, claim, locked=False)


def test_a_stored_response_replays_with_or_without_the_lock() -> None:
    claim = _claim()
    for locked in (True, False):
        assert decide(_record(claim), claim, locked=locked) == Replay(200, b"{}", "req_old")
        with pytest.raises(IdempotencyKeyReused):
            decide(_record(claim, other_params=True), claim, locked=locked)


def test_an_expired_row_starts_afresh_under_the_lock() -> None:
    claim = _claim()
    expired = _record(claim, age_seconds=IDEMPOTENCY_KEY_RETENTION_SECONDS + 1, other_params=True)
    assert decide(expired, claim, locked=True) == Claimed()
    with pytest.raises(IdempotencyKeyInUse):
        decide(expired, claim, locked=False)


def test_a_leftover_claim_is_retaken_by_the_same_request_once_its_lock_passed() -> None:
    claim = _claim()
    held = _record(claim, status=None, locked_until_ms=NOW_MS + 1)
    passed = _record(claim, status=None, locked_until_ms=NOW_MS - 1)
    with pytest.raises(IdempotencyKeyInUse):
        decide(held, claim, locked=True)
    with pytest.raises(IdempotencyKeyInUse):
        decide(passed, claim, locked=False)
    assert decide(passed, claim, locked=True) == Claimed()
    with pytest.raises(IdempotencyKeyReused):
        decide(_record(claim, status=None, other_params=True), claim, locked=True)
