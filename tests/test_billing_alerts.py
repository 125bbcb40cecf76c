"""Billing alerts through the official SDK against a live `kassa serve`, on SQLite and
PostgreSQL (one server per module): alerts made, retrieved (their meter expanded), listed by
meter, and refused naming the parameter with nothing written; the status machine (active <->
inactive, either -> archived for good, an archived alert refusing every move and left out of
lists); then meter events crossing a threshold for one customer and not another, a
`one_time` alert triggering once per customer, inactive and archived alerts never, usage
reported before an alert not counted, an adjustment's cancel raising usage past a threshold,
and a test clock's customer triggering at the clock's time, every `billing.alert.triggered`
read back through `/v1/events`, the ledger whole."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account

Client = stripe.StripeClient
TRIGGERED = "billing.alert.triggered"

alerts_server = module_server("billing-alerts", KassaServer)


@pytest.fixture
def server(alerts_server: KassaServer) -> Iterator[KassaServer]:
    yield alerts_server
    assert_ledger_whole(alerts_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def _fields(cls: type) -> frozenset[str]:
    """What stripe-python declares of an object."""
    return frozenset(
        name
        for klass in cls.__mro__
        for name in getattr(klass, "__annotations__", {})
        if not name.startswith("_") and name != "OBJECT_NAME"
    )


ALERT_FIELDS = _fields(stripe.billing.Alert)
THRESHOLD_FIELDS = _fields(stripe.billing.Alert.UsageThreshold)
TRIGGERED_FIELDS = _fields(stripe.billing.AlertTriggered)


def refused(call: Callable[[], Any], status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def meter(client: Client, event_name: str, formula: str = "sum") -> Any:
    params: Any = {
        "display_name": f"Meter {event_name}",
        "event_name": event_name,
        "default_aggregation": {"formula": formula},
    }
    return client.v1.billing.meters.create(params=params)


def customer(client: Client, **params: Any) -> str:
    return client.v1.customers.create(params=cast(Any, params)).id


def alert(client: Client, meter_id: str, gte: int, customer_id: str | None = None) -> Any:
    threshold: dict[str, Any] = {"gte": gte, "meter": meter_id, "recurrence": "one_time"}
    if customer_id is not None:
        threshold["filters"] = [{"type": "customer", "customer": customer_id}]
    params: Any = {
        "alert_type": "usage_threshold",
        "title": f"{gte} on {customer_id or 'everyone'}",
        "usage_threshold": threshold,
    }
    return client.v1.billing.alerts.create(params=params)


def usage(client: Client, event_name: str, customer_id: str, value: int, **params: Any) -> Any:
    payload = {"stripe_customer_id": customer_id, "value": str(value)}
    return client.v1.billing.meter_events.create(
        params=cast(Any, {"event_name": event_name, "payload": payload, **params})
    )


def triggered(client: Client) -> list[dict[str, Any]]:
    """The account's `billing.alert.triggered` events, oldest first, as sent."""
    listed = client.v1.events.list(params={"type": TRIGGERED, "limit": 100})
    return [event.to_dict()["data"]["object"] for event in reversed(listed.data)]


def listed_ids(client: Client, **params: Any) -> list[str]:
    page = client.v1.billing.alerts.list(params=cast(Any, {"limit": 100, **params}))
    return [a.id for a in page.data]


# -- alerts ----------------------------------------------------------------------------------


