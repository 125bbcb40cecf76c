"""A Checkout Session's stored document: the object exactly as stripe-python 16 declares
`stripe.checkout.Session` (every field but the includable `line_items`), Kassa's private facts
beside it (`PRIVATE`: the page link's secret, the line items, the terms the completion
applies, the payment attempt in progress, `expires_due`), and the amounts worked out with the
invoices' arithmetic (`invoice_amounts`).

The private facts are never shown: every answer and event goes through `public`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.services.billing.invoice_amounts import (
    DiscountTerms,
    LineTerms,
    TaxTerms,
    invoice_amounts,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject, document_copy
from kassa.store.tables import CHECKOUT_SESSIONS, PRIVATE

PAGE_PATH: Final = "/kassa/checkout"
"""Where Kassa serves the hosted page: `{public_url}/kassa/checkout/{id}?secret=...`, built
as `hosted_invoice_url` is (`invoice_transitions._urls`)."""
SECRET_BYTES: Final = 24
"""The page link's secret: 192 random bits, compared in constant time."""


def private(session: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = session[PRIVATE]
    return facts


def public(session: Mapping[str, Any]) -> ApiObject:
    """The session as the API shows it: a copy without Kassa's own facts."""
    return document_copy({k: v for k, v in session.items() if k != PRIVATE})


def page_url(ctx: Context, session_id: str, secret: str) -> str:
    return f"{ctx.payments.public_url}{PAGE_PATH}/{session_id}?secret={secret}"


async def insert(ctx: Context, session: ApiObject) -> None:
    await ctx.tx.insert_object(CHECKOUT_SESSIONS, ctx.account_id, session)


async def save(ctx: Context, session: ApiObject) -> None:
    await ctx.tx.update_object(CHECKOUT_SESSIONS, ctx.account_id, session)


@dataclass(frozen=True)
class SessionAmounts:
    """What a session's lines come to: its `amount_subtotal`, the discount, the taxes (those
    added on top, and those inside the prices), `amount_total`, and the line items with their
    own amounts."""

    subtotal: int
    discount: int
    exclusive_tax: int
    inclusive_tax: int
    total: int
    items: list[ApiObject]


def amounts(
    lines: list[ApiObject],
    discount: DiscountTerms | None,
    line_rates: Sequence[Sequence[TaxTerms]] = (),
) -> SessionAmounts:
    """The session's amounts as an invoice's are worked out (`invoice_amounts`): the discount
    spread over the lines as an invoice-level discount is (a percentage of the discountable
    lines, or an amount off spread in proportion), then each line's tax rates
    (`line_rates`, by line; none when shorter) on what is left of it."""
    terms = [
        LineTerms(
            amount=int(line["amount_subtotal"]),
            product=_product(line),
            tax_rates=tuple(line_rates[index]) if index < len(line_rates) else (),
        )
        for index, line in enumerate(lines)
    ]
    computed = invoice_amounts(terms, () if discount is None else (discount,))
    items = []
    for line, line_amounts in zip(lines, computed.lines, strict=True):
        added = sum(tax.amount for tax in line_amounts.taxes if not tax.inclusive)
        items.append(
            {
                **line,
                "amount_discount": line_amounts.amount - line_amounts.discounted,
                "amount_tax": sum(tax.amount for tax in line_amounts.taxes),
                "amount_total": line_amounts.discounted + added,
            }
        )
    taxes = computed.total_taxes
    return SessionAmounts(
        subtotal=computed.subtotal,
        discount=computed.discount_total,
        exclusive_tax=sum(tax.amount for tax in taxes if not tax.inclusive),
        inclusive_tax=sum(tax.amount for tax in taxes if tax.inclusive),
        total=computed.total,
        items=items,
    )


def _product(line: Mapping[str, Any]) -> str | None:
    price = line.get("price") or {}
    product = price.get("product")
    return product if isinstance(product, str) else None


def blank_session(ctx: Context, session_id: str, mode: str) -> ApiObject:
    """Every field Stripe's object declares, at what a hosted card-only session holds."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "allowed_payment_method_types": None,
        "amount_subtotal": None,
        "amount_total": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "branding_settings": None,
        "cancel_url": None,
        "client_reference_id": None,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": ctx.now(),
        "currency": None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": None,
        "customer_details": None,
        "customer_email": None,
        "discounts": [],
        "excluded_payment_method_types": None,
        "expires_at": 0,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": ctx.livemode,
        "locale": None,
        "managed_payments": None,
        "metadata": {},
        "mode": mode,
        "name_collection": None,
        "optional_items": None,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "presentment_details": None,
        "recovered_from": None,
        "redirect_on_completion": None,
        "return_url": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": None,
        "tax_id_collection": None,
        "total_details": None,
        "ui_mode": "hosted_page",
        "url": None,
        "wallet_options": None,
    }


def customer_details(email: str | None) -> ApiObject:
    """What the customer gave on the page (Stripe's `customer_details`): an email only."""
    return {
        "address": None,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
