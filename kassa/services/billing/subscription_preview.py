"""A subscription's next invoice as `POST /v1/invoices/create_preview` shows it (with
`subscription`, and optionally `subscription_details` describing a change): worked out on a
copy of the subscription, nothing stored or announced.

- No change, or one whose prorations wait for the renewal (`create_prorations`, `none`): the
  renewal at the end of the current period (a trial's end starts the first paid period),
  with the customer's pending items, the change's prorations and a line per item for the
  next period at its (new) price and quantity; with mixed intervals, a line per item whose
  period ends first, each for its own next period.
- A change invoiced at once (`always_invoice`): that invoice, the subscription's pending
  prorations and the change's.
- A billing cycle reset: the invoice of the new period, its credits for the old one.
- A paused subscription resumed now (`resume_at=now`): the invoice `POST .../resume` makes,
  the new period from now with the customer's pending items.
- A cancellation now (`cancel_now`): the final invoice `DELETE` with `invoice_now` makes,
  its pending items and, unless `proration_behavior=none`, the credits for its unused time
  (none of them under a `void` pause of collection: they stay pending).
- A subscription that ends before it would renew (`cancel_at_period_end`, a `cancel_at` in
  its current period, as it is or as `subscription_details` reschedules it): the final
  invoice its end makes of what it left pending (its prorations, the change's, items given
  to it), over its period up to the end; with nothing pending, or under a `void` pause of
  collection (which leaves them pending), none (`invoice_upcoming_none`).

Nothing upcoming (an ended or paused subscription, an end with nothing pending) is Stripe's
404 `invoice_upcoming_none` (`errors.NoUpcomingInvoice`). `preview_mode=recurring` shows only
the lines of the items for their periods (`upcoming`). Each preview says when its payment
would first be attempted (`_first_attempt`) and the time its prorations count from.

`default_tax_rates` replace the subscription's on every invoice previewed, and `trial_end`
moves the end of its trial (and the renewal with it), as on update; `trial_end=now` ends it
now, and the renewal previewed is the first paid period the update invoices at once. A
trial added to an active subscription shows the first paid period after it with the credit
for the unused time of the current one (`create_prorations`), or with `always_invoice` the
invoice of that credit the update makes at once.

The change is the one an update with the same parameters makes (`subscription_terms.
schedule_end`, `subscription_trials.move_trial_end`,
`subscription_discounts.apply_default_tax_rates`,
`subscription_changes.plan_change` and
`subscription_period_ends.fit_periods_to_end`), at the same
time when `proration_date` is given, so a preview and the update that follows it agree to
the cent. Discounts an item change makes (`items[][discounts]`) are made as the update makes
them, with the same terms, but neither stored nor redeemed (`ChangeTerms.previewed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from kassa.errors import InvalidRequest, NoUpcomingInvoice, ResourceMissing
from kassa.services.billing import subscription_billing_mode
from kassa.services.billing.invoice_changes import apply_draft_window, billed_customer
from kassa.services.billing.invoice_params import InvoiceChanges
from kassa.services.billing.invoice_transitions import first_attempt
from kassa.services.billing.meter_usage import is_metered, usage_periods
from kassa.services.billing.price_fields import param_path
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    Plan,
    invoices_at_once,
    plan_change,
    unused_time_credits,
)
from kassa.services.billing.subscription_create import CreateSubscription, open_subscription
from kassa.services.billing.subscription_discounts import (
    apply_default_tax_rates,
    prune_discounts,
)
from kassa.services.billing.subscription_documents import (
    ENDED,
    customer_of,
    item_period,
    items_of,
    snapshot,
)
from kassa.services.billing.subscription_invoices import period_item, usage_period
from kassa.services.billing.subscription_pause import check_resumable, restart_period
from kassa.services.billing.subscription_pending import (
    FINAL,
    collection_paused,
    pending_for,
    voided_by_pause,
)
from kassa.services.billing.subscription_period_ends import fit_periods_to_end
from kassa.services.billing.subscription_periods import renewing_items
from kassa.services.billing.subscription_renewal import begin_next_period
from kassa.services.billing.subscription_terms import (
    end_before_renewal,
    prorate_line,
    schedule_end,
)
from kassa.services.billing.subscription_trials import (
    AddedTrial,
    end_trial_now,
    move_trial_end,
)
from kassa.services.context import Context
from kassa.services.hooks import Upcoming, UpcomingQuery
from kassa.services.resource import ApiObject
from kassa.store.tables import SUBSCRIPTIONS

NEW_SUBSCRIPTION_DETAILS = ("items", "default_tax_rates", "billing_mode")
"""The `subscription_details` a new subscription's preview takes (`_first_invoice`)."""
NEW_ITEM_DETAILS = ("price", "quantity", "metadata")
"""What of each `subscription_details[items][]` a new subscription's preview takes."""
_END_DETAILS = ("cancel_at", "cancel_at_period_end")
"""The `subscription_details` that reschedule its end, as on update (`end_rescheduled`)."""
_NOT_WITH_CANCEL_NOW = (
    *_END_DETAILS,
    "items",
    "billing_cycle_anchor",
    "proration_date",
    "trial_end",
)
"""The `subscription_details` a cancellation now cannot be previewed with: `DELETE` takes
none of them."""