def test_alerts_are_made_retrieved_listed_and_refused_naming_the_parameter(
    client: Client,
) -> None:
    calls = meter(client, "alert_calls")
    other = meter(client, "alert_other")
    cus = customer(client)
    everyone = alert(client, calls.id, 100)
    assert set(everyone.to_dict()) == ALERT_FIELDS
    assert everyone.id.startswith("alrt_") and everyone.object == "billing.alert"
    assert (everyone.alert_type, everyone.status, everyone.livemode) == (
        "usage_threshold",
        "active",
        False,
    )
    assert everyone.title == "100 on everyone"
    threshold = everyone.usage_threshold.to_dict()
    assert set(threshold) == THRESHOLD_FIELDS
    assert threshold == {"filters": None, "gte": 100, "meter": calls.id, "recurrence": "one_time"}
    one = alert(client, calls.id, 5, cus)
    assert one.usage_threshold.to_dict()["filters"] == [{"customer": cus, "type": "customer"}]
    on_other = alert(client, other.id, 7)

    fetched = client.v1.billing.alerts.retrieve(
        one.id, params={"expand": ["usage_threshold.meter", "usage_threshold.filters.customer"]}
    )
    expanded = fetched.to_dict()["usage_threshold"]
    assert (expanded["meter"]["id"], expanded["meter"]["object"]) == (calls.id, "billing.meter")
    assert expanded["filters"][0]["customer"]["id"] == cus
    assert client.v1.billing.alerts.retrieve(everyone.id).to_dict() == everyone.to_dict()

    assert listed_ids(client) == [on_other.id, one.id, everyone.id]
    assert listed_ids(client, meter=calls.id) == [one.id, everyone.id]
    assert listed_ids(client, meter=calls.id, alert_type="usage_threshold") == [one.id, everyone.id]
    assert listed_ids(client, meter="mtr_none") == []
    first = client.v1.billing.alerts.list(params={"limit": 2})
    assert first.has_more and [a.id for a in first.data] == [on_other.id, one.id]
    after = client.v1.billing.alerts.list(params={"limit": 2, "starting_after": one.id})
    assert [a.id for a in after.data] == [everyone.id] and not after.has_more

    good: dict[str, Any] = {"gte": 1, "meter": calls.id, "recurrence": "one_time"}

    def create(**params: Any) -> Callable[[], Any]:
        sent = {"alert_type": "usage_threshold", "title": "t", "usage_threshold": good, **params}
        return lambda: client.v1.billing.alerts.create(params=cast(Any, sent))

    def threshold_with(**changes: Any) -> dict[str, Any]:
        return {key: value for key, value in {**good, **changes}.items() if value is not None}

    cases: list[tuple[Callable[[], Any], str, int]] = [
        (
            lambda: client.v1.billing.alerts.create(params=cast(Any, {"title": "t"})),
            "alert_type",
            400,
        ),
        (create(alert_type="spend_threshold"), "alert_type", 400),
        (create(title=""), "title", 400),
        (create(title="x" * 257), "title", 400),
        (create(usage_threshold=None), "usage_threshold", 400),
        (create(usage_threshold=threshold_with(gte=0)), "usage_threshold[gte]", 400),
        (create(usage_threshold=threshold_with(gte=None)), "usage_threshold[gte]", 400),
        (create(usage_threshold=threshold_with(meter=None)), "usage_threshold[meter]", 400),
        (create(usage_threshold=threshold_with(meter="mtr_none")), "usage_threshold[meter]", 404),
        (
            create(usage_threshold=threshold_with(recurrence="monthly")),
            "usage_threshold[recurrence]",
            400,
        ),
        (
            create(
                usage_threshold=threshold_with(filters=[{"type": "customer", "customer": cus}] * 2)
            ),
            "usage_threshold[filters]",
            400,
        ),
        (
            create(usage_threshold=threshold_with(filters=[{"type": "customer"}])),
            "usage_threshold[filters][0][customer]",
            400,
        ),
        (
            create(usage_threshold=threshold_with(filters=[{"type": "tenant", "customer": cus}])),
            "usage_threshold[filters][0][type]",
            400,
        ),
        (
            create(
                usage_threshold=threshold_with(
                    filters=[{"type": "customer", "customer": "cus_none"}]
                )
            ),
            "usage_threshold[filters][0][customer]",
            404,
        ),
    ]
    for call, param, status in cases:
        assert refused(call, status).param == param
    assert refused(lambda: client.v1.billing.alerts.retrieve("alrt_none"), 404).param == "id"
    assert listed_ids(client) == [on_other.id, one.id, everyone.id]  # nothing written


def test_at_most_25_alerts_on_a_meter_and_customer(client: Client) -> None:
    calls = meter(client, "alert_limit")
    cus = customer(client)
    made = [alert(client, calls.id, gte, cus) for gte in range(1, 26)]
    error = refused(lambda: alert(client, calls.id, 99, cus))
    assert error.param == "usage_threshold[meter]"
    alert(client, calls.id, 99)  # every customer is another combination
    client.v1.billing.alerts.archive(made[0].id)  # an archived alert counts no more
    alert(client, calls.id, 99, cus)


def test_the_status_machine_and_what_an_archived_alert_refuses(client: Client) -> None:
    calls = meter(client, "alert_status")
    made = alert(client, calls.id, 10)
    service = client.v1.billing.alerts
    assert refused(lambda: service.activate(made.id)).param == "id"  # already active
    assert service.deactivate(made.id).status == "inactive"
    assert refused(lambda: service.deactivate(made.id)).param == "id"
    assert listed_ids(client) == [made.id]  # inactive alerts are listed
    assert service.activate(made.id).status == "active"
    assert service.deactivate(made.id).status == "inactive"
    archived = service.archive(made.id)
    assert archived.status == "archived" and set(archived.to_dict()) == ALERT_FIELDS
    assert service.retrieve(made.id).status == "archived"
    assert listed_ids(client) == [] and listed_ids(client, meter=calls.id) == []
    for move in (service.activate, service.deactivate, service.archive):
        error = refused(functools.partial(move, made.id))
        assert error.param == "id" and "archived" in (error.user_message or "")
    assert service.retrieve(made.id).status == "archived"
    active = alert(client, calls.id, 10)
    assert service.archive(active.id).status == "archived"  # from active too
    assert refused(lambda: service.archive("alrt_none"), 404).param == "id"


# -- triggering ------------------------------------------------------------------------------


