"""Subscriptions: create, retrieve, update, cancel, list; the statuses Stripe gives them as
their invoices are paid or not; and their subscription items (`/v1/subscription_items`).

Creating a subscription starts its first period at once (or its trial, `trial_period_days` or
`trial_end`): the first invoice (`billing_reason=subscription_create`) is finalized and, for
`charge_automatically`, charged to the subscription's or the customer's default payment
method in the same request. Paid (or nothing owed during a trial): `active` (`trialing`). Not
paid: `incomplete` with `payment_behavior=allow_incomplete` (the default), a 402 and nothing
stored with `error_if_incomplete`; `default_incomplete` leaves the invoice's payment to the
client and the subscription `incomplete`. A `send_invoice` subscription is `active` at once.
Paying the first invoice later makes an incomplete subscription `active`
(`subscription_status.invoice_settled`).

What happens as periods end is `subscription_cycle`. All prices of one subscription share
their currency; their billing intervals may differ (mixed intervals: each item has its own
period, see `subscription_terms`), and the first invoice bills every item for its first
period (Stripe's mixed-interval guide: the first invoice bills both items).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from kassa.errors import CardDeclined, CardError, InvalidParameter, InvalidRequest
from kassa.params import (
    UNSET,
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
    invoice_documents,
    invoice_transitions,
    periods,
    subscription_billing_mode,
    subscription_discounts,
    subscription_pending,
    subscription_setup,
    subscription_terms,
)
from kassa.services.billing import subscription_pending_updates as pending_updates
from kassa.services.billing.invoice_changes import (
    apply_default_payment_method,
    billed_customer,
)
from kassa.services.billing.plan_params import item_with_plan
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    change_subscription,
    check_prices_alike,
    credit_unused_time,
    invoice_final,
    recurring_price,
)
from kassa.services.billing.subscription_documents import (
    DECIDING_STATUS,
    ENDED,
    ITEMS_MAX,
    LISTED_BY_DEFAULT,
    STATUSES,
    announce,
    blank_subscription,
    insert,
    new_item,
    private,
    save,
    snapshot,
    view,
)
from kassa.services.billing.subscription_invoices import invoice_period
from kassa.services.billing.subscription_params import (
    BILLING_MODE,
    CHANGE_PARAMS,
    CLASSIC,
    PENDING_UPDATE_PARAMS,
)
from kassa.services.billing.subscription_pause import (
    PAUSE_ACTIONS,
    PAUSE_COLLECTION,
    PAUSE_EVENT_TYPES,
    PauseCollectionUpdate,
    apply_pause_collection,
)
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    list_page_with,
    load_live_object,
    load_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.services.search import METADATA, NUMBER, TOKEN, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import SUBSCRIPTIONS

INCOMPLETE_EXPIRES_SECONDS: Final = 23 * 3_600
"""Stripe expires a subscription whose first payment never succeeded after 23 hours."""
TRIAL_WILL_END_NOTICE_SECONDS: Final = 3 * 86_400
"""Stripe announces `customer.subscription.trial_will_end` three days before a trial ends."""
TRIAL_DAYS_MAX: Final = 730
"""Stripe refuses trials longer than two years."""
LIST_LIMIT_MAX: Final = 100
CREATING: Final = DECIDING_STATUS
"""Context memo: the subscription this unit is creating (its first invoice decides its
status)."""
PAYMENT_BEHAVIORS: Final = ("allow_incomplete", "default_incomplete", "error_if_incomplete")
_ITEM = item_with_plan(
    Struct(
        {
            "price": String(max_chars=255),
            "quantity": Integer(minimum=0, maximum=1_000_000_000),
            "metadata": Metadata(),
            **subscription_terms.ITEM_PARAMS,
        },
        required=("price",),
    )
)
CREATE_PARAMS: dict[str, Param] = {
    **subscription_terms.CREATE_PARAMS,
    "customer": String(max_chars=255),
    "items": ListOf(item=_ITEM, max_items=ITEMS_MAX),
    "trial_period_days": Integer(minimum=0, maximum=TRIAL_DAYS_MAX),
    "trial_end": String(max_chars=20),
    "collection_method": Enum(values=("charge_automatically", "send_invoice")),
    "days_until_due": Integer(minimum=0, maximum=730),
    "default_payment_method": String(max_chars=255),
    "description": String(max_chars=500),
    "metadata": Metadata(),
    "cancel_at_period_end": Boolean(),
    "payment_behavior": Enum(values=PAYMENT_BEHAVIORS),
    "off_session": Boolean(),
    "billing_mode": BILLING_MODE,
}
UPDATE_PARAMS: dict[str, Param] = {
    **CHANGE_PARAMS,
    **subscription_terms.UPDATE_PARAMS,
    "cancel_at_period_end": Boolean(),
    "default_payment_method": String(max_chars=255),
    "description": String(max_chars=500),
    "metadata": Metadata(),
    "pause_collection": PAUSE_COLLECTION,
}
CANCEL_PARAMS: dict[str, Param] = {
    "invoice_now": Boolean(),
    "prorate": Boolean(),
    "cancellation_details": Struct(
        {
            "comment": String(max_chars=5000),
            "feedback": Enum(
                values=(
                    "customer_service",
                    "low_quality",
                    "missing_features",
                    "other",
                    "switched_service",
                    "too_complex",
                    "too_expensive",
                    "unused",
                )
            ),
        }
    ),
}
LIST_PARAMS: dict[str, Param] = {
    "limit": Integer(minimum=1, maximum=LIST_LIMIT_MAX),
    "starting_after": String(max_chars=255),
    "ending_before": String(max_chars=255),
    "customer": String(max_chars=255),
    "status": Enum(values=(*STATUSES, "all", "ended")),
    "test_clock": String(max_chars=255),
}


@dataclass(frozen=True, kw_only=True)
class CreateSubscription:
    customer: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    trial_period_days: int | None = None
    trial_end: str | None = None
    collection_method: str | None = None
    days_until_due: int | None = None
    default_payment_method: str | None = None
    description: str | None = None
    metadata: MetadataUpdate | None = None
    cancel_at_period_end: bool | None = None
    payment_behavior: str | None = None
    off_session: bool | None = None
    # Anchor, end, discounts and tax rates: `subscription_terms`.
    billing_cycle_anchor: int | None = None
    billing_cycle_anchor_config: dict[str, Any] | None = None
    proration_behavior: str | None = None
    cancel_at: int | str | None = None
    discounts: list[dict[str, Any]] | Unset | None = None
    default_tax_rates: list[str] | Unset | None = None
    trial_settings: dict[str, Any] | None = None
    billing_mode: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateSubscription:
    subscription: str
    cancel_at_period_end: bool | None = None
    default_payment_method: str | None = None
    description: str | None = None
    metadata: MetadataUpdate | None = None
    pause_collection: PauseCollectionUpdate | None = None
    items: list[dict[str, Any]] | None = None
    proration_behavior: str | None = None
    proration_date: int | None = None
    payment_behavior: str | None = None
    billing_cycle_anchor: dict[str, Any] | None = None
    cancel_at: int | str | Unset | None = None
    discounts: list[dict[str, Any]] | Unset | None = None
    default_tax_rates: list[str] | Unset | None = None
    trial_settings: dict[str, Any] | None = None

    def change_terms(self) -> ChangeTerms:
        return ChangeTerms(
            items=self.items or [],
            proration_behavior=self.proration_behavior,
            proration_date=self.proration_date,
            payment_behavior=self.payment_behavior,
            billing_cycle_anchor=self.billing_cycle_anchor,
        )


@dataclass(frozen=True, kw_only=True)
class CancelSubscription:
    subscription: str
    invoice_now: bool | None = None
    prorate: bool | None = None
    cancellation_details: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ListSubscriptions:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    customer: str | None = None
    status: str | None = None
    test_clock: str | None = None


# -- create ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Priced:
    price: ApiObject
    quantity: int
    metadata: dict[str, str]


async def create_subscription(ctx: Context, request: CreateSubscription) -> ApiObject:
    customer = await billed_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    billing_mode = subscription_billing_mode.chosen(request.billing_mode, ctx.now())
    priced = await _priced_items(ctx, request.items, classic=billing_mode["type"] == CLASSIC)
    subscription = blank_subscription(ctx, customer, str(priced[0].price["currency"]))
    subscription["billing_mode"] = billing_mode
    _apply_collection(subscription, request)
    await apply_default_payment_method(ctx, subscription, request.default_payment_method)
    now = ctx.now()
    trial_end = _trial_end(request, now)
    # The anchor, the first period (prorated up to an anchor or cancel_at), when it ends.
    recurrences = [subscription_terms.Recurrence.of(p.price) for p in priced]
    start = subscription_terms.opening(request, recurrences, now, trial_end)
    subscription_terms.set_opening(subscription, start)
    subscription_terms.apply_trial_settings(subscription, request.trial_settings)
    period = start.span.period  # the first period that ends: the first renewal
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
    private(subscription)["renews_at"] = period[1]
    await subscription_discounts.apply_create_terms(ctx, subscription, request)
    await insert(ctx, subscription)
    # Its first invoice's fate decides its status below, not through the invoice hooks.
    ctx.memo[CREATING] = subscription["id"]
    invoice = await invoice_period(
        ctx,
        subscription,
        period,
        billing_reason="subscription_create",
        trial=trial_end is not None,
    )
    await subscription_terms.bill_part(ctx, invoice, spans)
    subscription_discounts.note_invoiced(subscription, invoice)
    subscription["latest_invoice"] = invoice["id"]
    subscription["status"] = await _first_invoice_outcome(ctx, subscription, invoice, request)
    if subscription["status"] == "incomplete":
        # Until its first invoice is paid it does not renew; unpaid, it expires.
        private(subscription)["renews_at"] = now + INCOMPLETE_EXPIRES_SECONDS
    warn_at = None if trial_end is None else trial_end - TRIAL_WILL_END_NOTICE_SECONDS
    if warn_at is not None and warn_at > now:
        private(subscription)["renews_at"] = warn_at  # the trial_will_end notice comes first
    subscription_terms.cap_renewal(subscription)  # unless it is canceled before
    if subscription_setup.needs_setup(subscription, customer):
        await subscription_setup.open_pending_setup(ctx, subscription)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.created", subscription)
    if warn_at is not None and warn_at <= now:
        await announce_trial_will_end(ctx, subscription)
        if subscription_terms.cap_renewal(subscription):
            await save(ctx, subscription)
    return view(subscription)


async def announce_trial_will_end(ctx: Context, subscription: ApiObject) -> None:
    """`customer.subscription.trial_will_end`, once: three days before the trial ends (at
    once for a shorter trial), after which the trial's end is the next work due."""
    private(subscription)["trial_will_end_sent"] = True
    private(subscription)["renews_at"] = subscription["trial_end"]
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.trial_will_end", subscription)


