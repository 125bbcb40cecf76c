"""What a subscription schedule does as its time comes, through the subscription services
(create, update, cancel), never beside them: a schedule not started creates its subscription
at its start; a phase's end applies the next phase to the subscription (its items, metadata,
collection method, payment method, coupons), and after the last phase `end_behavior`
releases the subscription (`released`) or cancels it (`completed`); the `expiring` notice
goes out seven days before the last phase ends.

This is due work on Kassa's scheduler (`transitions_at`, derived on every write:
`subscription_schedule_documents.next_work_at`): a test clock's advance does it in clock
order (kind `schedule_transition`, before the renewals due at the same second, so that a
renewal at a phase's end bills the new phase's prices: `kassa.store.clock_queries`), and in
real time the `invoices` job's first step (`transition_due_schedules`). Idempotent: the work
reads the schedule under its row lock and does only what is due at its time, so a second
run after a crash finds nothing due.

A phase entered where the subscription's period ends (as a phase made from a subscription
or of whole intervals does) changes the items with no proration: the renewal at that second
bills the new items for the new period. Entered inside a period, it prorates as the entered
phase's `proration_behavior` says (Stripe: "when transitioning to this phase").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from kassa.clock import Clock
from kassa.params import UNSET, apply_metadata
from kassa.services.billing import subscription_schedule_phases as phases
from kassa.services.billing.subscription_create import CreateSubscription, create_subscription
from kassa.services.billing.subscription_documents import (
    ENDED,
    current_period,
    items_of,
    snapshot,
)
from kassa.services.billing.subscription_documents import announce as announce_subscription
from kassa.services.billing.subscription_documents import find as find_subscription
from kassa.services.billing.subscription_documents import save as save_subscription
from kassa.services.billing.subscription_final import final_items
from kassa.services.billing.subscription_schedule_documents import (
    EXPIRING_SENT,
    PHASE,
    announce,
    current_phase,
    end_as,
    expiring_at,
    find,
    next_work_at,
    private,
    save,
)
from kassa.services.billing.subscriptions import (
    CANCELLATION_REQUESTED,
    UpdateSubscription,
    cancel_now,
    update_subscription,
)
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction

STEPS_PER_TRANSITION_MAX: Final = 2 + 2 * 10
"""Steps one run of a schedule's work may take (its start, the notice, and per phase its
end, `PHASES_MAX` of them, with room to spare): more than any schedule needs, so a schedule
whose work stays due cannot loop."""

log = logging.getLogger("kassa.subscription_schedules")


async def transition_schedule(ctx: Context, schedule_id: str) -> int:
    """Everything due on the schedule at its time, in order; the steps taken. Nothing due
    (a second run, or a column postponed): its derived due time stored again."""
    schedule = await find(ctx, schedule_id)
    if schedule is None:
        return 0
    ctx = await ctx.governed_by(schedule)
    done = await run_due(ctx, schedule)
    if done == 0:
        await save(ctx, schedule)
    return done


async def run_due(ctx: Context, schedule: ApiObject) -> int:
    """The steps due at `ctx.now()` (a start, a notice, phase ends), each saved as taken."""
    done = 0
    for _ in range(STEPS_PER_TRANSITION_MAX):
        due = next_work_at(schedule)
        if due is None or due > ctx.now():
            break
        await _step(ctx, schedule)
        done += 1
    return done


async def transition_due_schedules(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's schedules with work due in real time, each in a unit of work of its
    own, bounded per run (`due_work.do_due_operations`); the steps taken. One that fails is
    rolled back, logged, and its `transitions_at` column moved an hour on."""
    jobs = (Transaction.subscription_schedules_due, Transaction.postpone_subscription_schedule)
    failed = (log, "subscription schedule %s could not move on: %s")
    return await do_due_operations(store, clock, payments, jobs, transition_schedule, failed)


async def _step(ctx: Context, schedule: ApiObject) -> None:
    if schedule["status"] == "not_started":
        await start(ctx, schedule)
        return
    if not private(schedule).get(EXPIRING_SENT) and expiring_at(schedule) <= ctx.now():
        await announce_expiring(ctx, schedule)
        return
    following = int(private(schedule)[PHASE]) + 1
    if following < len(schedule["phases"]):
        await enter_phase(ctx, schedule, following, proration_behavior=None)
    else:
        await end(ctx, schedule)


