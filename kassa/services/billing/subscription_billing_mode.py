"""A subscription's billing mode (`billing_mode`): chosen at creation (`billing_mode[type]`
`classic` or `flexible`, flexible when not given: Stripe's default since 2025-09-30.clover)
and moved from classic to flexible with `POST /v1/subscriptions/{id}/migrate`, never back
(Stripe: "You can't migrate a subscription from flexible billing mode to classic billing
mode"). What the mode changes in Kassa: how credit prorations are computed
(`subscription_credits`), and pausing, which only a flexible subscription may
(`subscription_pause`).

Shown as Stripe shows it: `type`, `flexible` (`proration_discounts`, null for classic) and
`updated_at`, when the subscription took its current mode (its creation, or its migration).
Only `proration_discounts=included` is taken: Kassa has no itemized proration discounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.params import Enum, Param, Struct
from kassa.services.billing.subscription_credits import is_classic
from kassa.services.billing.subscription_documents import (
    ENDED,
    announce,
    load_subscription,
    save,
    snapshot,
    view,
)
from kassa.services.billing.subscription_params import (
    BILLING_MODE_FLEXIBLE,
    CLASSIC,
    FLEXIBLE,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Operation, request_parser

PRORATION_DISCOUNTS: Final = "included"
"""The only `billing_mode[flexible][proration_discounts]` Kassa has: a proration's discount
inside its amount."""
MIGRATE_PARAMS: Final[dict[str, Param]] = {
    "billing_mode": Struct(
        {"type": Enum(values=(FLEXIBLE,)), "flexible": BILLING_MODE_FLEXIBLE},
        required=("type",),
    ),
}


def chosen(requested: Mapping[str, Any] | None, now: int) -> dict[str, Any]:
    """The billing mode a new subscription takes: the one asked for, flexible if none."""
    if requested is None:
        return shown(FLEXIBLE, now)
    _check_requested(requested, "billing_mode")
    return shown(str(requested["type"]), now)


def preview_as(subscription: ApiObject, requested: Mapping[str, Any] | None, now: int) -> None:
    """A preview's `subscription_details[billing_mode]`, on the preview's copy: a classic
    subscription previewed as if migrated; flexible to classic is no migration there is."""
    if requested is None:
        return
    path = "subscription_details[billing_mode]"
    _check_requested(requested, path)
    if requested["type"] == subscription["billing_mode"]["type"]:
        return
    if requested["type"] == CLASSIC:
        raise InvalidParameter(
            f"The subscription {subscription['id']} uses flexible billing mode, which cannot "
            "become classic: preview it in flexible billing mode.",
            param=f"{path}[type]",
        )
    subscription["billing_mode"] = shown(FLEXIBLE, now)


def shown(kind: str, now: int) -> dict[str, Any]:
    flexible = {"proration_discounts": PRORATION_DISCOUNTS} if kind == FLEXIBLE else None
    return {"flexible": flexible, "type": kind, "updated_at": now}


def _check_requested(requested: Mapping[str, Any], path: str) -> None:
    """Settings for flexible only, and of those only what Kassa has."""
    if requested["type"] == CLASSIC and requested.get("flexible") is not None:
        raise InvalidParameter(
            f"{path}[flexible] can only be set when {path}[type] is flexible.",
            param=f"{path}[flexible]",
        )
    asked = (requested.get("flexible") or {}).get("proration_discounts")
    if asked is not None and asked != PRORATION_DISCOUNTS:
        raise InvalidParameter(
            f"Kassa does not itemize proration discounts: {path}[flexible]"
            "[proration_discounts] can only be `included`.",
            param=f"{path}[flexible][proration_discounts]",
        )


# --- migrate -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MigrateSubscription:
    subscription: str
    billing_mode: dict[str, Any]
    """Required by the parser (`MIGRATE_PARAMS`)."""


async def migrate_subscription(ctx: Context, request: MigrateSubscription) -> ApiObject:
    """Classic to flexible: credits from now on are worked out from what was debited."""
    subscription = await load_subscription(ctx, request.subscription)
    ctx = await ctx.governed_by(subscription)
    if subscription["status"] in ENDED:
        raise InvalidRequest(
            f"The subscription {subscription['id']} is {subscription['status']}: an ended "
            "subscription cannot be migrated."
        )
    if not is_classic(subscription):
        raise InvalidRequest(
            f"The subscription {subscription['id']} already uses flexible billing mode; "
            "subscriptions can only be migrated from classic to flexible.",
            param="billing_mode[type]",
        )
    _check_requested(request.billing_mode, "billing_mode")
    before = snapshot(subscription)
    subscription["billing_mode"] = shown(FLEXIBLE, ctx.now())
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    return view(subscription)


BILLING_MODE_ACTIONS: Final[dict[str, Operation[Any]]] = {
    "migrate": Operation(
        request_parser(
            MigrateSubscription, MIGRATE_PARAMS, ids=("subscription",), required=("billing_mode",)
        ),
        migrate_subscription,
        writes=True,
    ),
}
