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

A trial added to an `active` subscription (a timestamp; `add_trial`): Stripe's update
docstring says the `billing_cycle_anchor` becomes the `trial_end` value, and its guide to
changing subscriptions lists "Adding a trial period to an active subscription" among the
changes that prorate by default. The subscription is `trialing` from now (`trial_start`) to
`trial_end`, every item's current period is that trial, the cycle is anchored at its end,
and the unused time of the paid period is credited as a cancellation's `prorate` credits it
(`subscription_changes.unused_time_credits`, by billing mode: `subscription_credits`), from
now or `proration_date`: with `create_prorations` (the default) pending, so the first paid
period's invoice at the trial's end takes it; with `always_invoice` invoiced at once (the
update's `subscription_changes.invoice_prorations`); with `none`, nothing. The trial's end
then starts the first paid period as any trial's (the renewal work). Worked example (the
tests): 31.00 a month from January 31, 2027; on February 14 a trial to March 10 credits the
14 unused days of the 28-day period, 14/28 x 3100 = 1550; on March 10 the month to April 10
is billed 3100 less that credit, 1550.

What Kassa refuses, where Stripe does more (a 400 naming `trial_end`, nothing written):
a trial added to a subscription that is not `active` (past_due, unpaid, incomplete,
paused, or canceled: what it owes or whether it runs at all is unsettled), one whose
collection is paused (`pause_collection`), whose current period is over but not yet renewed,
whose items bill on more than one interval, or that has a pending update; `now` on a
subscription not on trial (there is no trial to end); a subscription with a `cancel_at`
(which cuts its trial period short); and `now` on a subscription with no payment method
whose `trial_settings[end_behavior][missing_payment_method]` is `cancel` or `pause` (the
trial's end would cancel or pause it rather than bill it; let the trial end, or give it a
payment method first). `trial_from_plan=true` on update asks for the trial its prices have
after the update (`plan_trial_days`, `prices_after_change`), added or moved as that
`trial_end` would be, and refused alike (the 400 names `trial_end`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.services.billing.plan_params import price_param
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    change_time,
    note_prorated_at,
    recurring_price,
    unused_time_credits,
)
from kassa.services.billing.subscription_documents import (
    TRIAL_WILL_END_NOTICE_SECONDS,
    TRIAL_WILL_END_SENT,
    current_period,
    customer_of,
    item_period,
    items_of,
    private,
    set_item_period,
)
from kassa.services.billing.subscription_periods import Recurrence
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


def plan_trial_days(prices: Iterable[Mapping[str, Any]]) -> int:
    """`trial_from_plan=true`: the days of the trial the prices' plans have
    (`recurring[trial_period_days]`), the longest where several have one; 0 for none."""
    return max(
        (int(price["recurring"].get("trial_period_days") or 0) for price in prices), default=0
    )


