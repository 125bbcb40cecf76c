"""The terms a subscription is created with besides its prices and trial: where its billing
cycle is anchored (`billing_cycle_anchor`, `billing_cycle_anchor_config`,
`proration_behavior`: their parameters here, their periods in `subscription_periods`); when
it ends (`cancel_at`); what the end of a trial does without a payment method
(`trial_settings`); and what its invoices take off and add (`discounts`,
`default_tax_rates`, and each item's `discounts` and `tax_rates`: `subscription_discounts`).
The renewal work (`subscription_cycle`) bills each next period's part (`bill_part`) and
asks this module whether the subscription ends now (`cancel_due`), and the update path can
apply the same terms (`apply_cancel_at`, `apply_trial_settings`). When `cancel_at` makes work
due is derived with the rest (`subscription_documents.next_work_at`).

Cancel at. `cancel_at` (a future unix time, or `min_period_end` for the earliest item
period end, `max_period_end` and `max_billed_until` for the latest (an item is billed in
advance up to its period's end), resolved to a time at once as
Stripe's cancel_at changelog of 2025-07-30.basil says; `cancel_at_period_end` is the
earliest end too, as that changelog says) ends the period it falls in there: that period is
billed prorated (Stripe's docstring: "If set during a future period, this will always cause
a proration for that period"; in the first, only unless `proration_behavior=none`), and at
`cancel_at` the subscription is canceled, every item with it
(`cancellation_details.reason=cancellation_requested`). Set on update inside the current
period, that period is cut short there too, the time after it credited; cleared or moved
later on update, the period it cut short gets its regular end back (or the time up to the
new `cancel_at`), the time given back prorated (`subscription_period_ends.fit_periods_to_end`).

Trial settings. `trial_settings[end_behavior][missing_payment_method]` (create and update)
says what the end of a trial does when the subscription has no payment method to charge
(`cancel`, `pause`, or `create_invoice`, the default: the first period's invoice as usual);
`subscription_cycle` applies it when the trial ends.

Discounts and tax rates: `subscription_discounts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final, Protocol

from kassa.errors import ExclusiveParameters, InvalidParameter
from kassa.invariants import ensure
from kassa.params import UNSET, Enum, Integer, Param, Struct, Timestamp, Unset
from kassa.services.billing import (
    discounts,
    invoice_documents,
    invoice_lines,
    periods,
)
from kassa.services.billing.invoice_item_pricing import net_amount
from kassa.services.billing.invoice_params import TAX_RATE_IDS
from kassa.services.billing.subscription_documents import (
    current_period,
    latest_period_end,
    subscription_item_of,
)
from kassa.services.billing.subscription_params import TRIAL_SETTINGS, CancelAt
from kassa.services.billing.subscription_periods import OpeningTerms, Span
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS

PRORATION_BEHAVIORS: Final = ("always_invoice", "create_prorations", "none")
MISSING_PAYMENT_METHOD_DEFAULT: Final = "create_invoice"
"""Stripe's default end of a trial without a payment method: invoice the first period."""
_ANCHOR_CONFIG = Struct(
    {
        "day_of_month": Integer(minimum=1, maximum=31),
        "hour": Integer(minimum=0, maximum=23),
        "minute": Integer(minimum=0, maximum=59),
        "month": Integer(minimum=1, maximum=12),
        "second": Integer(minimum=0, maximum=59),
    },
    required=("day_of_month",),
)


CREATE_PARAMS: dict[str, Param] = {
    "billing_cycle_anchor": Timestamp(),
    "billing_cycle_anchor_config": _ANCHOR_CONFIG,
    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
    "cancel_at": CancelAt(),
    "discounts": discounts.DISCOUNTS_PARAM,
    "default_tax_rates": TAX_RATE_IDS,
    "trial_settings": TRIAL_SETTINGS,
}
"""What `POST /v1/subscriptions` takes for these terms (merged into its parameters)."""
ITEM_PARAMS: dict[str, Param] = {
    "discounts": discounts.DISCOUNTS_PARAM,
    "tax_rates": TAX_RATE_IDS,
}
"""What each `items[i]` takes for these terms, on create and update."""
UPDATE_PARAMS: dict[str, Param] = {
    "cancel_at": CancelAt(nullable=True),
    "discounts": discounts.DISCOUNTS_PARAM,
    "default_tax_rates": TAX_RATE_IDS,
    "trial_settings": TRIAL_SETTINGS,
}
"""What `POST /v1/subscriptions/{id}` takes for these terms (`apply_*`)."""


class CreateTerms(OpeningTerms, Protocol):
    """The part of a create request this module and `subscription_discounts` read
    (`CreateSubscription` is one)."""

    @property
    def items(self) -> list[dict[str, Any]]: ...
    @property
    def discounts(self) -> list[dict[str, Any]] | Unset | None: ...
    @property
    def default_tax_rates(self) -> list[str] | Unset | None: ...


# -- periods billed and ended --------------------------------------------------------------


