"""Subscriptions and their items as stored and shown (API 2026-10-28.endive: the current
period lives on each item; `billing_mode` is `flexible` unless created `classic`:
`subscription_billing_mode`), and the reads and writes that keep the two tables in step: a
subscription's document holds its items (`items.data`, what the API shows), and each item is
also a row of its own (`/v1/subscription_items/{id}`), written together.

Kassa's own facts about a subscription live under `_kassa` and never reach a client:
`renews_at`, when the subscription next has work due, which the clock work and the renewal
job scan (an indexed column), derived from the rest of the document on every write
(`next_work_at`) and never set by hand (the renewal job alone moves the column, not the
document, an hour on when a renewal fails: `subscription_cycle`); `trial_will_end_sent`;
`upcoming_notice`, when the current period's `invoice.upcoming` is due (`note_upcoming_notice`,
`subscription_upcoming`);
`debits`, each item's debit a credit proration would undo (`subscription_credits`);
`entitled_products`, the products it grants entitlements for, which every write follows
(`entitlement_grants`: its customer's active entitlements change in the same unit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.services import events
from kassa.services.billing import discount_events, entitlement_grants
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject, document_copy
from kassa.store.tables import CUSTOMERS, PRIVATE, PRODUCTS, SUBSCRIPTION_ITEMS, SUBSCRIPTIONS

STATUSES: Final = (
    "active",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
LISTED_BY_DEFAULT: Final = tuple(s for s in STATUSES if s not in ("canceled", "incomplete_expired"))
"""Stripe's list leaves out canceled (and expired) subscriptions unless asked for them."""
ENDED: Final = ("canceled", "incomplete_expired")

DECIDING_STATUS: Final = "subscriptions.deciding_status"
"""Context memo: the subscription whose status this unit sets itself from the fate of the
invoice it makes (its first, or an update's), which the invoice hooks then leave alone."""

ITEMS_MAX: Final = 20
"""Stripe's limit of items on one subscription."""

RENEWS_AT: Final = "renews_at"
"""Private key: when the subscription next has work due (`next_work_at`), the source of the
indexed column the clock work and the renewal job scan."""
TRIAL_WILL_END_SENT: Final = "trial_will_end_sent"
"""Private key: `customer.subscription.trial_will_end` has been announced."""
UPCOMING_NOTICE: Final = "upcoming_notice"
"""Private key: the `invoice.upcoming` notice of the current period, noted as the period
begins (`note_upcoming_notice`): `period_end`, the end (the renewal) it announces, and `at`,
when it is due (None: none for this period, or sent already)."""
UPCOMING_NOTICE_STATUSES: Final = ("active", "past_due", "trialing")
"""The statuses whose next invoice is charged automatically at the period's end (an
`unpaid` one's renewals stay drafts; a paused or incomplete one makes none)."""
HELD: Final = "pending_update"
"""Private key: a change held for its invoice's payment (`subscription_pending_updates`):
the invoice it waits for, the top-level `fields` and private `facts` it sets (and the facts
it drops), the `once` discounts its invoice used, and whether its metadata clears all."""
RESUMING_EXPIRES_AT: Final = "resuming_expires_at"
"""Private key of a paused subscription waiting for a first attempt on its resumption
invoice (`subscription_pause`): when that invoice is voided if still not attempted."""
INCOMPLETE_EXPIRES_SECONDS: Final = 23 * 3_600
"""Stripe expires a subscription whose first payment never succeeded after 23 hours."""
TRIAL_WILL_END_NOTICE_SECONDS: Final = 3 * 86_400
"""Stripe announces `customer.subscription.trial_will_end` three days before a trial ends."""


def blank_subscription(ctx: Context, customer: Mapping[str, Any], currency: str) -> ApiObject:
    subscription_id = new_id("sub")
    now = ctx.now()
    return {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": now,
        },
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": ctx.livemode,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "presentment_details": None,
        "schedule": None,
        "start_date": now,
        "status": "incomplete",
        "status_details": None,
        "test_clock": customer.get("test_clock"),
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
        PRIVATE: {RENEWS_AT: None, TRIAL_WILL_END_SENT: False},
    }