@dataclass(frozen=True)
class _Invoice:
    """The invoice previewed: its items (pending ones and new, unsaved ones) and when it
    would be made, where the usage period it looks back on ends
    (`subscription_invoices.usage_period`)."""

    items: list[ApiObject]
    made_at: int
    lines: list[ApiObject] = field(default_factory=list)
    """Of `items`, the lines of the subscription's items for their (new) periods: its
    recurring charges, all `preview_mode=recurring` shows."""
    drafted: bool = False
    """Made as an auto-advancing draft (a renewal), finalized and charged by the invoice
    work (`invoice_changes.apply_draft_window`); the others are finalized and charged at
    once."""
    held_by_pause: bool = False
    """A renewal's or a final invoice, which `pause_collection` governs
    (`subscription_pause.collect_per_pause`); an update's, a reset's, a new subscription's
    is charged whatever it says (`subscription_changes.collect_now`)."""
    prorated_at: int | None = None
    """When the previewed change's prorations among `items` are worked out, if any."""


async def upcoming(ctx: Context, query: UpcomingQuery) -> Upcoming:
    """The subscription's next invoice with the change `query.details` describes (with no
    subscription, a new one's first: `_first_invoice`); with
    `recurring` (`preview_mode=recurring`) only its recurring charges, the lines of its
    items for their periods, without what it has pending or the change's prorations (Stripe:
    "Customizes the types of values to include when calculating the invoice. Defaults to
    `next` if unspecified."): a change invoiced at once shows the renewal after it, and
    there is none upcoming when no such line would be billed (an end before the renewal, a
    cancellation now)."""
    if query.subscription is None:
        return await _first_invoice(ctx, str(query.customer), query.details)
    subscription_id = query.subscription
    found = await ctx.tx.get_object(SUBSCRIPTIONS, ctx.account_id, subscription_id, lock=False)
    if found is None or found[1]:
        raise ResourceMissing("subscription", subscription_id, param="subscription")
    return await _upcoming_of(ctx, snapshot(found[0]), query.details, query.recurring)


async def renewal_upcoming(
    ctx: Context, subscription: Mapping[str, Any], customer: Mapping[str, Any]
) -> Upcoming:
    """The subscription's next invoice with no change, as `upcoming` shows it for a query
    naming it alone, from the documents the caller has loaded, as stored (the renewal work's
    `invoice.upcoming`: `subscription_upcoming`): the subscription is not read again, only
    copied, and its `customer` is not read for its lines."""
    return await _upcoming_of(ctx, snapshot(subscription), {}, False, customer=customer)


async def _upcoming_of(
    ctx: Context,
    subscription: ApiObject,
    details: Mapping[str, Any],
    recurring: bool,
    *,
    customer: Mapping[str, Any] | None = None,
) -> Upcoming:
    """`upcoming` of a subscription worked out on `subscription`, a copy of it the preview
    changes; `customer`, its customer if the caller has it."""
    ctx = await ctx.governed_by(subscription)
    if subscription["status"] in ENDED:
        raise _nothing_upcoming(subscription, f"it is {subscription['status']}")
    subscription_billing_mode.preview_as(subscription, details.get("billing_mode"), ctx.now())
    invoice = await _previewed(ctx, subscription, details, recurring, customer)
    if recurring:
        if not invoice.lines:
            raise _nothing_upcoming(subscription, "it bills no recurring charge before then")
        invoice = replace(invoice, items=invoice.lines, prorated_at=None)
    # Every invoice previewed looks back from the subscription's last one (which nothing
    # previewed replaces) up to when it is made.
    looked_back = await usage_period(ctx, subscription, invoice.made_at)
    return Upcoming(
        subscription,
        invoice.items,
        looked_back,
        attempt_at=_first_attempt(subscription, invoice),
        prorated_at=invoice.prorated_at,
    )


