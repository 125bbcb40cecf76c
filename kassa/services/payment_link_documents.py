"""A Payment Link's stored document: the object exactly as stripe-python 16 declares
`stripe.PaymentLink` (every field but the includable `line_items`), Kassa's private facts
beside it (`PRIVATE`: the line items, the completed sessions counted), and what the link's
page and the Checkout completion ask of it: whether it still opens, and one more completed
session (`count_completed_session`, which `checkout_completion.complete` calls; this module
imports no Checkout module, so that both can use it).

The private facts are never shown: every answer and event goes through `public`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.invariants import InvariantViolated
from kassa.services.context import Context
from kassa.services.resource import ApiObject, document_copy
from kassa.store.tables import PAYMENT_LINKS, PRIVATE

PAGE_PATH: Final = "/kassa/checkout/link"
"""Where a link's `url` points: `{public_url}/kassa/checkout/link/{id}`, served by the
Checkout page (`kassa.pages.checkout_page`), which makes a session from the link on each
visit. A link is public, as Stripe's are: its id is the whole address, with no secret."""
UNAVAILABLE_MESSAGE: Final = "This link is no longer available."
"""What an inactive link (or one whose completed sessions reached their limit) shows when
it has no `inactive_message` of its own."""


def private(link: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = link[PRIVATE]
    return facts


def inline_prices(link: Mapping[str, Any]) -> frozenset[str]:
    """The link's own prices, made from its `line_items[][price_data]` when it was created
    (inline prices: inactive, and named by id by the link's sessions only)."""
    return frozenset(private(link).get("inline_prices", ()))


STORED_ONLY: Final = frozenset({PRIVATE, "created"})
"""Keys of the stored document the API never shows: Kassa's facts, and `created`, which every
object row keeps (lists filter and order on it) though Stripe's link has no such field."""


def public(link: Mapping[str, Any]) -> ApiObject:
    """The link as the API shows it: a copy without what only the store keeps."""
    return document_copy({k: v for k, v in link.items() if k not in STORED_ONLY})


def link_url(ctx: Context, link_id: str) -> str:
    return f"{ctx.payments.public_url}{PAGE_PATH}/{link_id}"


def blank_link(ctx: Context, link_id: str, mode: str, currency: str) -> ApiObject:
    """Every field Stripe's object declares, at what a link on Kassa's hosted Checkout holds
    before its parameters are applied; the mode decides which of `invoice_creation`,
    `payment_intent_data` and `subscription_data` it has (Stripe shows the others null)."""
    payment = mode == "payment"
    return {
        "id": link_id,
        "object": "payment_link",
        "active": True,
        "created": ctx.now(),
        "after_completion": hosted_confirmation(None),
        "allow_promotion_codes": False,
        "application": None,
        "application_fee_amount": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_address_collection": "auto",
        "consent_collection": None,
        "currency": currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer_creation": "if_required",
        "inactive_message": None,
        "invoice_creation": _invoice_creation_off() if payment else None,
        "livemode": ctx.livemode,
        "managed_payments": None,
        "metadata": {},
        "name_collection": None,
        "on_behalf_of": None,
        "optional_items": [],
        "payment_intent_data": _payment_intent_data() if payment else None,
        "payment_method_collection": "always",
        "payment_method_options": None,
        "payment_method_types": None,
        "phone_number_collection": {"enabled": False},
        "restrictions": None,
        "shipping_address_collection": None,
        "shipping_options": [],
        "submit_type": "auto",
        "subscription_data": None if payment else _subscription_data(),
        "tax_id_collection": {"enabled": False, "required": "never"},
        "transfer_data": None,
        "url": link_url(ctx, link_id),
    }


def hosted_confirmation(custom_message: str | None) -> ApiObject:
    return {
        "hosted_confirmation": {"custom_message": custom_message},
        "type": "hosted_confirmation",
    }


def redirect(url: str) -> ApiObject:
    return {"redirect": {"url": url}, "type": "redirect"}


def _invoice_creation_off() -> ApiObject:
    return {
        "enabled": False,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
            "metadata": {},
            "rendering_options": None,
        },
    }


def _payment_intent_data() -> ApiObject:
    return {
        "capture_method": None,
        "description": None,
        "metadata": {},
        "setup_future_usage": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "transfer_group": None,
    }


def _subscription_data() -> ApiObject:
    return {
        "description": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "metadata": {},
        "trial_period_days": None,
        "trial_settings": None,
    }


def set_limit(link: ApiObject, limit: int | None) -> None:
    """The `completed_sessions` restriction at `limit` (None: no restriction), its `count`
    the sessions completed so far (counted whether or not a limit was set)."""
    if limit is None:
        link["restrictions"] = None
        return
    count = int(private(link)["completed_sessions"])
    link["restrictions"] = {"completed_sessions": {"count": count, "limit": limit}}


def is_available(link: Mapping[str, Any]) -> bool:
    """Whether the link's `url` still opens a Checkout Session: it is active, and its
    completed sessions have not reached their limit."""
    if not link["active"]:
        return False
    restriction = (link.get("restrictions") or {}).get("completed_sessions")
    return restriction is None or int(restriction["count"]) < int(restriction["limit"])


async def count_completed_session(ctx: Context, link_id: str) -> None:
    """One more completed session of the link (the row locked: two completing at once
    both count). Sessions already open when the limit is reached may still complete, as
    on Stripe, so the count can pass the limit."""
    found = await ctx.tx.get_object(PAYMENT_LINKS, ctx.account_id, link_id)
    if found is None:
        raise InvariantViolated(f"the payment link {link_id} of a checkout session is stored")
    link = found[0]
    private(link)["completed_sessions"] = int(private(link)["completed_sessions"]) + 1
    restriction = (link.get("restrictions") or {}).get("completed_sessions")
    if restriction is not None:
        set_limit(link, int(restriction["limit"]))
    await ctx.tx.update_object(PAYMENT_LINKS, ctx.account_id, link)
