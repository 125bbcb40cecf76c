"""Radar's early fraud warnings: the issuer reports a successful charge as likely fraud (the
test card 4000000000005423 makes every charge it pays do so, right after the charge).
Retrieve and list (`charge`, `payment_intent`, `created`); events
`radar.early_fraud_warning.created`, and `.updated` when the warning stops being
`actionable` (its charge fully refunded or disputed: nothing left to act on)."""

from __future__ import annotations

import copy
from typing import Final

from kassa.ids import new_id
from kassa.params import Param, String
from kassa.services import events
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EARLY_FRAUD_WARNINGS

TEST_FRAUD_TYPE: Final = "unauthorized_use_of_card"
"""What the test card's warnings say the fraud was (one of Stripe's `fraud_type` values)."""
WARNINGS_PER_CHARGE_MAX: Final = 10
LIST_FILTERS: dict[str, Param] = {
    "charge": String(max_chars=255),
    "payment_intent": String(max_chars=255),
}


async def warn(ctx: Context, charge: ApiObject) -> ApiObject:
    """The issuer's warning about `charge`, stored and announced."""
    warning = {
        "id": new_id("issfr"),
        "object": "radar.early_fraud_warning",
        "actionable": not _settled(charge),
        "charge": charge["id"],
        "created": ctx.now(),
        "fraud_type": TEST_FRAUD_TYPE,
        "livemode": ctx.livemode,
        "payment_intent": charge["payment_intent"],
    }
    await ctx.tx.insert_object(EARLY_FRAUD_WARNINGS, ctx.account_id, warning)
    await events.announce(ctx, "radar.early_fraud_warning.created", warning)
    return warning


async def charge_changed(ctx: Context, charge: ApiObject) -> None:
    """`charge` was refunded or disputed: a warning about it that was actionable is not
    once the charge is fully refunded or disputed."""
    if not _settled(charge):
        return
    page = await ctx.tx.list_objects(
        EARLY_FRAUD_WARNINGS,
        ctx.account_id,
        ObjectListQuery(limit=WARNINGS_PER_CHARGE_MAX, equals={"charge": charge["id"]}),
    )
    for listed in page.objects:
        if listed["actionable"]:
            warning = await load_live_object(ctx, RESOURCE, str(listed["id"]))
            before = copy.deepcopy(warning)
            warning["actionable"] = False
            await ctx.tx.update_object(EARLY_FRAUD_WARNINGS, ctx.account_id, warning)
            await events.announce(
                ctx, "radar.early_fraud_warning.updated", warning, previous=before
            )


def _settled(charge: ApiObject) -> bool:
    return bool(charge["refunded"] or charge["disputed"])


async def retrieve_warning(ctx: Context, warning_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, warning_id)


RESOURCE = Resource(
    object_name="radar.early_fraud_warning",
    id_prefix="issfr",
    collection="radar/early_fraud_warnings",
    table=EARLY_FRAUD_WARNINGS,
    retrieve=Operation(no_params, retrieve_warning, writes=False),
    list_filters=LIST_FILTERS,
    expandable={"charge": "charge", "payment_intent": "payment_intent"},
    event_types=("radar.early_fraud_warning.created", "radar.early_fraud_warning.updated"),
)
