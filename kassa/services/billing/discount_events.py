"""`customer.discount.created`, `.updated` and `.deleted`: the discounts of a subscription
itself (its `discounts`, Stripe's heir to the singular `subscription.discount`) put on it or
taken off, each event carrying the discount object, written in the unit of work of the
change.

Stripe's event types say "Occurs whenever a coupon is attached to a customer", "... a
customer is switched from one coupon to another" and "... a coupon is removed from a
customer". Since API 2025-03-31 a customer's own discount can no longer be set (the
customer's `coupon` and `promotion_code` parameters are gone; Kassa's `customer.discount`
is always null), so a subscription's discounts are the ones these events speak of: applied
on create or update (a coupon or promotion code, or a discount reused), removed by an update
(`discounts` replaced or sent empty) or by `DELETE /v1/subscriptions/{id}/discount`, and
removed when they stop applying before an invoice (a `once` one used up, a `repeating` one
past its end: `subscription_discounts.prune_discounts`, at a renewal). Discounts of an
invoice, an invoice item, a subscription item, a quote or a Checkout Session send none: they
are not on the customer. Kassa's choices where Stripe's reference is silent: a discount
replaced by another in the same change is `updated` (the new one, `previous_attributes`
the old one's fields that differ: `id`, `source`, `start`, ...), paired in order, the rest
`created` or `deleted`; the same discounts in another order change nothing.

The subscription's announcement is the one place every such change passes
(`subscription_documents.announce`); comparing its two lists of ids reads nothing, so a
renewal that changes no discount costs no statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kassa.invariants import InvariantViolated
from kassa.services import events
from kassa.services.billing.invoice_amounts import DISCOUNTS_MAX
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import DISCOUNTS, PRIVATE

CREATED: Final = "customer.discount.created"
UPDATED: Final = "customer.discount.updated"
DELETED: Final = "customer.discount.deleted"
EVENT_TYPES: Final = (CREATED, DELETED, UPDATED)
SUBSCRIPTION_EVENTS: Final = frozenset(
    {"customer.subscription.created", "customer.subscription.updated"}
)
"""The subscription's own events whose change may put discounts on it or take them off
(`customer.subscription.updated` is announced once per change; the events announced with it,
such as `.pending_update_applied`, are not compared again)."""


def view(discount: Mapping[str, Any]) -> ApiObject:
    """The discount as the API shows it (the stored document keeps `created` for lists, and
    Kassa's own facts under `PRIVATE`)."""
    return {key: value for key, value in discount.items() if key not in ("created", PRIVATE)}


async def announce_subscription_discounts(
    ctx: Context, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> None:
    """The events for the discounts the subscription gained or lost between `before` (None:
    it was just created) and `after`."""
    was = _ids(before["discounts"]) if before is not None else []
    now = _ids(after["discounts"])
    if was == now:
        return
    removed = [d for d in was if d not in now]
    added = [d for d in now if d not in was]
    paired = min(len(removed), len(added))
    for old_id, new_id in zip(removed[:paired], added[:paired], strict=True):
        old = await _discount(ctx, old_id)
        await events.announce(ctx, UPDATED, await _discount(ctx, new_id), previous=old)
    for discount_id in added[paired:]:
        await events.announce(ctx, CREATED, await _discount(ctx, discount_id))
    for discount_id in removed[paired:]:
        await events.announce(ctx, DELETED, await _discount(ctx, discount_id))


def _ids(discounts: Sequence[Any]) -> list[str]:
    """At most `DISCOUNTS_MAX`, as the `discounts` parameter takes."""
    return [str(d) for d in discounts[:DISCOUNTS_MAX]]


async def _discount(ctx: Context, discount_id: str) -> ApiObject:
    """The discount as it stands (a subscription's discount stays stored when it is taken
    off), unlocked."""
    found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
    if found is None:
        raise InvariantViolated(f"a subscription's discount {discount_id} is not stored")
    return view(found[0])
