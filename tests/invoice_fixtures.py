"""Invoices as the API shapes them (2026-10-28.endive: the fields of Stripe's own example
invoice, less the `subscription` it still carries though `parent` replaced it), with their
customers, accounts, tax rates and discounts, for the invoice PDF and page tests.

The totals are worked out here the way Stripe works them out, per line and in integer minor
units: a percentage discount on each discountable line (half up), then each exclusive tax on
the discounted amount (half up), summed into the invoice's `total_discount_amounts` and
`total_taxes`. The renderers only show these numbers; the tests check they show them right.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CREATED = 1_793_145_600
"""2026-10-28 00:00 UTC (a Wednesday)."""
FINALIZED = CREATED + 3_600
DUE = CREATED + 30 * 86_400
PAID = CREATED + 2 * 86_400
PERIOD_START = CREATED - 31 * 86_400

ACCOUNT: dict[str, Any] = {
    "id": "acct_1KassaInvoices0",
    "object": "account",
    "business_profile": {
        "name": "Kassa Werkstatt GmbH",
        "support_email": "hallo@werkstatt.example",
    },
    "charges_enabled": True,
    "country": "DE",
    "created": CREATED - 86_400,
    "default_currency": "eur",
    "details_submitted": True,
    "payouts_enabled": True,
    "settings": {"dashboard": {"display_name": "Kassa Werkstatt", "timezone": "Europe/Berlin"}},
    "type": "standard",
}

VAT: dict[str, Any] = {
    "active": True,
    "country": "DE",
    "created": CREATED - 86_400,
    "description": "VAT Germany",
    "display_name": "VAT",
    "effective_percentage": 19.0,
    "flat_amount": None,
    "id": "txr_1KassaVat19",
    "inclusive": False,
    "jurisdiction": "DE",
    "jurisdiction_level": None,
    "livemode": False,
    "metadata": {},
    "object": "tax_rate",
    "percentage": 19.0,
    "rate_type": "percentage",
    "state": None,
    "tax_type": "vat",
}

LOYALTY_COUPON: dict[str, Any] = {
    "amount_off": None,
    "created": CREATED - 86_400,
    "currency": None,
    "duration": "once",
    "duration_in_months": None,
    "id": "LOYAL10",
    "livemode": False,
    "max_redemptions": None,
    "metadata": {},
    "name": "Loyalty",
    "object": "coupon",
    "percent_off": 10.0,
    "redeem_by": None,
    "times_redeemed": 1,
    "valid": True,
}


def customer(
    customer_id: str,
    name: str,
    email: str,
    locales: list[str],
    address: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "address": address,
        "balance": 0,
        "created": CREATED - 86_400,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": email,
        "invoice_prefix": customer_id[-4:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 2,
        "phone": None,
        "preferred_locales": locales,
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def address(**parts: str) -> dict[str, Any]:
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {key: parts.get(key) for key in keys}


ZOE = customer(
    "cus_Zoe1",
    "Zoë Łukasiewicz",
    "zoe@example.com",
    ["de-DE"],
    address(line1="丸の内1-1", city="東京", postal_code="100-0005", country="JP"),
)
TOKYO_TRADING = customer(
    "cus_Tokyo1",
    "東京商事株式会社",
    "keiri@tokyo-shoji.example",
    ["ja"],
    address(line1="千代田区丸の内2-7-3", city="東京都", postal_code="100-6490", country="JP"),
)


@dataclass(frozen=True)
class Item:
    description: str
    quantity: int
    unit_amount: int
    discountable: bool = True


@dataclass(frozen=True)
class Billing:
    """What an invoice bills: its items, and the coupon and tax rate applied to all of them."""

    currency: str
    items: list[Item]
    coupon: dict[str, Any] | None = None
    tax_rate: dict[str, Any] | None = None
    starting_balance: int = 0
    discount_id: str = "di_1KassaLoyalty"


def _percent_of(amount: int, percentage: float) -> int:
    exact = Decimal(amount) * Decimal(str(percentage)) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _line(invoice_id: str, index: int, item: Item, billing: Billing) -> dict[str, Any]:
    amount = item.quantity * item.unit_amount
    discount = 0
    if billing.coupon is not None and item.discountable:
        discount = _percent_of(amount, billing.coupon["percent_off"])
    taxes = []
    if billing.tax_rate is not None:
        taxable = amount - discount
        taxes.append(
            {
                "amount": _percent_of(taxable, billing.tax_rate["percentage"]),
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": billing.tax_rate["id"]},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        )
    return {
        "id": f"il_{invoice_id[3:]}{index:04d}",
        "object": "line_item",
        "amount": amount,
        "currency": billing.currency,
        "description": item.description,
        "discount_amounts": (
            [{"amount": discount, "discount": billing.discount_id}] if discount else []
        ),
        "discountable": item.discountable,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": {
                "invoice_item": f"ii_{invoice_id[3:]}{index:04d}",
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": {"end": CREATED, "start": PERIOD_START if index == 0 else CREATED},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": f"price_{index}", "product": f"prod_{index}"},
            "type": "price_details",
            "unit_amount_decimal": str(item.unit_amount),
        },
        "quantity": item.quantity,
        "quantity_decimal": str(item.quantity),
        "subscription": None,
        "subtotal": amount,
        "taxes": taxes,
    }


_FIXED_INVOICE_FIELDS: dict[str, Any] = {
    "object": "invoice",
    "account_country": ACCOUNT["country"],
    "account_name": ACCOUNT["settings"]["dashboard"]["display_name"],
    "account_tax_ids": None,
    "amount_overpaid": 0,
    "amount_paid": 0,
    "amount_shipping": 0,
    "application": None,
    "attempt_count": 0,
    "attempted": False,
    "auto_advance": True,
    "automatic_tax": {
        "disabled_reason": None,
        "enabled": False,
        "liability": None,
        "provider": None,
        "status": None,
    },
    "automatically_finalizes_at": None,
    "billing_reason": "manual",
    "collection_method": "send_invoice",
    "created": CREATED,
    "custom_fields": None,
    "customer_account": None,
    "customer_phone": None,
    "customer_shipping": None,
    "customer_tax_exempt": "none",
    "customer_tax_ids": [],
    "default_payment_method": None,
    "default_source": None,
    "description": None,
    "due_date": DUE,
    "effective_at": FINALIZED,
    "ending_balance": 0,
    "footer": None,
    "from_invoice": None,
    "hosted_invoice_url": None,
    "invoice_pdf": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "latest_revision": None,
    "livemode": False,
    "metadata": {},
    "next_payment_attempt": None,
    "on_behalf_of": None,
    "parent": None,
    "payment_settings": {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    },
    "period_end": CREATED,
    "period_start": CREATED,
    "post_payment_credit_notes_amount": 0,
    "pre_payment_credit_notes_amount": 0,
    "receipt_number": None,
    "rendering": {"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None},
    "shipping_cost": None,
    "shipping_details": None,
    "statement_descriptor": None,
    "status": "open",
    "status_transitions": {
        "finalized_at": FINALIZED,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    },
    "test_clock": None,
    "total_pretax_credit_amounts": [],
    "webhooks_delivered_at": CREATED,
}
"""An open `send_invoice` invoice's fields that do not depend on what it bills."""


