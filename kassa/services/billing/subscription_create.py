"""Creating a subscription (`POST /v1/subscriptions`): its items, trial, terms and billing
mode checked, its first period started and its first invoice made and collected in the same
request, and the notice three days before its trial ends (`announce_trial_will_end`, which
the renewal work sends too).

Creating a subscription starts its first period at once (or its trial, `trial_period_days`,
`trial_end`, or `trial_from_plan` for the trial its prices' plans have): the first invoice
(`billing_reason=subscription_create`) is finalized and, for `charge_automatically`, charged
to the subscription's or the customer's default payment method in the same request. Paid (or
nothing owed during a trial): `active` (`trialing`). Not paid: `incomplete` with
`payment_behavior=allow_incomplete` (the default), a 402 and nothing stored with
`error_if_incomplete`; `default_incomplete` leaves the invoice's payment to the client and
the subscription `incomplete`. A `send_invoice` subscription is `active` at once. Paying the
first invoice later makes an incomplete subscription `active`
(`subscription_cycle.on_invoice_paid`).

One-off charges sent with it (`add_invoice_items`: `subscription_invoice_items`) are on its
first invoice, which bills only them during a trial.

All prices of one subscription share their currency; their billing intervals may differ
(mixed intervals: each item has its own period, see `subscription_periods`), and the first
invoice bills every item for its first period (Stripe's mixed-interval guide: the first
invoice bills both items). The operation is declared with the others (`subscriptions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from kassa.errors import (
    CardDeclined,
    CardError,
    ExclusiveParameters,
    InvalidParameter,
    MissingParameter,
)
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Unset,
    apply_metadata,
)
from kassa.services.billing import (
    invoice_advance,
    invoice_collection,
    invoice_documents,
    invoice_transitions,
    periods,
    subscription_billing_mode,
    subscription_discounts,
    subscription_periods,
    subscription_settings,
    subscription_setup,
    subscription_terms,
)
from kassa.services.billing.invoice_changes import (
    apply_default_payment_method,
    billed_customer,
)
from kassa.services.billing.plan_params import item_with_plan, price_param
from kassa.services.billing.subscription_changes import (
    check_item_bills,
    check_prices_alike,
    check_prices_distinct,
    entry_price,
)
from kassa.services.billing.subscription_documents import (
    DECIDING_STATUS,
    ITEMS_MAX,
    TRIAL_WILL_END_SENT,
    announce,
    blank_subscription,
    insert,
    new_item,
    private,
    save,
    view,
)
from kassa.services.billing.subscription_invoice_items import (
    ADD_INVOICE_ITEMS,
    add_invoice_items,
)
from kassa.services.billing.subscription_invoices import invoice_period
from kassa.services.billing.subscription_params import (
    BILLING_MODE,
    CLASSIC,
    ITEM_PRICE_DATA,
    TRIAL_END_CHARS_MAX,
)
from kassa.services.billing.subscription_periods import Span
from kassa.services.billing.subscription_trials import (
    TRIAL_DAYS_MAX,
    future_trial_end,
    plan_trial_days,
    trial_will_end_due,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject

PAYMENT_BEHAVIORS: Final = ("allow_incomplete", "default_incomplete", "error_if_incomplete")
_ITEM = item_with_plan(
    Struct(
        {
            "price": String(max_chars=255),
            "quantity": Integer(minimum=0, maximum=1_000_000_000),
            "price_data": ITEM_PRICE_DATA,
            "metadata": Metadata(),
            **subscription_terms.ITEM_PARAMS,
        },
        # `price` or `price_data`: `item_with_plan` takes either (or `plan`).
        required=("price",),
    )
)
CREATE_PARAMS: dict[str, Param] = {
    **subscription_terms.CREATE_PARAMS,
    "customer": String(max_chars=255),
    "items": ListOf(item=_ITEM, max_items=ITEMS_MAX),
    "trial_period_days": Integer(minimum=0, maximum=TRIAL_DAYS_MAX),
    "trial_end": String(max_chars=TRIAL_END_CHARS_MAX),
    "trial_from_plan": Boolean(),
    "collection_method": Enum(values=("charge_automatically", "send_invoice")),
    "days_until_due": Integer(minimum=0, maximum=subscription_settings.DAYS_UNTIL_DUE_MAX),
    "default_payment_method": String(max_chars=255),
    "description": String(max_chars=500),
    "metadata": Metadata(),
    "cancel_at_period_end": Boolean(),
    "payment_behavior": Enum(values=PAYMENT_BEHAVIORS),
    "off_session": Boolean(),
    "billing_mode": BILLING_MODE,
    **subscription_settings.SETTINGS_PARAMS,
    **subscription_settings.CREATE_ONLY_PARAMS,
    "add_invoice_items": ADD_INVOICE_ITEMS,
}


@dataclass(frozen=True, kw_only=True)
class CreateSubscription:
    customer: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    trial_period_days: int | None = None
    trial_end: str | None = None
    trial_from_plan: bool | None = None
    collection_method: str | None = None
    days_until_due: int | None = None
    default_payment_method: str | None = None
    description: str | None = None
    metadata: MetadataUpdate | None = None
    cancel_at_period_end: bool | None = None
    payment_behavior: str | None = None
    off_session: bool | None = None
    # Anchor, end, discounts and tax rates: `subscription_terms` (periods: `subscription_periods`).
    billing_cycle_anchor: int | None = None
    billing_cycle_anchor_config: dict[str, Any] | None = None
    proration_behavior: str | None = None
    cancel_at: int | str | None = None
    discounts: list[dict[str, Any]] | Unset | None = None
    default_tax_rates: list[str] | Unset | None = None
    trial_settings: dict[str, Any] | None = None
    billing_mode: dict[str, Any] | None = None
    # Settings for its invoices: `subscription_settings`.
    automatic_tax: dict[str, Any] | None = None
    invoice_settings: dict[str, Any] | None = None
    payment_settings: dict[str, Any] | None = None
    currency: str | None = None
    add_invoice_items: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Priced:
    price: ApiObject
    quantity: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class Opened:
    """A new subscription's document (not stored, its items made), its items' first spans
    (by subscription item id) and when its trial ends (None: no trial)."""

    subscription: ApiObject
    spans: dict[str, Span]
    trial_end: int | None


async def create_subscription(
    ctx: Context, request: CreateSubscription, *, schedule: str | None = None
) -> ApiObject:
    """`schedule`: the subscription schedule starting it (`subscription_schedule_transitions`),
    which its `schedule` field names from its creation on."""
    customer = await billed_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    opened = await open_subscription(ctx, customer, request)
    subscription, spans, trial_end = opened.subscription, opened.spans, opened.trial_end
    subscription["schedule"] = schedule
    now = int(subscription["created"])
    await subscription_discounts.apply_create_terms(ctx, subscription, request)
    # One-off charges, pending for the first invoice (which bills only them on a trial).
    added = await add_invoice_items(ctx, subscription, request.add_invoice_items or [])
    await insert(ctx, subscription)
    # Its first invoice's fate decides its status below, not through the invoice hooks.
    ctx.memo[DECIDING_STATUS] = subscription["id"]
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason="subscription_create",
        trial=trial_end is not None,
        pending="subscription" if added else "none",
        spans=spans,
    )
    subscription["latest_invoice"] = invoice["id"]
    subscription["status"] = await _first_invoice_outcome(ctx, subscription, invoice, request)
    if invoice["status"] == "paid":
        await subscription_settings.save_paying_method(ctx, subscription, invoice)
    if subscription_setup.needs_setup(subscription, customer):
        await subscription_setup.open_pending_setup(ctx, subscription)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.created", subscription)
    if trial_will_end_due(subscription, now):
        await announce_trial_will_end(ctx, subscription)  # a trial of three days or less
    return view(subscription)


async def open_subscription(
    ctx: Context, customer: ApiObject, request: CreateSubscription
) -> Opened:
    """The subscription `request` creates for `customer`, not stored: its settings, billing
    mode, trial, first period and items, as creating it and previewing its first invoice
    (`subscription_preview`) both start it."""
    billing_mode = subscription_billing_mode.chosen(request.billing_mode, ctx.now())
    priced = await _priced_items(ctx, request.items, classic=billing_mode["type"] == CLASSIC)
    subscription = blank_subscription(ctx, customer, str(priced[0].price["currency"]))
    subscription["billing_mode"] = billing_mode
    subscription_settings.check_currency(request.currency, subscription["currency"])
    subscription_settings.apply_settings(subscription, request)
    _apply_collection(subscription, request)
    await apply_default_payment_method(ctx, subscription, request.default_payment_method)
    # One instant for all it starts: an incomplete one expires 23 hours after `created`.
    now = int(subscription["created"])
    trial_end = _trial_end(request, now, [p.price for p in priced])
    # The anchor, the first period (prorated up to an anchor or cancel_at), when it ends.
    recurrences = [subscription_periods.Recurrence.of(p.price) for p in priced]
    start = subscription_periods.opening(request, recurrences, now, trial_end)
    subscription_periods.set_opening(subscription, start)
    subscription_terms.apply_trial_settings(subscription, request.trial_settings)
    if trial_end is not None:
        subscription["trial_start"], subscription["trial_end"] = now, trial_end
    subscription["items"]["data"] = [
        new_item(ctx, subscription["id"], p.price, p.quantity, p.metadata, span.period)
        for p, span in zip(priced, start.spans, strict=True)
    ]
    spans = {
        str(item["id"]): span
        for item, span in zip(subscription["items"]["data"], start.spans, strict=True)
    }
    return Opened(subscription, spans, trial_end)


async def announce_trial_will_end(ctx: Context, subscription: ApiObject) -> None:
    """`customer.subscription.trial_will_end`, once: three days before the trial ends (at
    once for a shorter trial), after which the trial's end is the next work due."""
    private(subscription)[TRIAL_WILL_END_SENT] = True
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.trial_will_end", subscription)


