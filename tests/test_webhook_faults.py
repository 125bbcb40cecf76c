"""Webhook fault injection (Kassa's test helper, `kassa/services/webhook_faults.py`) end to
end, on SQLite and PostgreSQL: a real `kassa serve` delivers to a real loopback receiver that
verifies every delivery with `stripe.Webhook.construct_event`.

Each fault type is queued through the extension's API (plain HTTP with the secret key), the
events that meet it are made through the official SDK, and the test checks what the receiver
saw (how often, in which order, every copy signed) against what the attempt log shows. The
README's example (a handler that must be idempotent, and one that is not) runs here too, as
the README has it.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from kassa.services.webhook_faults import (
    FAULT_COUNT_MAX,
    FAULTS_QUEUED_PER_ENDPOINT_MAX,
    TIMEOUT_FAULT_WAIT_SECONDS,
)
from kassa.workers.webhooks import INJECTED_TIMEOUT_ERROR
from tests.conftest import module_server, require_postgres
from tests.harness import Account, KassaServer, create_account, fresh_postgres_database
from tests.test_webhooks import (
    QUIET_SECONDS,
    RETRY_DELAY_MIN_MS,
    RETRY_SCHEDULE_SECONDS,
    attempts_of,
    listed_events,
    listen,
    new_customer,
    wait_until,
)
from tests.webhook_receiver import WebhookReceiver

README = Path(__file__).resolve().parent.parent / "README.md"
README_SECTION = "### Webhook faults (Kassa extension)"
SERVER_ENV = {"KASSA_WEBHOOK_RETRY_SCHEDULE": ",".join(map(str, RETRY_SCHEDULE_SECONDS))}
DELAY_SECONDS = 2
RESTART_DELAY_SECONDS = 4
"""Longer than stopping and starting a server takes: the delayed delivery is still held at
the restart."""
TWO_SERVERS_EVENTS = 24
TWO_SERVERS_DUPLICATES = 10
TIMEOUT_DURATION_SLACK_MS = 500


# -- fixtures ---------------------------------------------------------------------------------


fault_server = module_server("faults", KassaServer, SERVER_ENV)


@pytest.fixture
def account(fault_server: KassaServer) -> Account:
    """A fresh account per test, on this module's server."""
    return create_account(fault_server.database_url)


@pytest.fixture
def client(fault_server: KassaServer, account: Account) -> stripe.StripeClient:
    return fault_server.client(account.secret_key)


@pytest.fixture
def http(fault_server: KassaServer, account: Account) -> Iterator[httpx.Client]:
    """For the extension's routes, which the SDK does not know."""
    with fault_server.http(account.secret_key) as plain:
        yield plain


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


# -- helpers ----------------------------------------------------------------------------------


def fault_form(prefix: str, fault: dict[str, Any]) -> dict[str, str]:
    return {f"{prefix}[{key}]": str(value) for key, value in fault.items()}


def add_faults(http: httpx.Client, endpoint_id: str, *faults: dict[str, Any]) -> list[Any]:
    """Append `faults` to the endpoint's queue; the queue as the API answers."""
    form: dict[str, str] = {}
    for index, fault in enumerate(faults):
        form.update(fault_form(f"faults[{index}]", fault))
    response = http.post(f"/v1/test_helpers/webhook_endpoints/{endpoint_id}/faults", data=form)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def queued(http: httpx.Client, endpoint_id: str) -> list[Any]:
    response = http.get(f"/v1/test_helpers/webhook_endpoints/{endpoint_id}/faults")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def wait_until_queue_empty(http: httpx.Client, endpoint_id: str) -> None:
    """The last fault was taken: by a claim, in the same transaction."""
    wait_until(lambda: True if not queued(http, endpoint_id) else None, "the queue to empty")


def customer_event(client: stripe.StripeClient, email: str) -> dict[str, Any]:
    """A new customer's `customer.created` event."""
    customer = new_customer(client, email=email)
    found = [
        e
        for e in listed_events(client, type="customer.created")
        if e["data"]["object"]["id"] == customer.id
    ]
    assert len(found) == 1
    return found[0]


def assert_all_signed(receiver: WebhookReceiver, path: str) -> None:
    """Every request the path answered was a delivery the SDK verified."""
    assert receiver.rejected() == []
    assert receiver.attempts(path) == len(receiver.deliveries(path))


