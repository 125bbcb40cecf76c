"""What the hosted portal page (`kassa.pages.portal_page`) reads and does for a session's
customer, per its configuration's features, through the operations the API uses: a
cancellation is `POST /v1/subscriptions/{id}` with `cancel_at_period_end=true` or
`DELETE /v1/subscriptions/{id}` (so its events and webhooks are the API's, and its
`cancellation_details.reason` is `cancellation_requested`, as Stripe records a portal
cancellation); a new card is a PaymentMethod made as the hosted invoice page makes one,
attached to the customer and made its `invoice_settings.default_payment_method`; a plan
switch is `POST /v1/subscriptions/{id}` naming the one item's new price and/or quantity, with
the configuration's `proration_behavior`; the customer's details are `POST /v1/customers/{id}`
with the fields `customer_update[allowed_updates]` names, validated as the API validates them.

A session with a deep-link flow (`billing_portal_flows`) allows, until the flow is completed,
only the flow's own action on the flow's own subscription: a cancellation (or accepting its
retention coupon, which applies the coupon through the same subscription update and
cancels nothing), a plan switch, a new card, or the confirmation of the change the flow
names, made through the same plan switch update as the portal's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.params import parse_params
from kassa.services import customers, payment_methods
from kassa.services.addresses import ADDRESS_FIELDS
from kassa.services.billing import invoice_preview, invoices, products, subscriptions
from kassa.services.billing.subscriptions import CancelSubscription, UpdateSubscription
from kassa.services.billing_portal import (
    CONFIGURATIONS,
    complete_flow,
    link_expires_at,
    load_plan_price,
    open_flow,
)
from kassa.services.billing_portal_flows import confirmable_price, switch_refusal
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import fetch_object, list_page_with, load_live_object
from kassa.services.payment_methods import TypedCard
from kassa.services.resource import ApiObject, Resource
from kassa.store.queries import ObjectListQuery

SUBSCRIPTIONS_SHOWN_MAX: Final = 50
"""The customer's newest subscriptions the page lists (those not canceled)."""
INVOICES_SHOWN_MAX: Final = 50
"""The customer's newest finalized invoices the page lists."""
LIVE_SUBSCRIPTION_STATUSES: Final = (
    "active",
    "incomplete",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
FINALIZED_INVOICE_STATUSES: Final = ("open", "paid", "uncollectible", "void")
NOT_OFFERED: Final = "This portal does not offer that."
SWITCH_QUANTITY_MAX: Final = 99
"""The largest quantity a customer may choose in the portal (Checkout's default
`adjustable_quantity[maximum]`; the API itself takes far more)."""
NOT_THIS_FLOW: Final = "This portal link opens on one action only: finish it first."
EDITABLE_DETAILS: Final = ("email", "name", "phone", "address", "shipping")
"""The `customer_update[allowed_updates]` the page edits (`tax_id` is left out)."""


@dataclass(frozen=True)
class PortalContents:
    """Everything the page shows, as stored (the page formats it)."""

    session: ApiObject
    configuration: ApiObject
    customer: ApiObject
    account: ApiObject
    subscriptions: tuple[ApiObject, ...]
    product_names: dict[str, str]
    invoices: tuple[ApiObject, ...]
    default_card: ApiObject | None
    plan_prices: tuple[ApiObject, ...]
    """The configuration's `subscription_update[products][]` prices a switch may choose
    (active, recurring, licensed), when plan switching is enabled."""
    flow: ApiObject | None
    """The session's flow while it is not completed (the page shows only it)."""


def link_open(ctx: Context, session: ApiObject) -> bool:
    """Whether the session's link still opens the portal (`LINK_LIFETIME_SECONDS`)."""
    return ctx.now() < link_expires_at(session)


async def portal_contents(ctx: Context, session: ApiObject) -> PortalContents:
    configuration = await load_live_object(ctx, CONFIGURATIONS, str(session["configuration"]))
    customer = await load_customer_named(ctx, str(session["customer"]), param="customer")
    features = configuration["features"]
    shown = await _customer_objects(
        ctx,
        subscriptions.RESOURCE,
        customer["id"],
        LIVE_SUBSCRIPTION_STATUSES,
        SUBSCRIPTIONS_SHOWN_MAX,
    )
    history = (
        await _customer_objects(
            ctx,
            invoices.RESOURCE,
            customer["id"],
            FINALIZED_INVOICE_STATUSES,
            INVOICES_SHOWN_MAX,
        )
        if features["invoice_history"]["enabled"]
        else ()
    )
    plan_prices = await _plan_prices(ctx, features["subscription_update"])
    shown_prices = [item["price"] for sub in shown for item in sub["items"]["data"]]
    return PortalContents(
        session=session,
        configuration=configuration,
        customer=customer,
        account=await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id},
        subscriptions=shown,
        product_names=await _product_names(ctx, [*shown_prices, *plan_prices]),
        invoices=history,
        default_card=await _default_card(ctx, customer),
        plan_prices=plan_prices,
        flow=open_flow(session),
    )


