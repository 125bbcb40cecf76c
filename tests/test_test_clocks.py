"""Test clocks through the SDK on a real `kassa serve` (SQLite and PostgreSQL): create,
retrieve, list, delete and advance, with their events and refusals; customers on a clock live
at its frozen time; advancing does the work due on the clock's invoices in clock order
(finalize, charge, retry after a decline), each stamped with the time it fell due, and the
ledger stays whole."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS, SystemClock
from kassa.errors import InvalidRequest
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from kassa.services.billing.reminders import DEFAULT_OFFSETS_DAYS
from kassa.services.clock_advance import PIECES_PER_UNIT_MAX
from kassa.services.context import Context
from kassa.services.test_clocks import (
    DELETES_AFTER_SECONDS,
    AdvanceTestClock,
    CreateTestClock,
    advance_test_clock,
    create_test_clock,
)
from kassa.store import Store
from kassa.store.clock_queries import ClockWork
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES
from tests.conftest import fresh_database
from tests.direct_store import look_while_paused, with_store
from tests.harness import Account, KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import monthly_price
from tests.test_webhook_durability import start_worker

Client = stripe.StripeClient

FROZEN = 1_798_761_600
"""2027-01-01 00:00 UTC."""
HOUR = 3_600
READY_WAIT_SECONDS = 30.0
READY_POLL_SECONDS = 0.05
DECLINING_CARD = "pm_card_chargeCustomerFail"
"""Attaches, then every charge is declined."""


def new_clock(
    client: Client, frozen_time: int = FROZEN, **params: Any
) -> stripe.test_helpers.TestClock:
    create: Any = {"frozen_time": frozen_time, **params}
    return client.v1.test_helpers.test_clocks.create(params=create)


def advance(client: Client, clock_id: str, to: int) -> stripe.test_helpers.TestClock:
    """Advance and wait until the clock is ready again; the ready clock."""
    advancing = client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    assert advancing.status == "advancing"
    assert advancing.status_details.advancing is not None
    assert advancing.status_details.advancing.target_frozen_time == to
    return _ready(client, clock_id)


def customer_on(
    client: Client, clock_id: str, payment_method: str = "pm_card_visa"
) -> stripe.Customer:
    return client.v1.customers.create(
        params={
            "test_clock": clock_id,
            "payment_method": payment_method,
            "invoice_settings": {"default_payment_method": payment_method},
        }
    )


def card_payment(client: Client, customer_id: str, **params: Any) -> stripe.PaymentIntent:
    """A confirmed payment of 12.00 by the customer's Visa."""
    create: Any = {
        "amount": 1200,
        "currency": "usd",
        "customer": customer_id,
        "payment_method": "pm_card_visa",
        # Posted in the request: these tests read the charge's balance transaction at once
        # (the default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **params,
    }
    return client.v1.payment_intents.create(params=create)


def auto_invoice(client: Client, customer_id: str, amount: int) -> stripe.Invoice:
    client.v1.invoice_items.create(
        params={"customer": customer_id, "amount": amount, "currency": "usd"}
    )
    return client.v1.invoices.create(
        params={
            "customer": customer_id,
            "auto_advance": True,
            "pending_invoice_items_behavior": "include",
        }
    )


def clock_with_invoices(
    client: Client, count: int
) -> tuple[stripe.test_helpers.TestClock, stripe.Customer, list[stripe.Invoice]]:
    """A clock, a customer on it with a card, and `count` auto-advancing invoices of
    different amounts (100, 101, ...) made at the frozen time."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    return clock, customer, [auto_invoice(client, customer.id, 100 + n) for n in range(count)]


def events_of(client: Client, object_id: str) -> list[stripe.Event]:
    """The object's events, oldest first."""
    found = [
        e
        for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()
        if e.data.object.to_dict().get("id") == object_id
    ]
    return found[::-1]


def refused(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == 400, raised.value
    return raised.value


# -- the clock itself ---------------------------------------------------------------------


def test_a_new_clock_is_ready_at_its_frozen_time(client: Client) -> None:
    clock = new_clock(client, name="Annual plan")
    assert clock.id.startswith("clock_")
    assert (clock.object, clock.frozen_time, clock.status) == (
        "test_helpers.test_clock",
        FROZEN,
        "ready",
    )
    assert clock.name == "Annual plan"
    assert clock.livemode is False
    assert clock.deletes_after == clock.created + DELETES_AFTER_SECONDS
    assert clock.status_details.to_dict() == {}
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).to_dict() == clock.to_dict()
    listed = client.v1.test_helpers.test_clocks.list().data
    assert [c.id for c in listed] == [clock.id]
    assert [e.type for e in events_of(client, clock.id)] == ["test_helpers.test_clock.created"]


