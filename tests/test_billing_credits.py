"""Billing credits end to end through the official SDK against a live `kassa serve` (SQLite
and PostgreSQL, one server per module): credit grants (create, retrieve, update, list,
expire, void) and their refusals, each naming its parameter with nothing written; then a
metered subscription on a test clock whose renewal is reduced by the customer's grants in
Stripe's order (a `prices` scope first at priority 0, a promotional grant used up, a paid
one partly used, one expired before it and a grant in another currency left alone), the
lines' and invoice's pretax credit amounts naming the debits, the balance summary and the
transactions; a voided invoice giving its credits back; a subscription's invoice preview
showing the credits its finalization then applies, writing nothing (a grant expiring before
the renewal left out, one effective by then counted); credit notes on a paid invoice taking
their share of its lines' credits and giving nothing back to the grants (two of them
crediting the invoice's total exactly); the summary's ledger balance counting a grant not
yet effective and an expired one whose debit is not written yet, its available balance not;
and a grant's expiry as due work, written once at its `expires_at` by its test clock's
advance or, without a clock, by the `invoices` job's step (run here on a frozen clock), or
first by a write that comes before it. Every test leaves the ledger whole (`kassa ledger
verify`)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any, cast

import pytest
import stripe

from kassa.services.billing.credit_grants import expire_due_grants
from tests.conftest import module_server
from tests.direct_store import run_job_once
from tests.harness import KassaServer

Client = stripe.StripeClient

server = module_server("billing-credits", KassaServer)

DAY = 86_400
READY_WAIT_SECONDS = 60.0
READY_POLL_SECONDS = 0.05
EXPIRY_WAIT_SECONDS = 10.0
"""How long a test waits for a grant a few seconds ahead to expire in real time."""


def _fields(cls: type) -> frozenset[str]:
    """What stripe-python declares of an object."""
    return frozenset(
        name
        for klass in cls.__mro__
        for name in getattr(klass, "__annotations__", {})
        if not name.startswith("_") and name != "OBJECT_NAME"
    )


GRANT_FIELDS = _fields(stripe.billing.CreditGrant)
TRANSACTION_FIELDS = _fields(stripe.billing.CreditBalanceTransaction)
SUMMARY_FIELDS = _fields(stripe.billing.CreditBalanceSummary)


def utc(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp())


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def grant(client: Client, customer: str, value: int, **params: Any) -> Any:
    """A grant of `value` (usd unless given) on metered prices unless scoped otherwise."""
    currency = params.pop("currency", "usd")
    create: Any = {
        "customer": customer,
        "amount": {"type": "monetary", "monetary": {"currency": currency, "value": value}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        **params,
    }
    return client.v1.billing.credit_grants.create(params=create, options=key())


def transactions(client: Client, **params: Any) -> list[Any]:
    listing: Any = {"limit": 100, **params}
    return list(client.v1.billing.credit_balance_transactions.list(params=listing).data)


def balances(client: Client, customer: str, chosen: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(currency, available value, ledger value) per balance."""
    found = client.v1.billing.credit_balance_summary.retrieve(
        params=cast(Any, {"customer": customer, "filter": chosen})
    )
    assert set(found.to_dict()) == SUMMARY_FIELDS
    shown = []
    for balance in found.balances:
        available, ledger = balance.available_balance.monetary, balance.ledger_balance.monetary
        assert available is not None and ledger is not None
        assert available.currency == ledger.currency
        assert 0 <= available.value <= ledger.value
        shown.append((available.currency, available.value, ledger.value))
    return shown


def summary(client: Client, customer: str, chosen: dict[str, Any]) -> list[tuple[str, int]]:
    """(currency, available value) per balance."""
    return [(currency, available) for currency, available, _ in balances(client, customer, chosen)]


def _meter(client: Client, event_name: str) -> Any:
    return client.v1.billing.meters.create(
        params={
            "display_name": f"Meter {event_name}",
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
        }
    )


def _metered_price(client: Client, meter: str, unit_amount: int, name: str) -> Any:
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter},
            "product_data": {"name": name},
        }
    )


def _event(client: Client, event_name: str, customer: str, value: int, at: int) -> None:
    payload = {"stripe_customer_id": customer, "value": str(value)}
    client.v1.billing.meter_events.create(
        params={"event_name": event_name, "payload": payload, "timestamp": at}
    )


