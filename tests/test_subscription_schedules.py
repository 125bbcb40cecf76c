"""Subscription schedules (`/v1/subscription_schedules`) through the SDK on a real `kassa
serve` (SQLite and PostgreSQL), driven by test clocks, and in real time by the `invoices`
job's first step: a schedule made from a subscription and a downgrade at the period's end
(the renewal after it bills the new price, no proration), a future start (the subscription
created when it comes), two phases then `end_behavior=cancel` (`completed`), release at the
end (`released`), the cancel and release endpoints, phases replaced by update, the list's
filters, the refusals (each a 400 naming the parameter, nothing stored), the events in
order, and the ledger whole after each run that moves money.

Dates: a monthly price from January 15, 2027, 10:00 UTC (no month-end clamping), so periods
and one-month phases end together on the 15th.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa import observers
from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services import hooks
from kassa.services.billing.subscription_cycle import renew_due_subscriptions
from kassa.services.billing.subscription_schedule_transitions import transition_due_schedules
from kassa.services.setup import load_payment_config
from kassa.store import Store
from tests.direct_store import with_store
from tests.harness import KassaServer
from tests.test_subscriptions import (
    HOUR,
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    period_of,
    subscribe,
    utc,
)

JAN_15 = utc(2027, 1, 15)
FEB_1 = utc(2027, 2, 1)
FEB_15 = utc(2027, 2, 15)
MAR_1 = utc(2027, 3, 1)
MAR_15 = utc(2027, 3, 15)
APR_15 = utc(2027, 4, 15)
MONTH: Any = {"interval": "month"}


def schedule_events(client: Client, *object_ids: str) -> list[tuple[str, str]]:
    """(type, object id) of the events about `object_ids`, oldest first."""
    found = [
        (str(e.type), str(e.data.object.to_dict().get("id")))
        for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()
        if e.data.object.to_dict().get("id") in object_ids
    ]
    return found[::-1]


def price_of(subscription: stripe.Subscription) -> str:
    (item,) = subscription["items"].data
    return str(item.price.id)


def lines_of(invoice: stripe.Invoice) -> list[tuple[int, bool]]:
    """(amount, proration) of each line."""
    found = []
    for line in invoice.lines.data:
        details = line.parent.subscription_item_details if line.parent else None
        found.append((line.amount, bool(details and details.proration)))
    return found


def create(client: Client, **params: Any) -> stripe.SubscriptionSchedule:
    sent: Any = params
    return client.v1.subscription_schedules.create(params=sent)


# -- from a subscription, then a downgrade at the period's end ----------------------------------


def test_a_downgrade_at_the_period_end_bills_the_new_price_at_the_renewal(
    client: Client, ledger_verified: None
) -> None:
    pro, basic = monthly_price(client, 3000), monthly_price(client, 1000)
    clock_id, customer = clock_customer(client, frozen_time=JAN_15)
    subscription = subscribe(client, customer.id, pro.id)
    schedule = create(client, from_subscription=subscription.id)
    assert (schedule.status, schedule.end_behavior) == ("active", "release")
    assert schedule.subscription == subscription.id and schedule.customer == customer.id
    assert schedule.test_clock == clock_id
    (phase,) = schedule.phases
    assert (phase.start_date, phase.end_date) == period_of(subscription) == (JAN_15, FEB_15)
    assert [(i.price, i.quantity) for i in phase["items"]] == [(pro.id, 1)]
    assert schedule.current_phase is not None
    assert (schedule.current_phase.start_date, schedule.current_phase.end_date) == (
        JAN_15,
        FEB_15,
    )
    assert client.v1.subscriptions.retrieve(subscription.id).schedule == schedule.id

    updated = client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {"start_date": JAN_15, "end_date": FEB_15, "items": [{"price": pro.id}]},
                {"items": [{"price": basic.id}], "duration": MONTH},
            ]
        },
    )
    assert [(p.start_date, p.end_date) for p in updated.phases] == [
        (JAN_15, FEB_15),
        (FEB_15, MAR_15),
    ]
    advance(client, clock_id, FEB_15 + 2 * HOUR)
    moved = client.v1.subscriptions.retrieve(subscription.id)
    assert price_of(moved) == basic.id and moved.status == "active"
    first, renewal = invoices_of(client, subscription.id)
    assert first.total == 3000
    assert renewal.billing_reason == "subscription_cycle"
    assert lines_of(renewal) == [(1000, False)]
    assert (renewal.status, renewal.amount_paid) == ("paid", 1000)
    current = client.v1.subscription_schedules.retrieve(schedule.id)
    assert current.current_phase is not None and current.current_phase.start_date == FEB_15

    advance(client, clock_id, MAR_15 + 2 * HOUR)
    released = client.v1.subscription_schedules.retrieve(schedule.id)
    assert (released.status, released.released_at) == ("released", MAR_15)
    assert released.released_subscription == subscription.id
    assert released.subscription is None and released.current_phase is None
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.schedule is None and after.status == "active"
    assert [i.total for i in invoices_of(client, subscription.id)] == [3000, 1000, 1000]
    assert [t for t, _ in schedule_events(client, schedule.id)] == [
        "subscription_schedule.created",
        "subscription_schedule.updated",  # the update's new phase
        "subscription_schedule.updated",  # February 15: the downgrade
        "subscription_schedule.expiring",  # March 8, seven days before the end
        "subscription_schedule.released",
    ]


# -- a future start ---------------------------------------------------------------------------


def test_a_future_start_creates_the_subscription_when_the_clock_passes_it(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, frozen_time=JAN_15)
    schedule = create(
        client,
        customer=customer.id,
        start_date=FEB_1,
        phases=[{"items": [{"price": price.id, "quantity": 2}], "end_date": MAR_1}],
        metadata={"plan": "launch"},
    )
    assert (schedule.status, schedule.subscription, schedule.current_phase) == (
        "not_started",
        None,
        None,
    )
    assert (schedule.phases[0].start_date, schedule.phases[0].end_date) == (FEB_1, MAR_1)
    scheduled = client.v1.subscription_schedules.list(
        params={"customer": customer.id, "scheduled": True}
    )
    assert [s.id for s in scheduled.data] == [schedule.id]
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert listed.data == []

    advance(client, clock_id, FEB_1 + 2 * HOUR)
    started = client.v1.subscription_schedules.retrieve(schedule.id)
    assert started.status == "active" and started.subscription is not None
    subscription = client.v1.subscriptions.retrieve(str(started.subscription))
    assert (subscription.start_date, subscription.schedule) == (FEB_1, schedule.id)
    assert period_of(subscription) == (FEB_1, MAR_1)
    (first,) = invoices_of(client, subscription.id)
    assert (first.total, first.status, first.created) == (4000, "paid", FEB_1)
    assert schedule_events(client, schedule.id, subscription.id)[:3] == [
        ("subscription_schedule.created", schedule.id),
        ("customer.subscription.created", subscription.id),
        ("subscription_schedule.updated", schedule.id),
    ]


# -- two phases, then end_behavior=cancel -------------------------------------------------------


def test_two_phases_then_cancel_ends_the_subscription_and_completes_the_schedule(
    client: Client, ledger_verified: None
) -> None:
    small, large = monthly_price(client, 1000), monthly_price(client, 1500)
    clock_id, customer = clock_customer(client, frozen_time=JAN_15)
    schedule = create(
        client,
        customer=customer.id,
        start_date="now",
        end_behavior="cancel",
        phases=[
            {"items": [{"price": small.id}], "duration": MONTH},
            {"items": [{"price": large.id, "quantity": 2}], "end_date": MAR_15},
        ],
    )
    assert schedule.status == "active" and schedule.subscription is not None
    subscription_id = str(schedule.subscription)
    advance(client, clock_id, APR_15)
    ended = client.v1.subscriptions.retrieve(subscription_id)
    assert (ended.status, ended.ended_at) == ("canceled", MAR_15)
    done = client.v1.subscription_schedules.retrieve(schedule.id)
    assert (done.status, done.completed_at, done.current_phase) == ("completed", MAR_15, None)
    totals = [(i.total, i.billing_reason) for i in invoices_of(client, subscription_id)]
    assert totals == [(1000, "subscription_create"), (3000, "subscription_cycle")]
    assert [t for t, _ in schedule_events(client, schedule.id)][-2:] == [
        "subscription_schedule.expiring",
        "subscription_schedule.completed",
    ]
    assert schedule_events(client, schedule.id, subscription_id)[-2:] == [
        ("customer.subscription.deleted", subscription_id),
        ("subscription_schedule.completed", schedule.id),
    ]


# -- month ends ---------------------------------------------------------------------------------


def test_monthly_phases_from_a_month_end_keep_to_the_subscription_s_periods(
    client: Client, ledger_verified: None
) -> None:
    """From January 31 a month ends February 28 and the next March 31, as the subscription's
    periods do (its anchor's day, clamped): were the second phase counted from February 28,
    it would end March 28, in the middle of a period, and prorate."""
    jan_31, feb_28, mar_31, apr_30 = (
        utc(2027, m, d) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30))
    )
    small, large = monthly_price(client, 1000), monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, frozen_time=jan_31)
    schedule = create(
        client,
        customer=customer.id,
        start_date="now",
        phases=[
            {"items": [{"price": small.id}], "duration": MONTH},
            {"items": [{"price": large.id}], "duration": MONTH},
            {"items": [{"price": small.id}], "duration": MONTH},
        ],
    )
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [
        (jan_31, feb_28),
        (feb_28, mar_31),
        (mar_31, apr_30),
    ]
    subscription_id = str(schedule.subscription)
    advance(client, clock_id, apr_30 + 2 * HOUR)
    assert [lines_of(i) for i in invoices_of(client, subscription_id)] == [
        [(1000, False)],  # January 31
        [(2000, False)],  # February 28: the second phase, no proration
        [(1000, False)],  # March 31: the third
        [(1000, False)],  # April 30: released, the subscription goes on at the last price
    ]


# -- the cancel and release endpoints -------------------------------------------------------------


def test_cancel_ends_the_schedule_and_its_subscription(client: Client) -> None:
    price = monthly_price(client, 1000)
    _, customer = clock_customer(client, frozen_time=JAN_15)
    running = create(
        client, customer=customer.id, phases=[{"items": [{"price": price.id}]}], start_date="now"
    )
    canceled = client.v1.subscription_schedules.cancel(
        running.id, params={"invoice_now": False, "prorate": False}
    )
    assert (canceled.status, canceled.canceled_at) == ("canceled", JAN_15)
    subscription = client.v1.subscriptions.retrieve(str(running.subscription))
    assert subscription.status == "canceled"
    waiting = create(
        client, customer=customer.id, phases=[{"items": [{"price": price.id}]}], start_date=FEB_1
    )
    assert client.v1.subscription_schedules.cancel(waiting.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscription_schedules.cancel(waiting.id)
    assert refused.value.http_status == 400
    assert [t for t, _ in schedule_events(client, running.id)][-1] == (
        "subscription_schedule.canceled"
    )


def test_release_leaves_the_subscription_running_without_the_schedule(client: Client) -> None:
    price = monthly_price(client, 1000)
    _, customer = clock_customer(client, frozen_time=JAN_15)
    subscription = subscribe(client, customer.id, price.id)
    schedule = create(client, from_subscription=subscription.id)
    released = client.v1.subscription_schedules.release(
        schedule.id, params={"preserve_cancel_date": True}
    )
    assert (released.status, released.released_at) == ("released", JAN_15)
    assert (released.released_subscription, released.subscription) == (subscription.id, None)
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert (after.schedule, after.status) == (None, "active")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_schedules.release(schedule.id)
    # Free again, it can be scheduled anew; a second schedule on one subscription cannot.
    again = create(client, from_subscription=subscription.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        create(client, from_subscription=subscription.id)
    assert refused.value.param == "from_subscription"
    assert again.status == "active"


# -- update ----------------------------------------------------------------------------------


def test_update_replaces_the_phases_of_a_schedule_not_started(client: Client) -> None:
    first, second = monthly_price(client, 1000), monthly_price(client, 2000)
    _, customer = clock_customer(client, frozen_time=JAN_15)
    schedule = create(
        client,
        customer=customer.id,
        start_date=FEB_1,
        phases=[{"items": [{"price": first.id}], "end_date": MAR_1}],
    )
    updated = client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "end_behavior": "cancel",
            "metadata": {"tier": "two"},
            "phases": [
                {"start_date": FEB_15, "items": [{"price": first.id}], "duration": MONTH},
                {"start_date": MAR_15, "items": [{"price": second.id}], "end_date": APR_15},
            ],
        },
    )
    assert (
        updated.end_behavior == "cancel"
        and updated.metadata is not None
        and updated.metadata.to_dict() == {"tier": "two"}
    )
    assert [(p.start_date, p.end_date) for p in updated.phases] == [
        (FEB_15, MAR_15),
        (MAR_15, APR_15),
    ]
    refused_phases: list[tuple[Any, str]] = [
        ([{"items": [{"price": first.id}]}], "phases[0][start_date]"),
        (
            [{"start_date": JAN_15 - DAY_SECONDS, "items": [{"price": first.id}]}],
            "phases[0][start_date]",
        ),
        (
            [
                {"start_date": FEB_15, "items": [{"price": first.id}], "end_date": MAR_1},
                {"start_date": MAR_15, "items": [{"price": second.id}]},
            ],
            "phases[1][start_date]",
        ),
    ]
    for phases, param in refused_phases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.subscription_schedules.update(schedule.id, params={"phases": phases})
        assert (refused.value.http_status, refused.value.param) == (400, param)
    kept = client.v1.subscription_schedules.retrieve(schedule.id)
    assert [(p.start_date, p.end_date) for p in kept.phases] == [(FEB_15, MAR_15), (MAR_15, APR_15)]


def test_update_of_the_current_phase_applies_it_to_the_subscription_now(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 1000)
    clock_id, customer = clock_customer(client, frozen_time=JAN_15)
    schedule = create(
        client, customer=customer.id, phases=[{"items": [{"price": price.id}]}], start_date="now"
    )
    updated = client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "proration_behavior": "none",
            "phases": [
                {
                    "start_date": JAN_15,
                    "items": [{"price": price.id, "quantity": 3}],
                    "end_date": MAR_15,
                }
            ],
        },
    )
    assert updated.phases[0].end_date == MAR_15
    subscription = client.v1.subscriptions.retrieve(str(schedule.subscription))
    assert subscription["items"].data[0].quantity == 3
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscription_schedules.update(
            schedule.id, params={"phases": [{"start_date": FEB_1, "items": [{"price": price.id}]}]}
        )
    assert refused.value.param == "phases[0][start_date]"
    advance(client, clock_id, FEB_15 + 2 * HOUR)
    assert [i.total for i in invoices_of(client, subscription.id)] == [1000, 3000]


# -- the list ---------------------------------------------------------------------------------


def test_the_list_filters_by_customer_status_and_times(client: Client) -> None:
    price = monthly_price(client, 1000)
    _, customer = clock_customer(client, frozen_time=JAN_15)
    _, other = clock_customer(client, frozen_time=JAN_15)
    phases = [{"items": [{"price": price.id}]}]
    waiting = create(client, customer=customer.id, phases=phases, start_date=FEB_1)
    canceled = create(client, customer=customer.id, phases=phases, start_date=FEB_1)
    client.v1.subscription_schedules.cancel(canceled.id)
    running = create(client, customer=other.id, phases=phases, start_date="now")
    released = client.v1.subscription_schedules.release(running.id)

    def ids(**params: Any) -> set[str]:
        sent: Any = params
        found = client.v1.subscription_schedules.list(params=sent).auto_paging_iter()
        return {s.id for s in found}

    assert ids(customer=customer.id) == {waiting.id, canceled.id}
    assert ids(scheduled=True) == {waiting.id}
    assert ids(scheduled=False) == {canceled.id, running.id}
    assert ids(canceled_at={"gte": JAN_15}) == {canceled.id}
    assert ids(released_at=JAN_15) == {released.id}
    assert ids(completed_at={"gte": 0}) == set()
    assert ids(created={"gte": JAN_15}) == {waiting.id, canceled.id, running.id}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        bad: Any = {"released_at": {"gte": "soon"}}
        client.v1.subscription_schedules.list(params=bad)
    assert refused.value.param == "released_at[gte]"


# -- refusals ---------------------------------------------------------------------------------


def refusals(
    customer: str, price: str, euro: str, subscription: str
) -> list[tuple[dict[str, Any], str]]:
    item = {"price": price}
    return [
        ({"customer": customer}, "phases"),
        ({"customer": customer, "phases": [{"end_date": MAR_1}]}, "phases[0][items]"),
        (
            {
                "customer": customer,
                "phases": [{"items": [item]}, {"items": [{"price": "price_missing"}]}],
            },
            "phases[1][items][0][price]",
        ),
        (
            {"customer": customer, "phases": [{"items": [item]}, {"items": [{"price": euro}]}]},
            "phases[1][items][0][price]",
        ),
        (
            {
                "customer": customer,
                "start_date": FEB_1,
                "phases": [{"items": [item], "end_date": FEB_1}],
            },
            "phases[0][end_date]",
        ),
        (
            {
                "customer": customer,
                "phases": [{"items": [item], "end_date": MAR_1, "duration": MONTH}],
            },
            "phases[0][duration]",
        ),
        (
            {"customer": customer, "start_date": JAN_15 - 60, "phases": [{"items": [item]}]},
            "start_date",
        ),
        (
            {"customer": customer, "end_behavior": "renew", "phases": [{"items": [item]}]},
            "end_behavior",
        ),
        ({"customer": customer, "phases": [{"items": [item], "trial": True}]}, "phases[0][trial]"),
        (
            {
                "customer": customer,
                "phases": [{"items": [item]}, {"items": [item], "trial_end": APR_15}],
            },
            "phases[1][trial_end]",
        ),
        (
            {"customer": customer, "phases": [{"items": [item], "currency": "eur"}]},
            "phases[0][currency]",
        ),
        (
            {"customer": customer, "phases": [{"items": [item, item]}]},
            "phases[0][items]",
        ),
        (
            {
                "customer": customer,
                "phases": [{"items": [{**item, "price_data": {"currency": "usd"}}]}],
            },
            "phases[0][items][0][price_data]",
        ),
        ({"from_subscription": subscription, "phases": [{"items": [item]}]}, "phases"),
        ({"from_subscription": "sub_missing"}, "from_subscription"),
        (
            {
                "customer": customer,
                "pause_schedules": [{"key": "k"}],
                "phases": [{"items": [item]}],
            },
            "pause_schedules",
        ),
    ]


def test_refusals_name_the_parameter_and_store_nothing(client: Client) -> None:
    price = monthly_price(client, 1000)
    euro = monthly_price(client, 1000, currency="eur")
    _, customer = clock_customer(client, frozen_time=JAN_15)
    _, other = clock_customer(client, frozen_time=JAN_15)
    subscription = subscribe(client, other.id, price.id)
    for params, param in refusals(customer.id, price.id, euro.id, subscription.id):
        with pytest.raises(stripe.StripeError) as refused:
            create(client, **params)
        assert refused.value.http_status in (400, 404), params
        assert getattr(refused.value, "param", None) == param, params
    assert client.v1.subscription_schedules.list().data == []
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert listed.data == []
    assert client.v1.subscriptions.retrieve(subscription.id).schedule is None


# -- in real time -----------------------------------------------------------------------------


def run_transitions_at(server: KassaServer, now: float) -> int:
    """The `invoices` job's first two steps, once, in this process at `now`: the schedules
    with work due move on, then the subscriptions whose period has ended renew."""
    hooks.install(observers.OBSERVERS)

    async def run(store: Store) -> int:
        payments = await load_payment_config(store, Settings(database_url=server.database_url))
        moved = await transition_due_schedules(store, FrozenClock(now), payments)
        await renew_due_subscriptions(store, FrozenClock(now), payments)
        return moved

    return with_store(server.database_url, run)


def test_in_real_time_the_invoices_job_moves_a_schedule_once(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    pro, basic = monthly_price(client, 3000), monthly_price(client, 1000)
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe(client, customer.id, pro.id)
    start, end = period_of(subscription)
    schedule = create(client, from_subscription=subscription.id)
    client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {"start_date": start, "end_date": end, "items": [{"price": pro.id}]},
                {"items": [{"price": basic.id}]},
            ]
        },
    )
    run_transitions_at(server, end - 1)
    assert price_of(client.v1.subscriptions.retrieve(subscription.id)) == pro.id
    assert run_transitions_at(server, end + 1) >= 1
    moved = client.v1.subscriptions.retrieve(subscription.id)
    assert price_of(moved) == basic.id
    updates = len(schedule_events(client, schedule.id))
    # Run again (as after a crash): nothing is due, nothing changes.
    run_transitions_at(server, end + 2)
    assert len(schedule_events(client, schedule.id)) == updates
    assert client.v1.subscription_schedules.retrieve(schedule.id).current_phase is not None


def test_deleting_the_clock_cancels_its_customers_schedules(client: Client) -> None:
    price = monthly_price(client, 1000)
    clock_id, customer = clock_customer(client, frozen_time=JAN_15)
    phases = [{"items": [{"price": price.id}]}]
    waiting = create(client, customer=customer.id, phases=phases, start_date=FEB_1)
    running = create(client, customer=customer.id, phases=phases, start_date="now")
    client.v1.test_helpers.test_clocks.delete(clock_id)
    for schedule in (waiting, running):
        ended = client.v1.subscription_schedules.retrieve(schedule.id)
        assert (ended.status, ended.canceled_at) == ("canceled", JAN_15)
        assert [t for t, _ in schedule_events(client, schedule.id)][-1] == (
            "subscription_schedule.canceled"
        )
    subscription = client.v1.subscriptions.retrieve(str(running.subscription))
    assert subscription.status == "canceled"
