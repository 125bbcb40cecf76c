"""Subscriptions: the resource (`RESOURCE`: its routes, events, actions and expandable
fields), and retrieve, update, cancel and list. The statuses Stripe gives them as their
invoices are paid or not are set in `subscription_cycle`; their subscription items
(`/v1/subscription_items`) are served by `subscription_items`.

Creating one (its first period and first invoice) is `subscription_create`; what happens as
periods end is `subscription_cycle`. An update applies its terms (`subscription_terms`,
`subscription_discounts`), its pause of collection (`subscription_pause`), its one-off
charges (`add_invoice_items`: `subscription_invoice_items`) and its item changes
(`subscription_changes`), or holds them as a pending update
(`subscription_pending_updates`), and `trial_end=now` ends a trial with its first paid period
invoiced at once (`subscription_trials`, `subscription_renewal`); a cancellation settles what
is owed (`prorate`, `invoice_now`) and ends the subscription now (`cancel_now`,
`end_subscription`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import ExclusiveParameters, InvalidRequest, ResourceMissing
from kassa.invariants import ensure
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
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
    periods,
    subscription_billing_mode,
    subscription_discounts,
    subscription_pending,
    subscription_schedule_documents,
    subscription_settings,
    subscription_terms,
)
from kassa.services.billing import subscription_pending_updates as pending_updates
from kassa.services.billing.invoice_changes import apply_default_payment_method
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    change_subscription,
    collect_now,
    credit_unused_time,
    invoice_prorations,
)
from kassa.services.billing.subscription_create import (
    CREATE_PARAMS,
    CreateSubscription,
    announce_trial_will_end,
    create_subscription,
)
from kassa.services.billing.subscription_documents import (
    ENDED,
    announce,
    save,
    snapshot,
    view,
)
from kassa.services.billing.subscription_final import invoice_final
from kassa.services.billing.subscription_invoice_items import (
    ADD_INVOICE_ITEMS,
    add_invoice_items,
)
from kassa.services.billing.subscription_list import LIST_PARAMS, ListSubscriptions, list_query
from kassa.services.billing.subscription_params import (
    CHANGE_PARAMS,
    PENDING_UPDATE_PARAMS,
    TRIAL_END_CHARS_MAX,
)
from kassa.services.billing.subscription_pause import (
    PAUSE_ACTIONS,
    PAUSE_COLLECTION,
    PAUSE_EVENT_TYPES,
    PauseCollectionUpdate,
    apply_pause_collection,
)
from kassa.services.billing.subscription_prorations import insert_proration
from kassa.services.billing.subscription_renewal import invoice_next_period
from kassa.services.billing.subscription_trials import (
    AddedTrial,
    end_trial_now,
    move_trial_end,
    plan_trial_days,
    prices_after_change,
    trial_will_end_due,
)
from kassa.services.context import Context
from kassa.services.listing import (
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
from kassa.store.tables import SUBSCRIPTIONS

CANCELLATION_COMMENT_CHARS_MAX: Final = 5000
CANCELLATION_FEEDBACK: Final = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
"""`cancellation_details[feedback]`: Stripe's reasons a customer may give (update and cancel)."""
CANCELLATION_REQUESTED: Final = "cancellation_requested"
"""`cancellation_details.reason` of an end the caller asked for: scheduled on update, or now."""
UPDATE_PARAMS: dict[str, Param] = {
    **CHANGE_PARAMS,
    **subscription_terms.UPDATE_PARAMS,
    **subscription_settings.SETTINGS_PARAMS,
    **subscription_settings.UPDATE_ONLY_PARAMS,
    "cancel_at_period_end": Boolean(),
    "default_payment_method": String(max_chars=255),
    "description": String(max_chars=500),
    "metadata": Metadata(),
    "pause_collection": PAUSE_COLLECTION,
    "trial_end": String(max_chars=TRIAL_END_CHARS_MAX),
    "trial_from_plan": Boolean(),
    "add_invoice_items": ADD_INVOICE_ITEMS,
    "cancellation_details": Struct(
        {
            "comment": String(max_chars=CANCELLATION_COMMENT_CHARS_MAX, nullable=True),
            "feedback": Enum(values=CANCELLATION_FEEDBACK, nullable=True),
        }
    ),
}
CANCEL_PARAMS: dict[str, Param] = {
    "invoice_now": Boolean(),
    "prorate": Boolean(),
    "cancellation_details": Struct(
        {
            "comment": String(max_chars=CANCELLATION_COMMENT_CHARS_MAX),
            "feedback": Enum(values=CANCELLATION_FEEDBACK),
        }
    ),
}


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
    trial_end: str | None = None
    trial_from_plan: bool | None = None
    cancellation_details: dict[str, Any] | None = None
    # Settings for its invoices: `subscription_settings`.
    automatic_tax: dict[str, Any] | None = None
    invoice_settings: dict[str, Any] | None = None
    payment_settings: dict[str, Any] | None = None
    collection_method: str | None = None
    days_until_due: int | None = None
    off_session: bool | None = None
    add_invoice_items: list[dict[str, Any]] | None = None

    def change_terms(self) -> ChangeTerms:
        return ChangeTerms(
            items=self.items or [],
            proration_behavior=self.proration_behavior,
            proration_date=self.proration_date,
            payment_behavior=self.payment_behavior,
            billing_cycle_anchor=self.billing_cycle_anchor,
            end_rescheduled=self.cancel_at is not None or self.cancel_at_period_end is not None,
            adds_invoice_items=bool(self.add_invoice_items),
        )


