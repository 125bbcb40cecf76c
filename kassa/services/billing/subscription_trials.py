"""A trial's end: checked when a subscription is created with `trial_end`, and moved by
`trial_end` on `POST /v1/subscriptions/{id}` and in a preview of that update
(`subscription_details[trial_end]` of `create_preview`, on a copy). One function moves it
for both (`move_trial_end`), so the renewal a preview shows at the new end is the one the
update leads to.

Moving a trial's end moves the end of every item's current period (a trial covers them
alike: `subscription_periods.opening`) and, when the billing cycle is anchored at the
trial's end (the default), the anchor with it: the first paid period then runs a whole
period from the new end, as it would have had the subscription been created with it. An
anchor set apart from the trial (`billing_cycle_anchor`, `billing_cycle_anchor_config`)
stays, and the trial may not end after it, as on create.

What Kassa refuses, where Stripe does more: `trial_end` on a subscription not on trial
(Stripe starts a new trial, crediting the time already paid for), `now` (Stripe ends the
trial and invoices the first paid period at once; Kassa's trials end through the renewal
work, `subscription_cycle`), and a subscription with a `cancel_at` (which cuts its trial
period short)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.services.billing.subscription_documents import (
    TRIAL_WILL_END_NOTICE_SECONDS,
    TRIAL_WILL_END_SENT,
    item_period,
    items_of,
    private,
    set_item_period,
)
from kassa.services.resource import ApiObject

TRIAL_DAYS_MAX: Final = 730
"""Stripe's longest trial: two years."""
TRIAL_END_CHARS_MAX: Final = 20
"""A unix time, or `now`."""


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
    period with it, and the billing cycle anchor too when it was at the trial's end. Errors
    name `trial_end`; a preview renames it (`subscription_preview`)."""
    if value is None:
        return
    _check_movable(subscription, value, now)
    end = future_trial_end(value, now, "trial_end")
    old = int(subscription["trial_end"])
    anchor = int(subscription["billing_cycle_anchor"])
    if _anchored_at_trial_end(subscription, old):
        subscription["billing_cycle_anchor"] = end
    elif end > anchor:
        raise InvalidRequest(
            f"A trial cannot end after the billing cycle anchor ({anchor}); trial_end must "
            "be no later.",
            param="trial_end",
        )
    subscription["trial_end"] = end
    for item in items_of(subscription):
        start, ending = item_period(item)
        ensure(ending == old, f"{item['id']}'s trial period ends with the trial")
        set_item_period(item, (start, end))
    # Announced again three days before the new end (`subscription_cycle`), unless that
    # time has come already and the notice was sent.
    if end - TRIAL_WILL_END_NOTICE_SECONDS > now:
        private(subscription)[TRIAL_WILL_END_SENT] = False


def _check_movable(subscription: Mapping[str, Any], value: str, now: int) -> None:
    # A trial whose end has come is over, though the renewal work may not have run yet.
    trialing = subscription["status"] == "trialing" and subscription["trial_end"] is not None
    if not trialing or int(subscription["trial_end"]) <= now:
        raise InvalidRequest(
            f"Kassa moves trial_end only during a trial; {subscription['id']} is "
            f"{subscription['status']} (a new trial for a subscription already billing is "
            "not supported).",
            param="trial_end",
        )
    if value == "now":
        raise InvalidParameter(
            "Kassa does not end a trial early (trial_end=now) yet: move it to a future "
            "time, or let the trial end.",
            param="trial_end",
        )
    if subscription["cancel_at"] is not None:
        raise InvalidRequest(
            f"{subscription['id']} is set to cancel at {subscription['cancel_at']}: Kassa does "
            "not move the end of a trial that a cancel_at may cut short; clear cancel_at "
            "first.",
            param="trial_end",
        )


def _anchored_at_trial_end(subscription: Mapping[str, Any], trial_end: int) -> bool:
    """The cycle starts where the trial ends (no anchor of its own was given)."""
    return (
        int(subscription["billing_cycle_anchor"]) == trial_end
        and subscription["billing_cycle_anchor_config"] is None
    )