async def _priced_items(
    ctx: Context, requested: list[dict[str, Any]], *, classic: bool
) -> list[Priced]:
    if not requested:
        raise InvalidParameter("Missing required param: items.", param="items")
    priced = []
    for index, entry in enumerate(requested):
        param = f"items[{index}][price]"
        price = await recurring_price(ctx, str(entry["price"]), param)
        metadata = apply_metadata({}, entry.get("metadata") or {})
        priced.append(Priced(price, int(entry.get("quantity", 1)), metadata))
    _check_alike(priced, classic=classic)
    return priced


def _check_alike(priced: list[Priced], *, classic: bool) -> None:
    prices = [entry.price for entry in priced]
    params = [f"items[{index}][price]" for index in range(len(priced))]
    check_prices_alike(prices, str(prices[0]["currency"]), params, classic=classic)


def _trial_end(request: CreateSubscription, now: int) -> int | None:
    if request.trial_end is not None and request.trial_period_days is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: trial_end, trial_period_days.",
            param="trial_end",
        )
    if request.trial_period_days:
        return periods.trial_end_from_days(now, request.trial_period_days)
    if request.trial_end is None or request.trial_end == "now":
        return None
    if not request.trial_end.isdigit():
        raise InvalidParameter(
            f"Invalid trial_end: {request.trial_end[:40]}; must be a unix time or `now`",
            param="trial_end",
        )
    end = int(request.trial_end)
    if end <= now:
        raise InvalidParameter(
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
            param="trial_end",
        )
    if end > now + TRIAL_DAYS_MAX * 86_400:
        raise InvalidParameter(
            "Invalid trial_end: a trial may last at most two years.", param="trial_end"
        )
    return end


