"""A trial's end: checked when a subscription is created with `trial_end`, and moved or
ended by `trial_end` on `POST /v1/subscriptions/{id}` and in a preview of that update
(`subscription_details[trial_end]` of `create_preview`, on a copy). The same functions work
it out for both (`move_trial_end`, `end_trial_now`), so the invoice a preview shows is the
one the update leads to.

Moving a trial's end moves the end of every item's current period (a trial covers them
alike: `subscription_periods.opening`) and the billing cycle anchor with it, an anchor of
its own included (Stripe's update docstring: "The `billing_cycle_anchor` will be updated to
the `trial_end` value"): the first paid period then runs a whole period from the new end.

`now` ends the trial at once (Stripe: "The special value `now` can be provided to end the
customer's trial immediately"): every item's trial period ends now and the billing cycle is
anchored now, an anchor of its own included (Stripe's update docstring: "The
`billing_cycle_anchor` will be updated to the `trial_end` value"), so the first paid period
is a whole one from now. The update then starts it as the renewal work starts it at a
trial's natural end (`subscription_renewal.invoice_next_period`) and collects its invoice
at once; a preview shows that invoice (`subscription_preview`). A trial ended so is
announced (`customer.subscription.trial_will_end`) as Stripe's event says: it "occurs three
days before a subscription's trial period is scheduled to end, or when a trial is ended
immediately (using `trial_end=now`)".

What Kassa refuses, where Stripe does more: `trial_end` on a subscription not on trial
(Stripe starts a new trial, crediting the time already paid for), a subscription with a
`cancel_at` (which cuts its trial period short), and `now` on a subscription with no payment
method whose `trial_settings[end_behavior][missing_payment_method]` is `cancel` or `pause`
(the trial's end would cancel or pause it rather than bill it; let the trial end, or give
it a payment method first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.services.billing.subscription_documents import (
    TRIAL_WILL_END_NOTICE_SECONDS,
    TRIAL_WILL_END_SENT,
    customer_of,
    item_period,
    items_of,
    private,
    set_item_period,
)
from kassa.services.billing.subscription_terms import missing_payment_method_behavior
from kassa.services.context import Context
from kassa.services.resource import ApiObject

TRIAL_DAYS_MAX: Final = 730
"""Stripe's longest trial: two years."""


def future_trial_end(value: str, now: int, param: str) -> int:
    """`trial_end` as a unix time after `now` and at most `TRIAL_DAYS_MAX` days on."""
    if not value.isdigit():
        raise InvalidParameter(
            f"Invalid {param}: {value[:40]}; must be a unix time or `now`", param=param
        )
    end = int(value)
    if end <= now:
        raise InvalidParameter(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", param=param
        )
    if end > now + TRIAL_DAYS_MAX * DAY_SECONDS:
        raise InvalidParameter(f"Invalid {param}: a trial may last at most two years.", param=param)
    return end


def move_trial_end(subscription: ApiObject, value: str | None, now: int) -> None:
    """`trial_end` on update (None: not sent): the trial ends then, every item's current
    period with it, and the billing cycle is anchored there. `now`
    is only checked here: the update ends the trial once its items have changed
    (`end_trial_now`), so that the first paid period bills them as they are then. Errors
    name `trial_end`; a preview renames it (`subscription_preview`)."""
    if value is None:
        return
    _check_movable(subscription, now)
    if value == "now":
        return
    end = future_trial_end(value, now, "trial_end")
    subscription["billing_cycle_anchor"] = end
    subscription["billing_cycle_anchor_config"] = None
    _end_trial_periods(subscription, end)
    # Announced again three days before the new end (`subscription_cycle`), unless that
    # time has come already and the notice was sent.
    if end - TRIAL_WILL_END_NOTICE_SECONDS > now:
        private(subscription)[TRIAL_WILL_END_SENT] = False


async def end_trial_now(ctx: Context, subscription: ApiObject) -> None:
    """`trial_end=now`, checked by `move_trial_end`: the trial and every item's trial period
    end now, and the billing cycle is anchored now. The caller starts the first paid period
    (`subscription_renewal.invoice_next_period`), which makes the subscription `active`.
    Refused (naming `trial_end`) when the trial's end would not bill it: no payment method
    and `missing_payment_method` `cancel` or `pause`."""
    now = ctx.now()
    behavior = missing_payment_method_behavior(subscription)
    if behavior != "create_invoice" and not await has_payment_method(ctx, subscription):
        raise InvalidRequest(
            f"{subscription['id']} has no payment method and its trial_settings[end_behavior]"
            f"[missing_payment_method] is {behavior}: Kassa does not end its trial early "
            "(trial_end=now); give it a payment method first, or let the trial end.",
            param="trial_end",
        )
    subscription["billing_cycle_anchor"] = now
    subscription["billing_cycle_anchor_config"] = None
    _end_trial_periods(subscription, now)


def _end_trial_periods(subscription: ApiObject, end: int) -> None:
    """The trial ends at `end`, and every item's trial period with it."""
    old = int(subscription["trial_end"])
    subscription["trial_end"] = end
    for item in items_of(subscription):
        start, ending = item_period(item)
        ensure(ending == old, f"{item['id']}'s trial period ends with the trial")
        set_item_period(item, (start, end))


async def has_payment_method(ctx: Context, subscription: ApiObject) -> bool:
    """What Stripe checks at a trial's end: `default_payment_method` and `default_source`
    on the subscription and on its customer (`invoice_settings.default_payment_method`)."""
    if subscription["default_payment_method"] or subscription["default_source"]:
        return True
    customer = await customer_of(ctx, subscription)
    settings = customer.get("invoice_settings") or {}
    return bool(settings.get("default_payment_method") or customer.get("default_source"))


def _check_movable(subscription: Mapping[str, Any], now: int) -> None:
    # A trial whose end has come is over, though the renewal work may not have run yet.
    trialing = subscription["status"] == "trialing" and subscription["trial_end"] is not None
    if not trialing or int(subscription["trial_end"]) <= now:
        raise InvalidRequest(
            f"Kassa moves trial_end only during a trial; {subscription['id']} is "
            f"{subscription['status']} (a new trial for a subscription already billing is "
            "not supported).",
            param="trial_end",
        )
    if subscription["cancel_at"] is not None:
        raise InvalidRequest(
            f"{subscription['id']} is set to cancel at {subscription['cancel_at']}: Kassa does "
            "not move the end of a trial that a cancel_at may cut short; clear cancel_at "
            "first.",
            param="trial_end",
        )