async def _first_invoice(ctx: Context, customer_id: str, details: Mapping[str, Any]) -> Upcoming:
    """The first invoice of a subscription of the customer created with `details[items]`
    (Stripe's `subscription` reference: "If not provided, but a
    subscription_details.items is provided, you will preview creating a subscription with
    those items."): started as creating it starts it (`subscription_create.
    open_subscription`, nothing stored), a line per item for its first period, made now and
    charged at once. Kassa previews the items' `price` and `quantity` (and
    `default_tax_rates`, `billing_mode`) only: a trial, discounts or an anchor are not
    previewed yet (a 400 naming the detail)."""
    _check_new_subscription_details(details)
    items = [
        {name: entry[name] for name in NEW_ITEM_DETAILS if name in entry}
        for entry in details["items"]
    ]
    request = CreateSubscription(
        customer=customer_id, items=items, billing_mode=details.get("billing_mode")
    )
    customer = await billed_customer(ctx, customer_id)
    ctx = await ctx.governed_by(customer)
    try:
        opened = await open_subscription(ctx, customer, request)
        await apply_default_tax_rates(ctx, opened.subscription, details.get("default_tax_rates"))
    except InvalidRequest as error:
        error.param = _under_details(error.param)
        raise
    subscription = opened.subscription
    billed = items_of(subscription)
    fractions = [opened.spans[str(item["id"])].fraction for item in billed]
    lines = await _period_lines(ctx, subscription, billed, fractions)
    invoice = _Invoice(lines, ctx.now(), lines=lines)
    # A new subscription has no invoice to look back from: its own period is the instant
    # it is made, as its first invoice's.
    return Upcoming(
        subscription,
        lines,
        (ctx.now(), ctx.now()),
        attempt_at=_first_attempt(subscription, invoice),
    )


def _check_new_subscription_details(details: Mapping[str, Any]) -> None:
    """What a new subscription's preview takes: `items` (each a `price`, its `quantity`),
    `default_tax_rates` and `billing_mode`; the rest names an existing subscription's
    change, or what Kassa does not preview yet for a new one."""
    for name, value in details.items():
        if value is not None and name not in NEW_SUBSCRIPTION_DETAILS:
            raise InvalidRequest(
                "Kassa previews a new subscription (subscription_details[items] without "
                f"subscription) from its items' price and quantity only: leave out "
                f"subscription_details[{name}], or pass subscription.",
                param=f"subscription_details[{name}]",
            )
    for index, entry in enumerate(details["items"]):
        for name in entry:
            if name not in NEW_ITEM_DETAILS:
                raise InvalidRequest(
                    "Kassa previews a new subscription's items from their price and "
                    f"quantity only: leave out subscription_details[items][{index}][{name}].",
                    param=f"subscription_details[items][{index}][{name}]",
                )


def _first_attempt(subscription: Mapping[str, Any], invoice: _Invoice) -> int | None:
    """When the previewed invoice's payment would first be attempted, set as the real one's
    `next_payment_attempt` is: a renewal's draft by its window
    (`invoice_changes.apply_draft_window`), any other as it is finalized and charged at once
    (`invoice_transitions.first_attempt`). None when it is not charged automatically
    (`send_invoice`), for a renewal or final invoice while collection is paused then
    (`subscription_pending.collection_paused`; Stripe's pause-payment guide: "invoices
    continue to generate, but Stripe doesn't collect payment"; an update's invoice is
    charged all the same), or the renewal of an `unpaid` subscription, kept a draft
    (`subscription_cycle._keep_as_draft`)."""
    if invoice.held_by_pause and collection_paused(subscription, invoice.made_at) is not None:
        return None
    if invoice.drafted and subscription["status"] == "unpaid":
        return None
    made: ApiObject = {
        "auto_advance": True,
        "collection_method": subscription["collection_method"],
        "created": invoice.made_at,
        "automatically_finalizes_at": None,
    }
    if not invoice.drafted:
        return first_attempt(made, invoice.made_at, charged_at_once=True)
    apply_draft_window(made, InvoiceChanges(), invoice.made_at)
    attempt: int | None = made["next_payment_attempt"]
    return attempt