async def _customer_objects(
    ctx: Context, resource: Resource, customer_id: str, statuses: tuple[str, ...], limit: int
) -> tuple[ApiObject, ...]:
    query = ObjectListQuery(
        limit=limit, equals={"customer": customer_id}, any_of={"status": statuses}
    )
    page = await list_page_with(ctx, resource, {}, query)
    return tuple(page.data)


async def _product_names(ctx: Context, shown_prices: list[ApiObject]) -> dict[str, str]:
    names: dict[str, str] = {}
    for price in shown_prices:
        product_id = price["product"]
        if isinstance(product_id, str) and product_id not in names:
            product = await fetch_object(ctx, products.RESOURCE, product_id)
            names[product_id] = str((product or {}).get("name") or product_id)
    return names


async def _plan_prices(ctx: Context, update: Mapping[str, Any]) -> tuple[ApiObject, ...]:
    """The prices a switch may choose, in the configuration's order. Bounded by the
    configuration's own limits (`PRODUCTS_MAX` entries of `PRICES_PER_PRODUCT_MAX`)."""
    if not update["enabled"]:
        return ()
    found: list[ApiObject] = []
    for index, entry in enumerate(update["products"]):
        for price_index, price_id in enumerate(entry["prices"]):
            param = f"features[subscription_update][products][{index}][prices][{price_index}]"
            price = await load_plan_price(ctx, entry["product"], price_id, param=param)
            if _switchable_price(price):
                found.append(price)
    return tuple(found)


def _switchable_price(price: ApiObject) -> bool:
    """A price a subscription's one item can move to: still sold, recurring, and counted
    by quantity (a metered price has no quantity to keep or choose)."""
    recurring = price.get("recurring")
    return (
        bool(price["active"])
        and isinstance(recurring, dict)
        and recurring.get("usage_type") != "metered"
    )


async def _default_card(ctx: Context, customer: ApiObject) -> ApiObject | None:
    default = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if not isinstance(default, str):
        return None
    found = await fetch_object(ctx, payment_methods.RESOURCE, default)
    card = None if found is None else found.get("card")
    return card if isinstance(card, dict) else None


def _feature(configuration: ApiObject, name: str) -> dict[str, Any]:
    feature: dict[str, Any] = configuration["features"][name]
    if not feature["enabled"]:
        raise InvalidRequest(NOT_OFFERED)
    return feature


async def cancel_from_portal(
    ctx: Context, contents: PortalContents, subscription_id: str, feedback: str | None
) -> None:
    """Cancel one of the session's customer's subscriptions as its configuration says:
    at the period's end, or now with its `proration_behavior`."""
    cancel = _feature(contents.configuration, "subscription_cancel")
    _flow_permits(contents, "subscription_cancel", subscription_id)
    _shown_subscription(contents, subscription_id)
    details = _cancellation_details(cancel, feedback)
    if cancel["mode"] == "at_period_end":
        request = UpdateSubscription(
            subscription=subscription_id, cancel_at_period_end=True, cancellation_details=details
        )
        await subscriptions.update_subscription(ctx, request)
        return
    behavior = cancel["proration_behavior"]
    await subscriptions.cancel_subscription(
        ctx,
        CancelSubscription(
            subscription=subscription_id,
            prorate=behavior != "none",
            invoice_now=behavior == "always_invoice",
            cancellation_details=details,
        ),
    )