def test_advancing_with_nothing_due_jumps_to_the_target(client: Client) -> None:
    clock = new_clock(client)
    ready = advance(client, clock.id, FROZEN + 400 * DAY_SECONDS)
    assert ready.frozen_time == FROZEN + 400 * DAY_SECONDS
    assert ready.status_details.to_dict() == {}
    assert [e.type for e in events_of(client, clock.id)] == [
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.ready",
    ]


def test_refusals_name_the_parameter(client: Client) -> None:
    nothing: Any = {}
    missing = refused(lambda: client.v1.test_helpers.test_clocks.create(params=nothing))
    assert missing.param == "frozen_time"
    too_long = refused(lambda: new_clock(client, name="x" * 301))
    assert too_long.param == "name"
    clock = new_clock(client)
    backwards = refused(
        lambda: client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": FROZEN})
    )
    assert backwards.param == "frozen_time"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"test_clock": "clock_nope"})
    assert (unknown.value.http_status, unknown.value.param) == (404, "test_clock")
    assert client.v1.customers.list().data == []


def test_the_list_takes_only_the_cursors(client: Client) -> None:
    """Stripe's list of test clocks takes `ending_before`, `expand`, `limit` and
    `starting_after`: no `created` range, as most lists have."""
    first, second = new_clock(client), new_clock(client)
    listed = client.v1.test_helpers.test_clocks.list(params={"limit": 1})
    assert ([c.id for c in listed.data], listed.has_more) == ([second.id], True)
    after: Any = {"starting_after": second.id}
    assert [c.id for c in client.v1.test_helpers.test_clocks.list(params=after).data] == [first.id]
    created: Any = {"created": {"lt": 1}}
    unknown = refused(lambda: client.v1.test_helpers.test_clocks.list(params=created))
    assert (unknown.http_status, unknown.code, unknown.param) == (
        400,
        "parameter_unknown",
        "created",
    )


def test_a_second_advance_while_one_is_under_way_is_refused(tmp_path: Path) -> None:
    """In this process, on a database no `test_clocks` job works on (with a server, its job
    might finish the first advance before the second request), through the service the API
    calls."""
    url = f"sqlite:///{tmp_path / 'no-worker.db'}"
    account = create_account(url)

    async def advance_twice(store: Store) -> str:
        async with store.write() as tx:
            ctx = Context(account_id=account.id, tx=tx, clock=SystemClock())
            clock = await create_test_clock(ctx, CreateTestClock(frozen_time=FROZEN))
            await advance_test_clock(
                ctx, AdvanceTestClock(test_clock=clock["id"], frozen_time=FROZEN + HOUR)
            )
        with pytest.raises(InvalidRequest) as refused_again:
            async with store.write() as tx:
                ctx = Context(account_id=account.id, tx=tx, clock=SystemClock())
                await advance_test_clock(
                    ctx, AdvanceTestClock(test_clock=clock["id"], frozen_time=FROZEN + 2 * HOUR)
                )
        return refused_again.value.message

    message = with_store(url, advance_twice)
    assert "advancing" in message and "ready" in message


def test_deleting_a_clock_deletes_its_customers(client: Client) -> None:
    clock = new_clock(client)
    on_clock = customer_on(client, clock.id)
    elsewhere = client.v1.customers.create()
    deleted = client.v1.test_helpers.test_clocks.delete(clock.id)
    assert (deleted.id, deleted.deleted) == (clock.id, True)
    assert client.v1.customers.retrieve(on_clock.id).to_dict().get("deleted") is True
    assert client.v1.customers.retrieve(elsewhere.id).to_dict().get("deleted") is None
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert gone.value.http_status == 404
    assert [e.type for e in events_of(client, clock.id)][-1] == "test_helpers.test_clock.deleted"