async def _previewed(
    ctx: Context,
    subscription: ApiObject,
    details: Mapping[str, Any],
    recurring: bool,
    customer: Mapping[str, Any] | None = None,
) -> _Invoice:
    """The invoice the preview shows: a resumption's, a cancellation's now, or the one the
    change makes (at once, when the subscription ends, or its renewal); `recurring`, the
    first that bills the items' periods (a reset's, else the renewal). The renewal's lines
    take `customer` when given (else they read it)."""
    if details.get("resume_at") is not None:
        return await _resumed_now(ctx, subscription, details)
    if details.get("cancel_now"):
        return await _canceled_now(ctx, subscription, details)
    terms = ChangeTerms(
        items=list(details.get("items") or []),
        proration_behavior=details.get("proration_behavior"),
        proration_date=details.get("proration_date"),
        billing_cycle_anchor=details.get("billing_cycle_anchor"),
        end_rescheduled=any(details.get(name) is not None for name in _END_DETAILS),
        previewed=True,
    )
    # In the update's order (`subscriptions.update_subscription`): its end, its items,
    # then the periods the end no longer cuts short.
    added, plan = await _planned(ctx, subscription, details, terms)
    planned = plan.prorations if plan is not None else []
    credits = added.credits if added is not None else []
    prorations = [*credits, *planned, *await _fitted_to_end(ctx, subscription, terms, planned)]
    # An invoice made now (a reset's, `always_invoice`'s, a final one) takes the discounts
    # that still apply now, as `subscription_invoices.invoice_period` prunes them.
    prune_discounts(subscription, ctx.now())
    # The time the prorations count from: the change's (`proration_date`, or now).
    prorated_at = (plan.at if plan is not None else ctx.now()) if prorations else None
    at_once = None if recurring else await _added_trial_invoiced(ctx, subscription, terms, added)
    if at_once is None:
        at_once = await _invoiced_at_once(ctx, subscription, terms, plan, prorations, recurring)
    if at_once is not None:
        return replace(at_once, prorated_at=prorated_at)
    end = end_before_renewal(subscription)
    if end is not None:
        return replace(await _final(ctx, subscription, prorations, end), prorated_at=prorated_at)
    if subscription["status"] == "paused":
        raise _nothing_upcoming(subscription, "it is paused")
    # The renewal's own steps (`subscription_renewal`): the items whose periods end first,
    # each for its next span, which may be a prorated part of a period, and the discounts
    # still applying then.
    # Its metered lines: the usage so far of the period the renewal ends (`meter_usage`).
    trialing = subscription["status"] == "trialing"
    usage = None if trialing else usage_periods(renewing_items(subscription))
    renewal = begin_next_period(subscription)
    fractions = [renewal.spans[str(item["id"])].fraction for item in renewal.items]
    lines = await _period_lines(ctx, subscription, renewal.items, fractions, usage, customer)
    # Made when the period starts, on time: the pause of collection decides then.
    pending = await pending_for(ctx, subscription, "customer", voidable_at=renewal.period[0])
    return _Invoice(
        [*pending, *prorations, *lines],
        renewal.period[0],
        lines=lines,
        drafted=True,
        held_by_pause=True,
        prorated_at=prorated_at,
    )


async def _fitted_to_end(
    ctx: Context, subscription: ApiObject, terms: ChangeTerms, planned: list[ApiObject]
) -> list[ApiObject]:
    """The periods fitted to a previewed end, as the update fits them
    (`subscription_period_ends.fit_periods_to_end`, the change's `planned` prorations
    unsaved): the prorations that makes."""
    if not terms.end_rescheduled:
        return []
    return await fit_periods_to_end(ctx, subscription, terms.proration_behavior, planned)


async def _added_trial_invoiced(
    ctx: Context, subscription: ApiObject, terms: ChangeTerms, added: AddedTrial | None
) -> _Invoice | None:
    """A trial added with `always_invoice`: the invoice the update makes at once
    (`subscriptions._settle_added_trial`), its credits with the subscription's other
    pending prorations, over the rest of the period they credit; None otherwise (the
    credits then wait for the first paid period, the renewal previewed)."""
    if added is None or not added.credits or terms.proration_behavior != "always_invoice":
        return None
    pending = await pending_for(ctx, subscription, "subscription")
    return _Invoice([*pending, *added.credits], ctx.now())