@dataclass(frozen=True, kw_only=True)
class CancelSubscription:
    subscription: str
    invoice_now: bool | None = None
    prorate: bool | None = None
    cancellation_details: dict[str, Any] | None = None


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
    # Pending before any invoice this update makes, which takes them with its prorations.
    await add_invoice_items(ctx, subscription, request.add_invoice_items or [])
    before = snapshot(subscription)
    base = await pending_updates.begin(ctx, subscription, terms)
    apply_pause_collection(subscription, request.pause_collection, now=ctx.now())
    # Before any invoice this update makes: it is made with them.
    subscription_settings.apply_settings(subscription, request)
    subscription_settings.change_collection(
        subscription, request.collection_method, request.days_until_due
    )
    await _schedule_cancel(ctx, subscription, request)
    _record_cancellation_details(subscription, request.cancellation_details)
    trial_end = await _trial_end_asked(ctx, subscription, request)
    added = await move_trial_end(ctx, subscription, trial_end, terms)
    await subscription_discounts.apply_default_tax_rates(
        ctx, subscription, request.default_tax_rates
    )
    # Taxed at the rates the same update sets, as an item change's invoice is and as the
    # preview shows it (`subscription_preview._planned`).
    invoice = await _settle_added_trial(ctx, subscription, added, terms)
    await subscription_discounts.apply_discounts(ctx, subscription, request.discounts)
    await apply_default_payment_method(ctx, subscription, request.default_payment_method)
    subscription_terms.apply_trial_settings(subscription, request.trial_settings)
    if request.description is not None:
        subscription["description"] = request.description or None
    if request.metadata is not None:
        subscription["metadata"] = apply_metadata(subscription["metadata"], request.metadata)
    invoice = await change_subscription(ctx, subscription, terms) or invoice
    if request.trial_end == "now":
        invoice = await _end_trial_now(ctx, subscription, terms)
    asked = pending_updates.Requested(
        metadata=request.metadata, cancel_at_period_end=request.cancel_at_period_end
    )
    await pending_updates.settle(ctx, subscription, base, invoice, terms, asked)
    pending_updates.follow_restoration(subscription, before)
    await pending_updates.expire_if_cut(ctx, subscription, before)
    if subscription != before:
        await save(ctx, subscription)
        await announce(ctx, "customer.subscription.updated", subscription, before)
    return view(subscription)


async def _settle_added_trial(
    ctx: Context, subscription: ApiObject, added: AddedTrial | None, terms: ChangeTerms
) -> ApiObject | None:
    """A trial added to an active subscription (`subscription_trials.add_trial`): its
    credits stored pending, and with `always_invoice` invoiced at once with the
    subscription's other pending prorations, over the rest of the period they credit, and
    paid or refused (the invoice, if made); the trial's notice sent now if it ends within
    three days, as on create."""
    if added is None:
        return None
    for credit in added.credits:
        await insert_proration(ctx, credit)
    invoice = None
    if terms.proration_behavior == "always_invoice" and added.credits:
        # Paid, or the update fails whole (a declined card: 402, nothing written), whatever
        # `payment_behavior` says: left unpaid, it would make a subscription on trial
        # `past_due`, then `active` inside its trial once paid, a state no later change can
        # bill (the other pending prorations can outweigh the credit).
        collected = dataclasses.replace(terms, payment_behavior="error_if_incomplete")
        invoice = await invoice_prorations(ctx, subscription, collected)
    if trial_will_end_due(subscription, ctx.now()):
        await announce_trial_will_end(ctx, subscription)
    return invoice


