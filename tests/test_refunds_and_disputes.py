"""Refunds and disputes through the official SDK against a live server, on SQLite and
PostgreSQL. Every test leaves a ledger that `kassa ledger verify` accepts, and every money
figure is computed here from the amounts charged, not read back from Kassa."""

from __future__ import annotations

import threading
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import stripe

pytestmark = pytest.mark.usefixtures("ledger_verified")

USD_PERCENT = Decimal("0.029")
USD_FIXED_FEE = 30
DISPUTE_FEE_USD = 1500


def card_fee_usd(amount: int) -> int:
    """Stripe's US card pricing: 2.9% rounded half up to cents, plus 30 cents (2500 gives
    72.5 + 30: 103, where rounding half to even would give 102)."""
    return int((amount * USD_PERCENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)) + USD_FIXED_FEE


def pay(
    client: stripe.StripeClient,
    amount: int,
    payment_method: str = "pm_card_visa",
    **extra: Any,
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": "usd",
        "payment_method": payment_method,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(
        params=params, options={"idempotency_key": str(uuid.uuid4())}
    )


def charge_of(client: stripe.StripeClient, intent: stripe.PaymentIntent) -> stripe.Charge:
    assert isinstance(intent.latest_charge, str)
    return client.v1.charges.retrieve(intent.latest_charge)


def refund(client: stripe.StripeClient, **given: Any) -> stripe.Refund:
    params: Any = given
    return client.v1.refunds.create(params=params, options={"idempotency_key": str(uuid.uuid4())})


def refund_error(client: stripe.StripeClient, **params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        refund(client, **params)
    return raised.value


def balance_amounts(client: stripe.StripeClient) -> tuple[int, int]:
    """(available, pending) in usd."""
    balance = client.v1.balance.retrieve()
    available = {funds.currency: funds.amount for funds in balance.available}
    pending = {funds.currency: funds.amount for funds in balance.pending}
    return available["usd"], pending["usd"]


def assert_refund_transaction(
    client: stripe.StripeClient, refund_object: stripe.Refund, amount: int
) -> None:
    assert isinstance(refund_object.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(refund_object.balance_transaction)
    assert txn.type == "refund"
    assert txn.reporting_category == "refund"
    assert txn.source == refund_object.id
    assert txn.currency == "usd"
    assert (txn.amount, txn.fee, txn.net) == (-amount, 0, -amount)
    assert txn.fee_details == []


def assert_refund_fields_declared(obj: dict[str, Any]) -> None:
    declared = set(stripe.Refund.__annotations__)
    assert set(obj) <= declared, set(obj) - declared
    if obj.get("destination_details") is not None:
        assert set(obj["destination_details"]) <= set(
            stripe.Refund.DestinationDetails.__annotations__
        )


def assert_dispute_fields_declared(obj: dict[str, Any]) -> None:
    declared = set(stripe.Dispute.__annotations__)
    assert set(obj) <= declared, set(obj) - declared
    assert set(obj["evidence"]) <= set(stripe.Dispute.Evidence.__annotations__)
    assert set(obj["evidence_details"]) <= set(stripe.Dispute.EvidenceDetails.__annotations__)
    assert set(obj["payment_method_details"]) <= set(
        stripe.Dispute.PaymentMethodDetails.__annotations__
    )
    for txn in obj["balance_transactions"]:
        assert set(txn) <= set(stripe.BalanceTransaction.__annotations__)


# --- Refunds --------------------------------------------------------------------------------


def test_full_refund_by_charge(client: stripe.StripeClient) -> None:
    amount = 2000
    intent = pay(client, amount)
    charge = charge_of(client, intent)
    refunded = refund(client, charge=charge.id, reason="requested_by_customer")
    assert refunded.id.startswith("re_")
    assert refunded.object == "refund"
    assert refunded.amount == amount
    assert refunded.status == "succeeded"
    assert refunded.charge == charge.id
    assert refunded.payment_intent == intent.id
    assert refunded.currency == "usd"
    assert refunded.reason == "requested_by_customer"
    assert_refund_fields_declared(refunded.to_dict())
    assert_refund_transaction(client, refunded, amount)

    after = client.v1.charges.retrieve(charge.id)
    assert after.amount_refunded == amount
    assert after.refunded is True
    assert after.amount_captured == amount
    # The fee is not returned: the merchant is out of pocket by exactly the fee.
    available, pending = balance_amounts(client)
    assert (available, pending) == (-amount, amount - card_fee_usd(amount))
    assert available + pending == -card_fee_usd(amount)

    error = refund_error(client, charge=charge.id)
    assert error.http_status == 400
    assert error.code == "charge_already_refunded"
    error = refund_error(client, charge=charge.id, amount=1)
    assert error.code == "charge_already_refunded"


def test_full_refund_by_payment_intent(client: stripe.StripeClient) -> None:
    amount = 2500
    intent = pay(client, amount)
    refunded = refund(client, payment_intent=intent.id)
    assert refunded.amount == amount
    assert refunded.payment_intent == intent.id
    assert refunded.charge == intent.latest_charge
    assert_refund_transaction(client, refunded, amount)
    charge = charge_of(client, intent)
    assert (charge.amount_refunded, charge.refunded) == (amount, True)
    available, pending = balance_amounts(client)
    assert (available, pending) == (-amount, amount - card_fee_usd(amount))

    error = refund_error(client, payment_intent=intent.id)
    assert error.http_status == 400
    assert error.code == "charge_already_refunded"


def test_partial_refunds_then_the_rest(client: stripe.StripeClient) -> None:
    amount = 10_000
    intent = pay(client, amount)
    charge = charge_of(client, intent)
    parts = [1000, 2500, 333]
    made = []
    for index, part in enumerate(parts):
        made.append(refund(client, charge=charge.id, amount=part, metadata={"n": str(index)}))
        after = client.v1.charges.retrieve(charge.id)
        assert after.amount_refunded == sum(parts[: index + 1])
        assert after.refunded is False
    remaining = amount - sum(parts)

    error = refund_error(client, charge=charge.id, amount=remaining + 1)
    assert error.http_status == 400
    assert error.code == "amount_too_large"
    assert error.param == "amount"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == sum(parts)

    rest = refund(client, payment_intent=intent.id)
    assert rest.amount == remaining
    made.append(rest)
    after = client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (amount, True)
    for refund_object, part in zip(made, [*parts, remaining], strict=True):
        assert refund_object.amount == part
        assert_refund_transaction(client, refund_object, part)
    assert refund_error(client, charge=charge.id, amount=1).code == "charge_already_refunded"

    available, pending = balance_amounts(client)
    assert (available, pending) == (-amount, amount - card_fee_usd(amount))


def test_over_refund_in_one_go(client: stripe.StripeClient) -> None:
    intent = pay(client, 1000)
    error = refund_error(client, payment_intent=intent.id, amount=1001)
    assert error.http_status == 400
    assert error.code == "amount_too_large"
    assert error.param == "amount"
    charge = charge_of(client, intent)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert client.v1.refunds.list(params={"charge": charge.id}).data == []
    refunds_txns = client.v1.balance_transactions.list(params={"type": "refund"})
    assert refunds_txns.data == []


def test_uncaptured_charge_cannot_be_refunded(client: stripe.StripeClient) -> None:
    intent = pay(client, 3000, capture_method="manual")
    assert intent.status == "requires_capture"
    assert isinstance(intent.latest_charge, str)
    error = refund_error(client, charge=intent.latest_charge)
    assert error.http_status == 400
    error = refund_error(client, payment_intent=intent.id)
    assert error.http_status == 400
    charge = charge_of(client, intent)
    assert (charge.captured, charge.amount_refunded, charge.refunded) == (False, 0, False)
    assert balance_amounts(client) == (0, 0)

    # Once captured (in part), the captured amount, and only that, can be refunded.
    client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1800})
    error = refund_error(client, charge=intent.latest_charge, amount=1801)
    assert error.code == "amount_too_large"
    refunded = refund(client, charge=intent.latest_charge)
    assert refunded.amount == 1800
    assert_refund_transaction(client, refunded, 1800)
    charge = charge_of(client, intent)
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (
        1800,
        1800,
        True,
    )

    # A canceled authorization released the hold: nothing was captured, nothing to refund.
    released = pay(client, 2200, capture_method="manual")
    client.v1.payment_intents.cancel(released.id)
    assert isinstance(released.latest_charge, str)
    assert refund_error(client, charge=released.latest_charge).http_status == 400
    assert refund_error(client, payment_intent=released.id).http_status == 400
    assert balance_amounts(client) == (-1800, 1800 - card_fee_usd(1800))


def test_failed_charge_cannot_be_refunded(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as raised:
        pay(client, 2000, "pm_card_chargeDeclined")
    body = raised.value.json_body
    assert isinstance(body, dict)
    intent_id = body["error"]["payment_intent"]["id"]
    charge_id = body["error"]["charge"]
    assert charge_id.startswith("ch_")
    error = refund_error(client, payment_intent=intent_id)
    assert error.http_status == 400
    assert error.param == "payment_intent"
    error = refund_error(client, charge=charge_id)
    assert error.http_status == 400
    failed = client.v1.charges.retrieve(charge_id)
    assert (failed.status, failed.amount_refunded, failed.refunded) == ("failed", 0, False)
    assert client.v1.balance_transactions.list().data == []
    assert balance_amounts(client) == (0, 0)


def test_refund_of_missing_charge_or_intent(client: stripe.StripeClient) -> None:
    error = refund_error(client, charge="ch_doesnotexist")
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "charge")
    error = refund_error(client, payment_intent="pi_doesnotexist")
    assert (error.http_status, error.param) == (404, "payment_intent")
    error = refund_error(client)
    assert error.http_status == 400


def test_idempotent_retry_refunds_once(client: stripe.StripeClient) -> None:
    intent = pay(client, 3000)
    key: stripe.RequestOptions = {"idempotency_key": str(uuid.uuid4())}
    params: Any = {"payment_intent": intent.id, "amount": 1000}
    first = client.v1.refunds.create(params=params, options=key)
    again = client.v1.refunds.create(params=params, options=key)
    assert again.id == first.id
    assert charge_of(client, intent).amount_refunded == 1000
    assert [r.id for r in client.v1.refunds.list().data] == [first.id]
    assert len(client.v1.balance_transactions.list(params={"type": "refund"}).data) == 1


CONCURRENT_REFUNDS = 8
RACE_ROUNDS = 5


def race_full_refunds(client: stripe.StripeClient, charge_id: str) -> list[str]:
    """Refund the whole charge from several threads released at once: refund ids and
    error codes."""
    start = threading.Barrier(CONCURRENT_REFUNDS)
    outcomes: list[str] = []

    def refund_all() -> None:
        start.wait()
        try:
            outcomes.append(refund(client, charge=charge_id).id)
        except stripe.InvalidRequestError as error:
            outcomes.append(str(error.code))

    threads = [threading.Thread(target=refund_all) for _ in range(CONCURRENT_REFUNDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_refunds_never_exceed_the_charge(
    client: stripe.StripeClient,
) -> None:
    """Several full refunds of one charge at the same moment: exactly one may succeed (on
    PostgreSQL the charge row is locked while a refund reads and changes it)."""
    amount = 1000
    for _ in range(RACE_ROUNDS):
        charge_id = charge_of(client, pay(client, amount)).id
        outcomes = race_full_refunds(client, charge_id)
        refunds = client.v1.refunds.list(params={"charge": charge_id, "limit": 100}).data
        assert sum(r.amount for r in refunds) <= amount, outcomes
        assert len([o for o in outcomes if o.startswith("re_")]) == 1, outcomes
        assert client.v1.charges.retrieve(charge_id).amount_refunded == amount
    refund_nets = sum(
        txn.net
        for txn in client.v1.balance_transactions.list(
            params={"type": "refund", "limit": 100}
        ).auto_paging_iter()
    )
    assert refund_nets == -amount * RACE_ROUNDS


def test_update_list_cancel_and_expand(client: stripe.StripeClient) -> None:
    first_intent = pay(client, 5000)
    second_intent = pay(client, 4000)
    first_charge = charge_of(client, first_intent)
    a = refund(client, charge=first_charge.id, amount=1000)
    b = refund(client, charge=first_charge.id, amount=1500)
    c = refund(client, payment_intent=second_intent.id, amount=700)

    updated = client.v1.refunds.update(a.id, params={"metadata": {"ticket": "T-1"}})
    assert updated.metadata is not None and updated.metadata.to_dict() == {"ticket": "T-1"}
    cleared = client.v1.refunds.update(a.id, params={"metadata": {"ticket": ""}})
    assert cleared.metadata is not None and cleared.metadata.to_dict() == {}
    assert cleared.amount == 1000

    by_charge = client.v1.refunds.list(params={"charge": first_charge.id})
    assert [r.id for r in by_charge.data] == [b.id, a.id]
    by_intent = client.v1.refunds.list(params={"payment_intent": second_intent.id})
    assert [r.id for r in by_intent.data] == [c.id]
    every = client.v1.refunds.list(params={"limit": 2})
    assert [r.id for r in every.data] == [c.id, b.id]
    assert every.has_more is True
    rest = client.v1.refunds.list(params={"limit": 2, "starting_after": b.id})
    assert [r.id for r in rest.data] == [a.id]
    assert rest.has_more is False

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.cancel(a.id)
    assert raised.value.http_status == 400
    assert client.v1.refunds.retrieve(a.id).status == "succeeded"

    expanded = client.v1.refunds.retrieve(
        b.id, params={"expand": ["balance_transaction", "charge"]}
    )
    txn = expanded.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.id, txn.type, txn.amount, txn.net) == (
        b.balance_transaction,
        "refund",
        -1500,
        -1500,
    )
    expanded_charge = expanded.charge
    assert isinstance(expanded_charge, stripe.Charge)
    assert expanded_charge.id == first_charge.id
    assert expanded_charge.amount_refunded == 2500

    with_refunds = client.v1.charges.retrieve(first_charge.id, params={"expand": ["refunds"]})
    assert with_refunds.refunds is not None
    assert [r.id for r in with_refunds.refunds.data] == [b.id, a.id]
    assert "refunds" not in client.v1.charges.retrieve(first_charge.id).to_dict()

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.retrieve("re_doesnotexist")
    assert raised.value.http_status == 404

    available, pending = balance_amounts(client)
    assert available == -(1000 + 1500 + 700)
    assert pending == 5000 - card_fee_usd(5000) + 4000 - card_fee_usd(4000)


# --- Disputes -------------------------------------------------------------------------------


def test_dispute_withdraws_amount_and_fee(client: stripe.StripeClient) -> None:
    amount = 2500
    intent = pay(client, amount, "pm_card_createDispute")
    assert intent.status == "succeeded"
    charge = charge_of(client, intent)
    assert charge.status == "succeeded"
    assert charge.paid is True
    assert charge.disputed is True

    disputes = client.v1.disputes.list(params={"charge": charge.id})
    assert len(disputes.data) == 1
    dispute = disputes.data[0]
    assert dispute.object == "dispute"
    assert dispute.charge == charge.id
    assert dispute.payment_intent == intent.id
    assert dispute.amount == amount
    assert dispute.currency == "usd"
    assert dispute.reason == "fraudulent"
    assert dispute.status == "needs_response"
    assert dispute.is_charge_refundable is False
    assert dispute.evidence_details.submission_count == 0
    due_by = dispute.evidence_details.due_by
    assert due_by is not None and due_by > dispute.created
    assert_dispute_fields_declared(dispute.to_dict())
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": intent.id}).data] == [
        dispute.id
    ]

    assert len(dispute.balance_transactions) == 1
    withdrawal = dispute.balance_transactions[0]
    assert withdrawal.type == "adjustment"
    assert withdrawal.amount == -amount
    assert withdrawal.fee == DISPUTE_FEE_USD
    assert withdrawal.net == -(amount + DISPUTE_FEE_USD)
    assert sum(detail.amount for detail in withdrawal.fee_details) == DISPUTE_FEE_USD
    stored = client.v1.balance_transactions.retrieve(withdrawal.id)
    assert stored.to_dict() == withdrawal.to_dict()
    assert stored.source == dispute.id

    available, pending = balance_amounts(client)
    assert pending == amount - card_fee_usd(amount)
    assert available == -(amount + DISPUTE_FEE_USD)

    error = refund_error(client, charge=charge.id)
    assert error.http_status == 400
    assert error.code == "charge_disputed"
    assert refund_error(client, payment_intent=intent.id, amount=100).code == "charge_disputed"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0
    assert balance_amounts(client) == (available, pending)


def test_dispute_evidence_then_close(client: stripe.StripeClient) -> None:
    intent = pay(client, 4000, "pm_card_createDispute")
    charge = charge_of(client, intent)
    (dispute,) = client.v1.disputes.list(params={"charge": charge.id}).data
    balance_before = balance_amounts(client)

    draft = client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"product_description": "A teapot."}, "submit": False},
    )
    assert draft.status == "needs_response"
    assert draft.evidence.product_description == "A teapot."
    assert draft.evidence_details.submission_count == 0

    answered = client.v1.disputes.update(
        dispute.id,
        params={
            "evidence": {"uncategorized_text": "Delivered and signed for."},
            "metadata": {"case": "7"},
        },
    )
    assert answered.status == "under_review"
    assert answered.evidence.uncategorized_text == "Delivered and signed for."
    assert answered.evidence_details.submission_count == 1
    assert answered.evidence_details.has_evidence is True
    assert answered.metadata is not None and answered.metadata.to_dict() == {"case": "7"}
    assert client.v1.disputes.retrieve(dispute.id).to_dict() == answered.to_dict()

    closed = client.v1.disputes.close(dispute.id)
    assert closed.status == "lost"
    assert len(closed.balance_transactions) == 1
    assert balance_amounts(client) == balance_before, "losing moves no more money"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.close(dispute.id)
    assert raised.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": "x"}})
    assert raised.value.http_status == 400
    assert client.v1.disputes.retrieve(dispute.id).status == "lost"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.retrieve("dp_doesnotexist")
    assert raised.value.http_status == 404