def plan_of(price: Mapping[str, Any]) -> ApiObject:
    """The legacy Plan a recurring price also is (same id), as items still show it."""
    recurring = price["recurring"]
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": price["livemode"],
        "metadata": dict(price["metadata"]),
        "meter": recurring.get("meter"),
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": price["transform_quantity"],
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring["usage_type"],
    }


def new_item(
    ctx: Context,
    subscription_id: str,
    price: Mapping[str, Any],
    quantity: int,
    metadata: Mapping[str, str],
    period: tuple[int, int],
) -> ApiObject:
    shown_price = {k: v for k, v in price.items() if not k.startswith("_")}
    return {
        "id": new_id("si"),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": ctx.now(),
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": dict(metadata),
        "plan": plan_of(price),
        "price": shown_price,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def items_of(subscription: Mapping[str, Any]) -> list[ApiObject]:
    data: list[ApiObject] = subscription["items"]["data"]
    return data


def private(subscription: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = subscription[PRIVATE]
    return facts


def snapshot(subscription: Mapping[str, Any]) -> ApiObject:
    """A deep copy of the document (for `previous_attributes`, or a preview's changes)."""
    return document_copy(subscription)


def view(subscription: Mapping[str, Any]) -> ApiObject:
    """What the API shows: everything but Kassa's own facts."""
    return {k: v for k, v in subscription.items() if k != PRIVATE}


def subscription_item_of(invoice_item: Mapping[str, Any]) -> str | None:
    """The subscription item an invoice item bills (its `parent.subscription_details`, as
    `subscription_invoices` and the prorations set it), None for any other."""
    details = (invoice_item.get("parent") or {}).get("subscription_details") or {}
    found = details.get("subscription_item")
    return None if found is None else str(found)


def set_item_period(item: ApiObject, period: tuple[int, int]) -> None:
    item["current_period_start"], item["current_period_end"] = period


def item_period(item: Mapping[str, Any]) -> tuple[int, int]:
    return int(item["current_period_start"]), int(item["current_period_end"])


def current_period(subscription: Mapping[str, Any]) -> tuple[int, int]:
    """The period that ends first among the items' (items of mixed intervals each have
    their own): its end is the subscription's next renewal, what `cancel_at_period_end`
    and `min_period_end` resolve to (Stripe's cancel_at changelog, 2025-07-30.basil)."""
    return min((item_period(item) for item in items_of(subscription)), key=lambda p: p[1])


def latest_period_end(subscription: Mapping[str, Any]) -> int:
    """The latest item period end (`cancel_at=max_period_end`)."""
    return max(item_period(item)[1] for item in items_of(subscription))


def shared_period(subscription: Mapping[str, Any]) -> tuple[int, int]:
    """The time every item's current period covers (all of it when they share one): where a
    change's `proration_date` may fall, every item being prorated over its own period."""
    spans = [item_period(item) for item in items_of(subscription)]
    return max(s for s, _ in spans), min(e for _, e in spans)


# -- when work is next due ------------------------------------------------------------------


def next_work_at(subscription: Mapping[str, Any]) -> int | None:
    """When the subscription next has work due (its `renews_at`), from its document alone:
    None once it has ended; else its own work (`_own_work_at`), or a pending update's
    expiry if that comes first (the renewal work discards an expired update before anything
    else: `subscription_pending_updates.expire_if_due`)."""
    if subscription["status"] in ENDED:
        return None
    due = _own_work_at(subscription)
    pending = subscription.get("pending_update")
    if pending is not None:
        due = _earliest(due, int(pending["expires_at"]))
    return due


def _own_work_at(subscription: Mapping[str, Any]) -> int | None:
    """- incomplete: its expiry, 23 hours after creation, even past a `cancel_at` (paid
      after it, it is due at once, `cancel_at` having passed, and ends at the next run of
      the renewal work or step of its clock);
    - paused: only a scheduled cancellation, or the expiry of the resumption invoice it
      waits for (no invoices, no period advance);
    - otherwise the work of its period (`_period_work_at`), unless `cancel_at` comes first
      (`cancel_at_period_end` has set `cancel_at` to the period's end);
    and in both, the `resumes_at` of a `pause_collection`, which clears it then."""
    status, cancel_at = subscription["status"], subscription["cancel_at"]
    if status == "incomplete":
        return int(subscription["created"]) + INCOMPLETE_EXPIRES_SECONDS
    resumes_at = (subscription["pause_collection"] or {}).get("resumes_at")
    if status == "paused":
        expires_at = private(subscription).get(RESUMING_EXPIRES_AT)
        return _earliest(cancel_at, expires_at, resumes_at)
    return _earliest(_period_work_at(subscription), cancel_at, resumes_at)


def _period_work_at(subscription: Mapping[str, Any]) -> int:
    """On trial, the `trial_will_end` notice three days before its end, then its end;
    otherwise the next renewal, the earliest item period end (items of mixed intervals each
    renew at their own); in both, the `invoice.upcoming` notice if it comes first."""
    trial_end = subscription["trial_end"]
    if subscription["status"] == "trialing" and trial_end is not None:
        due = int(trial_end)
        if not private(subscription).get(TRIAL_WILL_END_SENT):
            due -= TRIAL_WILL_END_NOTICE_SECONDS
    else:
        due = current_period(subscription)[1]
    notice_at = upcoming_notice_at(subscription)
    return due if notice_at is None else min(due, notice_at)


def upcoming_notice_at(subscription: Mapping[str, Any]) -> int | None:
    """When the `invoice.upcoming` notice of the subscription's next renewal is due, if one
    is to be sent: noted for the current period and not sent (`UPCOMING_NOTICE`), and the
    renewal at its end an invoice charged automatically (Stripe's event: "an invoice that
    is automatically charged"): active, past due or on trial, `charge_automatically`, its
    collection not paused, and no cancellation at or before the period's end (which
    `cancel_at_period_end` sets)."""
    notice = private(subscription).get(UPCOMING_NOTICE)
    if notice is None or notice["at"] is None or not items_of(subscription):
        return None
    if (
        subscription["status"] not in UPCOMING_NOTICE_STATUSES
        or subscription["collection_method"] != "charge_automatically"
        or subscription["pause_collection"] is not None
    ):
        return None
    end = current_period(subscription)[1]
    cancel_at = subscription["cancel_at"]
    if int(notice["period_end"]) != end or (cancel_at is not None and int(cancel_at) <= end):
        return None
    return int(notice["at"])


def note_upcoming_notice(subscription: ApiObject, notice_days: int | None) -> None:
    """A period begun (or its end moved: a trial's end moved, the cycle reset): its
    `invoice.upcoming` is due `notice_days` before its end; none when that falls before the
    period begins (a period shorter than the notice) or the setting is off (None). Noted
    once per period, so a changed setting takes effect from the next period (Stripe: "For
    existing subscriptions, changing the number of days takes effect on the next billing
    period"); the notice sent is not sent again for that period, however often the work is
    run (`mark_upcoming_notice_sent`)."""
    if subscription["status"] in ENDED or not items_of(subscription):
        return
    start, end = current_period(subscription)
    kept = private(subscription).get(UPCOMING_NOTICE)
    if kept is not None and int(kept["period_end"]) == end:
        return
    at = None if notice_days is None else end - notice_days * DAY_SECONDS
    private(subscription)[UPCOMING_NOTICE] = {
        "period_end": end,
        "at": None if at is None or at <= start else at,
    }


def mark_upcoming_notice_sent(subscription: ApiObject) -> None:
    notice = private(subscription).get(UPCOMING_NOTICE)
    ensure(notice is not None, "a notice sent was noted for the period")
    if notice is not None:
        notice["at"] = None


def _earliest(*times: int | None) -> int | None:
    return min((at for at in times if at is not None), default=None)


# -- stored --------------------------------------------------------------------------------


RETIRED_PRIVATE_KEYS: Final = ("renews_at_before_cancel_at", "renews_at_after_pending_update")
"""Private keys a Kassa before `next_work_at` kept to restore `renews_at` by hand: dropped
when such a document is next written."""


def _derive_facts(subscription: ApiObject, notice_days: int | None) -> None:
    """Kassa's derived facts, set from the document as it is about to be written: every
    path that changes what work is due writes through here, so none can leave it stale.
    A period begun has its `invoice.upcoming` noted here too (`note_upcoming_notice`, with
    the days the installation sends it before a renewal)."""
    kept = private(subscription)
    for retired in RETIRED_PRIVATE_KEYS:
        kept.pop(retired, None)
    note_upcoming_notice(subscription, notice_days)
    kept[RENEWS_AT] = next_work_at(subscription)


async def insert(ctx: Context, subscription: ApiObject) -> None:
    _derive_facts(subscription, ctx.payments.upcoming_renewal_days)
    await entitlement_grants.follow_subscription(ctx, subscription)
    await ctx.tx.insert_object(SUBSCRIPTIONS, ctx.account_id, subscription)
    for item in items_of(subscription):
        await ctx.tx.insert_object(SUBSCRIPTION_ITEMS, ctx.account_id, item)


async def save(ctx: Context, subscription: ApiObject) -> None:
    _derive_facts(subscription, ctx.payments.upcoming_renewal_days)
    await entitlement_grants.follow_subscription(ctx, subscription)
    await ctx.tx.update_object(SUBSCRIPTIONS, ctx.account_id, subscription)
    for item in items_of(subscription):
        await ctx.tx.update_object(SUBSCRIPTION_ITEMS, ctx.account_id, item)


async def save_facts(ctx: Context, subscription: ApiObject) -> None:
    """Only Kassa's own facts changed (a notice marked sent): the subscription's row alone,
    its items' rows and its grants as they were."""
    _derive_facts(subscription, ctx.payments.upcoming_renewal_days)
    await ctx.tx.update_object(SUBSCRIPTIONS, ctx.account_id, subscription)


async def customer_of(ctx: Context, subscription: Mapping[str, Any]) -> ApiObject:
    """The subscription's customer, read without a lock (nothing of it changes)."""
    customer_id = str(subscription["customer"])
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    ensure(found is not None, f"a subscription's customer {customer_id} exists")
    return found[0] if found else {}


async def product_name(ctx: Context, product_id: str) -> str:
    """What an item's lines call its product: its name (its id if it has none)."""
    found = await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
    return product_id if found is None else str(found[0].get("name") or product_id)


async def find(ctx: Context, subscription_id: str) -> ApiObject | None:
    """The subscription, locked in a write unit; None when this account has none."""
    found = await ctx.tx.get_object(SUBSCRIPTIONS, ctx.account_id, subscription_id)
    return None if found is None else found[0]


async def load_subscription(ctx: Context, subscription_id: str) -> ApiObject:
    """The subscription an action names (locked in a write unit); ResourceMissing when this
    account has none by that id (or none could have it)."""
    found = await find(ctx, subscription_id) if could_be_object_id(subscription_id) else None
    if found is None:
        raise ResourceMissing("subscription", subscription_id)
    return found


async def announce(
    ctx: Context, event_type: str, subscription: ApiObject, previous: ApiObject | None = None
) -> None:
    await events.announce(
        ctx,
        event_type,
        view(subscription),
        previous=None if previous is None else view(previous),
    )
    if event_type in discount_events.SUBSCRIPTION_EVENTS:
        await discount_events.announce_subscription_discounts(ctx, previous, subscription)
