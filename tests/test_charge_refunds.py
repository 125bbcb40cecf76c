"""A charge's refunds under the charge (`/v1/charges/{charge}/refunds[/{refund}]`) and the
older `POST /v1/charges/{charge}/refund`, through the official SDK against a live server, on
SQLite and PostgreSQL. They are views on `/v1/refunds`: the same checks, postings and events,
so every test leaves a ledger `kassa ledger verify` accepts, and money figures are computed
here from the amounts charged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.harness import Account, KassaServer
from tests.test_charges_api import charge as charge_by_source
from tests.test_refunds_and_disputes import (
    assert_refund_fields_declared,
    assert_refund_transaction,
    balance_amounts,
    card_fee_usd,
    charge_of,
    event_types_about,
    pay,
    refund,
)

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def api_key(server: KassaServer, account: Account) -> Iterator[str]:
    """The account's key, for the SDK's class methods (`stripe.Charge.list_refunds`), which
    go through the global `stripe.api_base`: pointed at the server for this test only."""
    previous = stripe.api_base
    stripe.api_base = server.url
    try:
        yield account.secret_key
    finally:
        stripe.api_base = previous


def post(client: stripe.StripeClient, path: str, **params: Any) -> Any:
    """A POST the SDK has no method for, through its raw request (a fresh idempotency key
    unless `idempotency_key` is given)."""
    params.setdefault("idempotency_key", str(uuid.uuid4()))
    return client.deserialize(client.raw_request("post", path, **params), api_mode="V1")


def refunds_path(charge_id: str, refund_id: str | None = None) -> str:
    path = f"/v1/charges/{charge_id}/refunds"
    return path if refund_id is None else f"{path}/{refund_id}"


def refused(call: Any, *args: Any, **params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(*args, **params)
    return raised.value


def test_create_list_retrieve_update_under_the_charge(
    client: stripe.StripeClient, api_key: str
) -> None:
    amount = 5000
    intent = pay(client, amount)
    charge = charge_of(client, intent)
    first = post(client, refunds_path(charge.id), amount=1000, metadata={"n": "1"})
    second = post(client, refunds_path(charge.id), amount=1500, reason="duplicate")
    for made, part in ((first, 1000), (second, 1500)):
        assert isinstance(made, stripe.Refund)
        assert (made.amount, made.charge, made.payment_intent) == (part, charge.id, intent.id)
        assert made.status == "succeeded"
        assert_refund_fields_declared(made.to_dict())
        assert_refund_transaction(client, made, part)
    assert second.reason == "duplicate"
    assert first.metadata is not None and first.metadata.to_dict() == {"n": "1"}

    listed = stripe.Charge.list_refunds(charge.id, api_key=api_key)
    assert [r.id for r in listed.data] == [second.id, first.id]
    assert (listed.url, listed.has_more) == (refunds_path(charge.id), False)
    same = client.v1.refunds.list({"charge": charge.id})
    assert [r.to_dict() for r in same.data] == [r.to_dict() for r in listed.data]

    got = stripe.Charge.retrieve_refund(charge.id, first.id, api_key=api_key)
    assert got.to_dict() == client.v1.refunds.retrieve(first.id).to_dict()
    updated = post(client, refunds_path(charge.id, first.id), metadata={"n": "", "t": "T-1"})
    assert updated.metadata.to_dict() == {"t": "T-1"}
    stored = client.v1.refunds.retrieve(first.id).metadata
    assert stored is not None and stored.to_dict() == {"t": "T-1"}

    after = client.v1.charges.retrieve(charge.id, {"expand": ["refunds"]})
    assert (after.amount_refunded, after.refunded) == (2500, False)
    assert after.refunds is not None and after.refunds.url == refunds_path(charge.id)
    assert [r.id for r in after.refunds.data] == [second.id, first.id]
    # The same events as `/v1/refunds` announces, about the same objects.
    assert event_types_about(client, first.id) == [
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
    ]
    assert event_types_about(client, second.id) == ["refund.created"]
    assert event_types_about(client, charge.id).count("charge.refunded") == 2
    available, pending = balance_amounts(client)
    assert (available, pending) == (-2500, amount - card_fee_usd(amount))


def test_list_pages_by_cursor(client: stripe.StripeClient, api_key: str) -> None:
    charge = charge_of(client, pay(client, 1000))
    other = charge_of(client, pay(client, 1000))
    refund(client, charge=other.id, amount=50)  # another charge's: never listed here
    made = [post(client, refunds_path(charge.id), amount=100).id for _ in range(3)]
    newest_first = list(reversed(made))

    page = stripe.Charge.list_refunds(charge.id, api_key=api_key, limit=2)
    assert ([r.id for r in page.data], page.has_more) == (newest_first[:2], True)
    rest = stripe.Charge.list_refunds(
        charge.id, api_key=api_key, limit=2, starting_after=newest_first[1]
    )
    assert ([r.id for r in rest.data], rest.has_more) == (newest_first[2:], False)
    back = stripe.Charge.list_refunds(
        charge.id, api_key=api_key, limit=1, ending_before=newest_first[2]
    )
    assert ([r.id for r in back.data], back.has_more) == ([newest_first[1]], True)
    walked = stripe.Charge.list_refunds(charge.id, api_key=api_key, limit=1)
    assert [r.id for r in walked.auto_paging_iter()] == newest_first
    error = refused(stripe.Charge.list_refunds, charge.id, api_key=api_key, limit=101)
    assert (error.http_status, error.param) == (400, "limit")


def test_legacy_refund_answers_the_charge(client: stripe.StripeClient) -> None:
    amount = 2000
    made = charge_by_source(client, amount, source="tok_visa")
    assert made.payment_intent is None
    answered = post(client, f"/v1/charges/{made.id}/refund", amount=600, metadata={"k": "v"})
    assert isinstance(answered, stripe.Charge)
    assert (answered.id, answered.amount_refunded, answered.refunded) == (made.id, 600, False)
    assert "refunds" not in answered.to_dict()  # only when expanded, in this API version
    assert answered.to_dict() == client.v1.charges.retrieve(made.id).to_dict()
    (first,) = client.v1.refunds.list({"charge": made.id}).data
    assert first.metadata is not None and first.metadata.to_dict() == {"k": "v"}
    assert_refund_transaction(client, first, 600)

    rest = post(client, f"/v1/charges/{made.id}/refund", expand=["refunds"])
    assert (rest.amount_refunded, rest.refunded) == (amount, True)
    assert rest.refunds.url == refunds_path(made.id)
    assert [r.amount for r in rest.refunds.data] == [amount - 600, 600]
    assert_refund_transaction(client, rest.refunds.data[0], amount - 600)
    error = refused(post, client, f"/v1/charges/{made.id}/refund")
    assert (error.http_status, error.code) == (400, "charge_already_refunded")
    assert event_types_about(client, made.id).count("charge.refunded") == 2
    assert event_types_about(client, first.id) == ["refund.created"]
    available, pending = balance_amounts(client)
    assert (available, pending) == (-amount, amount - card_fee_usd(amount))


def test_a_payment_intent_charge_refunded_the_legacy_way(client: stripe.StripeClient) -> None:
    intent = pay(client, 3000)
    charge = charge_of(client, intent)
    answered = post(client, f"/v1/charges/{charge.id}/refund", payment_intent=intent.id)
    assert (answered.amount_refunded, answered.refunded) == (3000, True)
    (made,) = client.v1.refunds.list({"payment_intent": intent.id}).data
    assert (made.charge, made.amount) == (charge.id, 3000)
    assert_refund_transaction(client, made, 3000)


def test_missing_charges_and_refunds_of_another_charge(
    client: stripe.StripeClient, api_key: str
) -> None:
    charge = charge_of(client, pay(client, 1000))
    other = charge_of(client, pay(client, 1000))
    theirs = refund(client, charge=other.id, amount=100, metadata={"kept": "yes"})
    for error in (
        refused(stripe.Charge.list_refunds, "ch_missing", api_key=api_key),
        refused(stripe.Charge.retrieve_refund, "ch_missing", theirs.id, api_key=api_key),
        refused(post, client, refunds_path("ch_missing"), amount=100),
        refused(post, client, refunds_path("ch_missing", theirs.id), metadata={"a": "b"}),
        refused(post, client, "/v1/charges/ch_missing/refund"),
    ):
        assert (error.http_status, error.code, error.param) == (404, "resource_missing", "charge")

    for error in (
        refused(stripe.Charge.retrieve_refund, charge.id, theirs.id, api_key=api_key),
        refused(post, client, refunds_path(charge.id, theirs.id), metadata={"kept": "no"}),
        refused(stripe.Charge.retrieve_refund, charge.id, "re_missing", api_key=api_key),
    ):
        assert (error.http_status, error.code) == (404, "resource_missing")
    kept = client.v1.refunds.retrieve(theirs.id).metadata
    assert kept is not None and kept.to_dict() == {"kept": "yes"}

    # The path names the charge: neither `charge` nor another intent may say otherwise.
    error = refused(post, client, refunds_path(charge.id), charge=other.id)
    assert (error.http_status, error.param) == (400, "charge")
    assert isinstance(other.payment_intent, str)
    error = refused(post, client, refunds_path(charge.id), payment_intent=other.payment_intent)
    assert (error.http_status, error.param) == (400, "payment_intent")
    assert client.v1.refunds.list({"charge": charge.id}).data == []


def test_over_refund_is_refused_with_nothing_written(
    client: stripe.StripeClient, api_key: str
) -> None:
    intent = pay(client, 1000)
    charge = charge_of(client, intent)
    for path in (refunds_path(charge.id), f"/v1/charges/{charge.id}/refund"):
        error = refused(post, client, path, amount=1001)
        assert (error.http_status, error.code, error.param) == (400, "amount_too_large", "amount")
    after = client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (0, False)
    assert stripe.Charge.list_refunds(charge.id, api_key=api_key).data == []
    assert client.v1.balance_transactions.list({"type": "refund"}).data == []
    assert "charge.refunded" not in event_types_about(client, charge.id)
    assert balance_amounts(client) == (0, 1000 - card_fee_usd(1000))


def test_idempotent_replay_refunds_once(client: stripe.StripeClient, api_key: str) -> None:
    charge = charge_of(client, pay(client, 3000))
    key = str(uuid.uuid4())
    first = post(client, refunds_path(charge.id), amount=1000, idempotency_key=key)
    again = post(client, refunds_path(charge.id), amount=1000, idempotency_key=key)
    assert again.to_dict() == first.to_dict()

    legacy_key = str(uuid.uuid4())
    path = f"/v1/charges/{charge.id}/refund"
    answered = post(client, path, amount=500, idempotency_key=legacy_key)
    replayed = post(client, path, amount=500, idempotency_key=legacy_key)
    assert replayed.to_dict() == answered.to_dict()
    assert replayed.amount_refunded == 1500

    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1500
    listed = stripe.Charge.list_refunds(charge.id, api_key=api_key)
    assert [r.amount for r in listed.data] == [500, 1000]
    assert len(client.v1.balance_transactions.list({"type": "refund"}).data) == 2
    assert event_types_about(client, charge.id).count("charge.refunded") == 2


def test_an_expansion_no_refund_declares_is_refused_on_an_empty_list(
    client: stripe.StripeClient,
) -> None:
    """As on `/v1/refunds`: the path is checked against what a refund declares, even when
    the charge has no refund to expand."""
    charge = charge_of(client, pay(client, 2000))
    with pytest.raises(stripe.InvalidRequestError) as refused_path:
        client.raw_request("get", refunds_path(charge.id), expand=["data.bogus"])
    assert refused_path.value.param == "expand"
    listed = client.raw_request("get", refunds_path(charge.id), expand=["data.charge"])
    assert listed.code == 200