def test_a_clock_created_for_an_existing_customer_governs_it(client: Client) -> None:
    customer = client.v1.customers.create(params={"email": "late@example.com"})
    clock = new_clock(client, customer=customer.id)
    assert client.v1.customers.retrieve(customer.id).test_clock == clock.id
    again = refused(lambda: new_clock(client, customer=customer.id))
    assert again.param == "customer"


def real_time_customer(client: Client) -> stripe.Customer:
    card = "pm_card_visa"
    return client.v1.customers.create(
        params={"payment_method": card, "invoice_settings": {"default_payment_method": card}}
    )


def with_live_subscription(client: Client, customer: stripe.Customer) -> None:
    client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly_price(client).id}]}
    )


def with_draft_invoice(client: Client, customer: stripe.Customer) -> None:
    auto_invoice(client, customer.id, 500)


def with_open_invoice(client: Client, customer: stripe.Customer) -> None:
    client.v1.invoices.finalize_invoice(auto_invoice(client, customer.id, 500).id)


def with_uncaptured_payment(client: Client, customer: stripe.Customer) -> None:
    card_payment(client, customer.id, capture_method="manual")


@pytest.mark.parametrize(
    "scheduled",
    [with_live_subscription, with_draft_invoice, with_open_invoice, with_uncaptured_payment],
)
def test_a_customer_with_work_scheduled_in_real_time_cannot_be_attached(
    client: Client, scheduled: Any
) -> None:
    """Its subscription (test_clock null) would never renew and a change to it would land
    outside its period (a proration answered 500); its invoice would be finalized or paid
    before it was made; its authorization would expire in real time. Stripe never splits a
    customer from its objects across clocks: the clock's creation is refused as a whole."""
    customer = real_time_customer(client)
    scheduled(client, customer)
    split = refused(lambda: new_clock(client, 1_577_836_800, customer=customer.id))
    assert split.param == "customer"
    assert client.v1.customers.retrieve(customer.id).test_clock is None
    assert client.v1.test_helpers.test_clocks.list().data == []


def test_a_refused_attach_leaves_the_subscription_changeable_in_real_time(
    client: Client,
) -> None:
    customer = real_time_customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly_price(client).id}]}
    )
    refused(lambda: new_clock(client, 1_577_836_800, customer=customer.id))
    item = subscription["items"].data[0]
    changed = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "price": monthly_price(client, 3000).id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert (changed.status, changed.test_clock) == ("active", None)


def test_a_customer_whose_billing_is_over_attaches_and_bills_on_the_clock(
    client: Client,
) -> None:
    """A canceled subscription and a paid invoice schedule nothing more: the customer moves
    onto the clock, and its next subscription lives and renews there."""
    customer = real_time_customer(client)
    price = monthly_price(client)
    ended = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    client.v1.subscriptions.cancel(ended.id)
    paid = client.v1.invoices.finalize_invoice(auto_invoice(client, customer.id, 500).id)
    assert client.v1.invoices.pay(paid.id).status == "paid"

    clock = new_clock(client, customer=customer.id)
    assert client.v1.customers.retrieve(customer.id).test_clock == clock.id
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert (subscription.test_clock, subscription.created) == (clock.id, FROZEN)
    on_clock: Any = {"test_clock": clock.id}
    assert [s.id for s in client.v1.subscriptions.list(params=on_clock).data] == [subscription.id]
    month_later = subscription["items"].data[0].current_period_end
    advance(client, clock.id, month_later + HOUR)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed["items"].data[0].current_period_start == month_later


# -- objects on a clock -------------------------------------------------------------------


def test_a_customer_on_a_clock_lives_at_its_frozen_time(client: Client) -> None:
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    assert (customer.test_clock, customer.created) == (clock.id, FROZEN)
    intent = card_payment(client, customer.id)
    assert intent.created == FROZEN
    expanded = client.v1.customers.retrieve(customer.id, params={"expand": ["test_clock"]})
    assert isinstance(expanded.test_clock, stripe.test_helpers.TestClock)
    assert expanded.test_clock.id == clock.id