def _cancellation_details(cancel: dict[str, Any], feedback: str | None) -> dict[str, Any] | None:
    """The reason the customer chose, when the configuration asks for one."""
    reason = cancel["cancellation_reason"]
    if not reason["enabled"] or not feedback:
        return None
    if feedback not in reason["options"]:
        raise InvalidParameter("Choose one of the reasons offered.", param="feedback")
    return {"feedback": feedback}


async def replace_card(ctx: Context, contents: PortalContents, card: TypedCard) -> None:
    """The typed card as the customer's new default payment method. A card that asks for
    3-D Secure is refused: the portal has no challenge step for saving a card."""
    _feature(contents.configuration, "payment_method_update")
    _flow_permits(contents, "payment_method_update", None)
    payment_method = await payment_methods.create_typed_card(ctx, card)
    if payment_methods.behavior_of(ctx, payment_method).requires_authentication:
        raise InvalidRequest(
            "This card asks for 3-D Secure, which the portal cannot do yet: use another card."
        )
    customer_id = str(contents.customer["id"])
    await payment_methods.attach_to_customer(ctx, payment_method, customer_id)
    update = customers.UpdateCustomer(
        customer=customer_id,
        invoice_settings={"default_payment_method": str(payment_method["id"])},
    )
    await customers.update_customer(ctx, update)


# --- plan switching -------------------------------------------------------------------------------


def switch_offers(contents: PortalContents, subscription: ApiObject) -> tuple[ApiObject, ...]:
    """The prices offered to this subscription: the configuration's, in its currency, other
    than the one it has; none unless `default_allowed_updates` names `price`."""
    update = contents.configuration["features"]["subscription_update"]
    if "price" not in update["default_allowed_updates"]:
        return ()
    current = subscription["items"]["data"][0]["price"]["id"]
    return tuple(
        price
        for price in contents.plan_prices
        if price["currency"] == subscription["currency"] and price["id"] != current
    )


def quantity_adjustable(contents: PortalContents) -> bool:
    update = contents.configuration["features"]["subscription_update"]
    return "quantity" in update["default_allowed_updates"]


@dataclass(frozen=True)
class PlanSwitch:
    """What the customer chose: a price (None: keep it) and a quantity (None: keep it)."""

    subscription_id: str
    price: str | None
    quantity: int | None


async def switch_plan(ctx: Context, contents: PortalContents, switch: PlanSwitch) -> None:
    """Update the subscription's one item to the chosen price and/or quantity, prorated as
    the configuration says, through the API's subscription update."""
    update = _feature(contents.configuration, "subscription_update")
    _flow_permits(contents, "subscription_update", switch.subscription_id)
    subscription = _switchable(contents, switch.subscription_id)
    item = subscription["items"]["data"][0]
    change: dict[str, Any] = {"id": item["id"]}
    if switch.price is not None and switch.price != item["price"]["id"]:
        if switch.price not in {p["id"] for p in switch_offers(contents, subscription)}:
            raise InvalidParameter("Choose one of the plans offered.", param="price")
        change["price"] = switch.price
    if switch.quantity is not None and switch.quantity != item.get("quantity"):
        _check_quantity(contents, switch.quantity)
        change["quantity"] = switch.quantity
    if len(change) == 1:
        return  # the customer kept both: nothing to update
    await _update_plan(ctx, subscription, change, update, discounts=None)


def _switchable(contents: PortalContents, subscription_id: str) -> ApiObject:
    subscription = _shown_subscription(contents, subscription_id)
    refusal = switch_refusal(subscription)
    if refusal is not None:
        raise InvalidRequest(refusal)
    return subscription


async def _update_plan(
    ctx: Context,
    subscription: ApiObject,
    change: dict[str, Any],
    update: Mapping[str, Any],
    *,
    discounts: list[dict[str, Any]] | None,
) -> None:
    """The one plan switch path: the portal's own form and a confirmed flow's change."""
    request = UpdateSubscription(
        subscription=subscription["id"],
        items=[change],
        proration_behavior=str(update["proration_behavior"]),
        # Stripe's `trial_update_behavior` default (the only one Kassa takes): a switch ends
        # the trial.
        trial_end="now" if subscription["status"] == "trialing" else None,
        discounts=discounts,
    )
    await subscriptions.update_subscription(ctx, request)


