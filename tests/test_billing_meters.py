"""Billing Meters through the official SDK against a live server, on SQLite and PostgreSQL
(one server per module): meters created, updated, listed, deactivated and reactivated, with
their events; meter events taken once per identifier and refused naming the parameter;
an adjustment canceling one; event summaries for sum, count and last, whole and by day;
and a metered subscription on a test clock whose renewals bill the usage of the period
that ended (a per-unit price and a graduated tiered one), paid, the ledger whole."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, cast

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import KassaServer

Client = stripe.StripeClient

server = module_server("billing-meters", KassaServer)

DAY = 86_400
READY_WAIT_SECONDS = 60.0
READY_POLL_SECONDS = 0.05


def _fields(cls: type) -> frozenset[str]:
    """What stripe-python declares of an object."""
    return frozenset(
        name
        for klass in cls.__mro__
        for name in getattr(klass, "__annotations__", {})
        if not name.startswith("_") and name != "OBJECT_NAME"
    )


METER_FIELDS = _fields(stripe.billing.Meter)
EVENT_FIELDS = _fields(stripe.billing.MeterEvent)
ADJUSTMENT_FIELDS = _fields(stripe.billing.MeterEventAdjustment)
SUMMARY_FIELDS = _fields(stripe.billing.MeterEventSummary)


def utc(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp())


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _meter(client: Client, event_name: str, formula: str = "sum", **params: Any) -> Any:
    return client.v1.billing.meters.create(
        params=cast(
            Any,
            {
                "display_name": f"Meter {event_name}",
                "event_name": event_name,
                "default_aggregation": {"formula": formula},
                **params,
            },
        )
    )


def _event(client: Client, event_name: str, customer: str, value: int | str, **params: Any) -> Any:
    payload = {"stripe_customer_id": customer, "value": str(value)}
    return client.v1.billing.meter_events.create(
        params=cast(Any, {"event_name": event_name, "payload": payload, **params})
    )


def _summaries(client: Client) -> Any:
    """The event summaries' service, its parameters untyped (tests send partial ones)."""
    return client.v1.billing.meters.event_summaries


