"""Billing alerts triggered by usage: after each change of a customer's usage on a meter (a
meter event, or an adjustment canceling one: `meter_events`, in the same unit of work), each
active alert on the meter that watches the customer (its filter names it, or it has none) and
has not triggered for the customer yet triggers if the customer's usage has reached its
`gte`: Kassa records it for (alert, customer) and announces `billing.alert.triggered`, whose
object is a `billing.alert_triggered` (the alert, the customer, the usage value).

Where each behaviour comes from (Stripe's guides "Set up usage-based alerts" and "Monitor
usage with alerts"):
- the `one_time` recurrence, Stripe's only one, "triggers when a customer exceeds the
  specified usage level for the first time, and only triggers one time per customer,
  regardless of future usage": once per (alert, customer), ever, whatever the alert's later
  deactivations and activations (`billing_alert_triggers` keeps it, its key standing behind
  the once);
- "Alerts are only evaluated on usage data reported after alert creation" (and "We only
  apply usage data reported after you create the alert to determine when to send it"): the
  usage is the meter's aggregate (`sum`, `count` or `last`, its `default_aggregation`) of
  the customer's events that count (not canceled) reported since the alert was made, in the
  installation's time (`recorded_ms`), whatever their timestamps;
- the value shown is that aggregate, and the time (`created`, the event's) the customer's:
  its test clock's frozen time when it has one (Stripe's guide says alerts do not work with
  test clocks yet; Kassa lets a clock's customer trigger them, at the clock's time).
"""

from __future__ import annotations

from typing import cast

from kassa.services import events
from kassa.services.billing.alerts import TRIGGERED, counts_from_ms, view, watching
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.meter_event_queries import AlertTrigger, Formula, ReportedUsage

ACTIVE: tuple[str, ...] = ("active",)


async def check_alerts(ctx: Context, meter: ApiObject, customer_id: str) -> None:
    """Trigger the meter's alerts the customer's usage now reaches (each once for it)."""
    meter_id = str(meter["id"])
    alerts = [
        *await watching(ctx, meter_id, customer_id, ACTIVE),
        *await watching(ctx, meter_id, None, ACTIVE),
    ]
    if not alerts:
        return
    ctx = await ctx.governed_by({"customer": customer_id})
    formula = cast(Formula, meter["default_aggregation"]["formula"])
    usage_since: dict[int, int | None] = {}
    for alert in alerts:
        since_ms = counts_from_ms(alert)
        if since_ms not in usage_since:  # alerts made at one time count the same events
            scope = ReportedUsage(ctx.account_id, str(meter["event_name"]), customer_id, since_ms)
            usage_since[since_ms] = await ctx.tx.reported_usage(scope, formula)
        value = usage_since[since_ms]
        if value is not None and value >= int(alert["usage_threshold"]["gte"]):
            await _trigger(ctx, alert, customer_id, value)


async def _trigger(ctx: Context, alert: ApiObject, customer_id: str, value: int) -> None:
    created = ctx.now()
    trigger = AlertTrigger(ctx.account_id, str(alert["id"]), customer_id, value, created)
    if not await ctx.tx.insert_alert_trigger(trigger):
        return  # triggered for this customer already: `one_time`
    triggered: ApiObject = {
        "object": "billing.alert_triggered",
        "alert": view(alert),
        "created": created,
        "customer": customer_id,
        "livemode": ctx.livemode,
        "value": value,
    }
    await events.announce(ctx, TRIGGERED, triggered)