def _advance(client: Client, clock_id: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while time.monotonic() < deadline:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return
        assert clock.status == "advancing", clock
        time.sleep(READY_POLL_SECONDS)
    raise AssertionError(f"test clock {clock_id} still advancing")


def _events(client: Client, event_type: str) -> list[Any]:
    return list(client.v1.events.list(params={"type": event_type, "limit": 100}).data)


def _metered_subscription(client: Client, jan_1: int) -> tuple[Any, Any, Any, tuple[Any, ...]]:
    """A customer on a test clock at `jan_1`, subscribed to a 10.00 base plan, API calls at
    5 cents each and storage at 1.00 per GB (both metered, summed): (clock, customer,
    subscription, (base, per_call, per_gb))."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": jan_1})
    customer = client.v1.customers.create(
        params={
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    calls, storage = _meter(client, "credit_calls"), _meter(client, "credit_storage")
    per_call = _metered_price(client, calls.id, 5, "API calls")
    per_gb = _metered_price(client, storage.id, 100, "Storage")
    base = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Base"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": base.id}, {"price": per_call.id}, {"price": per_gb.id}],
        }
    )
    return clock, customer, subscription, (base, per_call, per_gb)


# -- grants ----------------------------------------------------------------------------------


def test_a_grant_is_made_retrieved_updated_listed_expired_and_voided(
    client: Client, ledger_verified: None
) -> None:
    customer = client.v1.customers.create(params={"name": "Credits"})
    made = grant(client, customer.id, 1500, name="Welcome", metadata={"k": "v"})
    assert set(made.to_dict()) == GRANT_FIELDS
    assert made.object == "billing.credit_grant"
    assert (made.category, made.priority, made.voided_at) == ("paid", 50, None)
    assert made.effective_at == made.created and made.expires_at is None
    assert made.amount.monetary is not None and made.amount.monetary.value == 1500
    assert made.applicability_config.scope.price_type == "metered"
    assert client.v1.billing.credit_grants.retrieve(made.id).to_dict() == made.to_dict()

    later = made.created + 30 * DAY
    updated = client.v1.billing.credit_grants.update(
        made.id, params={"expires_at": later, "metadata": {"k": "w"}}
    )
    assert (updated.expires_at, updated.metadata.to_dict()) == (later, {"k": "w"})
    cleared = client.v1.billing.credit_grants.update(made.id, params=cast(Any, {"expires_at": ""}))
    assert cleared.expires_at is None

    other = grant(client, customer.id, 200, category="promotional", priority=5)
    listed = client.v1.billing.credit_grants.list(params={"customer": customer.id})
    assert [g.id for g in listed.data] == [other.id, made.id]

    expired = client.v1.billing.credit_grants.expire(other.id)
    assert expired.expires_at is not None and expired.voided_at is None
    voided = client.v1.billing.credit_grants.void_grant(made.id)
    assert voided.voided_at is not None
    refused(lambda: client.v1.billing.credit_grants.void_grant(made.id))
    refused(lambda: client.v1.billing.credit_grants.expire(other.id))

    # Granted, then expired and voided: each a transaction, newest first.
    kinds = [
        (t.type, (t.credit or t.debit).type, (t.credit or t.debit).amount.monetary.value)
        for t in transactions(client, customer=customer.id)
    ]
    assert kinds == [
        ("debit", "credits_voided", 1500),
        ("debit", "credits_expired", 200),
        ("credit", "credits_granted", 200),
        ("credit", "credits_granted", 1500),
    ]
    assert set(transactions(client, customer=customer.id)[0].to_dict()) == TRANSACTION_FIELDS
    assert summary(
        client,
        customer.id,
        {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}},
    ) == [("usd", 0)]
    created = {e.data.object["id"] for e in _events(client, "billing.credit_grant.created")}
    assert {made.id, other.id} <= created
    updates = [e.data.object["id"] for e in _events(client, "billing.credit_grant.updated")]
    assert updates.count(made.id) == 3 and updates.count(other.id) == 1
    posted = _events(client, "billing.credit_balance_transaction.created")
    assert len([e for e in posted if e.data.object["credit_grant"] == made.id]) == 2


def test_grants_and_reads_refuse_bad_input_naming_the_parameter_and_write_nothing(
    client: Client, ledger_verified: None
) -> None:
    customer = client.v1.customers.create(params={"name": "Refused"})
    licensed = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Seat"},
        }
    )
    scope = {"scope": {"price_type": "metered"}}
    usd = {"type": "monetary", "monetary": {"currency": "usd", "value": 100}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amount": usd, "applicability_config": scope}, "customer"),
        ({"customer": customer.id, "applicability_config": scope}, "amount"),
        ({"customer": customer.id, "amount": usd}, "applicability_config"),
        (
            {
                "customer": customer.id,
                "amount": {"type": "monetary"},
                "applicability_config": scope,
            },
            "amount[monetary]",
        ),
        (
            {
                "customer": customer.id,
                "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 0}},
                "applicability_config": scope,
            },
            "amount[monetary][value]",
        ),
        (
            {
                "customer": customer.id,
                "amount": usd,
                "applicability_config": {
                    "scope": {"price_type": "metered", "prices": [{"id": licensed.id}]}
                },
            },
            "applicability_config[scope]",
        ),
        (
            {
                "customer": customer.id,
                "amount": usd,
                "applicability_config": {"scope": {"prices": [{"id": licensed.id}]}},
            },
            "applicability_config[scope][prices][0][id]",
        ),
        (
            {
                "customer": customer.id,
                "amount": usd,
                "applicability_config": scope,
                "priority": 101,
            },
            "priority",
        ),
        (
            {
                "customer": customer.id,
                "amount": usd,
                "applicability_config": scope,
                "category": "x",
            },
            "category",
        ),
        (
            {
                "customer": customer.id,
                "amount": usd,
                "applicability_config": scope,
                "effective_at": 2_000_000_000,
                "expires_at": 1_999_999_999,
            },
            "expires_at",
        ),
    ]
    for params, param in cases:
        error = refused(
            lambda p=params: client.v1.billing.credit_grants.create(params=cast(Any, p))
        )
        assert error.param == param, (param, error.user_message)
    missing = refused(
        lambda: client.v1.billing.credit_grants.create(
            params={
                "customer": "cus_nobody",
                "amount": cast(Any, usd),
                "applicability_config": cast(Any, scope),
            }
        ),
        status=404,
    )
    assert missing.param == "customer"
    assert client.v1.billing.credit_grants.list(params={"customer": customer.id}).data == []
    assert transactions(client, customer=customer.id) == []

    made = grant(client, customer.id, 100)
    past = refused(
        lambda: client.v1.billing.credit_grants.update(made.id, params={"expires_at": 1})
    )
    assert past.param == "expires_at"
    assert client.v1.billing.credit_grants.retrieve(made.id).expires_at is None
    no_filter = refused(
        lambda: client.v1.billing.credit_balance_summary.retrieve(
            params=cast(Any, {"customer": customer.id})
        )
    )
    assert no_filter.param == "filter"
    no_grant = refused(
        lambda: client.v1.billing.credit_balance_summary.retrieve(
            params={"customer": customer.id, "filter": {"type": "credit_grant"}}
        )
    )
    assert no_grant.param == "filter[credit_grant]"
    no_customer = refused(
        lambda: client.v1.billing.credit_balance_transactions.list(params=cast(Any, {}))
    )
    assert no_customer.param == "customer"


# -- applied to invoices ------------------------------------------------------------------------


def _amount(entry: Any) -> int:
    return int((entry.credit or entry.debit).amount.monetary.value)


def _line_credits(invoice: Any) -> tuple[dict[str, int], dict[str, tuple[str, int]]]:
    """price -> the billing credits its line took; credit balance transaction -> (line,
    amount)."""
    credited: dict[str, int] = {}
    by_transaction: dict[str, tuple[str, int]] = {}
    for line in invoice.lines.data:
        price = line.pricing.price_details.price
        entries = [e for e in line.pretax_credit_amounts if e.type == "credit_balance_transaction"]
        credited[price] = sum(e.amount for e in entries)
        for entry in entries:
            assert entry.discount is None
            by_transaction[cast(str, entry.credit_balance_transaction)] = (line.id, entry.amount)
    return credited, by_transaction


def _debits_by_grant(
    client: Client, invoice: Any, by_transaction: dict[str, tuple[str, int]]
) -> dict[str, int]:
    """Each debit read back: a `credits_applied` naming the invoice and its line, at the
    finalization's time; what each grant gave, summed."""
    taken: dict[str, int] = {}
    for transaction_id, (line_id, amount) in by_transaction.items():
        debit = client.v1.billing.credit_balance_transactions.retrieve(transaction_id)
        assert debit.type == "debit" and debit.debit is not None
        assert debit.debit.type == "credits_applied" and _amount(debit) == amount
        applied = debit.debit.credits_applied
        assert applied is not None
        assert (applied.invoice, applied.invoice_line_item) == (invoice.id, line_id)
        assert debit.effective_at == invoice.status_transitions.finalized_at
        grant_id = cast(str, debit.credit_grant)
        taken[grant_id] = taken.get(grant_id, 0) + amount
    return taken


def test_a_renewal_takes_the_customer_s_credits_in_order_and_a_void_gives_them_back(
    client: Client, ledger_verified: None
) -> None:
    jan_1, feb_1, mar_1 = utc(2027, 1, 1, 10), utc(2027, 2, 1, 10), utc(2027, 3, 1, 10)
    clock, customer, subscription, (base, per_call, per_gb) = _metered_subscription(client, jan_1)
    # Grants at the clock's time. Stripe's order: priority, then the earliest expiry, ...
    storage_only = grant(
        client,
        customer.id,
        300,
        priority=0,
        applicability_config={"scope": {"prices": [{"id": per_gb.id}]}},
    )
    expiring = grant(client, customer.id, 700, priority=0, expires_at=utc(2027, 1, 20))
    promotional = grant(
        client, customer.id, 1000, priority=10, category="promotional", expires_at=feb_1 + 10 * DAY
    )
    paid = grant(client, customer.id, 3000)
    euros = grant(client, customer.id, 2000, currency="eur")
    assert storage_only.effective_at == jan_1 and paid.test_clock == clock.id

    _advance(client, clock.id, utc(2027, 1, 29, 10))
    _event(client, "credit_calls", customer.id, 600, utc(2027, 1, 5))  # 600 x 5 = 3000
    _event(client, "credit_storage", customer.id, 4, utc(2027, 1, 10))  # 4 x 100 = 400
    # Applied at finalization (a preview shows them: `test_a_preview_shows_...`).
    _advance(client, clock.id, feb_1 + 2 * 3600)
    renewal = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    # 1000 + 3000 + 400 = 4400. The storage-only grant takes 300 of storage; the expired one
    # nothing; the promotional one its 1000; the paid one the remaining 3400 - 1300 = 2100
    # of the metered lines (900 left); the base plan (licensed) takes none, nor the euros.
    assert (renewal.subtotal, renewal.total, renewal.amount_due) == (4400, 1000, 1000)
    assert (renewal.status, renewal.amount_paid) == ("paid", 1000)
    credited, by_transaction = _line_credits(renewal)
    assert credited == {base.id: 0, per_call.id: 3000, per_gb.id: 400}
    total_entries = renewal.total_pretax_credit_amounts or []
    assert sum(e.amount for e in total_entries) == 3400
    assert {cast(str, e.credit_balance_transaction) for e in total_entries} == set(by_transaction)
    taken = _debits_by_grant(client, renewal, by_transaction)
    assert taken == {storage_only.id: 300, promotional.id: 1000, paid.id: 2100}

    # The expired grant's 700 was debited by the clock's advance at its expiry.
    (expiry, granted) = transactions(client, customer=customer.id, credit_grant=expiring.id)
    assert (expiry.debit.type, _amount(expiry), expiry.effective_at) == (
        "credits_expired",
        700,
        utc(2027, 1, 20),
    )
    assert (granted.credit.type, _amount(granted)) == ("credits_granted", 700)

    metered = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    assert balances(client, customer.id, metered) == [("eur", 2000, 2000), ("usd", 900, 900)]
    by_price = {
        "type": "applicability_scope",
        "applicability_scope": {"prices": [{"id": per_gb.id}]},
    }
    assert summary(client, customer.id, by_price) == [("usd", 0)]
    assert summary(client, customer.id, {"type": "credit_grant", "credit_grant": paid.id}) == [
        ("usd", 900)
    ]
    assert euros.id not in taken

    # March is sent, not charged: its invoice stays open, to be voided. February's 100
    # calls = 500, all from the paid grant (the promotional one has expired, with nothing
    # left); voiding gives the 500 back.
    client.v1.subscriptions.update(
        subscription.id, params={"collection_method": "send_invoice", "days_until_due": 30}
    )
    _advance(client, clock.id, utc(2027, 2, 20, 10))
    _event(client, "credit_calls", customer.id, 100, utc(2027, 2, 10))
    _advance(client, clock.id, mar_1 + 2 * 3600)
    march = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert (march.status, march.subtotal, march.total, march.amount_due) == (
        "open",
        1500,
        1000,
        1000,
    )
    assert summary(client, customer.id, {"type": "credit_grant", "credit_grant": paid.id}) == [
        ("usd", 400)
    ]
    client.v1.invoices.void_invoice(march.id)
    assert summary(client, customer.id, {"type": "credit_grant", "credit_grant": paid.id}) == [
        ("usd", 900)
    ]
    back, applied_march = transactions(client, customer=customer.id, credit_grant=paid.id)[:2]
    assert back.type == "credit" and back.credit is not None
    assert (back.credit.type, _amount(back)) == ("credits_application_invoice_voided", 500)
    voided_on = back.credit.credits_application_invoice_voided
    assert voided_on is not None and voided_on.invoice == march.id
    assert applied_march.debit is not None and applied_march.debit.credits_applied is not None
    assert voided_on.invoice_line_item == applied_march.debit.credits_applied.invoice_line_item
    # The voided invoice still shows what it had taken.
    assert client.v1.invoices.retrieve(march.id).total == 1000


def _credits_by_price(invoice: Any) -> dict[str, list[tuple[str | None, int]]]:
    """price -> its line's billing credits: (credit balance transaction, amount)."""
    return {
        line.pricing.price_details.price: [
            (cast("str | None", e.credit_balance_transaction), e.amount)
            for e in line.pretax_credit_amounts
            if e.type == "credit_balance_transaction"
        ]
        for line in invoice.lines.data
    }


def test_a_preview_shows_the_credits_finalization_applies_and_writes_nothing(
    client: Client, ledger_verified: None
) -> None:
    jan_1, feb_1 = utc(2027, 1, 1, 10), utc(2027, 2, 1, 10)
    clock, customer, subscription, (base, per_call, per_gb) = _metered_subscription(client, jan_1)
    paid = grant(client, customer.id, 1000)
    # Gone before the renewal is made (the preview leaves it out), and not yet effective
    # now but by then (the preview counts it; the summary's available balance does not).
    expiring = grant(client, customer.id, 500, priority=0, expires_at=utc(2027, 1, 20))
    pending = grant(client, customer.id, 300, priority=0, effective_at=utc(2027, 1, 25))
    _advance(client, clock.id, utc(2027, 1, 10, 10))
    _event(client, "credit_calls", customer.id, 400, utc(2027, 1, 5))  # 400 x 5 = 2000

    metered = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    before = balances(client, customer.id, metered)
    assert before == [("usd", 1500, 1800)]
    written = transactions(client, customer=customer.id)
    assert len(written) == 3
    preview = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    # The pending grant's 300 first (priority 0), then 1000 of the paid one: 1300 of the
    # calls' 2000; the base plan (licensed) and the unused storage take none.
    previewed = _credits_by_price(preview)
    assert previewed == {base.id: [], per_call.id: [(None, 300), (None, 1000)], per_gb.id: []}
    assert [
        (e.type, e.credit_balance_transaction, e.amount)
        for e in preview.total_pretax_credit_amounts or []
    ] == [
        ("credit_balance_transaction", None, 300),
        ("credit_balance_transaction", None, 1000),
    ]
    assert (preview.subtotal, preview.total, preview.amount_due) == (3000, 1700, 1700)
    assert preview.total_excluding_tax == 1700
    # Nothing spent, nothing recorded.
    assert balances(client, customer.id, metered) == before
    assert [t.id for t in transactions(client, customer=customer.id)] == [t.id for t in written]

    _advance(client, clock.id, feb_1 + 2 * 3600)
    renewal = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert renewal.status == "paid"
    assert (renewal.subtotal, renewal.total, renewal.amount_paid) == (3000, 1700, 1700)
    applied = _credits_by_price(renewal)
    assert {price: [a for _, a in entries] for price, entries in applied.items()} == {
        price: [a for _, a in entries] for price, entries in previewed.items()
    }
    assert all(transaction is not None for _, transaction in applied[per_call.id])
    _, by_transaction = _line_credits(renewal)
    taken = _debits_by_grant(client, renewal, by_transaction)
    assert taken == {pending.id: 300, paid.id: 1000}
    assert expiring.id not in taken
    assert balances(client, customer.id, metered) == [("usd", 0, 0)]


def test_credit_notes_take_their_share_of_the_lines_credits_and_give_none_back(
    client: Client, ledger_verified: None
) -> None:
    jan_1, feb_1 = utc(2027, 1, 1, 10), utc(2027, 2, 1, 10)
    clock, customer, subscription, (_, per_call, _) = _metered_subscription(client, jan_1)
    paid = grant(client, customer.id, 1000)
    _advance(client, clock.id, utc(2027, 1, 10, 10))
    _event(client, "credit_calls", customer.id, 400, utc(2027, 1, 5))  # 2000
    _event(client, "credit_storage", customer.id, 3, utc(2027, 1, 6))  # 300
    _advance(client, clock.id, feb_1 + 2 * 3600)
    invoice = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert (invoice.status, invoice.subtotal, invoice.total) == ("paid", 3300, 2300)
    calls = next(
        line
        for line in invoice.lines.data
        if cast(Any, line.pricing).price_details.price == per_call.id
    )
    [(spent, credited)] = _credits_by_price(invoice)[per_call.id]
    assert spent is not None and credited == 1000
    written = transactions(client, customer=customer.id)

    # Half the calls' line: half its amount less half its credit, naming the same debit.
    half: Any = {"type": "invoice_line_item", "invoice_line_item": calls.id, "amount": 1000}
    shown = client.v1.credit_notes.preview(
        params={"invoice": invoice.id, "lines": [half], "refund_amount": 500}
    )
    first = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "lines": [half], "refund_amount": 500}
    )
    assert (shown.total, first.total, first.subtotal, first.amount) == (500, 500, 1000, 500)
    [line] = first.lines.data
    assert [
        (e.type, e.credit_balance_transaction, e.amount) for e in line.pretax_credit_amounts
    ] == [("credit_balance_transaction", spent, 500)]
    assert [(e.credit_balance_transaction, e.amount) for e in first.pretax_credit_amounts] == [
        (spent, 500)
    ]

    # The rest of every line: the two notes credit the invoice's total, not more.
    rest: Any = [
        {
            "type": "invoice_line_item",
            "invoice_line_item": line.id,
            "amount": line.amount - (1000 if line.id == calls.id else 0),
        }
        for line in invoice.lines.data
    ]
    second = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "lines": rest, "refund_amount": 1800}
    )
    assert second.total == 1800 and first.total + second.total == invoice.total
    assert [(e.credit_balance_transaction, e.amount) for e in second.pretax_credit_amounts] == [
        (spent, 500)
    ]
    after = client.v1.invoices.retrieve(invoice.id)
    assert after.post_payment_credit_notes_amount == invoice.total
    # Nothing back to the grant: no transaction, nothing available again.
    assert [t.id for t in transactions(client, customer=customer.id)] == [t.id for t in written]
    chosen = {"type": "credit_grant", "credit_grant": paid.id}
    assert balances(client, customer.id, chosen) == [("usd", 0, 0)]