def _clock_customer(client: Client, frozen_time: int) -> tuple[str, Any]:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen_time})
    customer = client.v1.customers.create(
        params={
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    return clock.id, customer


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


# -- meters ----------------------------------------------------------------------------------


def test_a_meter_is_made_updated_listed_deactivated_and_reactivated(client: Client) -> None:
    meter = _meter(client, "api_calls")
    assert set(meter.to_dict()) == METER_FIELDS
    assert meter.id.startswith("mtr_") and meter.object == "billing.meter"
    assert meter.status == "active" and meter.status_transitions.deactivated_at is None
    assert meter.customer_mapping.to_dict() == {
        "event_payload_key": "stripe_customer_id",
        "type": "by_id",
    }
    assert meter.value_settings.event_payload_key == "value"
    assert meter.default_aggregation.formula == "sum" and meter.event_time_window is None
    assert meter.created == meter.updated

    renamed = client.v1.billing.meters.update(meter.id, params={"display_name": "API calls"})
    assert renamed.display_name == "API calls"
    assert client.v1.billing.meters.retrieve(meter.id).display_name == "API calls"

    other = _meter(
        client,
        "storage",
        "last",
        event_time_window="hour",
        customer_mapping={"event_payload_key": "cust", "type": "by_id"},
        value_settings={"event_payload_key": "gb"},
    )
    assert other.event_time_window == "hour" and other.customer_mapping.event_payload_key == "cust"
    same_name = _refused(lambda: _meter(client, "api_calls"))
    assert same_name.param == "event_name"
    missing = _refused(lambda: client.v1.billing.meters.create(params=cast(Any, {})))
    assert missing.param in {"default_aggregation", "display_name", "event_name"}
    bad_formula = _refused(lambda: _meter(client, "x", "max"))
    assert bad_formula.param == "default_aggregation[formula]"

    deactivated = client.v1.billing.meters.deactivate(other.id)
    assert deactivated.status == "inactive"
    assert deactivated.status_transitions.deactivated_at == deactivated.updated
    assert _refused(lambda: client.v1.billing.meters.deactivate(other.id)).http_status == 400
    inactive = client.v1.billing.meters.list(params={"status": "inactive"})
    assert [m.id for m in inactive.data] == [other.id]
    active = client.v1.billing.meters.list(params={"status": "active"})
    assert [m.id for m in active.data] == [meter.id]
    assert {m.id for m in client.v1.billing.meters.list().data} == {meter.id, other.id}

    reactivated = client.v1.billing.meters.reactivate(other.id)
    assert reactivated.status == "active"
    assert reactivated.status_transitions.deactivated_at is None

    types = [
        e.type
        for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()
        if e.type.startswith("billing.meter.")
    ][::-1]
    assert types == [
        "billing.meter.created",
        "billing.meter.updated",
        "billing.meter.created",
        "billing.meter.deactivated",
        "billing.meter.reactivated",
    ]
    assert _refused(lambda: client.v1.billing.meters.retrieve("mtr_nope"), status=404)


# -- events and adjustments -------------------------------------------------------------------


def test_events_are_taken_once_per_identifier_and_refused_naming_the_parameter(
    client: Client,
) -> None:
    meter = _meter(client, "api_calls")
    customer = client.v1.customers.create()
    event = _event(client, "api_calls", customer.id, 12, identifier="call-1")
    assert set(event.to_dict()) == EVENT_FIELDS
    assert event.object == "billing.meter_event" and event.identifier == "call-1"
    assert event.payload.to_dict() == {"stripe_customer_id": customer.id, "value": "12"}
    assert event.timestamp == event.created
    generated = _event(client, "api_calls", customer.id, 3)
    assert generated.identifier and generated.identifier != "call-1"

    again = _refused(lambda: _event(client, "api_calls", customer.id, 12, identifier="call-1"))
    assert again.param == "identifier" and "call-1" in str(again.user_message)
    assert _refused(lambda: _event(client, "nope", customer.id, 1)).param == "event_name"
    unknown = _refused(lambda: _event(client, "api_calls", "cus_nobody", 1))
    assert unknown.param == "payload[stripe_customer_id]"
    assert _refused(lambda: _event(client, "api_calls", customer.id, "ten")).param == (
        "payload[value]"
    )
    assert _refused(lambda: _event(client, "api_calls", customer.id, "1.5")).param == (
        "payload[value]"
    )
    no_customer = _refused(
        lambda: client.v1.billing.meter_events.create(
            params={"event_name": "api_calls", "payload": {"value": "1"}}
        )
    )
    assert no_customer.param == "payload[stripe_customer_id]"
    now = event.created
    old = _refused(lambda: _event(client, "api_calls", customer.id, 1, timestamp=now - 36 * DAY))
    assert old.param == "timestamp"
    ahead = _refused(lambda: _event(client, "api_calls", customer.id, 1, timestamp=now + 600))
    assert ahead.param == "timestamp"

    client.v1.billing.meters.deactivate(meter.id)
    assert _refused(lambda: _event(client, "api_calls", customer.id, 1)).param == "event_name"


def test_a_meter_s_own_payload_keys_and_an_adjustment_that_cancels_an_event(
    client: Client,
) -> None:
    start = utc(2027, 3, 1)
    clock_id, customer = _clock_customer(client, start + 10 * DAY)
    meter = _meter(
        client,
        "gigabytes",
        customer_mapping={"event_payload_key": "cust", "type": "by_id"},
        value_settings={"event_payload_key": "gb"},
    )
    for identifier, gb in (("a", 5), ("b", 7)):
        client.v1.billing.meter_events.create(
            params={
                "event_name": "gigabytes",
                "identifier": identifier,
                "payload": {"cust": customer.id, "gb": str(gb)},
                "timestamp": start + DAY,
            }
        )
    wrong_key = _refused(
        lambda: client.v1.billing.meter_events.create(
            params={"event_name": "gigabytes", "payload": {"cust": customer.id, "value": "1"}}
        )
    )
    assert wrong_key.param == "payload[gb]"

    def total() -> float:
        summaries = _summaries(client).list(
            meter.id,
            params={"customer": customer.id, "start_time": start, "end_time": start + 10 * DAY},
        )
        (summary,) = summaries.data
        return float(summary.aggregated_value)

    assert total() == 12
    adjustment = client.v1.billing.meter_event_adjustments.create(
        params={"event_name": "gigabytes", "type": "cancel", "cancel": {"identifier": "a"}}
    )
    assert set(adjustment.to_dict()) == ADJUSTMENT_FIELDS
    assert adjustment.object == "billing.meter_event_adjustment"
    assert (adjustment.type, cast(Any, adjustment.cancel).identifier) == ("cancel", "a")
    assert total() == 7
    unknown = _refused(
        lambda: client.v1.billing.meter_event_adjustments.create(
            params={"event_name": "gigabytes", "type": "cancel", "cancel": {"identifier": "z"}}
        )
    )
    assert unknown.param == "cancel[identifier]"
    # Only events sent within the last 24 hours (of the customer's clock) can be canceled.
    _advance(client, clock_id, start + 12 * DAY)
    late = _refused(
        lambda: client.v1.billing.meter_event_adjustments.create(
            params={"event_name": "gigabytes", "type": "cancel", "cancel": {"identifier": "b"}}
        )
    )
    assert late.param == "cancel[identifier]"
    assert total() == 7


# -- event summaries --------------------------------------------------------------------------


def test_event_summaries_aggregate_sum_count_and_last_whole_and_by_day(client: Client) -> None:
    start = utc(2027, 3, 1)
    _, customer = _clock_customer(client, start + 9 * DAY)
    other = client.v1.customers.create()  # whose events no summary of `customer` counts
    readings = ((start + 1 * 3600, 3), (start + 5 * 3600, 4), (start + 2 * DAY + 12 * 3600, 10))
    expected = {"sum": (17, [7, 10]), "count": (3, [2, 1]), "last": (10, [4, 10])}
    for formula in expected:
        _meter(client, f"ev_{formula}", formula)
        for at, value in readings:
            _event(client, f"ev_{formula}", customer.id, value, timestamp=at)
        _event(client, f"ev_{formula}", other.id, 100)
    meters = {m.event_name: m for m in client.v1.billing.meters.list().data}
    window: Any = {"customer": customer.id, "start_time": start, "end_time": start + 9 * DAY}
    for formula, (whole, by_day) in expected.items():
        meter = meters[f"ev_{formula}"]
        listed = _summaries(client).list(meter.id, params=window)
        (summary,) = listed.data
        assert set(summary.to_dict()) == SUMMARY_FIELDS
        assert summary.object == "billing.meter_event_summary" and summary.meter == meter.id
        assert (summary.start_time, summary.end_time) == (start, start + 9 * DAY)
        assert summary.aggregated_value == whole, formula
        days = _summaries(client).list(meter.id, params={**window, "value_grouping_window": "day"})
        assert [s.aggregated_value for s in days.data] == by_day, formula
        assert [(s.start_time, s.end_time) for s in days.data] == [
            (start, start + DAY),
            (start + 2 * DAY, start + 3 * DAY),
        ]
        first = _summaries(client).list(
            meter.id, params={**window, "value_grouping_window": "day", "limit": 1}
        )
        assert first.has_more and [s.id for s in first.data] == [days.data[0].id]
        rest = _summaries(client).list(
            meter.id,
            params={**window, "value_grouping_window": "day", "starting_after": first.data[0].id},
        )
        assert [s.id for s in rest.data] == [days.data[1].id] and not rest.has_more

    meter = meters["ev_sum"]
    empty = _summaries(client).list(meter.id, params={**window, "start_time": start + 3 * DAY})
    assert [s.aggregated_value for s in empty.data] == [0]
    unaligned = _refused(
        lambda: _summaries(client).list(
            meter.id, params={**window, "start_time": start + 3600, "value_grouping_window": "day"}
        )
    )
    assert unaligned.param == "start_time"
    assert (
        _refused(
            lambda: _summaries(client).list(meter.id, params={**window, "end_time": start + 30})
        ).param
        == "end_time"
    )
    missing = _refused(
        lambda: _summaries(client).list(
            meter.id, params=cast(Any, {"start_time": start, "end_time": start + DAY})
        )
    )
    assert missing.param == "customer"


# -- metered subscriptions --------------------------------------------------------------------


def _metered_prices(client: Client) -> tuple[Any, Any, Any]:
    calls = _meter(client, "api_calls", "sum")
    storage = _meter(client, "storage_gb", "last")
    base = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Base plan"},
        }
    )
    per_call = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 5,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": calls.id},
            "product_data": {"name": "API calls"},
        }
    )
    storage_tiers = client.v1.prices.create(
        params={
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 10, "unit_amount": 100}, {"up_to": "inf", "unit_amount": 50}],
            "recurring": {"interval": "month", "usage_type": "metered", "meter": storage.id},
            "product_data": {"name": "Storage"},
        }
    )
    return base, per_call, storage_tiers