def test_submitted_evidence_is_final(client: stripe.StripeClient) -> None:
    intent = pay(client, 1500, "pm_card_createDispute")
    (dispute,) = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    client.v1.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": "first"}})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": "second"}})
    assert raised.value.http_status == 400
    after = client.v1.disputes.retrieve(dispute.id)
    assert after.evidence.uncategorized_text == "first"
    assert after.evidence_details.submission_count == 1


def test_dispute_closed_without_evidence(client: stripe.StripeClient) -> None:
    intent = pay(client, 1200, "pm_card_createDispute")
    (dispute,) = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    closed = client.v1.disputes.close(dispute.id)
    assert closed.status == "lost"
    assert closed.evidence_details.submission_count == 0
    available, pending = balance_amounts(client)
    assert (available, pending) == (-(1200 + DISPUTE_FEE_USD), 1200 - card_fee_usd(1200))


def test_inquiry_withdraws_nothing_and_allows_refund(client: stripe.StripeClient) -> None:
    amount = 3000
    intent = pay(client, amount, "pm_card_createDisputeInquiry")
    charge = charge_of(client, intent)
    assert charge.status == "succeeded"
    (inquiry,) = client.v1.disputes.list(params={"charge": charge.id}).data
    assert inquiry.status == "warning_needs_response"
    assert inquiry.amount == amount
    assert inquiry.balance_transactions == []
    assert inquiry.is_charge_refundable is True
    assert_dispute_fields_declared(inquiry.to_dict())
    assert balance_amounts(client) == (0, amount - card_fee_usd(amount))
    assert [t.type for t in client.v1.balance_transactions.list().data] == ["charge"]

    refunded = refund(client, charge=charge.id, amount=1000)
    assert refunded.status == "succeeded"
    assert_refund_transaction(client, refunded, 1000)
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1000
    assert balance_amounts(client) == (-1000, amount - card_fee_usd(amount))

    closed = client.v1.disputes.close(inquiry.id)
    assert closed.status == "warning_closed"
    assert closed.balance_transactions == []
    assert balance_amounts(client) == (-1000, amount - card_fee_usd(amount))