def test_a_threshold_crossed_by_one_customer_not_another_once_each(client: Client) -> None:
    calls = meter(client, "alert_usage")
    first, second = customer(client), customer(client)
    on_first = alert(client, calls.id, 10, first)
    on_everyone = alert(client, calls.id, 10)
    archived = alert(client, calls.id, 1)
    client.v1.billing.alerts.archive(archived.id)
    inactive = alert(client, calls.id, 1, first)
    client.v1.billing.alerts.deactivate(inactive.id)

    usage(client, "alert_usage", first, 4)
    assert triggered(client) == []  # 4 < 10
    usage(client, "alert_usage", first, 6)  # 10: both alerts on the first customer
    usage(client, "alert_usage", first, 5)  # 15: one_time, nothing more
    usage(client, "alert_usage", second, 9)  # 9 < 10
    assert [(t["alert"]["id"], t["customer"], t["value"]) for t in triggered(client)] == [
        (on_first.id, first, 10),
        (on_everyone.id, first, 10),
    ]
    usage(client, "alert_usage", second, 3)  # 12: the alert on everyone, not the first's
    events = triggered(client)
    assert [(t["alert"]["id"], t["customer"], t["value"]) for t in events] == [
        (on_first.id, first, 10),
        (on_everyone.id, first, 10),
        (on_everyone.id, second, 12),
    ]
    for sent in events:
        assert set(sent) == TRIGGERED_FIELDS
        assert sent["object"] == "billing.alert_triggered" and sent["livemode"] is False
        assert set(sent["alert"]) == ALERT_FIELDS and sent["alert"]["status"] == "active"
    assert events[0]["alert"] == client.v1.billing.alerts.retrieve(on_first.id).to_dict()

    # Deactivated, reactivated: it triggers still only for customers it has not yet.
    client.v1.billing.alerts.deactivate(on_everyone.id)
    client.v1.billing.alerts.activate(on_everyone.id)
    usage(client, "alert_usage", first, 1)
    usage(client, "alert_usage", second, 1)
    assert len(triggered(client)) == 3
    # The inactive alert fires once activated, at the next usage; the archived one never.
    client.v1.billing.alerts.activate(inactive.id)
    usage(client, "alert_usage", first, 1)
    assert [(t["alert"]["id"], t["value"]) for t in triggered(client)[3:]] == [(inactive.id, 17)]
    usage(client, "alert_usage", second, 1)
    assert archived.id not in {t["alert"]["id"] for t in triggered(client)}
    assert len(triggered(client)) == 4


def test_only_usage_reported_after_the_alert_counts_and_a_cancel_can_cross(
    client: Client,
) -> None:
    calls = meter(client, "alert_since")
    cus = customer(client)
    usage(client, "alert_since", cus, 50)  # before the alert: not counted
    late = alert(client, calls.id, 40, cus)
    usage(client, "alert_since", cus, 1)
    assert triggered(client) == []
    usage(client, "alert_since", cus, 39)
    assert [(t["alert"]["id"], t["value"]) for t in triggered(client)] == [(late.id, 40)]

    # A canceled negative event raises a sum past the threshold.
    net = meter(client, "alert_net")
    watched = alert(client, net.id, 4, cus)
    usage(client, "alert_net", cus, -3, identifier="alert-net-minus")
    usage(client, "alert_net", cus, 5)  # 2 < 4
    assert len(triggered(client)) == 1
    client.v1.billing.meter_event_adjustments.create(
        params={
            "event_name": "alert_net",
            "type": "cancel",
            "cancel": {"identifier": "alert-net-minus"},
        }
    )
    assert [(t["alert"]["id"], t["value"]) for t in triggered(client)[1:]] == [(watched.id, 5)]


def test_count_and_last_meters_and_a_test_clock_s_time(client: Client) -> None:
    frozen = int(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC).timestamp())
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    on_clock = customer(client, test_clock=clock.id)
    counted = meter(client, "alert_count", "count")
    latest = meter(client, "alert_last", "last")
    on_count = alert(client, counted.id, 3)
    on_last = alert(client, latest.id, 40, on_clock)
    for value in (100, 100):
        usage(client, "alert_count", on_clock, value)  # 2 events < 3, whatever their values
    usage(client, "alert_last", on_clock, 30, timestamp=frozen - 60)
    usage(client, "alert_last", on_clock, 45, timestamp=frozen - 120)  # not the last: 30
    assert triggered(client) == []
    usage(client, "alert_count", on_clock, 1)
    usage(client, "alert_last", on_clock, 41)
    sent = triggered(client)
    assert [(t["alert"]["id"], t["value"]) for t in sent] == [(on_count.id, 3), (on_last.id, 41)]
    assert {t["created"] for t in sent} == {frozen}  # the clock's time
    listed = client.v1.events.list(params={"type": TRIGGERED})
    assert {event.created for event in listed.data} == {frozen}