def _usage_lines(invoice: Any) -> dict[str, tuple[int, int, int, int]]:
    """price id -> (quantity, amount, period start, period end) of the invoice's lines."""
    return {
        line.pricing.price_details.price: (
            line.quantity,
            line.amount,
            line.period.start,
            line.period.end,
        )
        for line in invoice.lines.data
    }


def test_metered_prices_need_a_meter_and_items_on_them_take_no_quantity(client: Client) -> None:
    no_meter = _refused(
        lambda: client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 5,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_no"},
                "product_data": {"name": "API calls"},
            }
        )
    )
    assert no_meter.param == "recurring[meter]"
    _, per_call, _ = _metered_prices(client)
    customer = client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    refused = _refused(
        lambda: client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": per_call.id, "quantity": 2}]}
        )
    )
    assert refused.param == "items[0][quantity]"
    assert str(refused.user_message).startswith(
        "Quantity should not be specified where usage_type is `metered`."
    )


def test_renewals_bill_the_usage_of_the_period_that_ended(
    client: Client, ledger_verified: None
) -> None:
    jan_1, feb_1, mar_1 = utc(2027, 1, 1, 10), utc(2027, 2, 1, 10), utc(2027, 3, 1, 10)
    clock_id, customer = _clock_customer(client, jan_1)
    base, per_call, storage = _metered_prices(client)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": base.id}, {"price": per_call.id}, {"price": storage.id}],
        }
    )
    assert subscription.status == "active"
    first = client.v1.invoices.retrieve(cast(str, subscription.latest_invoice))
    # The first invoice bills the base plan ahead; the metered items nothing yet.
    assert (first.status, first.amount_paid) == ("paid", 1000)
    assert _usage_lines(first) == {
        base.id: (1, 1000, jan_1, feb_1),
        per_call.id: (0, 0, jan_1, feb_1),
        storage.id: (0, 0, jan_1, feb_1),
    }

    _advance(client, clock_id, utc(2027, 1, 29, 10))
    for at, calls in ((utc(2027, 1, 5), 100), (utc(2027, 1, 20), 250)):
        _event(client, "api_calls", customer.id, calls, timestamp=at)
    _event(client, "api_calls", customer.id, 40, timestamp=utc(2027, 1, 25), identifier="oops")
    client.v1.billing.meter_event_adjustments.create(
        params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "oops"}}
    )
    for at, gb in ((utc(2027, 1, 10), 8), (utc(2027, 1, 28), 14)):
        _event(client, "storage_gb", customer.id, gb, timestamp=at)
    # Before the period's start: not this period's usage.
    _event(client, "api_calls", customer.id, 9999, timestamp=jan_1 - 3600)

    # The preview shows the usage so far: 350 calls at 5 cents = 1750; the last reading,
    # 14 GB, graduated: 10 x 100 + 4 x 50 = 1200; and the base plan ahead, 1000.
    preview = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert _usage_lines(preview) == {
        base.id: (1, 1000, feb_1, mar_1),
        per_call.id: (350, 1750, jan_1, feb_1),
        storage.id: (14, 1200, jan_1, feb_1),
    }
    assert preview.amount_due == 3950

    _advance(client, clock_id, feb_1 + 2 * 3600)
    listed = client.v1.invoices.list(params={"subscription": subscription.id})
    renewal = listed.data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert _usage_lines(renewal) == _usage_lines(preview)
    assert (renewal.status, renewal.amount_paid) == ("paid", 3950)

    # February: 1000 calls (the last at the clock's time, by default) = 5000; 6 GB = 600.
    _advance(client, clock_id, utc(2027, 2, 20, 10))
    _event(client, "api_calls", customer.id, 400, timestamp=utc(2027, 2, 10))
    now_event = _event(client, "api_calls", customer.id, 600)
    assert now_event.timestamp == utc(2027, 2, 20, 10)
    _event(client, "storage_gb", customer.id, 6, timestamp=utc(2027, 2, 15))
    _advance(client, clock_id, mar_1 + 2 * 3600)
    march = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    apr_1 = utc(2027, 4, 1, 10)
    assert _usage_lines(march) == {
        base.id: (1, 1000, mar_1, apr_1),
        per_call.id: (1000, 5000, feb_1, mar_1),
        storage.id: (6, 600, feb_1, mar_1),
    }
    assert (march.billing_reason, march.status, march.amount_paid) == (
        "subscription_cycle",
        "paid",
        6600,
    )

    # Canceled with invoice_now: the usage so far is billed on the final invoice.
    mar_10 = utc(2027, 3, 10, 10)
    _advance(client, clock_id, mar_10)
    _event(client, "api_calls", customer.id, 20, timestamp=utc(2027, 3, 5))
    canceled = client.v1.subscriptions.cancel(
        subscription.id, params={"invoice_now": True, "prorate": False}
    )
    assert canceled.status == "canceled"
    final = client.v1.invoices.retrieve(cast(str, canceled.latest_invoice))
    lines = _usage_lines(final)
    assert lines[per_call.id] == (20, 100, mar_1, mar_10)
    assert lines[storage.id] == (0, 0, mar_1, mar_10)
    assert (final.status, final.amount_paid) == ("paid", 100)