def redeliver(http: httpx.Client, event_id: str, **form: str) -> httpx.Response:
    return http.post(f"/v1/test_helpers/events/{event_id}/redeliver", data=form)


# -- the queue --------------------------------------------------------------------------------


def test_faults_are_appended_listed_and_cleared(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "queue", ["customer.created"])
    first = add_faults(http, endpoint.id, {"type": "duplicate", "count": 3})
    assert len(first) == 1
    fault = first[0]
    assert re.fullmatch(r"whf_\w+", fault["id"])
    assert fault == {
        "id": fault["id"],
        "object": "webhook_endpoint_fault",
        "count": 3,
        "created": fault["created"],
        "delay_seconds": None,
        "livemode": False,
        "remaining": 3,
        "status": None,
        "type": "duplicate",
        "webhook_endpoint": endpoint.id,
    }
    assert abs(fault["created"] - time.time()) < 60

    both = add_faults(
        http,
        endpoint.id,
        {"type": "status", "status": 503},
        {"type": "delay", "delay_seconds": 30, "count": 2},
    )
    assert [f["type"] for f in both] == ["duplicate", "status", "delay"], "appended, in order"
    assert (both[1]["status"], both[1]["remaining"]) == (503, 1)
    assert (both[2]["delay_seconds"], both[2]["remaining"]) == (30, 2)
    listed = http.get(f"/v1/test_helpers/webhook_endpoints/{endpoint.id}/faults").json()
    assert listed == {
        "object": "list",
        "data": both,
        "has_more": False,
        "url": f"/v1/test_helpers/webhook_endpoints/{endpoint.id}/faults",
    }

    cleared = http.delete(f"/v1/test_helpers/webhook_endpoints/{endpoint.id}/faults")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["data"] == []
    assert queued(http, endpoint.id) == []

    event = customer_event(client, "after-clear@example.com")
    receiver.wait_for_event_ids("queue", {event["id"]})
    [attempt] = attempts_of(http, f"events/{event['id']}", 1)
    assert attempt["injected_fault"] is None, "a cleared fault is never applied"


# -- one test per fault type ------------------------------------------------------------------


def test_duplicate_sends_the_same_event_twice_and_logs_both(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "dup", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "duplicate", "count": 2})
    twice = [customer_event(client, f"dup{n}@example.com")["id"] for n in range(2)]
    receiver.wait_for(lambda r: len(r.deliveries("dup")) == 4, what="two events twice each")
    once = customer_event(client, "dup-after@example.com")["id"]
    receiver.wait_for_event_ids("dup", {once})
    time.sleep(QUIET_SECONDS)

    assert Counter(receiver.event_ids("dup")) == {twice[0]: 2, twice[1]: 2, once: 1}
    assert_all_signed(receiver, "dup")
    for event_id in twice:
        copies = [d.event for d in receiver.deliveries("dup") if d.event_id == event_id]
        assert copies[0] == copies[1], "the same event, byte for byte"
        attempts = attempts_of(http, f"events/{event_id}", 2)
        assert [a["injected_fault"] for a in attempts] == ["duplicate", "duplicate"]
        assert [a["status_code"] for a in attempts] == [200, 200]
        assert {a["webhook_endpoint"] for a in attempts} == {endpoint.id}
    [after] = attempts_of(http, f"events/{once}", 1)
    assert after["injected_fault"] is None, "the count was spent"
    assert queued(http, endpoint.id) == []
    by_endpoint = attempts_of(http, f"webhook_endpoints/{endpoint.id}", 5)
    assert Counter(a["injected_fault"] for a in by_endpoint) == {"duplicate": 4, None: 1}


def test_delay_sends_a_delivery_its_seconds_late(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "late", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "delay", "delay_seconds": DELAY_SECONDS})
    late = customer_event(client, "late@example.com")
    prompt = customer_event(client, "prompt@example.com")
    receiver.wait_for_event_ids("late", {late["id"], prompt["id"]})

    assert receiver.event_ids("late") == [prompt["id"], late["id"]]
    assert_all_signed(receiver, "late")
    [delayed] = attempts_of(http, f"events/{late['id']}", 1)
    [on_time] = attempts_of(http, f"events/{prompt['id']}", 1)
    assert (delayed["injected_fault"], on_time["injected_fault"]) == ("delay", None)
    # `created` is a whole second, at or before the claim the delay counts from.
    assert delayed["attempted_at_ms"] >= late["created"] * 1000 + DELAY_SECONDS * 1000
    assert delayed["status_code"] == 200 and delayed["succeeded"] is True