async def bill_part(ctx: Context, invoice: ApiObject, spans: Mapping[str, Span]) -> None:
    """Bill `span.fraction` of each line the subscription's draft has for an item over its
    span (`spans`, by subscription item; each rounded once; pending items it took are left
    as they are); a whole period leaves the lines as they are."""
    if all(span.fraction is None for span in spans.values()):
        return
    ensure(invoice["status"] == "draft", "only a draft's lines are prorated")
    for item in await invoice_lines.items_on(ctx, invoice["id"]):
        span = spans.get(subscription_item_of(item) or "")
        if span is None or span.fraction is None or not _bills_span(item, span.period):
            continue
        prorate_line(item, span.fraction)
        await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)
    await invoice_lines.refresh(ctx, invoice)
    await invoice_documents.save(ctx, invoice)


def prorate_line(line: ApiObject, fraction: Fraction) -> None:
    """Bill `fraction` of the line's full price, rounded once: what a renewal's draft holds
    for a part of a period (`bill_part`), and what its preview shows."""
    line["amount"] = periods.prorated_amount(int(line["amount"]), fraction)
    line["net_amount"] = net_amount(line)


def _bills_span(item: Mapping[str, Any], period: tuple[int, int]) -> bool:
    """An invoice item `invoice_period` made for a subscription item over `period`."""
    spans = (item["period"]["start"], item["period"]["end"]) == period
    return spans and subscription_item_of(item) is not None and not item.get("proration")


def cancel_due(subscription: Mapping[str, Any], now: int) -> bool:
    """Its `cancel_at` has come and no period of it ends before that: the end is the work
    due. Work run late (the real-time job after a server was down) may reach a `cancel_at`
    past a period that ended before it; that period's renewal comes first (its span cut at
    `cancel_at`, so the time up to the end is billed) and the end at the next pass, still
    at `cancel_at` (`subscription_cycle.end_as_scheduled`). A paused subscription's periods
    do not move on: its `cancel_at` ends it whatever they say."""
    cancel_at = subscription["cancel_at"]
    if cancel_at is None or now < int(cancel_at):
        return False
    return subscription["status"] == "paused" or end_before_renewal(subscription) is not None


def end_before_renewal(subscription: Mapping[str, Any]) -> int | None:
    """When the subscription ends if that comes before it next renews (its `cancel_at` at or
    before its current period's end: `cancel_at_period_end`, a `cancel_at` that cut the
    period short or falls inside it), else None. The renewal work ends it there
    (`cancel_due`) instead of renewing it."""
    cancel_at = subscription["cancel_at"]
    if cancel_at is None or int(cancel_at) > current_period(subscription)[1]:
        return None
    return int(cancel_at)


# -- the end ----------------------------------------------------------------------------


async def schedule_end(
    ctx: Context,
    subscription: ApiObject,
    cancel_at_period_end: bool | None,
    cancel_at: int | str | Unset | None,
) -> None:
    """`cancel_at_period_end` or `cancel_at` as an update (or a preview of one) sends them:
    when it ends; `cancel_at_period_end` sent false, or `cancel_at` empty, unschedules it."""
    if cancel_at_period_end and cancel_at is not None:
        raise ExclusiveParameters(("cancel_at", "cancel_at_period_end"), param="cancel_at")
    if cancel_at_period_end:
        await apply_cancel_at(ctx, subscription, "min_period_end")
        subscription["cancel_at_period_end"] = True
    elif cancel_at_period_end is False:
        await apply_cancel_at(ctx, subscription, UNSET)
    else:
        await apply_cancel_at(ctx, subscription, cancel_at)


async def apply_cancel_at(
    ctx: Context,
    subscription: ApiObject,
    value: int | str | Unset | None,
) -> None:
    """`cancel_at` on update: a future time, a named period end (the current period's), or
    cleared when sent empty. The subscription ends at `cancel_at`, or a later period is cut
    short there when it begins. The update's change work fits the current periods to it
    (`subscription_period_ends.fit_periods_to_end`): one that ends after it is cut short there,
    the time after it credited; one an earlier `cancel_at` cut short gets its end back, the
    time given back prorated."""
    if value is None:
        return
    at = None
    if value == "min_period_end":
        at = current_period(subscription)[1]
    elif isinstance(value, str):
        at = latest_period_end(subscription)  # max_period_end, max_billed_until
    elif isinstance(value, int):
        at = value
    if at is not None and at <= ctx.now():
        raise InvalidParameter(
            "Invalid cancel_at: must be an integer Unix timestamp in the future.",
            param="cancel_at",
        )
    subscription["cancel_at"], subscription["cancel_at_period_end"] = at, False


# -- the end of a trial ----------------------------------------------------------------------


def apply_trial_settings(subscription: ApiObject, value: Mapping[str, Any] | None) -> None:
    """`trial_settings` on create or update: what the end of the trial does without a
    payment method (left as it was when `missing_payment_method` is not sent)."""
    if value is None:
        return
    behavior = value["end_behavior"].get("missing_payment_method")
    if behavior is not None:
        subscription["trial_settings"]["end_behavior"]["missing_payment_method"] = behavior


def missing_payment_method_behavior(subscription: Mapping[str, Any]) -> str:
    """`cancel`, `pause` or `create_invoice`: what the end of the subscription's trial does
    when it has no payment method."""
    settings = subscription.get("trial_settings") or {}
    found = (settings.get("end_behavior") or {}).get("missing_payment_method")
    return str(found or MISSING_PAYMENT_METHOD_DEFAULT)