# --- flows ---------------------------------------------------------------------------------------


def _flow_permits(
    contents: PortalContents, action: str | None, subscription_id: str | None
) -> None:
    """While a flow is open, only its own action (None: none of the flows') on its own
    subscription."""
    flow = contents.flow
    if flow is None:
        return
    if flow["type"] != action:
        raise InvalidRequest(NOT_THIS_FLOW)
    details = flow.get(str(action))
    if subscription_id is not None and (details or {}).get("subscription") != subscription_id:
        raise InvalidRequest(NOT_THIS_FLOW)


async def finish_flow(ctx: Context, contents: PortalContents) -> str | None:
    """After an action: the session's open flow completed (the redirect URL, if any)."""
    return await complete_flow(ctx, contents.session)


def _open_flow_details(contents: PortalContents, flow_type: str) -> dict[str, Any]:
    flow = contents.flow
    if flow is None or flow["type"] != flow_type:
        raise InvalidRequest(NOT_OFFERED)
    details: dict[str, Any] = flow[flow_type]
    return details


def retention_coupon(contents: PortalContents) -> str | None:
    """The coupon an open cancel flow offers instead of canceling, if any."""
    flow = contents.flow
    if flow is None or flow["type"] != "subscription_cancel":
        return None
    retention = flow["subscription_cancel"]["retention"]
    return None if retention is None else str(retention["coupon_offer"]["coupon"])


async def accept_retention(ctx: Context, contents: PortalContents) -> None:
    """The cancel flow's retention coupon applied to its subscription (its discounts kept),
    through the API's subscription update: nothing is canceled."""
    _feature(contents.configuration, "subscription_cancel")
    coupon = retention_coupon(contents)
    if coupon is None:
        raise InvalidRequest(NOT_OFFERED)
    details = _open_flow_details(contents, "subscription_cancel")
    subscription = _shown_subscription(contents, str(details["subscription"]))
    discounts = [*_kept_discounts(subscription), {"coupon": coupon}]
    request = UpdateSubscription(subscription=subscription["id"], discounts=discounts)
    await subscriptions.update_subscription(ctx, request)


def _kept_discounts(subscription: ApiObject) -> list[dict[str, Any]]:
    return [{"discount": discount} for discount in subscription.get("discounts") or []]


@dataclass(frozen=True)
class ConfirmedChange:
    """A `subscription_update_confirm` flow's change, as the page shows it."""

    subscription: ApiObject
    change: dict[str, Any]
    """The item's update: `id`, and the new `price` and/or `quantity`."""
    new_price: ApiObject | None
    discounts: list[dict[str, Any]]
    """The flow's coupon or promotion code, as a subscription update's `discounts` entries."""


async def confirmed_change(ctx: Context, contents: PortalContents) -> ConfirmedChange:
    """The open confirm flow's change, checked again as when the session was created (the
    price may have been archived, or the subscription changed, since)."""
    _feature(contents.configuration, "subscription_update")
    details = _open_flow_details(contents, "subscription_update_confirm")
    subscription = _switchable(contents, str(details["subscription"]))
    item = subscription["items"]["data"][0]
    sent = details["items"][0]
    if sent["id"] != item["id"]:
        raise InvalidRequest("This subscription's plan changed since this link was made.")
    change: dict[str, Any] = {"id": item["id"]}
    new_price = None
    if sent["price"] is not None:
        new_price = await confirmable_price(
            ctx, contents.configuration, subscription, str(sent["price"]), "price"
        )
        change["price"] = new_price["id"]
    if sent["quantity"] is not None:
        change["quantity"] = sent["quantity"]
    discounts = [
        {"coupon": d["coupon"]} if d["coupon"] else {"promotion_code": d["promotion_code"]}
        for d in details["discounts"] or []
    ]
    return ConfirmedChange(subscription, change, new_price, discounts)


