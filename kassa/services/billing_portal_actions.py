"""What the hosted portal page (`kassa.pages.portal_page`) reads and does for a session's
customer, per its configuration's features, through the operations the API uses: a
cancellation is `POST /v1/subscriptions/{id}` with `cancel_at_period_end=true` or
`DELETE /v1/subscriptions/{id}` (so its events and webhooks are the API's, and its
`cancellation_details.reason` is `cancellation_requested`, as Stripe records a portal
cancellation); a new card is a PaymentMethod made as the hosted invoice page makes one,
attached to the customer and made its `invoice_settings.default_payment_method`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.services import customers, payment_methods
from kassa.services.billing import invoices, products, subscriptions
from kassa.services.billing.subscriptions import CancelSubscription, UpdateSubscription
from kassa.services.billing_portal import CONFIGURATIONS, link_expires_at
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
    return PortalContents(
        session=session,
        configuration=configuration,
        customer=customer,
        account=await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id},
        subscriptions=shown,
        product_names=await _product_names(ctx, shown),
        invoices=history,
        default_card=await _default_card(ctx, customer),
    )


async def _customer_objects(
    ctx: Context, resource: Resource, customer_id: str, statuses: tuple[str, ...], limit: int
) -> tuple[ApiObject, ...]:
    query = ObjectListQuery(
        limit=limit, equals={"customer": customer_id}, any_of={"status": statuses}
    )
    page = await list_page_with(ctx, resource, {}, query)
    return tuple(page.data)


async def _product_names(ctx: Context, shown: tuple[ApiObject, ...]) -> dict[str, str]:
    names: dict[str, str] = {}
    for subscription in shown:
        for item in subscription["items"]["data"]:
            product_id = item["price"]["product"]
            if isinstance(product_id, str) and product_id not in names:
                product = await fetch_object(ctx, products.RESOURCE, product_id)
                names[product_id] = str((product or {}).get("name") or product_id)
    return names


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
    if not any(shown["id"] == subscription_id for shown in contents.subscriptions):
        raise ResourceMissing("subscription", subscription_id, param="subscription")
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