def test_deleting_a_clock_customer_announces_it_at_the_clocks_time(client: Client) -> None:
    """Years ahead of real time: `customer.deleted` is stamped with the clock's frozen time,
    as are the deletions it causes (its subscription's, and the prorations it dropped)."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    price: Any = {
        "currency": "usd",
        "unit_amount": 1000,
        "recurring": {"interval": "year"},
        "product_data": {"name": "Yearly"},
    }
    price_id = client.v1.prices.create(params=price).id
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price_id}]}
    )
    later = FROZEN + 3 * 365 * DAY_SECONDS + HOUR
    assert advance(client, clock.id, later).frozen_time == later
    items: Any = [{"id": subscription["items"].data[0].id, "quantity": 2}]
    client.v1.subscriptions.update(
        subscription.id, params={"items": items, "proration_behavior": "create_prorations"}
    )
    listed: Any = {"customer": customer.id, "pending": True}
    prorations = {i.id for i in client.v1.invoice_items.list(params=listed).data}
    assert prorations
    client.v1.customers.delete(customer.id)
    caused = {customer.id, subscription.id, *prorations}
    stamped = {
        e.type: e.created
        for e in client.v1.events.list(params={"limit": 20}).data
        if e.type.endswith(".deleted") and e.data.object.to_dict().get("id") in caused
    }
    assert stamped == {
        "customer.deleted": later,
        "customer.subscription.deleted": later,
        "invoiceitem.deleted": later,
    }


def test_updating_a_clock_customer_stamps_it_at_the_clocks_time(client: Client) -> None:
    """Years ahead of real time: `customer.updated` and the balance transaction a new
    `balance` makes carry the clock's frozen time, not the wall clock's (both were stamped
    with real time)."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    later = FROZEN + 3 * 365 * DAY_SECONDS + HOUR
    assert advance(client, clock.id, later).frozen_time == later
    client.v1.customers.update(customer.id, params={"name": "Renamed", "balance": -500})
    (updated,) = [
        e
        for e in client.v1.events.list(params={"type": "customer.updated", "limit": 20}).data
        if e.data.object.id == customer.id
    ]
    assert updated.created == later
    (entry,) = client.v1.customers.balance_transactions.list(customer.id).data
    assert (entry.amount, entry.created) == (-500, later)


def test_advancing_finalizes_and_charges_invoices_at_the_time_they_fall_due(
    client: Client, ledger_verified: None
) -> None:
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    invoice = auto_invoice(client, customer.id, 4200)
    assert (invoice.created, invoice.automatically_finalizes_at) == (FROZEN, FROZEN + HOUR)
    ready = advance(client, clock.id, FROZEN + 2 * HOUR)
    assert ready.frozen_time == FROZEN + 2 * HOUR
    paid = client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_paid) == ("paid", 4200)
    assert paid.status_transitions.finalized_at == FROZEN + HOUR
    assert paid.status_transitions.paid_at == FROZEN + HOUR
    (charge,) = client.v1.charges.list(params={"customer": customer.id}).data
    assert (charge.created, charge.amount) == (FROZEN + HOUR, 4200)
    stamps = {e.type: e.created for e in events_of(client, invoice.id)}
    assert stamps["invoice.finalized"] == FROZEN + HOUR
    assert stamps["invoice.paid"] == FROZEN + HOUR
    clock_events = [e.type for e in events_of(client, clock.id)]
    assert clock_events[-1] == "test_helpers.test_clock.ready"


def test_a_declined_renewal_is_retried_on_the_schedule_as_the_clock_passes(
    client: Client, ledger_verified: None
) -> None:
    clock = new_clock(client)
    customer = customer_on(client, clock.id, DECLINING_CARD)
    invoice = auto_invoice(client, customer.id, 900)
    finalized_at = FROZEN + HOUR
    advance(client, clock.id, finalized_at + HOUR)
    failed = client.v1.invoices.retrieve(invoice.id)
    assert (failed.status, failed.attempt_count) == ("open", 1)
    first_retry = finalized_at + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert failed.next_payment_attempt == first_retry
    advance(client, clock.id, FROZEN + 30 * DAY_SECONDS)
    exhausted = client.v1.invoices.retrieve(invoice.id)
    # The first attempt and one retry per day of the schedule, each at its time, then none.
    assert exhausted.attempt_count == 1 + len(RETRY_AFTER_DAYS)
    assert exhausted.next_payment_attempt is None
    attempts = [c.created for c in client.v1.charges.list(params={"customer": customer.id}).data][
        ::-1
    ]
    expected = [finalized_at]
    for days in RETRY_AFTER_DAYS:
        expected.append(expected[-1] + days * DAY_SECONDS)
    assert attempts == expected