async def confirm_update(ctx: Context, contents: PortalContents) -> None:
    """The confirm flow's change, through the portal's plan switch update."""
    update = _feature(contents.configuration, "subscription_update")
    confirmed = await confirmed_change(ctx, contents)
    discounts = (
        _kept_discounts(confirmed.subscription) + confirmed.discounts
        if confirmed.discounts
        else None
    )
    await _update_plan(ctx, confirmed.subscription, confirmed.change, update, discounts=discounts)


async def preview_change(
    ctx: Context, contents: PortalContents, confirmed: ConfirmedChange
) -> ApiObject:
    """The subscription's next invoice with the confirmed change, prorated as the
    configuration says (`POST /v1/invoices/create_preview`'s own computation; not stored)."""
    update = contents.configuration["features"]["subscription_update"]
    details: dict[str, Any] = {
        "items": [confirmed.change],
        "proration_behavior": str(update["proration_behavior"]),
    }
    if confirmed.subscription["status"] == "trialing":
        details["trial_end"] = "now"
    request = invoice_preview.PreviewInvoice(
        subscription=str(confirmed.subscription["id"]), subscription_details=details
    )
    return await invoice_preview.create_preview(ctx, request)


def _check_quantity(contents: PortalContents, quantity: int) -> None:
    if not quantity_adjustable(contents):
        raise InvalidParameter(NOT_OFFERED, param="quantity")
    if not 1 <= quantity <= SWITCH_QUANTITY_MAX:
        raise InvalidParameter(
            f"Choose a quantity from 1 to {SWITCH_QUANTITY_MAX}.", param="quantity"
        )


def _shown_subscription(contents: PortalContents, subscription_id: str) -> ApiObject:
    """One of the subscriptions the page shows the session's customer (not canceled)."""
    for shown in contents.subscriptions:
        if shown["id"] == subscription_id:
            return shown
    raise ResourceMissing("subscription", subscription_id, param="subscription")


# --- customer details -----------------------------------------------------------------------------


def editable_details(contents: PortalContents) -> tuple[str, ...]:
    """The details the page lets the customer edit (none when the feature is off)."""
    update = contents.configuration["features"]["customer_update"]
    if not update["enabled"]:
        return ()
    return tuple(name for name in EDITABLE_DETAILS if name in update["allowed_updates"])


async def update_details(ctx: Context, contents: PortalContents, fields: Mapping[str, str]) -> None:
    """The customer's details from the page's form (flat names such as `address[city]`),
    through the API's customer update and its validation. A field the configuration does not
    allow is ignored: the page never shows it, and the allowed ones still apply."""
    _feature(contents.configuration, "customer_update")
    _flow_permits(contents, None, None)
    sent: dict[str, Any] = {}
    for name in editable_details(contents):
        value = _detail_form(name, fields)
        if value is not None:
            sent[name] = value
    if sent.get("email") == "":
        raise InvalidParameter("Enter an email address.", param="email")
    params = parse_params(customers.UPDATE_PARAMS, sent)
    update = customers.UpdateCustomer(customer=str(contents.customer["id"]), **params)
    await customers.update_customer(ctx, update)


def _detail_form(name: str, fields: Mapping[str, str]) -> Any:
    """The API parameter `name` as the form sent it: None when absent; an address or a
    shipping left blank altogether is "" (the API's way to clear it)."""
    if name == "address":
        return _address_form(fields, "address")
    if name == "shipping":
        address = _address_form(fields, "shipping[address]")
        recipient = fields.get("shipping[name]")
        if recipient is None and address is None:
            return None
        if not recipient and not address:
            return ""
        if not recipient:
            raise InvalidParameter("Enter the name to ship to.", param="shipping[name]")
        return {"name": recipient, "address": address or {}}
    return fields.get(name)


def _address_form(fields: Mapping[str, str], prefix: str) -> dict[str, str] | str | None:
    named = {key: f"{prefix}[{key}]" for key in ADDRESS_FIELDS}
    sent = {key: fields[name] for key, name in named.items() if name in fields}
    if not sent:
        return None
    return sent if any(sent.values()) else ""