def test_out_of_order_holds_an_event_until_the_next_has_gone(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "shuffled", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "out_of_order"})
    held = customer_event(client, "held@example.com")
    wait_until_queue_empty(http, endpoint.id)
    time.sleep(QUIET_SECONDS)
    assert receiver.attempts("shuffled") == 0, "held until a later event has gone"

    later = customer_event(client, "later@example.com")
    receiver.wait_for_event_ids("shuffled", {held["id"], later["id"]})
    assert receiver.event_ids("shuffled") == [later["id"], held["id"]]
    assert_all_signed(receiver, "shuffled")
    [held_attempt] = attempts_of(http, f"events/{held['id']}", 1)
    [later_attempt] = attempts_of(http, f"events/{later['id']}", 1)
    assert held_attempt["injected_fault"] == "out_of_order"
    assert later_attempt["injected_fault"] is None
    assert held_attempt["attempted_at_ms"] >= later_attempt["attempted_at_ms"]


def test_clearing_the_queue_sends_what_a_fault_holds_back(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "released", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "delay", "delay_seconds": 3_600})
    event = customer_event(client, "released@example.com")
    wait_until_queue_empty(http, endpoint.id)
    time.sleep(QUIET_SECONDS)
    assert receiver.attempts("released") == 0

    assert http.delete(f"/v1/test_helpers/webhook_endpoints/{endpoint.id}/faults").is_success
    receiver.wait_for_event_ids("released", {event["id"]})
    [attempt] = attempts_of(http, f"events/{event['id']}", 1)
    assert attempt["injected_fault"] == "delay", "it was delayed, if not for the whole hour"


