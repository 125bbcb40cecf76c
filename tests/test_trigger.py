"""`kassa trigger EVENT_TYPE` against a real `kassa serve`: every event type it lists is made
by real API calls and arrives, signed, at a listening webhook endpoint (verified with the
official SDK by tests/webhook_receiver.py); the Stripe CLI's `--override`, `--add`,
`--remove` and `--skip` change the calls; mistakes are named with exit status 2, a failing
step with 1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from kassa.services.catalog import EVENT_TYPES
from kassa.trigger.recipes import NOT_TRIGGERED, RECIPES
from kassa.trigger.runner import Changes, changed_steps, recipe_for, run_recipe
from tests.conftest import fresh_database
from tests.harness import Account, KassaServer, create_account
from tests.test_webhooks import listen
from tests.webhook_receiver import WebhookReceiver

CLI_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def trigger_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KassaServer]:
    """A server of this module's own, whose delivery worker delivers only its events."""
    with fresh_database("sqlite", tmp_path_factory.mktemp("trigger")) as database_url:
        log_path = tmp_path_factory.mktemp("trigger-logs") / "kassa-serve.log"
        kassa = KassaServer(database_url, log_path).start()
        try:
            yield kassa
        finally:
            kassa.stop()


@pytest.fixture
def account(trigger_server: KassaServer) -> Account:
    return create_account(trigger_server.database_url)


@pytest.fixture
def client(trigger_server: KassaServer, account: Account) -> stripe.StripeClient:
    return trigger_server.client(account.secret_key)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


def kassa_trigger(
    server: KassaServer, account: Account, *arguments: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", "trigger", *arguments, "--api-base", server.url],
        env={**os.environ, "KASSA_API_KEY": account.secret_key},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def test_every_listed_event_type_is_made_and_arrives_signed(
    trigger_server: KassaServer,
    account: Account,
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
) -> None:
    listen(client, receiver, "all", ["*"])
    made: dict[str, set[str]] = {}
    for event_type in sorted(RECIPES):
        steps = changed_steps(recipe_for(event_type), Changes())
        outcome = asyncio.run(
            run_recipe(trigger_server.url, account.secret_key, steps, say=lambda _line: None)
        )
        made[event_type] = {event_id for event_id, kind in outcome.events if kind == event_type}
        assert made[event_type], f"{event_type}: the recipe made {outcome.events}"
    receiver.wait_for_event_ids("all", set().union(*made.values()), timeout_seconds=60)
    delivered = {delivery.event_id: delivery.type for delivery in receiver.deliveries("all")}
    for event_type, event_ids in made.items():
        assert {delivered[event_id] for event_id in event_ids} == {event_type}
    assert receiver.rejected() == []


def test_the_cli_changes_a_step_as_the_stripe_cli_does(
    trigger_server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    finished = kassa_trigger(
        trigger_server,
        account,
        "payment_intent.succeeded",
        "--override",
        "payment_intent:amount=5000",
        "--add",
        "payment_intent:metadata[order]=7",
        "--remove",
        "payment_intent:description",
    )
    assert finished.returncode == 0, finished.stderr
    assert "Trigger succeeded!" in finished.stdout
    intent = client.v1.payment_intents.list(params={"limit": 1}).data[0]
    assert (intent.amount, intent.description) == (5000, None)
    assert intent.metadata.to_dict() == {"order": "7"}
    assert f"payment_intent: {intent.id}" in finished.stdout
    assert "payment_intent.succeeded" in finished.stdout


def test_skip_leaves_a_step_out() -> None:
    steps = changed_steps(recipe_for("customer.updated"), Changes(skipped=["customer_update"]))
    assert [step.name for step in steps] == ["customer"]


def test_list_names_every_recipe(trigger_server: KassaServer, account: Account) -> None:
    finished = kassa_trigger(trigger_server, account, "--list")
    assert finished.returncode == 0
    listed = [line.split()[0] for line in finished.stdout.splitlines()]
    assert listed == sorted(RECIPES)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nope.event"], "kassa cannot trigger 'nope.event'"),
        (["customer.created", "--override", "cust:name=x"], "no step named 'cust'"),
        (["customer.created", "--override", "customer-name"], "--override takes step:"),
        (["customer.created", "--remove", "customer"], "--remove takes step:parameter"),
        ([], "name an event type"),
    ],
)
def test_mistakes_are_named_with_exit_status_2(
    trigger_server: KassaServer, account: Account, arguments: list[str], message: str
) -> None:
    finished = kassa_trigger(trigger_server, account, *arguments)
    assert finished.returncode == 2
    assert message in finished.stderr


def test_a_failing_step_is_named_with_exit_status_1(
    trigger_server: KassaServer, account: Account
) -> None:
    finished = kassa_trigger(
        trigger_server, account, "payment_intent.created", "--override", "payment_intent:amount=-5"
    )
    assert finished.returncode == 1
    assert "Trigger failed: step 'payment_intent': POST /v1/payment_intents answered 400" in (
        finished.stderr
    )


def test_a_server_that_is_not_there_is_named(tmp_path: Path) -> None:
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "kassa", "trigger", "customer.created"),
            *("--api-key", "sk_test_x", "--api-base", "http://127.0.0.1:9"),
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
        cwd=tmp_path,
    )
    assert finished.returncode == 1
    assert "Is Kassa running at http://127.0.0.1:9?" in finished.stderr


def test_a_reference_to_a_skipped_step_is_named(
    trigger_server: KassaServer, account: Account
) -> None:
    finished = kassa_trigger(trigger_server, account, "customer.updated", "--skip", "customer")
    assert finished.returncode == 1
    assert "${customer:id} names no earlier step (was it skipped?)" in finished.stderr


def test_refund_failed_is_triggered_through_the_cli(
    trigger_server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    finished = kassa_trigger(trigger_server, account, "refund.failed")
    assert finished.returncode == 0, finished.stderr
    [refund] = client.v1.refunds.list().data
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert f"refund: {refund.id}" in finished.stdout
    [event] = client.v1.events.list(params={"type": "refund.failed"}).data
    assert event.data.object["id"] == refund.id


def test_every_declared_event_type_has_a_recipe_or_a_reason() -> None:
    declared = set(EVENT_TYPES)
    assert declared - set(RECIPES) == set(NOT_TRIGGERED)
    assert set(RECIPES) <= declared