async def announce_expiring(ctx: Context, schedule: ApiObject) -> None:
    private(schedule)[EXPIRING_SENT] = True
    await save(ctx, schedule)
    await announce(ctx, "subscription_schedule.expiring", schedule)


async def announce_expiring_if_due(ctx: Context, schedule: ApiObject) -> None:
    """The notice at once for an active schedule ending within seven days of now (a short
    schedule, or one updated to end soon), as the subscriptions' trial notice goes out at
    once for a short trial."""
    sent = private(schedule).get(EXPIRING_SENT)
    if schedule["status"] == "active" and not sent and expiring_at(schedule) <= ctx.now():
        await announce_expiring(ctx, schedule)


async def start(ctx: Context, schedule: ApiObject) -> None:
    """The schedule's start: its subscription created from the first phase (through
    `create_subscription`, its first invoice made and collected as any new subscription's),
    pointing at the schedule; the schedule `active`."""
    phase = schedule["phases"][0]
    collection = phases.collection_method(schedule, phase)
    discounts = [{"coupon": d["coupon"]} for d in phase["discounts"]]
    request = CreateSubscription(
        customer=str(schedule["customer"]),
        items=[
            {
                "price": item["price"],
                "quantity": item["quantity"],
                "metadata": phases.item_metadata_update(item),
            }
            for item in phase["items"]
        ],
        collection_method=collection,
        days_until_due=_days_if_sent(schedule, phase, collection),
        default_payment_method=phases.default_payment_method(schedule, phase),
        metadata=phases.metadata_update(phase),
        discounts=discounts or None,
        trial_end=None if phase["trial_end"] is None else str(phase["trial_end"]),
        billing_mode={"type": schedule["billing_mode"]["type"]},
    )
    created = await create_subscription(ctx, request, schedule=str(schedule["id"]))
    schedule["subscription"] = created["id"]
    schedule["status"] = "active"
    private(schedule)[PHASE] = 0
    await save(ctx, schedule)
    await announce(ctx, "subscription_schedule.updated", schedule)
    await announce_expiring_if_due(ctx, schedule)


def _days_if_sent(schedule: ApiObject, phase: ApiObject, collection: str) -> int | None:
    # Days to pay are a `send_invoice` subscription's only (Stripe: null otherwise).
    return phases.days_until_due(schedule, phase) if collection == "send_invoice" else None


async def enter_phase(
    ctx: Context, schedule: ApiObject, index: int, *, proration_behavior: str | None
) -> None:
    """The schedule's current phase moved to `index` and applied to the subscription
    (`apply_phase`). `proration_behavior`: None at a phase's end (no proration at the
    period's end, else the entered phase's)."""
    before = current_phase(schedule)
    private(schedule)[PHASE] = index
    await apply_phase(ctx, schedule, before, proration_behavior)
    await save(ctx, schedule)
    await announce(ctx, "subscription_schedule.updated", schedule)


async def apply_phase(
    ctx: Context,
    schedule: ApiObject,
    before: Mapping[str, Any] | None,
    proration_behavior: str | None,
) -> None:
    """The subscription updated to the schedule's current phase (`update_subscription`, so
    its changes prorate and are announced as any update's); `before` is the phase it was
    in (whose coupons it has). `proration_behavior`: an update request's own, or None at a
    phase's end: none where the subscription's period ends then, else the phase's."""
    phase = current_phase(schedule)
    subscription = await live_subscription(ctx, schedule)
    if phase is None or subscription is None:
        return
    at_period_end = current_period(subscription)[1] == ctx.now()
    behavior = proration_behavior or ("none" if at_period_end else str(phase["proration_behavior"]))
    await update_subscription(ctx, _update(schedule, subscription, before, phase, behavior))


