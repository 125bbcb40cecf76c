"""A subscription's `pending_setup_intent`: a subscription that starts on a trial with no
payment method to charge when the trial ends (none of its own, none the customer defaults
to) gets a SetupIntent for its customer (usage `off_session`), whose client secret the
integration confirms with Stripe.js to collect the card.

When that SetupIntent succeeds (`hooks.setup_intent_succeeded`), the card is attached to the
customer; the subscription drops its `pending_setup_intent` and, lacking a payment method of
its own, takes the card as its `default_payment_method`, so the invoice at the trial's end is
charged to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services import setup_intents
from kassa.services.billing.subscription_documents import announce, find, save, snapshot
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import SUBSCRIPTIONS

SUBSCRIPTIONS_PER_SETUP_INTENT_MAX: Final = 1
"""A SetupIntent is opened for one subscription (its `pending_setup_intent`, a stored
column the lookup reads by index)."""


def needs_setup(subscription: Mapping[str, Any], customer: Mapping[str, Any]) -> bool:
    """Trialing, charged automatically, and nothing to charge when the trial ends."""
    settings = customer.get("invoice_settings") or {}
    return (
        subscription["status"] == "trialing"
        and subscription["collection_method"] == "charge_automatically"
        and subscription["default_payment_method"] is None
        and subscription["default_source"] is None
        and settings.get("default_payment_method") is None
        and customer.get("default_source") is None
    )


async def open_pending_setup(ctx: Context, subscription: ApiObject) -> None:
    """Give the subscription a SetupIntent for its customer (the caller saves it)."""
    intent = await setup_intents.open_for_customer(ctx, str(subscription["customer"]))
    subscription["pending_setup_intent"] = intent["id"]


async def setup_intent_succeeded(ctx: Context, setup_intent: ApiObject) -> None:
    """The hook: the subscription this SetupIntent was opened for takes its card."""
    if setup_intent["customer"] is None:
        return
    page = await ctx.tx.list_objects(
        SUBSCRIPTIONS,
        ctx.account_id,
        ObjectListQuery(
            limit=SUBSCRIPTIONS_PER_SETUP_INTENT_MAX,
            equals={"pending_setup_intent": setup_intent["id"]},
        ),
    )
    ensure(not page.has_more, "a SetupIntent is pending for one subscription at most")
    for listed in page.objects:
        await _take_card(ctx, str(listed["id"]), setup_intent)


async def _take_card(ctx: Context, subscription_id: str, setup_intent: ApiObject) -> None:
    subscription = await find(ctx, subscription_id)  # locked, as read for the write
    if subscription is None or subscription.get("pending_setup_intent") != setup_intent["id"]:
        return
    before = snapshot(subscription)
    subscription["pending_setup_intent"] = None
    if subscription["default_payment_method"] is None:
        subscription["default_payment_method"] = setup_intent["payment_method"]
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