# -- expiry as due work ----------------------------------------------------------------------


def _expiry_debits(client: Client, customer: str, grant_id: str) -> list[tuple[int, int, int]]:
    """(amount, effective_at, created) of the grant's `credits_expired` debits."""
    return [
        (_amount(t), t.effective_at, t.created)
        for t in transactions(client, customer=customer, credit_grant=grant_id)
        if t.debit is not None and t.debit.type == "credits_expired"
    ]


def _announced_expiries(client: Client, grant_id: str) -> list[int]:
    """When each `credits_expired` debit of the grant was announced."""
    return [
        e.created
        for e in _events(client, "billing.credit_balance_transaction.created")
        if e.data.object["credit_grant"] == grant_id
        and e.data.object["type"] == "debit"
        and e.data.object["debit"]["type"] == "credits_expired"
    ]


def test_a_test_clock_s_advance_expires_its_customer_s_grants_at_their_expires_at(
    client: Client, ledger_verified: None
) -> None:
    jan_1 = utc(2027, 1, 1, 10)
    expires = jan_1 + 3 * DAY
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": jan_1})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    expiring = grant(client, customer.id, 700, expires_at=expires)
    later = grant(client, customer.id, 500, expires_at=expires + DAY)
    voided = grant(client, customer.id, 300, expires_at=expires)
    client.v1.billing.credit_grants.void_grant(voided.id)

    _advance(client, clock.id, expires - 1)
    assert _expiry_debits(client, customer.id, expiring.id) == []
    # One advance past both: each debit written by the advance alone (no other write touches
    # the grants), at its own expires_at, and announced then.
    _advance(client, clock.id, expires + DAY)
    assert _expiry_debits(client, customer.id, expiring.id) == [(700, expires, expires)]
    assert _expiry_debits(client, customer.id, later.id) == [(500, expires + DAY, expires + DAY)]
    assert _announced_expiries(client, expiring.id) == [expires]
    assert _announced_expiries(client, later.id) == [expires + DAY]
    # A voided grant has nothing left to expire.
    assert _expiry_debits(client, customer.id, voided.id) == []
    metered = {"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}
    assert summary(client, customer.id, metered) == [("usd", 0)]
    # A later write on the expired grant finds it settled: no second debit.
    client.v1.billing.credit_grants.update(expiring.id, params={"metadata": {"seen": "yes"}})
    assert len(_expiry_debits(client, customer.id, expiring.id)) == 1


def test_a_grant_without_a_test_clock_expires_through_the_job_once(
    client: Client, server: KassaServer, ledger_verified: None
) -> None:
    customer = client.v1.customers.create(params={"name": "Expiring"})
    now = int(time.time())
    expiring = grant(client, customer.id, 400, expires_at=now + 3_600)
    voided = grant(client, customer.id, 300, expires_at=now + 3_600)
    client.v1.billing.credit_grants.void_grant(voided.id)
    soon = grant(client, customer.id, 200, expires_at=now + 2)

    # A write that comes after the expiry and before the job writes the debit (dated at
    # expires_at); the job then finds nothing to write for it.
    chosen = {"type": "credit_grant", "credit_grant": soon.id}
    deadline = time.monotonic() + EXPIRY_WAIT_SECONDS
    while summary(client, customer.id, chosen) != [("usd", 0)]:
        assert time.monotonic() < deadline, f"grant {soon.id} never expired"
        time.sleep(READY_POLL_SECONDS)
    # Expired, its debit not written yet (unless the job's poll came first): no longer
    # available, still in the ledger balance until the debit is recorded.
    [(_, available, ledger)] = balances(client, customer.id, chosen)
    assert available == 0
    assert ledger == 200 or _expiry_debits(client, customer.id, soon.id) != []
    client.v1.billing.credit_grants.update(soon.id, params={"metadata": {"seen": "yes"}})
    assert balances(client, customer.id, chosen) == [("usd", 0, 0)]
    assert [d[:2] for d in _expiry_debits(client, customer.id, soon.id)] == [(200, soon.expires_at)]

    expires = expiring.expires_at
    assert run_job_once(server.database_url, expire_due_grants, expires - 1) == 0
    assert _expiry_debits(client, customer.id, expiring.id) == []
    assert run_job_once(server.database_url, expire_due_grants, expires) >= 1
    # Run again (as after a crash): written once.
    assert run_job_once(server.database_url, expire_due_grants, expires) == 0
    assert _expiry_debits(client, customer.id, expiring.id) == [(400, expires, expires)]
    assert _announced_expiries(client, expiring.id) == [expires]
    assert len(_expiry_debits(client, customer.id, soon.id)) == 1
    assert _expiry_debits(client, customer.id, voided.id) == []