def _apply_collection(subscription: ApiObject, request: CreateSubscription) -> None:
    method = request.collection_method or "charge_automatically"
    if method == "send_invoice" and request.days_until_due is None:
        raise InvalidRequest(
            "Missing required param: days_until_due (a send_invoice subscription needs it).",
            param="days_until_due",
        )
    if method != "send_invoice" and request.days_until_due is not None:
        raise InvalidParameter(
            "days_until_due is only allowed with collection_method=send_invoice.",
            param="days_until_due",
        )
    subscription["collection_method"] = method
    subscription["days_until_due"] = request.days_until_due
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


# -- retrieve, update, cancel, list -------------------------------------------------------


async def retrieve_subscription(ctx: Context, subscription_id: str) -> ApiObject:
    subscription, _ = await load_object(ctx, RESOURCE, subscription_id)
    return view(subscription)


async def update_subscription(ctx: Context, request: UpdateSubscription) -> ApiObject:
    subscription = await load_live_object(ctx, RESOURCE, request.subscription)
    ctx = await ctx.governed_by(subscription)
    _check_changeable(subscription, request)
    terms = request.change_terms()
    given = pending_updates.sent(request, ids=("subscription",))
    pending_updates.check_request(
        subscription, request.payment_behavior, given, PENDING_UPDATE_PARAMS, request.items or ()
    )
    before = snapshot(subscription)
    base = await pending_updates.begin(ctx, subscription, terms)
    apply_pause_collection(subscription, request.pause_collection, now=ctx.now())
    await _schedule_cancel(ctx, subscription, request)
    await subscription_discounts.apply_default_tax_rates(
        ctx, subscription, request.default_tax_rates
    )
    await subscription_discounts.apply_discounts(ctx, subscription, request.discounts)
    await apply_default_payment_method(ctx, subscription, request.default_payment_method)
    subscription_terms.apply_trial_settings(subscription, request.trial_settings)
    if request.description is not None:
        subscription["description"] = request.description or None
    if request.metadata is not None:
        subscription["metadata"] = apply_metadata(subscription["metadata"], request.metadata)
    invoice = await change_subscription(ctx, subscription, terms)
    asked = pending_updates.Requested(
        metadata=request.metadata, cancel_at_period_end=request.cancel_at_period_end
    )
    await pending_updates.settle(ctx, subscription, base, invoice, terms, asked)
    if subscription != before:
        await save(ctx, subscription)
        await announce(ctx, "customer.subscription.updated", subscription, before)
    return view(subscription)