async def _planned(
    ctx: Context, subscription: ApiObject, details: Mapping[str, Any], terms: ChangeTerms
) -> tuple[AddedTrial | None, Plan | None]:
    """The previewed end, trial's end, tax rates and item change worked out on the copy, as
    an update makes them (`subscription_terms.schedule_end`, `subscription_trials.
    move_trial_end`, `subscription_discounts.apply_default_tax_rates`,
    `subscription_changes.plan_change`, `subscription_trials.end_trial_now`): a trial
    added to an active subscription (its credits), and the change's plan, None when it
    changes no item. Their errors name the parameters as the preview sent them."""
    try:
        await schedule_end(
            ctx, subscription, details.get("cancel_at_period_end"), details.get("cancel_at")
        )
        added = await move_trial_end(ctx, subscription, details.get("trial_end"), terms)
        await apply_default_tax_rates(ctx, subscription, details.get("default_tax_rates"))
        plan = await plan_change(ctx, subscription, terms) if terms.changes_anything else None
        if details.get("trial_end") == "now":
            # After the items change, as on update: the renewal below is the first paid
            # period the update starts at once (`subscriptions._end_trial_now`).
            await end_trial_now(ctx, subscription)
        return added, plan
    except InvalidRequest as error:
        error.param = _under_details(error.param)
        raise


async def _invoiced_at_once(
    ctx: Context,
    subscription: ApiObject,
    terms: ChangeTerms,
    plan: Plan | None,
    prorations: list[ApiObject],
    recurring: bool = False,
) -> _Invoice | None:
    """The invoice the previewed change makes at once, as the update's
    (`subscription_changes.change_subscription`): a billing cycle reset's, or
    `always_invoice`'s (not with `recurring`: it bills no item's period); None when it
    makes none."""
    if plan is not None and plan.resets:
        items = items_of(subscription)
        fractions = [plan.spans[str(item["id"])].fraction for item in items]
        lines = await _period_lines(ctx, subscription, items, fractions)
        pending = await pending_for(ctx, subscription, "subscription")
        return _Invoice([*pending, *prorations, *lines], ctx.now(), lines=lines)
    if recurring:
        return None
    if (plan is not None or prorations) and invoices_at_once(subscription, terms):
        pending = await pending_for(ctx, subscription, "subscription")
        return _Invoice([*pending, *prorations], ctx.now())
    return None


async def _final(
    ctx: Context, subscription: ApiObject, prorations: list[ApiObject], end: int
) -> _Invoice:
    """A subscription that ends before it would renew (`end`: its `cancel_at`, which
    `cancel_at_period_end` sets to its period's end) gets no renewal, but a final invoice
    of what it left pending, made when it ends (`subscription_cycle.end_as_scheduled`):
    that invoice, with the previewed change's prorations, which would be left pending too.
    Stripe's docs describe no such preview; its cancel docstring says the pending
    prorations of a subscription canceling at the end of its period are "collected at the
    end of the period", and the preview shows the invoice that collects them. Nothing
    pending, or a pause that would void it (`_final_items`), no invoice is made, so there
    is none upcoming."""
    items = await _final_items(ctx, subscription, end, prorations)
    if not items:
        raise _nothing_upcoming(
            subscription, "it ends at the end of its period (cancel_at) with nothing pending"
        )
    return _Invoice(items, end, held_by_pause=True)


async def _canceled_now(
    ctx: Context, subscription: ApiObject, details: Mapping[str, Any]
) -> _Invoice:
    """`cancel_now`: the final invoice `DELETE` makes with `invoice_now=true`, and
    `prorate=true` unless `proration_behavior` is `none` (`subscriptions.cancel_now`): what
    the subscription left pending with the credits for its unused time
    (`subscription_changes.unused_time_credits`, unsaved), over its period up to now; with
    nothing pending, the zero invoice that cancellation makes. Stripe's docs say only that
    it "simulates the subscription being canceled or expired immediately"; of the ways to
    cancel now, this is the one that makes an invoice to preview (without `invoice_now` the
    credits wait for the customer's next invoice, and without `prorate` too the pending
    prorations are dropped). The tax rates it would bill with are taken first, as
    `default_tax_rates` on an update before the `DELETE` would set them."""
    for name in _NOT_WITH_CANCEL_NOW:
        if details.get(name) is not None:
            raise InvalidRequest(
                "subscription_details[cancel_now] previews an immediate cancellation, which "
                f"makes no other change: leave out subscription_details[{name}].",
                param="subscription_details[cancel_now]",
            )
    try:
        await apply_default_tax_rates(ctx, subscription, details.get("default_tax_rates"))
    except InvalidRequest as error:
        error.param = _under_details(error.param)
        raise
    prorate = details.get("proration_behavior") != "none"
    credits = await unused_time_credits(ctx, subscription) if prorate else []
    # The invoice is made after the credits, with the discounts that still apply now.
    prune_discounts(subscription, ctx.now())
    items = await _final_items(ctx, subscription, ctx.now(), credits)
    return _Invoice(
        items, ctx.now(), held_by_pause=True, prorated_at=ctx.now() if credits else None
    )