async def _priced_items(
    ctx: Context, requested: list[dict[str, Any]], *, classic: bool
) -> list[Priced]:
    if not requested:
        raise InvalidParameter("Missing required param: items.", param="items")
    priced = []
    params = []
    for index, entry in enumerate(requested):
        param = price_param(entry, f"items[{index}]")
        price = await entry_price(ctx, entry, f"items[{index}]")
        if price is None:  # the parser requires price or price_data already
            raise MissingParameter(f"items[{index}][price]")
        quantity = int(entry.get("quantity", 1))
        check_item_bills(price, quantity, entry, f"items[{index}]")
        metadata = apply_metadata({}, entry.get("metadata") or {})
        priced.append(Priced(price, quantity, metadata))
        params.append(param)
    _check_alike(priced, params, classic=classic)
    return priced


def _check_alike(priced: list[Priced], params: list[str], *, classic: bool) -> None:
    prices = [entry.price for entry in priced]
    check_prices_distinct(prices)
    check_prices_alike(prices, str(prices[0]["currency"]), params, classic=classic)


def _trial_end(request: CreateSubscription, now: int, prices: list[ApiObject]) -> int | None:
    """When its trial ends (None: no trial): `trial_period_days`, `trial_end`, or with
    `trial_from_plan=true` the trial its prices' plans have (`plan_trial_days`), which
    Stripe takes with no `trial_end` ("Setting this flag to true together with trial_end is
    not allowed"), nor here with `trial_period_days` (two lengths for one trial)."""
    if request.trial_end is not None and request.trial_period_days is not None:
        raise ExclusiveParameters(("trial_end", "trial_period_days"), param="trial_end")
    if request.trial_from_plan:
        for other, value in (
            ("trial_end", request.trial_end),
            ("trial_period_days", request.trial_period_days),
        ):
            if value is not None:
                raise ExclusiveParameters((other, "trial_from_plan"), param="trial_from_plan")
        days = plan_trial_days(prices)
        return periods.trial_end_from_days(now, days) if days else None
    if request.trial_period_days:
        return periods.trial_end_from_days(now, request.trial_period_days)
    if request.trial_end is None or request.trial_end == "now":
        return None
    return future_trial_end(request.trial_end, now, "trial_end")


