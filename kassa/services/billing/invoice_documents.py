"""The invoice document: its shape (API 2026-10-28.endive), how it is loaded, stored and shown.

The stored document is the invoice as Stripe shows it plus two things the API does not show:
every line (`lines.data` holds all of them, at most `LINES_MAX`; the API embeds the first
`LINES_EMBEDDED_MAX` and pages the rest through `GET /v1/invoices/{id}/lines`) and Kassa's
private facts under `PRIVATE` (the secret of the hosted page and PDF links, the
PaymentIntent made at finalization, what was paid outside Stripe). `shown` turns the one into
the other; every response and event goes through it, and `view` when the result must outlive
later changes to the invoice (a copy).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

import orjson

from kassa.errors import ResourceMissing
from kassa.ids import new_id
from kassa.services import accounts, events, tax_ids
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject, document_copy
from kassa.store.tables import INVOICES, PRIVATE

LINES_EMBEDDED_MAX: Final = 10
"""Stripe embeds the first ten lines in the invoice; the rest are listed by `/lines`."""
AUTO_ADVANCE_DELAY_SECONDS: Final = 3_600
"""Stripe finalizes an auto-advancing draft about an hour after it is created."""
MANUAL_BILLING_REASON: Final = "manual"
"""The `billing_reason` of an invoice created through the API (a subscription's too, with
`subscription=`)."""
SAVES_PAYMENT_METHOD: Final = "saves_payment_method"
"""Private flag of a subscription's invoice whose payment sets its payment method up for
later renewals (`save_default_payment_method=on_subscription`: `subscription_settings`)."""


_UNCHANGING_AT_CREATION: Final[dict[str, Any]] = {
    "account_name": None,
    "account_tax_ids": None,
    "amount_due": 0,
    "amount_overpaid": 0,
    "amount_paid": 0,
    "amount_remaining": 0,
    "amount_shipping": 0,
    "application": None,
    "attempt_count": 0,
    "attempted": False,
    "auto_advance": False,
    "automatic_tax": {
        "disabled_reason": None,
        "enabled": False,
        "liability": None,
        "provider": None,
        "status": None,
    },
    "automatically_finalizes_at": None,
    "billing_reason": MANUAL_BILLING_REASON,
    "customer_account": None,
    "default_payment_method": None,
    "default_source": None,
    "default_tax_rates": [],
    "description": None,
    "discounts": [],
    "due_date": None,
    "effective_at": None,
    "ending_balance": None,
    "from_invoice": None,
    "hosted_invoice_url": None,
    "invoice_pdf": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "latest_revision": None,
    "metadata": {},
    "next_payment_attempt": None,
    "number": None,
    "on_behalf_of": None,
    "parent": None,
    "payment_settings": {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    },
    "post_payment_credit_notes_amount": 0,
    "pre_payment_credit_notes_amount": 0,
    "receipt_number": None,
    "rendering": {
        "amount_tax_display": None,
        "pdf": {"page_size": "auto"},
        "template": None,
        "template_version": None,
    },
    "shipping_cost": None,
    "shipping_details": None,
    "starting_balance": 0,
    "statement_descriptor": None,
    "status": "draft",
    "status_details": None,
    "status_transitions": {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    },
    "subtotal": 0,
    "subtotal_excluding_tax": 0,
    "threshold_reason": None,
    "total": 0,
    "total_discount_amounts": [],
    "total_excluding_tax": 0,
    "total_pretax_credit_amounts": [],
    "total_taxes": [],
    PRIVATE: {
        "secret": None,
        "payment_intent": None,
        "invoice_payment": None,
        "amount_paid_off_stripe": 0,
        "balance_applied": False,
    },
}
"""Every new invoice's fields that depend on nothing: a draft of nothing, not collected."""
_UNCHANGING_AT_CREATION_JSON: Final = orjson.dumps(_UNCHANGING_AT_CREATION)
"""The same, serialized once: each new invoice parses its own copy (several times faster than
`copy.deepcopy`)."""


def blank_invoice(
    ctx: Context, customer: Mapping[str, Any], currency: str, collection_method: str
) -> ApiObject:
    now = ctx.now()
    invoice_id = new_id("in")
    fields = {
        **orjson.loads(_UNCHANGING_AT_CREATION_JSON),
        "account_country": ctx.payments.account_country,
        "collection_method": collection_method,
        "created": now,
        "currency": currency,
        "custom_fields": copy.deepcopy(customer["invoice_settings"]["custom_fields"]),
        "customer": customer["id"],
        **customer_details(customer),
        "footer": customer["invoice_settings"]["footer"],
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": ctx.livemode,
        "period_end": now,
        "period_start": now,
        "test_clock": customer.get("test_clock"),
        "webhooks_delivered_at": now,  # no webhook is awaited before advancing
    }
    return {"id": invoice_id, "object": "invoice", **dict(sorted(fields.items()))}