async def _final_items(
    ctx: Context, subscription: ApiObject, at: int, made: list[ApiObject]
) -> list[ApiObject]:
    """What the final invoice made at `at` takes: what the subscription left pending and
    what the previewed change makes (`made`: its prorations, a cancellation's credits),
    which would be pending too; none of it when `pause_collection` voids that invoice
    (`subscription_pending.voided_by_pause`): all of it stays pending, the customer's."""
    if voided_by_pause(subscription, at):
        return []
    return [*await pending_for(ctx, subscription, FINAL, voidable_at=at), *made]


async def _resumed_now(
    ctx: Context, subscription: ApiObject, details: Mapping[str, Any]
) -> _Invoice:
    """`resume_at=now`: the invoice `POST .../resume` makes with its default
    `billing_cycle_anchor=now` (`subscription_pause.restart_period` on the copy): a line per
    item for the new period from now, or its part when a `cancel_at` cuts it, with the
    customer's pending items (the pause's credit among them). Stripe's docs: "For paused
    subscriptions, setting subscription_details.resume_at to now will preview the invoice
    that will be generated if the subscription is resumed." It changes nothing else, so
    it is previewed alone."""
    param = "subscription_details[resume_at]"
    sent = {name for name, value in details.items() if value is not None}
    others = sorted(sent - {"resume_at", "billing_mode"})
    if others:
        raise InvalidRequest(
            "subscription_details[resume_at] previews a resumption, which makes no other "
            f"change: leave out subscription_details[{others[0]}].",
            param=param,
        )
    try:
        await check_resumable(ctx, subscription)
    except InvalidRequest as error:
        error.param = param
        raise
    spans = restart_period(ctx, subscription)
    # The invoice is made now, with the discounts that still apply now.
    prune_discounts(subscription, ctx.now())
    items = items_of(subscription)
    fractions = [spans[str(item["id"])].fraction for item in items]
    lines = await _period_lines(ctx, subscription, items, fractions)
    pending = await pending_for(ctx, subscription, "customer")
    return _Invoice([*pending, *lines], ctx.now(), lines=lines)


def _nothing_upcoming(subscription: Mapping[str, Any], why: str) -> NoUpcomingInvoice:
    """Stripe's 404 `invoice_upcoming_none` (`errors.NoUpcomingInvoice`), with why."""
    return NoUpcomingInvoice("subscription", str(subscription["id"]), reason=why)


async def _period_lines(
    ctx: Context,
    subscription: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    fractions: Sequence[Fraction | None] | None = None,
    usage: Mapping[str, tuple[int, int]] | None = None,
    customer: Mapping[str, Any] | None = None,
) -> list[ApiObject]:
    """The renewal's lines (unsaved) for `items`, as `subscription_invoices` makes them,
    each for its item's current period and the `fraction` of its price (rounded once, one
    per item) for a part of a period; a metered item's, its usage over the period `usage`
    gives it, never prorated. The subscription's `customer` is read unless given."""
    if customer is None:
        customer = await customer_of(ctx, subscription)
    lines = []
    for item, fraction in zip(items, fractions or [None] * len(items), strict=True):
        used = (usage or {}).get(str(item["id"]))
        line = await period_item(ctx, customer, subscription, item, item_period(item), usage=used)
        if fraction is not None and not is_metered(item["price"]):
            prorate_line(line, fraction)
        lines.append(line)
    return lines


def _under_details(param: str | None) -> str | None:
    """An update's parameter as the preview names it: `items[0][price]` is sent as
    `subscription_details[items][0][price]`, `billing_cycle_anchor` as
    `subscription_details[billing_cycle_anchor]`."""
    if param is None:
        return None
    name, bracket, rest = param.partition("[")
    return param_path("subscription_details", name) + bracket + rest