async def _schedule_cancel(
    ctx: Context, subscription: ApiObject, request: UpdateSubscription
) -> None:
    """`cancel_at_period_end` or `cancel_at`: when it ends (`canceled_at` says when that was
    asked, as Stripe's does for a scheduled cancellation); either sent false or empty
    unschedules it."""
    if request.cancel_at_period_end and request.cancel_at is not None:
        raise InvalidParameter(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
            param="cancel_at",
        )
    if request.cancel_at_period_end:
        await subscription_terms.apply_cancel_at(ctx, subscription, "min_period_end")
        subscription["cancel_at_period_end"] = True
    elif request.cancel_at_period_end is False:
        await subscription_terms.apply_cancel_at(ctx, subscription, UNSET)
    else:
        await subscription_terms.apply_cancel_at(ctx, subscription, request.cancel_at)
    if request.cancel_at_period_end is not None or request.cancel_at is not None:
        scheduled = subscription["cancel_at"] is not None
        subscription["canceled_at"] = ctx.now() if scheduled else None


def _check_changeable(subscription: ApiObject, request: UpdateSubscription) -> None:
    beyond_metadata = (
        request.cancel_at_period_end,
        request.default_payment_method,
        request.description,
        request.items,
        request.billing_cycle_anchor,
        request.cancel_at,
        request.discounts,
        request.default_tax_rates,
        request.trial_settings,
    )
    if subscription["status"] in ENDED and any(v is not None for v in beyond_metadata):
        raise InvalidRequest(
            f"A canceled subscription can only update its metadata; {subscription['id']} is "
            f"{subscription['status']}.",
        )