def _update(
    schedule: ApiObject,
    subscription: ApiObject,
    before: Mapping[str, Any] | None,
    phase: ApiObject,
    behavior: str,
) -> UpdateSubscription:
    collection = phases.collection_method(schedule, phase)
    method = phases.default_payment_method(schedule, phase)
    coupons = [d["coupon"] for d in phase["discounts"]]
    had = [d["coupon"] for d in (before or {}).get("discounts") or []]
    discounts: list[dict[str, Any]] | Any = None
    if coupons != had:
        discounts = [{"coupon": c} for c in coupons] if coupons else UNSET
    collection_changes = collection != subscription["collection_method"]
    return UpdateSubscription(
        subscription=str(subscription["id"]),
        items=item_changes(subscription, phase) or None,
        proration_behavior=behavior,
        metadata=phases.metadata_update(phase),
        collection_method=collection if collection_changes else None,
        days_until_due=_days_if_sent(schedule, phase, collection) if collection_changes else None,
        default_payment_method=method if method != subscription["default_payment_method"] else None,
        discounts=discounts,
    )


def item_changes(subscription: Mapping[str, Any], phase: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `items[]` of the update that makes the subscription's items the phase's: an
    item on a price the phase keeps changes its quantity (and metadata) if they differ; an
    item whose price the phase drops takes one of the phase's new prices in its place (it
    keeps its id and period, so the renewal that follows bills the new price for the new
    period), and is removed when none is left; the phase's other new prices are added."""
    wanted = {str(item["price"]): item for item in phase["items"]}
    current = items_of(subscription)
    kept = {str(item["price"]["id"]) for item in current} & set(wanted)
    added = [item for price, item in wanted.items() if price not in kept]
    changes: list[dict[str, Any]] = []
    for item in current:
        price = str(item["price"]["id"])
        if price in kept:
            change = _kept_item_change(item, wanted[price])
        elif added:
            change = {"id": item["id"], **_new_item(added.pop(0))}
        else:
            change = {"id": item["id"], "deleted": True}
        if change is not None:
            changes.append(change)
    return changes + [_new_item(item) for item in added]


def _kept_item_change(item: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    change: dict[str, Any] = {"id": item["id"]}
    if int(item["quantity"]) != int(wanted["quantity"]):
        change["quantity"] = int(wanted["quantity"])
    metadata = phases.item_metadata_update(wanted)
    if apply_metadata(item["metadata"], metadata) != item["metadata"]:
        change["metadata"] = metadata
    return change if len(change) > 1 else None


def _new_item(wanted: Mapping[str, Any]) -> dict[str, Any]:
    new = {"price": wanted["price"], "quantity": int(wanted["quantity"])}
    metadata = phases.item_metadata_update(wanted)
    return {**new, "metadata": metadata} if metadata else new


async def end(ctx: Context, schedule: ApiObject) -> None:
    """After the last phase: `release` leaves the subscription running on its own
    (`released`, `released_subscription`, the subscription's `schedule` cleared);
    `cancel` cancels it (`completed`), what it has pending invoiced on a final invoice as a
    scheduled end collects it, and with nothing pending no invoice."""
    subscription = await live_subscription(ctx, schedule)
    if schedule["end_behavior"] == "release":
        await release(ctx, schedule, subscription)
        return
    end_as(schedule, "completed", ctx.now())
    # Saved before the subscription ends: its end then finds the schedule over already
    # (`subscription_schedule_documents.subscription_ended`).
    await save(ctx, schedule)
    if subscription is not None:
        pending = await final_items(ctx, subscription)
        await cancel_now(ctx, subscription, CANCELLATION_REQUESTED, invoice_now=bool(pending))
    await announce(ctx, "subscription_schedule.completed", schedule)


async def release(ctx: Context, schedule: ApiObject, subscription: ApiObject | None) -> None:
    """The schedule lets go of its subscription (at its end, or `POST .../release`)."""
    end_as(schedule, "released", ctx.now())
    schedule["released_subscription"] = schedule["subscription"]
    schedule["subscription"] = None
    await save(ctx, schedule)
    if subscription is not None and subscription["schedule"] == schedule["id"]:
        before = snapshot(subscription)
        subscription["schedule"] = None
        await save_subscription(ctx, subscription)
        await announce_subscription(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, "subscription_schedule.released", schedule)


async def live_subscription(ctx: Context, schedule: Mapping[str, Any]) -> ApiObject | None:
    """The schedule's subscription, locked, unless it has none or it has ended."""
    subscription_id = schedule["subscription"]
    if subscription_id is None:
        return None
    subscription = await find_subscription(ctx, str(subscription_id))
    if subscription is None or subscription["status"] in ENDED:
        return None
    return subscription
