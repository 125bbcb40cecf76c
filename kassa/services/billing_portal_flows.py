"""A billing portal session's deep-link flow (`flow_data` on create, `flow` on the session):
the checks Stripe makes when the session is created, and the `flow` document it shows.

Stripe's guide: docs.stripe.com/customer-management/portal-deep-links. A flow opens the
portal on one action (a new card, one subscription's cancellation, its plan switch, or the
confirmation of a change the caller chose) with the rest of the portal hidden, then does
what `after_completion` says: back to the portal's home page (the default), a redirect, or
a confirmation message. Each flow needs its configuration's feature; a subscription flow's
subscription must be the customer's, active (or trialing), and not set to cancel; a plan
switch needs a subscription with one licensed item (as the portal's own switch does), and a
confirmed change's price must be one of `features[subscription_update][products]`' prices.
Kassa takes the four flow types Stripe documents for `flow_data[type]`; `customer_update`
and `subscription_pause` are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import InvalidParameter, MissingParameter
from kassa.services.billing import coupons, prices, promotion_codes, subscriptions
from kassa.services.context import Context
from kassa.services.listing import fetch_object, load_live_object
from kassa.services.resource import ApiObject

FLOW_STATUSES: Final = ("active", "trialing")
"""The subscriptions a flow may open on (and the portal switches plans of)."""
TYPE_PARAM: Final = "flow_data[type]"
_FEATURE_OF_FLOW: Final = {
    "payment_method_update": "payment_method_update",
    "subscription_cancel": "subscription_cancel",
    "subscription_update": "subscription_update",
    "subscription_update_confirm": "subscription_update",
}
"""The configuration's feature each flow needs enabled."""
_SUBSCRIPTION_FLOWS: Final = (
    "subscription_cancel",
    "subscription_update",
    "subscription_update_confirm",
)
_REFUSED_TYPES: Final = {
    "customer_update": "Kassa's portal has no customer_update flow: open the portal's home page.",
    "subscription_pause": "Kassa's portal does not pause subscriptions.",
}
_AFTER_COMPLETION_DETAILS: Final = ("hosted_confirmation", "redirect")


def _blank_flow(flow_type: str) -> ApiObject:
    return {
        "after_completion": {
            "hosted_confirmation": None,
            "redirect": None,
            "type": "portal_homepage",
        },
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": flow_type,
    }


async def session_flow(
    ctx: Context, customer_id: str, configuration: ApiObject, flow_data: Mapping[str, Any] | None
) -> ApiObject | None:
    """The session's `flow` for `flow_data` (None without it), each of Stripe's checks a 400
    naming its parameter; nothing is written here."""
    if flow_data is None:
        return None
    flow_type = str(flow_data["type"])
    if flow_type in _REFUSED_TYPES:
        raise InvalidParameter(_REFUSED_TYPES[flow_type], param=TYPE_PARAM)
    _check_only_its_details(flow_data, flow_type)
    feature = _FEATURE_OF_FLOW[flow_type]
    if not configuration["features"][feature]["enabled"]:
        raise InvalidParameter(
            f"A {flow_type} flow needs the configuration's `features[{feature}]` enabled.",
            param=TYPE_PARAM,
        )
    flow = _blank_flow(flow_type)
    flow["after_completion"] = _after_completion(flow_data.get("after_completion"))
    if flow_type in _SUBSCRIPTION_FLOWS:
        details = flow_data.get(flow_type)
        if details is None:
            raise MissingParameter(f"flow_data[{flow_type}]")
        prefix = f"flow_data[{flow_type}]"
        subscription = await _flow_subscription(ctx, customer_id, details, prefix)
        if flow_type == "subscription_cancel":
            flow[flow_type] = await _cancel_details(ctx, subscription, details, prefix)
        elif flow_type == "subscription_update":
            _check_switchable(subscription, prefix)
            flow[flow_type] = {"subscription": subscription["id"]}
        else:
            _check_switchable(subscription, prefix)
            flow[flow_type] = await _confirm_details(
                ctx, customer_id, configuration, subscription, details, prefix
            )
    return flow