def test_dispute_of_a_manually_captured_charge(client: stripe.StripeClient) -> None:
    intent = pay(client, 6000, "pm_card_createDispute", capture_method="manual")
    assert intent.status == "requires_capture"
    assert client.v1.disputes.list().data == []
    client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 5000})
    (dispute,) = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    # The cardholder disputes what was taken from the card: the captured amount.
    assert dispute.amount == 5000
    assert dispute.balance_transactions[0].net == -(5000 + DISPUTE_FEE_USD)
    available, pending = balance_amounts(client)
    assert (available, pending) == (-(5000 + DISPUTE_FEE_USD), 5000 - card_fee_usd(5000))


def dispute_of(client: stripe.StripeClient, intent: stripe.PaymentIntent) -> stripe.Dispute:
    (dispute,) = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    return dispute


def event_types_about(client: stripe.StripeClient, object_id: str) -> list[str]:
    """The types of the events about `object_id`, oldest first."""
    listed = client.v1.events.list(params={"limit": 100}).data
    return [e.type for e in reversed(listed) if e.data.object.to_dict().get("id") == object_id]


def test_winning_evidence_wins_the_dispute_and_reinstates_amount_and_fee(
    client: stripe.StripeClient,
) -> None:
    amount = 2500
    intent = pay(client, amount, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    available, pending = balance_amounts(client)
    assert available == -(amount + DISPUTE_FEE_USD)

    decided = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    assert decided.status == "won"
    assert decided.evidence_details.submission_count == 1
    withdrawal, reversal = decided.balance_transactions
    assert (reversal.type, reversal.reporting_category, reversal.source) == (
        "adjustment",
        "dispute_reversal",
        dispute.id,
    )
    assert (reversal.amount, reversal.fee, reversal.net) == (
        amount,
        -DISPUTE_FEE_USD,
        amount + DISPUTE_FEE_USD,
    )
    assert withdrawal.id == dispute.balance_transactions[0].id
    assert client.v1.balance_transactions.retrieve(reversal.id).to_dict() == reversal.to_dict()
    assert balance_amounts(client) == (0, pending)
    assert client.v1.disputes.retrieve(dispute.id).status == "won"
    assert event_types_about(client, dispute.id) == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.close(dispute.id)


def test_losing_evidence_loses_the_dispute_and_the_funds_stay_withdrawn(
    client: stripe.StripeClient,
) -> None:
    amount = 1800
    intent = pay(client, amount, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    before = balance_amounts(client)
    decided = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "losing_evidence"}}
    )
    assert decided.status == "lost"
    assert len(decided.balance_transactions) == 1
    assert balance_amounts(client) == before
    assert event_types_about(client, dispute.id)[-2:] == [
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]


