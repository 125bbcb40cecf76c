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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.params import parse_params
from kassa.services import customers, payment_methods
from kassa.services.addresses import ADDRESS_FIELDS
from kassa.services.billing import invoices, products, subscriptions
from kassa.services.billing.subscriptions import CancelSubscription, UpdateSubscription
from kassa.services.billing_portal import CONFIGURATIONS, link_expires_at, load_plan_price
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
SWITCHABLE_STATUSES: Final = ("active", "trialing")
"""Subscriptions whose plan the portal switches (others are settling a payment, or paused)."""
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


def switch_refusal(subscription: ApiObject) -> str | None:
    """Why the portal does not switch this subscription's plan, or None when it does.
    Stripe's portal updates only subscriptions with a single item."""
    if len(subscription["items"]["data"]) != 1:
        return "This subscription has several items: its plan cannot be changed here."
    if subscription.get("cancel_at_period_end") or subscription.get("cancel_at"):
        return "This subscription is set to cancel: its plan cannot be changed."
    if subscription["status"] not in SWITCHABLE_STATUSES:
        return f"This subscription is {subscription['status']}: its plan cannot be changed."
    if _metered(subscription["items"]["data"][0]["price"]):
        return "This subscription is billed by usage: its plan cannot be changed here."
    return None


def _metered(price: ApiObject) -> bool:
    return (price.get("recurring") or {}).get("usage_type") == "metered"


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
    subscription = _shown_subscription(contents, switch.subscription_id)
    refusal = switch_refusal(subscription)
    if refusal is not None:
        raise InvalidRequest(refusal)
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
    request = UpdateSubscription(
        subscription=subscription["id"],
        items=[change],
        proration_behavior=str(update["proration_behavior"]),
        # Stripe's `trial_update_behavior` default (the only one Kassa takes): a switch ends
        # the trial.
        trial_end="now" if subscription["status"] == "trialing" else None,
    )
    await subscriptions.update_subscription(ctx, request)


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