def test_work_failing_after_other_work_in_its_unit_leaves_that_work_at_its_time(
    client: Client, ledger_verified: None
) -> None:
    """A piece that fails rolls its unit of work back: the pieces before it are done again
    at their own times (not the failing piece's), and its failure is recorded on it."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    first = auto_invoice(client, customer.id, 1000)  # finalized an hour on
    advance(client, clock.id, FROZEN + HOUR // 2)
    card = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 2000, "currency": "usd"}
    )
    failing = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "auto_advance": True,
            "pending_invoice_items_behavior": "include",
            "default_payment_method": card.id,
        }
    )
    client.v1.payment_methods.detach(card.id)  # its charge then fails: not a decline
    advance(client, clock.id, FROZEN + 3 * HOUR)
    paid = client.v1.invoices.retrieve(first.id)
    assert paid.status == "paid"
    assert paid.status_transitions.finalized_at == FROZEN + HOUR
    stuck = client.v1.invoices.retrieve(failing.id)
    assert (stuck.status, stuck.automatically_finalizes_at) == ("draft", None)
    assert stuck.last_finalization_error is not None
    assert stuck.last_finalization_error.param == "payment_method"


def test_work_due_at_the_same_second_runs_in_invoice_id_order(client: Client) -> None:
    """Ties are broken as `kassa.store.clock_queries.ClockWork` orders them: due time, then
    kind, then the invoice id."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    invoices = [auto_invoice(client, customer.id, amount) for amount in (100, 200, 300)]
    advance(client, clock.id, FROZEN + 2 * HOUR)
    finalized = [
        e.data.object["id"]
        for e in client.v1.events.list(params={"type": "invoice.finalized"}).data
    ][::-1]
    assert finalized == sorted(i.id for i in invoices)


def pay(client: Client, customer_id: str) -> stripe.Charge:
    """A 20.00 card payment by the customer, confirmed at once; its charge."""
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer_id,
            "payment_method": "pm_card_visa",
            # Posted in the request: these tests read the charge's balance transaction at once
            # (the default, asynchronous capture: tests/test_async_capture.py).
            "capture_method": "automatic",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    return client.v1.charges.retrieve(str(intent.latest_charge))


def test_a_clock_customers_funds_settle_at_the_clocks_time(
    client: Client, ledger_verified: None
) -> None:
    """A clock in the past: in real time the charge's funds would be long due, but they
    wait for the clock, and settle as its advance reaches their `available_on`."""
    monday = 1_704_103_200  # 2024-01-01 10:00 UTC
    clock = new_clock(client, monday)
    customer = customer_on(client, clock.id)
    charge = pay(client, customer.id)
    txn = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (txn.created, txn.status) == (monday, "pending")
    assert txn.available_on > monday
    # Reading the balance settles what real time has made due: not the clock's funds.
    balance = client.v1.balance.retrieve()
    assert ([b.amount for b in balance.pending], [b.amount for b in balance.available]) == (
        [txn.net],
        [0],
    )
    advance(client, clock.id, txn.available_on - 1)
    assert client.v1.balance_transactions.retrieve(txn.id).status == "pending"
    advance(client, clock.id, txn.available_on + HOUR)
    assert client.v1.balance_transactions.retrieve(txn.id).status == "available"
    balance = client.v1.balance.retrieve()
    assert ([b.amount for b in balance.pending], [b.amount for b in balance.available]) == (
        [0],
        [txn.net],
    )


def test_funds_settling_together_announce_the_balance_once(
    client: Client, ledger_verified: None
) -> None:
    """Stripe announces `balance.available` when funds become available; two customers' funds
    due at the same clock time settle in two pieces of work but are announced once, when
    the last has settled, at the clock's time."""
    monday = 1_704_103_200  # 2024-01-01 10:00 UTC
    clock = new_clock(client, monday)
    charges = [pay(client, customer_on(client, clock.id).id) for _ in range(2)]
    txns = [client.v1.balance_transactions.retrieve(str(c.balance_transaction)) for c in charges]
    assert len({t.available_on for t in txns}) == 1
    available_on = txns[0].available_on
    advance(client, clock.id, available_on + HOUR)
    announced = client.v1.events.list(params={"type": "balance.available"}).data
    assert [event.created for event in announced] == [available_on]
    balance = announced[0].data.object
    assert [(b.amount, b.currency) for b in balance["available"]] == [
        (sum(t.net for t in txns), "usd")
    ]


