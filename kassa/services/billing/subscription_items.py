"""Subscription items as their own resource (`/v1/subscription_items`): create, retrieve,
update, delete, list a subscription's. They are written with their subscription
(`subscription_documents.save`); a change to one is a change to its subscription's items,
made and prorated by `subscription_changes` exactly as `items[]` on the subscription's update
makes it (with `payment_behavior=pending_if_incomplete`, held until its invoice is paid:
`subscription_pending_updates`), and announced as `customer.subscription.updated`. The item
takes what an `items[]` entry takes (`price` or `price_data`, `quantity`, `metadata`,
`tax_rates`, `discounts`), and the same code applies it (`subscription_changes`,
`subscription_discounts.apply_item_terms`); a refusal names the item's own parameter
(`_own_param`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.params import Boolean, MetadataUpdate, NotSupported, Param, String, Unset
from kassa.services.billing import subscription_pending_updates as pending_updates
from kassa.services.billing.plan_params import accepting_plan
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    change_subscription,
    check_items_changeable,
)
from kassa.services.billing.subscription_documents import announce, find, save, snapshot, view
from kassa.services.billing.subscription_params import (
    CHANGE_PARAMS,
    ITEM_UPDATE,
    PENDING_ITEM_PARAMS,
)
from kassa.services.context import Context
from kassa.services.listing import (
    CURSOR_PARAMS,
    LIST_LIMIT_DEFAULT,
    list_page_with,
    load_live_object,
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
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import SUBSCRIPTION_ITEMS

_HOW: dict[str, Param] = {
    k: CHANGE_PARAMS[k] for k in ("proration_behavior", "proration_date", "payment_behavior")
}
_ITEM: dict[str, Param] = {
    name: ITEM_UPDATE.fields[name]
    for name in ("price", "price_data", "quantity", "metadata", "tax_rates", "discounts")
}
"""What the item takes, as `items[]` of the subscription's update takes it."""
_NOT_SUPPORTED: dict[str, Param] = {
    "billing_thresholds": NotSupported(
        reason="usage thresholds are deprecated by Stripe, and Kassa bills every item at its "
        "period's end."
    ),
    "current_trial": NotSupported(
        reason="Kassa has no trial offers; give the subscription a trial (trial_end on "
        "POST /v1/subscriptions/{id}) instead."
    ),
}
CREATE_PARAMS: dict[str, Param] = {
    **_HOW,
    **_ITEM,
    **_NOT_SUPPORTED,
    "subscription": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = {
    **_HOW,
    **_ITEM,
    **_NOT_SUPPORTED,
    # Taken for Stripe's sake: Kassa charges a change's invoice as the subscription's
    # renewals are charged, off-session (`invoice_advance`), whatever the customer's presence.
    "off_session": Boolean(),
}
DELETE_PARAMS: dict[str, Param] = {**_HOW, "clear_usage": Boolean()}
LIST_PARAMS: dict[str, Param] = {
    "subscription": String(max_chars=255),
    **CURSOR_PARAMS,
}


@dataclass(frozen=True, kw_only=True)
class ListSubscriptionItems:
    subscription: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeItem:
    """Create (`subscription` and `price` given), update (`item` given) or, with `deleted`,
    delete one item."""

    item: str | None = None
    subscription: str | None = None
    price: str | None = None
    plan: str | None = None
    """Sent as `plan` (and read as `price`, see plan_params): a refusal names `plan`."""
    price_data: dict[str, Any] | None = None
    quantity: int | None = None
    metadata: MetadataUpdate | None = None
    tax_rates: list[str] | Unset | None = None
    discounts: list[dict[str, Any]] | Unset | None = None
    off_session: bool | None = None
    proration_behavior: str | None = None
    proration_date: int | None = None
    payment_behavior: str | None = None
    clear_usage: bool | None = None
    deleted: bool = False
    # Refused while parsing (`_NOT_SUPPORTED`).
    billing_thresholds: Any = None
    current_trial: Any = None

    def entry(self) -> dict[str, Any]:
        """The change as one entry of the subscription update's `items[]`."""
        fields = {
            "id": self.item,
            "price": self.price,
            "plan": self.plan,
            "price_data": self.price_data,
            "quantity": self.quantity,
            # Sent empty (UNSET): cleared, as `items[][tax_rates]=` clears them.
            "tax_rates": self.tax_rates,
            "discounts": self.discounts,
        }
        entry: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        if self.metadata is not None:
            entry["metadata"] = self.metadata
        if self.deleted:
            entry["deleted"] = True
        return entry


async def create_subscription_item(ctx: Context, request: ChangeItem) -> ApiObject:
    subscription = await _changed_subscription(ctx, str(request.subscription), request)
    # Held as a pending update, the new item is the one that update would add.
    return dict(pending_updates.items_after(subscription)[-1])


async def update_subscription_item(ctx: Context, request: ChangeItem) -> ApiObject:
    item = await load_live_object(ctx, RESOURCE, str(request.item))
    subscription = await _changed_subscription(ctx, str(item["subscription"]), request)
    return next(i for i in pending_updates.items_after(subscription) if i["id"] == item["id"])


async def delete_subscription_item(ctx: Context, request: ChangeItem) -> ApiObject:
    item = await load_live_object(ctx, RESOURCE, str(request.item))
    deleting = dataclasses.replace(request, deleted=True)
    await _changed_subscription(ctx, str(item["subscription"]), deleting)
    return {"id": item["id"], "object": "subscription_item", "deleted": True}


async def _changed_subscription(
    ctx: Context, subscription_id: str, request: ChangeItem
) -> ApiObject:
    subscription = await find(ctx, subscription_id)
    if subscription is None:
        raise ResourceMissing("subscription", subscription_id, param="subscription")
    ctx = await ctx.governed_by(subscription)
    check_items_changeable(subscription, None if request.subscription is None else "subscription")
    given = pending_updates.sent(request, ids=("item", "subscription", "deleted"))
    pending_updates.check_request(
        subscription, request.payment_behavior, given, PENDING_ITEM_PARAMS
    )
    before = snapshot(subscription)
    terms = ChangeTerms(
        items=[request.entry()],
        proration_behavior=request.proration_behavior,
        proration_date=request.proration_date,
        payment_behavior=request.payment_behavior,
    )
    try:
        base = await pending_updates.begin(ctx, subscription, terms)
        invoice = await change_subscription(ctx, subscription, terms)
        await pending_updates.settle(ctx, subscription, base, invoice, terms)
    except InvalidRequest as refused:
        refused.param = _own_param(refused.param, request)
        raise
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    return view(subscription)


_ENTRY: Final = "items[0]"
"""The one `items[]` entry the change is made as (`ChangeItem.entry`)."""


def _own_param(param: str | None, request: ChangeItem) -> str | None:
    """A refusal of the change made as `items[0]` names what this endpoint's caller sent:
    `items[0][price]` is `price`, `items[0][discounts][1][coupon]` is `discounts[1][coupon]`;
    the item set as a whole (`items`: a price twice, another currency or interval, too many
    items) is the `price` (or `plan`, or `price_data`) added or set, or, with none sent (a
    quantity changed, the item deleted), `subscription` on create and nothing on update and
    delete, whose item is the path's."""
    if param == "items":
        if request.price_data is not None:
            return "price_data"
        if request.price is not None:
            return "plan" if request.plan is not None else "price"
        return None if request.subscription is None else "subscription"
    if param is not None and param.startswith(f"{_ENTRY}["):
        name, _, rest = param[len(_ENTRY) + 1 :].partition("]")
        return name + rest
    return param


async def retrieve_subscription_item(ctx: Context, item_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, item_id)


async def list_subscription_items(ctx: Context, request: ListSubscriptionItems) -> ApiObject:
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT, equals={"subscription": request.subscription}
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    url = f"/v1/subscription_items?subscription={request.subscription}"
    return list_envelope(ListPage(page.data, page.has_more), url)


RESOURCE = Resource(
    object_name="subscription_item",
    id_prefix="si",
    collection="subscription_items",
    table=SUBSCRIPTION_ITEMS,
    create=Operation(
        accepting_plan(
            # `price` or `price_data`: `accepting_plan` requires one.
            request_parser(ChangeItem, CREATE_PARAMS, required=("subscription", "price"))
        ),
        create_subscription_item,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_subscription_item, writes=False),
    update=Operation(
        accepting_plan(request_parser(ChangeItem, UPDATE_PARAMS, ids=("item",))),
        update_subscription_item,
        writes=True,
    ),
    delete=Operation(
        request_parser(ChangeItem, DELETE_PARAMS, ids=("item",)),
        delete_subscription_item,
        writes=True,
    ),
    lister=Operation(
        request_parser(ListSubscriptionItems, LIST_PARAMS, required=("subscription",)),
        list_subscription_items,
        writes=False,
    ),
    expandable={"discounts": "discount", "subscription": "subscription"},
    embedded={"plan": "plan", "price": "price"},
)