async def cancel_subscription(ctx: Context, request: CancelSubscription) -> ApiObject:
    subscription = await load_live_object(ctx, RESOURCE, request.subscription)
    ctx = await ctx.governed_by(subscription)
    if subscription["status"] in ENDED:
        raise InvalidRequest(
            f"No such subscription: '{subscription['id']}' is already canceled.",
            code="resource_missing",
        )
    details = request.cancellation_details or {}
    await _settle_on_cancel(ctx, subscription, request)
    await end_subscription(ctx, subscription, "cancellation_requested", details)
    return view(subscription)


async def _settle_on_cancel(
    ctx: Context, subscription: ApiObject, request: CancelSubscription
) -> None:
    """What a cancellation does to what is owed, as Stripe: `prorate` credits the unused
    time, `invoice_now` invoices the subscription's pending prorations at once, and with
    neither its pending prorations are dropped (other pending items stay pending)."""
    if request.prorate:
        await credit_unused_time(ctx, subscription)
    if request.invoice_now:
        await invoice_final(ctx, subscription)
    elif not request.prorate:
        await subscription_pending.discard_prorations(ctx, subscription)


async def end_subscription(
    ctx: Context, subscription: ApiObject, reason: str, details: dict[str, Any] | None = None
) -> None:
    """Cancel now: no further invoices, its open and draft ones no longer collected
    automatically (`invoice_advance.stop_automatic_collection`), and
    `customer.subscription.deleted`."""
    now = ctx.now()
    subscription["status"] = "canceled"
    # A scheduled cancellation was asked for earlier: Stripe's `canceled_at` keeps that time.
    scheduled = subscription["cancel_at"] is not None and subscription["canceled_at"]
    subscription["canceled_at"] = subscription["canceled_at"] if scheduled else now
    subscription["ended_at"] = now
    subscription["cancellation_details"] = {
        "comment": (details or {}).get("comment"),
        "feedback": (details or {}).get("feedback"),
        "reason": reason,
    }
    private(subscription)["renews_at"] = None
    pending_updates.forget(subscription)
    await invoice_advance.stop_automatic_collection(ctx, subscription["id"])
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.deleted", subscription)


async def list_subscriptions(ctx: Context, request: ListSubscriptions) -> ApiObject:
    statuses: tuple[str, ...] = LISTED_BY_DEFAULT
    if request.status == "all":
        statuses = STATUSES
    elif request.status == "ended":
        statuses = ENDED
    elif request.status is not None:
        statuses = (request.status,)
    equals = {
        k: v
        for k, v in (("customer", request.customer), ("test_clock", request.test_clock))
        if v is not None
    }
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT, equals=equals, any_of={"status": statuses}
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    data = [view(s) for s in page.data]
    return list_envelope(ListPage(data, page.has_more), RESOURCE.url)


RESOURCE = Resource(
    object_name="subscription",
    id_prefix="sub",
    collection="subscriptions",
    table=SUBSCRIPTIONS,
    create=Operation(
        request_parser(CreateSubscription, CREATE_PARAMS, required=("customer", "items")),
        create_subscription,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_subscription, writes=False),
    update=Operation(
        request_parser(UpdateSubscription, UPDATE_PARAMS, ids=("subscription",)),
        update_subscription,
        writes=True,
    ),
    delete=Operation(
        request_parser(CancelSubscription, CANCEL_PARAMS, ids=("subscription",)),
        cancel_subscription,
        writes=True,
    ),
    lister=Operation(
        request_parser(ListSubscriptions, LIST_PARAMS),
        list_subscriptions,
        writes=False,
    ),
    search=search_operation(
        SUBSCRIPTIONS,
        "subscriptions",
        {"created": NUMBER, "metadata": METADATA, "status": TOKEN},
        view=view,
    ),
    event_types=(
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
        *PAUSE_EVENT_TYPES,
        *pending_updates.EVENT_TYPES,
    ),
    actions={**PAUSE_ACTIONS, **subscription_billing_mode.BILLING_MODE_ACTIONS},
    delete_actions={"discount": subscription_discounts.DELETE_DISCOUNT},
    expandable={
        "customer": "customer",
        "latest_invoice": "invoice",
        "default_payment_method": "payment_method",
        "pending_setup_intent": "setup_intent",
        "discounts": "discount",
        "test_clock": "test_helpers.test_clock",
    },
)