def _check_only_its_details(flow_data: Mapping[str, Any], flow_type: str) -> None:
    for other in (*_SUBSCRIPTION_FLOWS, "subscription_pause"):
        if other != flow_type and other in flow_data:
            raise InvalidParameter(
                f"flow_data[{other}] can only be set when flow_data[type] is `{other}`.",
                param=f"flow_data[{other}]",
            )


def _after_completion(sent: Mapping[str, Any] | None) -> ApiObject:
    """`after_completion` as shown: `portal_homepage` when not sent; `redirect` needs its
    `return_url`; each detail only with its own type."""
    if sent is None:
        return {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
    kind = str(sent["type"])
    for detail in _AFTER_COMPLETION_DETAILS:
        if detail in sent and detail != kind:
            raise InvalidParameter(
                f"flow_data[after_completion][{detail}] can only be set when "
                f"flow_data[after_completion][type] is `{detail}`.",
                param=f"flow_data[after_completion][{detail}]",
            )
    shown: ApiObject = {"hosted_confirmation": None, "redirect": None, "type": kind}
    if kind == "redirect":
        if "redirect" not in sent:
            raise MissingParameter("flow_data[after_completion][redirect]")
        shown["redirect"] = {"return_url": sent["redirect"]["return_url"]}
    elif kind == "hosted_confirmation":
        message = (sent.get("hosted_confirmation") or {}).get("custom_message")
        shown["hosted_confirmation"] = {"custom_message": message or None}
    return shown


async def _flow_subscription(
    ctx: Context, customer_id: str, details: Mapping[str, Any], prefix: str
) -> ApiObject:
    param = f"{prefix}[subscription]"
    subscription_id = str(details["subscription"])
    found = await fetch_object(ctx, subscriptions.RESOURCE, subscription_id)
    if found is None or found.get("deleted") or found["customer"] != customer_id:
        raise InvalidParameter(
            f"No such subscription: '{subscription_id}' for the customer {customer_id}.",
            param=param,
        )
    if found["status"] not in FLOW_STATUSES:
        raise InvalidParameter(
            f"The subscription {subscription_id} is {found['status']}: a flow needs an active "
            "subscription.",
            param=param,
        )
    if found.get("cancel_at_period_end") or found.get("cancel_at"):
        raise InvalidParameter(
            f"The subscription {subscription_id} is already set to cancel.", param=param
        )
    return found


def switch_refusal(subscription: ApiObject) -> str | None:
    """Why the portal does not switch this subscription's plan, or None when it does.
    Stripe's portal updates only subscriptions with a single item."""
    if len(subscription["items"]["data"]) != 1:
        return "This subscription has several items: its plan cannot be changed here."
    if subscription.get("cancel_at_period_end") or subscription.get("cancel_at"):
        return "This subscription is set to cancel: its plan cannot be changed."
    if subscription["status"] not in FLOW_STATUSES:
        return f"This subscription is {subscription['status']}: its plan cannot be changed."
    if metered(subscription["items"]["data"][0]["price"]):
        return "This subscription is billed by usage: its plan cannot be changed here."
    return None


def metered(price: Mapping[str, Any]) -> bool:
    return (price.get("recurring") or {}).get("usage_type") == "metered"


def _check_switchable(subscription: ApiObject, prefix: str) -> None:
    refusal = switch_refusal(subscription)
    if refusal is not None:
        raise InvalidParameter(refusal, param=f"{prefix}[subscription]")


async def _cancel_details(
    ctx: Context, subscription: ApiObject, details: Mapping[str, Any], prefix: str
) -> ApiObject:
    retention = details.get("retention")
    if retention is None:
        return {"retention": None, "subscription": subscription["id"]}
    param = f"{prefix}[retention][coupon_offer][coupon]"
    coupon_id = str(retention["coupon_offer"]["coupon"])
    await _usable_coupon(ctx, coupon_id, str(subscription["currency"]), param)
    return {
        "retention": {"coupon_offer": {"coupon": coupon_id}, "type": "coupon_offer"},
        "subscription": subscription["id"],
    }


async def _usable_coupon(ctx: Context, coupon_id: str, currency: str, param: str) -> ApiObject:
    coupon = await load_live_object(ctx, coupons.RESOURCE, coupon_id, param=param)
    if not coupons.is_valid(coupon, ctx.now()):
        raise InvalidParameter(
            f"The coupon {coupon_id} is no longer valid: it expired or was redeemed the "
            "maximum number of times.",
            param=param,
        )
    if coupon["amount_off"] is not None and coupons.amount_off_in(coupon, currency) is None:
        raise InvalidParameter(
            f"The coupon {coupon_id} has no amount off in {currency}.", param=param
        )
    return coupon


async def _confirm_details(
    ctx: Context,
    customer_id: str,
    configuration: ApiObject,
    subscription: ApiObject,
    details: Mapping[str, Any],
    prefix: str,
) -> ApiObject:
    item = subscription["items"]["data"][0]
    items: list[ApiObject] = []
    for index, sent in enumerate(details["items"]):
        param = f"{prefix}[items][{index}]"
        if sent["id"] != item["id"]:
            raise InvalidParameter(
                f"No such subscription item: '{sent['id']}' on the subscription "
                f"{subscription['id']}.",
                param=f"{param}[id]",
            )
        price_id = sent.get("price")
        quantity = sent.get("quantity")
        if price_id is None and quantity is None:
            raise MissingParameter(f"{param}[price]")
        if price_id is not None:
            await confirmable_price(
                ctx, configuration, subscription, str(price_id), f"{param}[price]"
            )
        items.append({"id": item["id"], "price": price_id, "quantity": quantity})
    if not items:
        raise MissingParameter(f"{prefix}[items]")
    discounts = details.get("discounts")
    shown_discounts = None
    if discounts is not None:
        shown_discounts = [
            await _flow_discount(ctx, customer_id, subscription, entry, f"{prefix}[discounts][{i}]")
            for i, entry in enumerate(discounts)
        ]
    return {"discounts": shown_discounts, "items": items, "subscription": subscription["id"]}


async def confirmable_price(
    ctx: Context, configuration: ApiObject, subscription: ApiObject, price_id: str, param: str
) -> ApiObject:
    """A confirmed change's price: one of the configuration's plan prices, still sold,
    recurring and licensed, in the subscription's currency. Checked when the session is
    created and again when the customer confirms."""
    offered = configuration["features"]["subscription_update"]["products"]
    if not any(price_id in entry["prices"] for entry in offered):
        raise InvalidParameter(
            f"The price {price_id} is not one of the configuration's "
            "`features[subscription_update][products]` prices.",
            param=param,
        )
    price = await load_live_object(ctx, prices.RESOURCE, price_id, param=param)
    recurring = price.get("recurring")
    if not price["active"] or not isinstance(recurring, dict) or metered(price):
        raise InvalidParameter(
            f"The price {price_id} is not an active, recurring, licensed price.", param=param
        )
    if price["currency"] != subscription["currency"]:
        raise InvalidParameter(
            f"The price {price_id} is in {price['currency']}, the subscription in "
            f"{subscription['currency']}.",
            param=param,
        )
    return price


async def _flow_discount(
    ctx: Context,
    customer_id: str,
    subscription: ApiObject,
    entry: Mapping[str, Any],
    param: str,
) -> ApiObject:
    coupon_id, code_id = entry.get("coupon"), entry.get("promotion_code")
    if (coupon_id is None) == (code_id is None):
        raise InvalidParameter(
            "Name either a coupon or a promotion_code in each discount.", param=param
        )
    if coupon_id is not None:
        await _usable_coupon(ctx, str(coupon_id), str(subscription["currency"]), f"{param}[coupon]")
        return {"coupon": coupon_id, "promotion_code": None}
    code_param = f"{param}[promotion_code]"
    code = await promotion_codes.load_promotion_code(
        ctx, str(code_id), param=code_param, lock=False
    )
    if not code["active"] or promotion_codes.is_expired(code, ctx.now()):
        raise InvalidParameter(
            f"The promotion code {code['code']} is inactive or expired.", param=code_param
        )
    if code["customer"] is not None and code["customer"] != customer_id:
        raise InvalidParameter(
            f"The promotion code {code['code']} is for another customer.", param=code_param
        )
    return {"coupon": None, "promotion_code": code_id}