def test_status_fails_attempts_without_calling_the_endpoint(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "failing", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "status", "status": 503, "count": 2})
    event = customer_event(client, "failing@example.com")
    receiver.wait_for_event_ids("failing", {event["id"]})

    attempts = attempts_of(http, f"events/{event['id']}", 3)
    assert [a["status_code"] for a in attempts] == [503, 503, 200]
    assert [a["injected_fault"] for a in attempts] == ["status", "status", None]
    assert [a["succeeded"] for a in attempts] == [False, False, True]
    assert [a["response_excerpt"] for a in attempts] == [None, None, "ok"]
    assert all(a["error"] is None for a in attempts)
    started = [a["attempted_at_ms"] for a in attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert min(gaps) >= RETRY_DELAY_MIN_MS, f"the retry schedule applies: {gaps}"
    assert receiver.attempts("failing") == 1, "the endpoint was called for the real attempt only"
    assert receiver.event_ids("failing") == [event["id"]]
    assert_all_signed(receiver, "failing")


def test_timeout_records_a_timed_out_attempt_the_handler_saw(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "slow", ["customer.created"])
    add_faults(http, endpoint.id, {"type": "timeout"})
    event = customer_event(client, "slow@example.com")

    timed_out, retried = attempts_of(http, f"events/{event['id']}", 2)
    assert timed_out["injected_fault"] == "timeout"
    assert (timed_out["status_code"], timed_out["error"]) == (None, INJECTED_TIMEOUT_ERROR)
    assert timed_out["succeeded"] is False and timed_out["response_excerpt"] is None
    assert timed_out["duration_ms"] <= TIMEOUT_FAULT_WAIT_SECONDS * 1000 + TIMEOUT_DURATION_SLACK_MS
    assert (retried["injected_fault"], retried["status_code"]) == (None, 200)
    assert retried["attempted_at_ms"] - timed_out["attempted_at_ms"] >= RETRY_DELAY_MIN_MS
    # The endpoint was called both times: a timeout does not tell whether the handler ran.
    assert receiver.event_ids("slow") == [event["id"], event["id"]]
    assert_all_signed(receiver, "slow")


# -- redeliver --------------------------------------------------------------------------------


def test_redeliver_replays_an_event_now(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    primary = listen(client, receiver, "primary", ["customer.created"])
    listen(client, receiver, "other", ["customer.created"])
    event = customer_event(client, "replayed@example.com")
    receiver.wait_for_event_ids("primary", {event["id"]})
    receiver.wait_for_event_ids("other", {event["id"]})

    response = redeliver(http, event["id"], webhook_endpoint=primary.id)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == event["id"]
    receiver.wait_for(lambda r: len(r.deliveries("primary")) == 2, what="the replay")
    time.sleep(QUIET_SECONDS)
    assert receiver.event_ids("other") == [event["id"]], "only the endpoint named"

    assert redeliver(http, event["id"]).status_code == 200
    receiver.wait_for(
        lambda r: len(r.deliveries("primary")) == 3 and len(r.deliveries("other")) == 2,
        what="the replay to every endpoint",
    )
    attempts = attempts_of(http, f"events/{event['id']}", 5)
    assert {a["injected_fault"] for a in attempts} == {None}
    assert Counter(a["webhook_endpoint"] for a in attempts)[primary.id] == 3
    assert_all_signed(receiver, "primary")
    assert_all_signed(receiver, "other")


def test_redeliver_with_a_fault_applies_it_to_that_attempt(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "replay", ["customer.created"])
    event = customer_event(client, "replay-fault@example.com")
    receiver.wait_for_event_ids("replay", {event["id"]})

    duplicated = redeliver(http, event["id"], **fault_form("fault", {"type": "duplicate"}))
    assert duplicated.status_code == 200, duplicated.text
    receiver.wait_for(lambda r: len(r.deliveries("replay")) == 3, what="the replay twice")
    failed = redeliver(
        http,
        event["id"],
        webhook_endpoint=endpoint.id,
        **fault_form("fault", {"type": "status", "status": 500}),
    )
    assert failed.status_code == 200, failed.text

    attempts = attempts_of(http, f"events/{event['id']}", 5)
    assert [(a["injected_fault"], a["status_code"]) for a in attempts] == [
        (None, 200),
        ("duplicate", 200),
        ("duplicate", 200),
        ("status", 500),
        (None, 200),  # the failed replay, retried on the schedule
    ]
    receiver.wait_for(lambda r: len(r.deliveries("replay")) == 4, what="the retried replay")
    assert receiver.event_ids("replay") == [event["id"]] * 4
    assert_all_signed(receiver, "replay")
    assert queued(http, endpoint.id) == [], "a replay's fault is not queued"


# -- refusals ---------------------------------------------------------------------------------

REFUSED_FAULTS = [
    ({"faults[0][type]": "explode"}, "faults[0][type]"),
    ({"faults[0][count]": "2"}, "faults[0][type]"),
    ({"faults[0][type]": "duplicate", "faults[0][count]": "0"}, "faults[0][count]"),
    ({"faults[0][type]": "duplicate", "faults[0][count]": "many"}, "faults[0][count]"),
    (
        {"faults[0][type]": "duplicate", "faults[0][count]": str(FAULT_COUNT_MAX + 1)},
        "faults[0][count]",
    ),
    ({"faults[0][type]": "status"}, "faults[0][status]"),
    ({"faults[0][type]": "status", "faults[0][status]": "200"}, "faults[0][status]"),
    ({"faults[0][type]": "delay"}, "faults[0][delay_seconds]"),
    ({"faults[0][type]": "delay", "faults[0][delay_seconds]": "-1"}, "faults[0][delay_seconds]"),
    ({"faults[0][type]": "duplicate", "faults[0][status]": "500"}, "faults[0][status]"),
    ({"faults[0][type]": "duplicate", "faults[0][colour]": "red"}, "faults[0][colour]"),
    # A valid fault before a bad one: the request adds neither.
    ({"faults[0][type]": "duplicate", "faults[1][type]": "nope"}, "faults[1][type]"),
    ({}, "faults"),
]


def test_refused_faults_name_the_parameter_and_write_nothing(
    fault_server: KassaServer,
    client: stripe.StripeClient,
    http: httpx.Client,
    account: Account,
    receiver: WebhookReceiver,
) -> None:
    endpoint = listen(client, receiver, "refusals", ["customer.created"])
    url = f"/v1/test_helpers/webhook_endpoints/{endpoint.id}/faults"
    for form, param in REFUSED_FAULTS:
        response = http.post(url, data=form)
        assert response.status_code == 400, (form, response.text)
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param), form
    full = [{"type": "duplicate"}] * FAULTS_QUEUED_PER_ENDPOINT_MAX
    for start in range(0, len(full), 20):
        add_faults(http, endpoint.id, *full[start : start + 20])
    too_many = http.post(url, data={"faults[0][type]": "timeout"})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "faults"
    assert len(queued(http, endpoint.id)) == FAULTS_QUEUED_PER_ENDPOINT_MAX
    assert http.delete(url).is_success

    for method in ("GET", "POST", "DELETE"):
        missing = http.request(
            method,
            "/v1/test_helpers/webhook_endpoints/we_missing/faults",
            data={"faults[0][type]": "duplicate"} if method == "POST" else None,
        )
        assert missing.status_code == 404, (method, missing.text)
        assert missing.json()["error"]["code"] == "resource_missing"
    stranger = create_account(fault_server.database_url)
    with fault_server.http(stranger.secret_key) as other:
        assert other.get(url).status_code == 404, "another account's endpoint is not found"
    with fault_server.http(account.publishable_key) as public:
        assert public.get(url).status_code == 401, "a secret key is needed"
    gone = listen(client, receiver, "gone", ["customer.created"])
    client.v1.webhook_endpoints.delete(gone.id)
    assert http.get(f"/v1/test_helpers/webhook_endpoints/{gone.id}/faults").status_code == 404

    event = customer_event(client, "refusals@example.com")
    receiver.wait_for_event_ids("refusals", {event["id"]})
    for form, param, status in [
        (fault_form("fault", {"type": "bogus"}), "fault[type]", 400),
        (fault_form("fault", {"type": "duplicate", "count": 2}), "fault[count]", 400),
        (fault_form("fault", {"type": "status"}), "fault[status]", 400),
        ({"webhook_endpoint": "we_missing"}, "webhook_endpoint", 404),
    ]:
        response = redeliver(http, event["id"], **form)
        assert response.status_code == status, (form, response.text)
        assert response.json()["error"]["param"] == param, form
    assert redeliver(http, "evt_missing").status_code == 404
    time.sleep(QUIET_SECONDS)
    assert queued(http, endpoint.id) == []
    assert receiver.event_ids("refusals") == [event["id"]], "no refused replay was queued"
    attempts_of(http, f"events/{event['id']}", 1)


# -- durability -------------------------------------------------------------------------------


def test_faults_survive_a_restart(private_database_url: str, tmp_path: Path) -> None:
    """A delay already applied (its delivery held in the database) and a fault still queued
    both come through a server stopped and started again: each applied once."""
    first = KassaServer(private_database_url, tmp_path / "first.log", SERVER_ENV).start()
    second: KassaServer | None = None
    with WebhookReceiver() as receiver:
        try:
            account = create_account(private_database_url)
            client = first.client(account.secret_key)
            endpoint = listen(client, receiver, "restart", ["customer.created"])
            with first.http(account.secret_key) as http:
                add_faults(
                    http,
                    endpoint.id,
                    {"type": "delay", "delay_seconds": RESTART_DELAY_SECONDS},
                    {"type": "duplicate"},
                )
                delayed = customer_event(client, "before-restart@example.com")
                wait_until(
                    lambda: (
                        True
                        if [f["type"] for f in queued(http, endpoint.id)] == ["duplicate"]
                        else None
                    ),
                    "the delay to be taken",
                )
            first.stop()
            assert receiver.attempts("restart") == 0

            second = KassaServer(private_database_url, tmp_path / "second.log", SERVER_ENV)
            second.start()
            client = second.client(account.secret_key)
            duplicated = customer_event(client, "after-restart@example.com")
            receiver.wait_for(
                lambda r: len(r.deliveries("restart")) == 3, what="both events, one twice"
            )
            time.sleep(QUIET_SECONDS)
            assert Counter(receiver.event_ids("restart")) == {
                duplicated["id"]: 2,
                delayed["id"]: 1,
            }
            assert_all_signed(receiver, "restart")
            with second.http(account.secret_key) as http:
                [late] = attempts_of(http, f"events/{delayed['id']}", 1)
                copies = attempts_of(http, f"events/{duplicated['id']}", 2)
                assert queued(http, endpoint.id) == []
            assert late["injected_fault"] == "delay"
            assert late["attempted_at_ms"] >= (
                delayed["created"] * 1000 + RESTART_DELAY_SECONDS * 1000
            )
            assert [a["injected_fault"] for a in copies] == ["duplicate", "duplicate"]
        finally:
            first.stop()
            if second is not None:
                second.stop()


@pytest.mark.postgres
def test_two_servers_on_one_postgres_apply_each_fault_once(tmp_path: Path) -> None:
    """Two `kassa serve` processes, each with its delivery worker, share one database: the
    workers take the endpoint's faults in turn, none twice and none skipped."""
    require_postgres()
    with fresh_postgres_database() as database_url, WebhookReceiver() as receiver:
        servers = [
            KassaServer(database_url, tmp_path / f"server{n}.log", SERVER_ENV) for n in range(2)
        ]
        try:
            for server in servers:
                server.start()
            account = create_account(database_url)
            clients = [server.client(account.secret_key) for server in servers]
            endpoint = listen(clients[0], receiver, "shared", ["customer.created"])
            with servers[1].http(account.secret_key) as http:
                add_faults(
                    http, endpoint.id, {"type": "duplicate", "count": TWO_SERVERS_DUPLICATES}
                )
                for n in range(TWO_SERVERS_EVENTS):
                    new_customer(clients[n % 2], email=f"shared{n}@example.com")
                expected = TWO_SERVERS_EVENTS + TWO_SERVERS_DUPLICATES
                receiver.wait_for(
                    lambda r: len(r.deliveries("shared")) >= expected, what="every delivery"
                )
                time.sleep(QUIET_SECONDS)
                attempts = attempts_of(http, f"webhook_endpoints/{endpoint.id}", expected)
                assert queued(http, endpoint.id) == []
            counts = Counter(receiver.event_ids("shared"))
            assert len(counts) == TWO_SERVERS_EVENTS
            assert Counter(counts.values()) == {
                2: TWO_SERVERS_DUPLICATES,
                1: TWO_SERVERS_EVENTS - TWO_SERVERS_DUPLICATES,
            }
            faulted = Counter(a["injected_fault"] for a in attempts)
            assert faulted == {
                "duplicate": 2 * TWO_SERVERS_DUPLICATES,
                None: TWO_SERVERS_EVENTS - TWO_SERVERS_DUPLICATES,
            }
            assert_all_signed(receiver, "shared")
        finally:
            for server in servers:
                server.stop()


# -- the README's example ---------------------------------------------------------------------


def readme_example() -> dict[str, Any]:
    """The README's webhook-faults example: its Python blocks run as one module, each at its
    own line numbers (a failure's traceback points into the README)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(README_SECTION)
    end = text.find("\n## ", start)
    blocks = list(re.finditer(r"```python\n(.*?)```", text[: end if end != -1 else None], re.S))
    blocks = [block for block in blocks if block.start() > start]
    assert len(blocks) == 2, "the handler and its test, then a handler that is not idempotent"
    source = ""
    for block in blocks:
        source += "\n" * (text.count("\n", 0, block.start(1)) - source.count("\n"))
        source += block.group(1)
    namespace: dict[str, Any] = {"__name__": "readme_webhook_faults"}
    exec(compile(source, str(README), "exec"), namespace)
    return namespace


def test_the_readme_example_passes_with_an_idempotent_handler_only(
    fault_server: KassaServer,
) -> None:
    example = readme_example()
    run = example["test_a_payment_event_delivered_twice_credits_the_order_once"]
    made: list[Any] = []

    def remembering(handler: Any) -> Callable[[], Any]:
        """Makes the README's handler, as its test does, and keeps it for this test."""

        def make() -> Any:
            made.append(handler())
            return made[-1]

        return make

    handlers = {name: remembering(example[name]) for name in ("Orders", "ForgetfulOrders")}
    for name, passes in [("Orders", True), ("ForgetfulOrders", False)]:
        example["Orders"] = handlers[name]  # the name the test makes its handler by
        account = create_account(fault_server.database_url)
        client = fault_server.client(account.secret_key)
        with fault_server.http(account.secret_key) as http:
            if passes:
                run(client, http)
            else:
                with pytest.raises(AssertionError):
                    run(client, http)
        assert made[-1].credited == {"ord_1": 2000 if passes else 4000}