def test_a_deleted_clocks_pending_funds_settle_in_real_time(client: Client) -> None:
    clock = new_clock(client, 1_704_103_200)
    customer = customer_on(client, clock.id)
    charge = pay(client, customer.id)
    client.v1.test_helpers.test_clocks.delete(clock.id)
    # Long due in real time: the next balance read settles them.
    balance = client.v1.balance.retrieve()
    net = client.v1.balance_transactions.retrieve(str(charge.balance_transaction)).net
    assert [b.amount for b in balance.available] == [net]


def test_customers_list_filters_by_test_clock(client: Client) -> None:
    clock = new_clock(client)
    on_clock = customer_on(client, clock.id)
    client.v1.customers.create()
    listed = client.v1.customers.list(params={"test_clock": clock.id}).data
    assert [c.id for c in listed] == [on_clock.id]


# -- a crash in the middle of an advance -----------------------------------------------------

CRASH_INVOICES = 4 * PIECES_PER_UNIT_MAX
"""Four units of the clock job's work, every invoice due at the same second: the kill lands
with the first unit committed and three to do (`_kill_mid_advance`). To come too late, the
test's process would have to stall while the server does those three (a unit is about 40 ms
of the server's running on SQLite, several times that on PostgreSQL)."""
RUN_SLICE_SECONDS = 0.002
"""How long the server runs between two looks at its progress (paused for each look): far
shorter than a unit of the clock's work (tens of milliseconds)."""
LOOKS_MAX = int(READY_WAIT_SECONDS / RUN_SLICE_SECONDS)
CRASH_TARGET = FROZEN + 2 * HOUR
"""Past the hour at which every invoice finalizes and is charged."""


def test_a_kill_mid_advance_leaves_nothing_billed_twice_or_skipped(
    private_database_url: str, tmp_path: Path
) -> None:
    """`kill -9` of `kassa serve` while its clock job works through many invoices: started
    again on the same database, the advance completes, every invoice paid exactly once."""
    log = tmp_path / "kassa-serve.log"
    server = KassaServer(private_database_url, log).start()
    try:
        account = create_account(private_database_url)
        client = server.client(account.secret_key)
        clock, customer, invoices = clock_with_invoices(client, CRASH_INVOICES)
        first = with_store(private_database_url, lambda s: _next_work(s, account.id, clock.id))
        assert first is not None, "the clock has no work due"
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": CRASH_TARGET})
        _kill_mid_advance(server, private_database_url, account.id, clock.id, first)
        charged = _charges_stored(private_database_url, account.id)
        assert 0 < charged < CRASH_INVOICES, f"the kill came after {charged} charges"
        assert charged % PIECES_PER_UNIT_MAX == 0, f"{charged} charges: a unit half committed"
        server.start()
        ready = _ready(client, clock.id)
        assert ready.frozen_time == CRASH_TARGET
        made = client.v1.invoices.list(params={"customer": customer.id, "limit": 100})
        assert {(i.id, i.status, i.amount_paid) for i in made.auto_paging_iter()} == {
            (i.id, "paid", i.amount_due) for i in invoices
        }
        charges = list(
            client.v1.charges.list(
                params={"customer": customer.id, "limit": 100}
            ).auto_paging_iter()
        )
        assert sorted(c.amount for c in charges) == sorted(i.amount_due for i in invoices)
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def _kill_mid_advance(
    server: KassaServer, database_url: str, account_id: str, clock_id: str, first: ClockWork
) -> None:
    """`kill -9` the server once its clock job has committed a unit of work and not all of
    them: once the clock's next work is no longer `first` (what was due before the advance)
    and not none. The server runs in short slices, each look made with it paused, and the
    kill comes before it runs again, so it lands on the state seen. (Killing after a poll
    that saw a first charge left the server running meanwhile: on a busy machine it could
    finish the advance before the kill.)"""

    async def watch(store: Store) -> None:
        for _ in range(LOOKS_MAX):
            with server.paused():
                looked = await look_while_paused(_looked_work(store, account_id, clock_id))
                if looked is not None:
                    (work,) = looked
                    assert work is not None, "the last units came between two looks"
                    if work != first:
                        server.kill()
                        return
            await asyncio.sleep(RUN_SLICE_SECONDS)
        raise AssertionError("the clock job committed nothing")

    with_store(database_url, watch)