def _total_taxes(lines: list[dict[str, Any]], billing: Billing) -> list[dict[str, Any]]:
    if billing.tax_rate is None:
        return []
    taxes = [tax for line in lines for tax in line["taxes"]]
    return [
        {
            "amount": sum(tax["amount"] for tax in taxes),
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": billing.tax_rate["id"]},
            "taxability_reason": "standard_rated",
            "taxable_amount": sum(tax["taxable_amount"] for tax in taxes),
            "type": "tax_rate_details",
        }
    ]


def invoice(
    invoice_id: str, number: str, owner: dict[str, Any], billing: Billing
) -> dict[str, Any]:
    """An open `send_invoice` invoice, finalized and due in 30 days."""
    lines = [_line(invoice_id, index, item, billing) for index, item in enumerate(billing.items)]
    subtotal = sum(line["amount"] for line in lines)
    discount = sum(d["amount"] for line in lines for d in line["discount_amounts"])
    total_taxes = _total_taxes(lines, billing)
    total = subtotal - discount + sum(tax["amount"] for tax in total_taxes)
    amount_due = max(0, total + billing.starting_balance)
    document: dict[str, Any] = {
        "id": invoice_id,
        **copy.deepcopy(_FIXED_INVOICE_FIELDS),
        "amount_due": amount_due,
        "amount_remaining": amount_due,
        "currency": billing.currency,
        "customer": owner["id"],
        "customer_address": owner["address"],
        "customer_email": owner["email"],
        "customer_name": owner["name"],
        "default_tax_rates": [billing.tax_rate["id"]] if billing.tax_rate else [],
        "discounts": [billing.discount_id] if billing.coupon else [],
        "lines": {
            "object": "list",
            "data": lines[:10],
            "has_more": len(lines) > 10,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "number": number,
        "starting_balance": billing.starting_balance,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "total": total,
        "total_discount_amounts": (
            [{"amount": discount, "discount": billing.discount_id}] if discount else []
        ),
        "total_excluding_tax": subtotal - discount,
        "total_taxes": total_taxes,
    }
    return document


def all_lines(document: dict[str, Any], billing: Billing) -> list[dict[str, Any]]:
    """Every line (the invoice embeds only the first ten, as Stripe's does)."""
    return [_line(document["id"], index, item, billing) for index, item in enumerate(billing.items)]


def loyalty_discount(
    owner: dict[str, Any], discount_id: str = "di_1KassaLoyalty"
) -> dict[str, Any]:
    """The discount with its `source.coupon` expanded, as `expand[]=discounts.source.coupon`
    gives it."""
    return {
        "checkout_session": None,
        "customer": owner["id"],
        "customer_account": None,
        "end": None,
        "id": discount_id,
        "invoice": None,
        "invoice_item": None,
        "object": "discount",
        "promotion_code": None,
        "source": {"coupon": copy.deepcopy(LOYALTY_COUPON), "type": "coupon"},
        "start": CREATED - 86_400,
        "subscription": None,
        "subscription_item": None,
    }


# The invoices the tests render ---------------------------------------------------------------

CONSULTING = Billing(
    currency="eur",
    items=[Item("Beratung, Oktober", 2, 50_000), Item("Lizenz „Kassa Pro“", 1, 23_456)],
    coupon=LOYALTY_COUPON,
    tax_rate=VAT,
)
"""Subtotal 1,234.56; 10% off each line (100.00 and 23.46 half up: 123.46); VAT 19% on
900.00 and 211.10 (171.00 and 40.11 half up: 211.11); total 1,322.21."""

CONSULTING_TOTALS = {"subtotal": 123_456, "discount": 12_346, "tax": 21_111, "total": 132_221}


def consulting_invoice() -> dict[str, Any]:
    return invoice("in_1KassaConsulting", "ZOE1-0001", ZOE, CONSULTING)


YEN = Billing(currency="jpy", items=[Item("年間保守契約", 1, 120_000), Item("出張費", 3, 8_000)])
"""Subtotal ¥144,000; no discount or tax."""


def yen_invoice() -> dict[str, Any]:
    return invoice("in_1KassaYen", "TOKY-0001", TOKYO_TRADING, YEN)


def many_lines_billing(count: int) -> Billing:
    return Billing(
        currency="usd",
        items=[Item(f"Workshop seat {index + 1:02d}", 1, 12_500) for index in range(count)],
    )


def many_lines_invoice(count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    billing = many_lines_billing(count)
    document = invoice("in_1KassaMany", "ZOE1-0002", ZOE, billing)
    return document, all_lines(document, billing)


def with_status(document: dict[str, Any], status: str, when: int) -> dict[str, Any]:
    """The invoice moved to `status` at `when` as Stripe records it; paid means paid in full."""
    moved = copy.deepcopy(document)
    moved["status"] = status
    transitions = moved["status_transitions"]
    if status == "paid":
        transitions["paid_at"] = when
        moved["amount_paid"] = moved["amount_due"]
        moved["amount_remaining"] = 0
        moved["attempted"] = True
        moved["attempt_count"] = 1
    elif status == "void":
        transitions["voided_at"] = when
    elif status == "uncollectible":
        transitions["marked_uncollectible_at"] = when
    return moved