async def copied_customer_details(ctx: Context, customer: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a draft copies from its customer: `customer_details` and its tax ids as
    this unit sees them (`customer_tax_ids`)."""
    return {
        **customer_details(customer),
        "customer_tax_ids": await tax_ids.invoice_entries(ctx, str(customer["id"])),
    }


def customer_details(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The customer's details an invoice copies: kept equal to the customer's while the
    invoice is a draft (refreshed at each change), frozen at finalization."""
    return {
        "customer_address": copy.deepcopy(customer["address"]),
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": copy.deepcopy(customer["shipping"]),
        "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [],
    }


async def copy_account_name(ctx: Context, invoice: ApiObject) -> None:
    """`account_name`: "the public name of the business associated with this invoice", the
    account's display name (else its business name) as the PDF and the emails' sender show
    it, set at creation; None for an account without a name."""
    account = await ctx.tx.get_account(ctx.account_id) or {}
    invoice["account_name"] = accounts.public_name(account)


async def copy_customer_tax_ids(ctx: Context, invoice: ApiObject) -> None:
    """`customer_tax_ids`: the customer's tax ids (type and value), copied where the other
    customer details are (kept current on a draft, frozen at finalization)."""
    invoice["customer_tax_ids"] = await tax_ids.invoice_entries(ctx, str(invoice["customer"]))


def subscription_parent(subscription: Mapping[str, Any]) -> dict[str, Any]:
    """The `parent` of an invoice a subscription makes (or previews)."""
    return {
        "quote_details": None,
        "subscription_details": {
            "metadata": dict(subscription["metadata"]),
            "subscription": subscription["id"],
        },
        "type": "subscription_details",
    }


def private(invoice: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = invoice[PRIVATE]
    return facts


def shown(invoice: Mapping[str, Any]) -> ApiObject:
    """The invoice as the API shows it: the first lines embedded, private facts left out. Not
    a copy: it shares its values with `invoice`, so it is for what is serialized before the
    invoice changes again (an answer, an event) or a document read just for it; `view` for a
    copy."""
    answer = dict(invoice)  # a dict copies at C speed; the keys keep their order
    answer.pop(PRIVATE, None)
    lines = invoice["lines"]
    answer["lines"] = {
        **lines,
        "data": lines["data"][:LINES_EMBEDDED_MAX],
        "has_more": len(lines["data"]) > LINES_EMBEDDED_MAX,
    }
    return answer


def view(invoice: Mapping[str, Any]) -> ApiObject:
    """The invoice as shown, as a copy the caller's later changes cannot reach (what it was
    before an update, to tell what changed)."""
    return document_copy(shown(invoice))


def deleted_stub(invoice_id: str) -> ApiObject:
    return {"id": invoice_id, "object": "invoice", "deleted": True}


async def find_invoice(
    ctx: Context, invoice_id: str, *, lock: bool = True
) -> tuple[ApiObject, bool] | None:
    if not could_be_object_id(invoice_id):
        return None
    return await ctx.tx.get_object(INVOICES, ctx.account_id, invoice_id, lock=lock)


async def load_invoice(
    ctx: Context, invoice_id: str, *, param: str = "id", lock: bool = True
) -> ApiObject:
    """The stored invoice (locked in a write unit unless `lock` is False); a deleted one is
    missing."""
    found = await find_invoice(ctx, invoice_id, lock=lock)
    if found is None or found[1]:
        raise ResourceMissing("invoice", invoice_id, param=param)
    invoice = found[0]
    # The invoice's `test_clock` is its customer's, copied at creation (a customer's never
    # changes): telling the context spares `governed_by` reading the customer for it.
    ctx.remember_customer({"id": invoice["customer"], "test_clock": invoice.get("test_clock")})
    return invoice


async def insert(ctx: Context, invoice: ApiObject) -> None:
    await ctx.tx.insert_object(INVOICES, ctx.account_id, invoice)


async def save(ctx: Context, invoice: ApiObject) -> None:
    await ctx.tx.update_object(INVOICES, ctx.account_id, invoice)


async def announce(
    ctx: Context, event_type: str, invoice: Mapping[str, Any], *, before: ApiObject | None = None
) -> None:
    """An `invoice.*` event with the invoice as shown (and what changed since `before`, a
    view taken earlier, for `invoice.updated`). Not copied: `events.announce` serializes the
    event before it returns."""
    await events.announce(ctx, event_type, shown(invoice), previous=before)