async def _end_trial_now(ctx: Context, subscription: ApiObject, terms: ChangeTerms) -> ApiObject:
    """`trial_end=now`, after the update's other changes (its items as they are now): the
    trial ends (`subscription_trials.end_trial_now`), is announced as ended
    (`customer.subscription.trial_will_end`), and the first paid period begins as at a
    trial's natural end (`subscription_renewal.invoice_next_period`), its invoice collected
    at once as an update's are (`subscription_changes.collect_now`: charged for
    `charge_automatically`, under the update's `payment_behavior`), unless
    `pause_collection` holds it. `billing_reason` is `subscription_update`, Stripe's for an
    invoice an update makes ("A subscription was updated"), where the renewal work's is
    `subscription_cycle`."""
    await end_trial_now(ctx, subscription)
    await announce_trial_will_end(ctx, subscription)
    invoice = await invoice_next_period(ctx, subscription, billing_reason="subscription_update")
    if invoice["status"] == "draft" and invoice["auto_advance"]:
        await collect_now(ctx, subscription, invoice, terms)
    return invoice


async def _schedule_cancel(
    ctx: Context, subscription: ApiObject, request: UpdateSubscription
) -> None:
    """`cancel_at_period_end` or `cancel_at`: when it ends (`canceled_at` says when that was
    asked, and `cancellation_details.reason` is `cancellation_requested` from then on, as
    Stripe's are for a scheduled cancellation); either sent false or empty unschedules it,
    and both go back to null. The comment and feedback stay: Stripe's docs do not say they
    go, and the end scheduled again, or a `DELETE`, keeps them (`end_subscription`)."""
    await subscription_terms.schedule_end(
        ctx, subscription, request.cancel_at_period_end, request.cancel_at
    )
    if request.cancel_at_period_end is not None or request.cancel_at is not None:
        scheduled = subscription["cancel_at"] is not None
        subscription["canceled_at"] = ctx.now() if scheduled else None
        details = subscription["cancellation_details"] or {}
        subscription["cancellation_details"] = {
            **details,
            "reason": CANCELLATION_REQUESTED if scheduled else None,
        }


def _record_cancellation_details(subscription: ApiObject, sent: dict[str, Any] | None) -> None:
    """`cancellation_details` on update: its `comment` and `feedback` as sent (empty:
    cleared), the others kept; Stripe's way to record why with `cancel_at_period_end` or
    `cancel_at`, and a canceled subscription's one change besides its metadata. The reason
    is not the caller's to set (`_schedule_cancel`)."""
    if sent is None:
        return
    details = dict(subscription["cancellation_details"] or {})
    for key, value in sent.items():
        details[key] = None if value is UNSET else value
    subscription["cancellation_details"] = details


async def _trial_end_asked(
    ctx: Context, subscription: ApiObject, request: UpdateSubscription
) -> str | None:
    """The update's `trial_end`, or with `trial_from_plan=true` the end of the trial the
    subscription's prices have after the update (`subscription_trials.plan_trial_days`,
    from now): added or moved as a `trial_end` sent would be; None when no price has one.
    Stripe: "Setting this flag to true together with trial_end is not allowed"."""
    if not request.trial_from_plan:
        return request.trial_end
    if request.trial_end is not None:
        raise ExclusiveParameters(("trial_end", "trial_from_plan"), param="trial_from_plan")
    prices = await prices_after_change(ctx, subscription, request.items or [])
    days = plan_trial_days(prices)
    return str(periods.trial_end_from_days(ctx.now(), days)) if days else None


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
        request.trial_end,
        request.trial_from_plan,
        request.add_invoice_items,
    )
    if subscription["status"] in ENDED and any(v is not None for v in beyond_metadata):
        raise InvalidRequest(
            "A canceled subscription can only update its metadata and cancellation_details; "
            f"{subscription['id']} is "
            f"{subscription['status']}.",
        )
    if subscription["status"] == "incomplete":
        _check_end_unchanged_while_incomplete(request)
        _check_nothing_added_while_incomplete(request)


def _check_end_unchanged_while_incomplete(request: UpdateSubscription) -> None:
    """Stripe's `status` docstring: an incomplete subscription "can only have metadata and
    default_source updated". Its end is refused as Stripe refuses it: a `cancel_at` set
    would cut a first period whose invoice is not paid yet (nothing to credit, so the
    customer would pay for time after the end), and one cleared would give back time no
    payment covers. Kassa is laxer on the rest (payment method, description, discounts,
    tax rates, trial settings), which bill nothing until the first invoice is paid; items
    are refused by the change work (`subscription_changes`)."""
    for param, value in (
        ("cancel_at", request.cancel_at),
        ("cancel_at_period_end", request.cancel_at_period_end),
    ):
        if value is not None:
            raise InvalidRequest(
                f"A subscription that is incomplete can only have metadata and default_source "
                f"updated until its first invoice is paid; {param} cannot change.",
                param=param,
            )