def test_test_evidence_kept_as_a_draft_decides_nothing(client: stripe.StripeClient) -> None:
    intent = pay(client, 1200, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    drafted = client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"uncategorized_text": "winning_evidence"}, "submit": False},
    )
    assert (drafted.status, len(drafted.balance_transactions)) == ("needs_response", 1)


def test_staged_winning_evidence_submitted_later_wins(client: stripe.StripeClient) -> None:
    """Evidence staged with `submit=false` is submitted by a later request with `submit=true`
    and nothing else (Stripe: staged evidence "can be submitted to the bank by making
    another request with this attribute set to `true`"); the test evidence then decides."""
    amount = 2200
    intent = pay(client, amount, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    # Withdrawn: 2200 plus the 1500 fee, 3700 out of the available balance.
    assert balance_amounts(client)[0] == -(amount + DISPUTE_FEE_USD)
    client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"uncategorized_text": "winning_evidence"}, "submit": False},
    )
    decided = client.v1.disputes.update(dispute.id, params={"submit": True})
    assert decided.status == "won"
    assert decided.evidence_details.submission_count == 1
    assert decided.evidence.uncategorized_text == "winning_evidence"
    _, reversal = decided.balance_transactions
    # Won: the 2200 and the 1500 fee come back, 3700, and available is 0 again.
    assert (reversal.amount, reversal.fee, reversal.net) == (amount, -1500, 3700)
    assert balance_amounts(client)[0] == 0
    assert event_types_about(client, dispute.id)[-3:] == [
        "charge.dispute.updated",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_submit_sends_staged_and_new_evidence_together(client: stripe.StripeClient) -> None:
    intent = pay(client, 1300, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    client.v1.disputes.update(
        dispute.id, params={"evidence": {"product_description": "A kettle."}, "submit": False}
    )
    submitted = client.v1.disputes.update(
        dispute.id,
        params={"evidence": {"customer_name": "Ada"}, "submit": True, "metadata": {"n": "1"}},
    )
    assert submitted.status == "under_review"
    assert submitted.evidence.product_description == "A kettle."
    assert submitted.evidence.customer_name == "Ada"
    assert submitted.evidence_details.submission_count == 1
    # Submitted once: a second submit is refused and changes nothing.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.update(dispute.id, params={"submit": True})
    assert (raised.value.http_status, raised.value.param) == (400, "submit")
    assert client.v1.disputes.retrieve(dispute.id).evidence_details.submission_count == 1


def test_submit_with_no_evidence_at_all_is_refused(client: stripe.StripeClient) -> None:
    intent = pay(client, 1400, "pm_card_createDispute")
    dispute = dispute_of(client, intent)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.disputes.update(dispute.id, params={"submit": True, "metadata": {"a": "b"}})
    assert (raised.value.http_status, raised.value.param) == (400, "evidence")
    after = client.v1.disputes.retrieve(dispute.id)
    # Nothing half-written: neither the submission nor the metadata.
    assert (after.status, after.evidence_details.submission_count) == ("needs_response", 0)
    assert after.metadata is not None and after.metadata.to_dict() == {}
    # Metadata alone submits nothing.
    noted = client.v1.disputes.update(dispute.id, params={"metadata": {"a": "b"}})
    assert (noted.status, noted.evidence_details.submission_count) == ("needs_response", 0)


def test_winning_evidence_closes_an_inquiry_with_no_funds_moved(
    client: stripe.StripeClient,
) -> None:
    amount = 3000
    intent = pay(client, amount, "pm_card_createDisputeInquiry")
    inquiry = dispute_of(client, intent)
    decided = client.v1.disputes.update(
        inquiry.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    assert (decided.status, decided.balance_transactions) == ("warning_closed", [])
    assert balance_amounts(client) == (0, amount - card_fee_usd(amount))