async def prices_after_change(
    ctx: Context, subscription: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The prices the subscription has once an update's `items[]` are applied: its items'
    own, but those `deleted` or repriced, and each new or new-priced entry's (checked as
    the change checks them: `subscription_changes.recurring_price`)."""
    changed = {str(entry["id"]): entry for entry in items if "id" in entry}
    prices: list[Mapping[str, Any]] = [
        item["price"] for item in items_of(subscription) if str(item["id"]) not in changed
    ]
    for index, entry in enumerate(items):
        if entry.get("deleted"):
            continue
        if "price" in entry:
            param = price_param(entry, f"items[{index}]")
            prices.append(await recurring_price(ctx, str(entry["price"]), param))
        elif "id" in entry:
            kept = [i for i in items_of(subscription) if str(i["id"]) == str(entry["id"])]
            prices.extend(item["price"] for item in kept)
    return prices


@dataclass(frozen=True)
class AddedTrial:
    """A trial added to an active subscription (`add_trial`): the credits (unsaved) for the
    unused time of its paid period."""

    credits: list[ApiObject]


async def move_trial_end(
    ctx: Context, subscription: ApiObject, value: str | None, terms: ChangeTerms
) -> AddedTrial | None:
    """`trial_end` on update (None: not sent): on trial, the trial ends then, every item's
    current period with it, and the billing cycle is anchored there; on an active
    subscription a trial is added (`add_trial`), its credits returned for the caller to
    store or show. `now` is only checked here: the update ends the trial once its items
    have changed (`end_trial_now`), so that the first paid period bills them as they are
    then. Errors name `trial_end`; a preview renames it (`subscription_preview`)."""
    if value is None:
        return None
    now = ctx.now()
    if subscription["status"] == "active" and value != "now":
        return await add_trial(ctx, subscription, future_trial_end(value, now, "trial_end"), terms)
    _check_movable(subscription, now)
    if value == "now":
        return None
    end = future_trial_end(value, now, "trial_end")
    subscription["billing_cycle_anchor"] = end
    subscription["billing_cycle_anchor_config"] = None
    _end_trial_periods(subscription, end)
    _renotify(subscription, end, now)
    return None


async def add_trial(
    ctx: Context, subscription: ApiObject, end: int, terms: ChangeTerms
) -> AddedTrial:
    """A trial from now to `end` on an active subscription (the module's docstring): the
    unused time of its paid period credited per `terms.proration_behavior` (from
    `proration_date` if given), then every item's period the trial, the cycle anchored at
    `end`, the subscription `trialing`."""
    now = ctx.now()
    _check_addable(subscription, now)
    at = change_time(ctx, subscription, terms.proration_date)
    prorating = (terms.proration_behavior or "create_prorations") != "none"
    if prorating:
        # Every item is credited from `at`: not before one's latest prorated change.
        note_prorated_at(subscription, [str(item["id"]) for item in items_of(subscription)], at)
    credits = await unused_time_credits(ctx, subscription, at) if prorating else []
    added = AddedTrial(credits)
    subscription["status"] = "trialing"
    subscription["trial_start"], subscription["trial_end"] = now, end
    subscription["billing_cycle_anchor"] = end
    subscription["billing_cycle_anchor_config"] = None
    for item in items_of(subscription):
        set_item_period(item, (now, end))
    private(subscription)[TRIAL_WILL_END_SENT] = False
    return added


def trial_will_end_due(subscription: Mapping[str, Any], now: int) -> bool:
    """A trial whose notice (`customer.subscription.trial_will_end`) is due now and not
    sent: one that ends within three days."""
    trial_end = subscription["trial_end"]
    return (
        subscription["status"] == "trialing"
        and trial_end is not None
        and int(trial_end) - TRIAL_WILL_END_NOTICE_SECONDS <= now
        and not private(subscription).get(TRIAL_WILL_END_SENT)
    )


def _renotify(subscription: ApiObject, end: int, now: int) -> None:
    """Announced again three days before the new end (`subscription_cycle`), unless that
    time has come already and the notice was sent."""
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
            f"Kassa moves trial_end only during a trial, or adds a trial (a timestamp) to an "
            f"active subscription; {subscription['id']} is {subscription['status']}, with no "
            "trial to end or move.",
            param="trial_end",
        )
    _check_no_cancel_at(subscription)


def _check_addable(subscription: Mapping[str, Any], now: int) -> None:
    """What Kassa adds a trial to: an active subscription whose period is running, on one
    billing interval, its collection not paused, no pending update, no `cancel_at`."""
    refusal = None
    if subscription["pause_collection"] is not None:
        refusal = "its collection is paused (pause_collection); unpause it first"
    elif subscription.get("pending_update") is not None:
        refusal = "it has a pending update waiting for a payment"
    elif current_period(subscription)[1] <= now:
        refusal = "its current period has ended and is not renewed yet"
    elif len({Recurrence.of(item["price"]) for item in items_of(subscription)}) > 1:
        refusal = "its items bill on more than one interval"
    if refusal is not None:
        raise InvalidRequest(
            f"Kassa does not add a trial to {subscription['id']}: {refusal}.", param="trial_end"
        )
    _check_no_cancel_at(subscription)


def _check_no_cancel_at(subscription: Mapping[str, Any]) -> None:
    if subscription["cancel_at"] is not None:
        raise InvalidRequest(
            f"{subscription['id']} is set to cancel at {subscription['cancel_at']}: Kassa does "
            "not move the end of a trial that a cancel_at may cut short; clear cancel_at "
            "first.",
            param="trial_end",
        )