def _apply_collection(subscription: ApiObject, request: CreateSubscription) -> None:
    subscription_settings.change_collection(
        subscription, request.collection_method, request.days_until_due
    )
    subscription["description"] = request.description
    subscription["cancel_at_period_end"] = bool(request.cancel_at_period_end)
    if request.metadata is not None:
        subscription["metadata"] = apply_metadata({}, request.metadata)


async def _first_invoice_outcome(
    ctx: Context, subscription: ApiObject, invoice: ApiObject, request: CreateSubscription
) -> str:
    """Finalize the first invoice and (charge_automatically) charge it; the subscription's
    status after."""
    trialing = subscription["trial_end"] is not None
    behavior = request.payment_behavior or "allow_incomplete"
    if behavior == "default_incomplete" and not trialing:
        invoice["auto_advance"] = False
    invoice["automatically_finalizes_at"] = ctx.now()
    if not trialing:
        # Declined, it leaves the subscription `incomplete`, which expires unpaid in 23 hours
        # (Stripe: "A successful payment needs to be made within 23 hours to activate the
        # subscription"), before any dunning retry; one with a trial to come is retried.
        invoice_collection.forgo_retries(invoice)
    try:
        await invoice_advance.advance_invoice(ctx, invoice)
    except CardDeclined:
        if behavior == "error_if_incomplete":
            raise _FirstPaymentFailed() from None
    if behavior == "default_incomplete" and invoice["status"] == "draft":
        await _finalize_only(ctx, invoice)
    return _status_after_first_invoice(subscription, invoice, trialing)


class _FirstPaymentFailed(CardError):
    """`error_if_incomplete`: a 402 card error, and the request's writes roll back (a plain
    decline's commit with the failed charge)."""

    def __init__(self) -> None:
        super().__init__(
            "The subscription's first payment failed, and payment_behavior is "
            "error_if_incomplete: nothing was created.",
            code="card_declined",
        )


async def _finalize_only(ctx: Context, invoice: ApiObject) -> None:
    await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=False)
    await invoice_documents.save(ctx, invoice)


def _status_after_first_invoice(subscription: ApiObject, invoice: ApiObject, trialing: bool) -> str:
    if trialing:
        return "trialing"
    if invoice["status"] == "paid" or subscription["collection_method"] == "send_invoice":
        return "active"
    return "incomplete"