async def _looked_work(store: Store, account_id: str, clock_id: str) -> tuple[ClockWork | None]:
    """`_next_work` in a tuple: a look that found no work is not a look that failed."""
    return (await _next_work(store, account_id, clock_id),)


async def _next_work(store: Store, account_id: str, clock_id: str) -> ClockWork | None:
    """The first work due on the clock by CRASH_TARGET, as its committed state has it."""
    async with store.read() as tx:
        return await tx.next_clock_work(account_id, clock_id, CRASH_TARGET)


def _charges_stored(database_url: str, account_id: str) -> int:
    """The charges the killed server committed, read through Kassa's store."""

    async def count(store: Store) -> int:
        async with store.read() as tx:
            page = await tx.list_objects(
                CHARGES, account_id, ObjectListQuery(limit=CRASH_INVOICES + 1)
            )
        return len(page.objects)

    return with_store(database_url, count)


def _ready(client: Client, clock_id: str) -> stripe.test_helpers.TestClock:
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while time.monotonic() < deadline:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return clock
        assert clock.status == "advancing", clock
        time.sleep(READY_POLL_SECONDS)
    raise AssertionError(f"test clock {clock_id} still advancing after {READY_WAIT_SECONDS} s")


# -- two processes advancing one clock (PostgreSQL) --------------------------------------------

SHARED_INVOICES = 80


@pytest.mark.postgres
def test_two_processes_advancing_one_clock_bill_each_invoice_once(tmp_path: Path) -> None:
    """`kassa serve` and a `kassa worker` both run the test clock job on one PostgreSQL
    database: each step locks the clock, so whichever process takes a piece of work, it is
    done once, in clock order."""
    with fresh_database("postgres", tmp_path) as url:
        server = KassaServer(url, tmp_path / "kassa-serve.log").start()
        worker = start_worker(url, tmp_path / "kassa-worker.log")
        try:
            account = create_account(url)
            client = server.client(account.secret_key)
            clock, customer, invoices = clock_with_invoices(client, SHARED_INVOICES)
            advance(client, clock.id, FROZEN + 2 * HOUR)
            charges = list(
                client.v1.charges.list(
                    params={"customer": customer.id, "limit": 100}
                ).auto_paging_iter()
            )
            assert sorted(c.amount for c in charges) == sorted(i.amount_due for i in invoices)
            assert {c.created for c in charges} == {FROZEN + HOUR}
            assert_ledger_whole(url)
        finally:
            worker.terminate()
            server.stop()


def test_reminders_go_out_at_nine_on_the_clock_as_it_passes_each_one(
    server: KassaServer, account: Account, client: Client
) -> None:
    """A `send_invoice` invoice on a clock: sent when it finalizes an hour after creation,
    then reminded at 09:00 (the account's zone, UTC here) on the days of the schedule
    (`DEFAULT_OFFSETS_DAYS` from the due date) that the advance passes."""
    clock = new_clock(client)
    customer = client.v1.customers.create(
        params={"test_clock": clock.id, "email": "clock@example.com"}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 5000, "currency": "usd"}
    )
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "auto_advance": True,
            "collection_method": "send_invoice",
            "days_until_due": 10,
            "pending_invoice_items_behavior": "include",
        }
    )
    due_date = FROZEN + 10 * DAY_SECONDS  # days_until_due counts from creation
    advance(client, clock.id, due_date + 8 * DAY_SECONDS)
    opened = client.v1.invoices.retrieve(invoice.id)
    assert (opened.status, opened.due_date) == ("open", due_date)
    with server.http(account.secret_key) as http:
        listed = http.get("/v1/test_helpers/emails", params={"invoice": invoice.id, "limit": 100})
    assert listed.status_code == 200, listed.text
    sent = sorted((e["created"], e["kind"]) for e in listed.json()["data"])
    nine_on = [
        (day_start(due_date) + offset * DAY_SECONDS + 9 * HOUR)
        for offset in DEFAULT_OFFSETS_DAYS
        if day_start(due_date) + offset * DAY_SECONDS + 9 * HOUR <= due_date + 8 * DAY_SECONDS
    ]
    assert sent[0] == (FROZEN + HOUR, "invoice")
    assert [created for created, _ in sent[1:]] == nine_on


def day_start(instant: int) -> int:
    return instant - instant % DAY_SECONDS