def _check_nothing_added_while_incomplete(request: UpdateSubscription) -> None:
    """One-off charges wait for an incomplete subscription's first invoice to be paid, as
    its items do (Stripe's `status` docstring: only metadata and default_source change):
    they would otherwise sit pending on a subscription that may expire unpaid."""
    if request.add_invoice_items:
        raise InvalidRequest(
            "A subscription that is incomplete can only have metadata and default_source "
            "updated until its first invoice is paid; add_invoice_items cannot be added.",
            param="add_invoice_items",
        )


async def cancel_subscription(ctx: Context, request: CancelSubscription) -> ApiObject:
    subscription = await load_live_object(ctx, RESOURCE, request.subscription)
    ctx = await ctx.governed_by(subscription)
    if subscription["status"] in ENDED:
        raise ResourceMissing(
            "subscription", str(subscription["id"]), reason="is already canceled."
        )
    details = request.cancellation_details or {}
    await cancel_now(
        ctx,
        subscription,
        "cancellation_requested",
        details,
        invoice_now=bool(request.invoice_now),
        prorate=bool(request.prorate),
    )
    return view(subscription)


async def cancel_now(
    ctx: Context,
    subscription: ApiObject,
    reason: str,
    details: dict[str, Any] | None = None,
    *,
    invoice_now: bool = False,
    prorate: bool = False,
    ended_at: int | None = None,
) -> None:
    """Cancel it at once, settling what is owed as Stripe does: `prorate` credits the unused
    time, `invoice_now` invoices the subscription's pending prorations at once, and with
    neither (the defaults) its pending prorations are dropped (other pending items stay
    pending). Stripe's cancel docstring: "if the subscription is set to cancel immediately,
    pending prorations will be removed (if invoice_now and prorate are both set to false)".
    `DELETE` takes this path with what it was sent; the cancellations the subscription's own
    work makes at once (dunning's final action, a trial's end without a payment method)
    and its customer's deletion (`customer_deletion`) with the defaults, as a `DELETE` sent
    nothing would: its pending prorations dropped, as Stripe's cancel docs say. `ended_at`:
    when it ended, if before now (`end_subscription`)."""
    if prorate:
        await credit_unused_time(ctx, subscription)
    if invoice_now:
        await invoice_final(ctx, subscription)
    elif not prorate:
        await subscription_pending.discard_prorations(ctx, subscription)
    # Ended now, the end it had scheduled is no longer pending (`cancel_at` is "a date in
    # the future at which the subscription will automatically get canceled"), and its
    # `canceled_at` is this cancellation, not the earlier request that scheduled it.
    subscription["cancel_at"] = None
    subscription["cancel_at_period_end"] = False
    await end_subscription(ctx, subscription, reason, details, ended_at=ended_at)


async def end_subscription(
    ctx: Context,
    subscription: ApiObject,
    reason: str,
    details: dict[str, Any] | None = None,
    *,
    ended_at: int | None = None,
) -> None:
    """Cancel now: no further invoices, its drafts and all its customer's open invoices no
    longer collected automatically (`invoice_advance.stop_automatic_collection`: Stripe
    "stops automatic collection of all finalized invoices for the customer"), and
    `customer.subscription.deleted`. `ended_at` is when it ended, now unless given: a
    scheduled end's `cancel_at`, which the work ending it may reach late (a job run late)."""
    ended = ctx.now() if ended_at is None else ended_at
    ensure(ended <= ctx.now(), f"{subscription['id']} ends no later than the work ending it")
    subscription["status"] = "canceled"
    # A scheduled cancellation was asked for earlier: Stripe's `canceled_at` keeps that time.
    scheduled = subscription["cancel_at"] is not None and subscription["canceled_at"]
    subscription["canceled_at"] = subscription["canceled_at"] if scheduled else ended
    subscription["ended_at"] = ended
    # The comment and feedback sent now, or those recorded when the end was scheduled.
    recorded = subscription["cancellation_details"] or {}
    subscription["cancellation_details"] = {
        "comment": (details or {}).get("comment", recorded.get("comment")),
        "feedback": (details or {}).get("feedback", recorded.get("feedback")),
        "reason": reason,
    }
    pending_updates.forget(subscription)
    await invoice_advance.stop_automatic_collection(ctx, subscription)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.deleted", subscription)
    # The schedule still governing it ends with it (Stripe cancels it, or aborts it for
    # failed payments).
    await subscription_schedule_documents.subscription_ended(ctx, subscription)


async def list_subscriptions(ctx: Context, request: ListSubscriptions) -> ApiObject:
    query = list_query(request)
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
        {"canceled_at": NUMBER, "created": NUMBER, "metadata": METADATA, "status": TOKEN},
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
    embedded={"items.data": "subscription_item"},
)
