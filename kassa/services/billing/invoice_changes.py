"""Applying an invoice create's or update's parameters to the invoice document: collection
and due date, the auto-advance window, plain fields, and the ones that name other objects
(payment method, tax rates, discounts, number), each checked before anything is stored;
and what a finalized invoice still takes (`refuse_on_finalized`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import (
    ExclusiveParameters,
    InvalidParameter,
    InvalidRequest,
    InvoiceNotEditable,
    MissingParameter,
    ResourceMissing,
)
from kassa.params import (
    UNSET,
    Unset,
    apply_metadata,
)
from kassa.services import payment_methods
from kassa.services.billing import (
    discounts,
    invoice_item_pricing,
    invoice_transitions,
)
from kassa.services.billing.invoice_documents import (
    AUTO_ADVANCE_DELAY_SECONDS,
)
from kassa.services.billing.invoice_params import (
    FINALIZES_AT_HORIZON_SECONDS,
    Fields,
    InvoiceChanges,
)
from kassa.services.context import Context
from kassa.services.listing import (
    could_be_object_id,
)
from kassa.services.resource import (
    ApiObject,
)
from kassa.store.tables import CUSTOMERS

_FINALIZED_UPDATABLE: Final = frozenset(
    {"auto_advance", "default_payment_method", "metadata", "payment_settings", "rendering"}
)
"""What an open or uncollectible invoice still takes (Stripe: "you can no longer change most
of its details, including monetary values and collection_method ... this also includes
description"); a paid or void one takes `metadata` only."""


# --- the customer ---------------------------------------------------------------------------


async def billed_customer(ctx: Context, customer_id: str | None) -> ApiObject:
    """The live customer an invoice bills, read without a lock (an invoice locks its
    customer only at finalization, after the invoice)."""
    if customer_id is None:
        raise MissingParameter("customer")
    found = (
        await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
        if could_be_object_id(customer_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("customer", customer_id, param="customer")
    ctx.remember_customer(found[0])
    return found[0]


async def default_currency(ctx: Context, customer: Mapping[str, Any]) -> str:
    if customer.get("currency"):
        return str(customer["currency"])
    account = await ctx.tx.get_account(ctx.account_id)
    return str((account or {}).get("default_currency") or "usd")


# --- applying changes -------------------------------------------------------------------------


def check_no_tax_engine(automatic_tax: Fields | None) -> None:
    if automatic_tax is not None and automatic_tax.get("enabled"):
        raise InvalidParameter(
            "Kassa does not calculate tax automatically: give tax rates (default_tax_rates, "
            "tax_rates) instead.",
            param="automatic_tax[enabled]",
        )


def apply_collection(invoice: ApiObject, changes: InvoiceChanges, now: int) -> None:
    """`collection_method` with its due date: `days_until_due` or `due_date` are for
    `send_invoice` only, which needs one of them (Stripe's messages); a `due_date` is after
    `now` (the governing clock's)."""
    if changes.collection_method is not None:
        invoice["collection_method"] = changes.collection_method
    if changes.days_until_due is not None and changes.due_date is not None:
        raise ExclusiveParameters(("days_until_due", "due_date"), param="due_date")
    sending = invoice["collection_method"] == "send_invoice"
    if not sending and (changes.days_until_due is not None or changes.due_date is not None):
        raise InvalidRequest(
            "You can only specify 'due_date' or 'days_until_due' if invoice collection "
            "method is 'send_invoice'.",
            param="days_until_due" if changes.days_until_due is not None else "due_date",
        )
    if changes.due_date is not None and changes.due_date <= now:
        raise InvalidParameter(
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
            param="due_date",
        )
    if changes.days_until_due is not None:
        invoice["due_date"] = invoice["created"] + changes.days_until_due * DAY_SECONDS
    if changes.due_date is not None:
        invoice["due_date"] = changes.due_date
    if not sending:
        invoice["due_date"] = None
    elif invoice["due_date"] is None:
        raise InvalidRequest(
            "If invoice collection method is 'send_invoice', you must specify 'due_date' or "
            "'days_until_due'.",
            param="days_until_due",
        )


def apply_draft_window(invoice: ApiObject, changes: InvoiceChanges, now: int) -> None:
    """When an auto-advancing draft is finalized and first charged: an hour after creation
    unless `automatically_finalizes_at` says otherwise (up to five years ahead)."""
    if changes.auto_advance is not None:
        invoice["auto_advance"] = changes.auto_advance
    finalizes_at = changes.automatically_finalizes_at
    if finalizes_at is not None and not now <= finalizes_at <= now + FINALIZES_AT_HORIZON_SECONDS:
        raise InvalidParameter(
            "Invalid automatically_finalizes_at: it must be in the future, at most 5 years "
            "from now.",
            param="automatically_finalizes_at",
        )
    if finalizes_at is not None and changes.auto_advance is None:
        invoice["auto_advance"] = True
    if not invoice["auto_advance"]:
        invoice["automatically_finalizes_at"] = None
    elif finalizes_at is not None:
        invoice["automatically_finalizes_at"] = finalizes_at
    elif invoice["automatically_finalizes_at"] is None:
        invoice["automatically_finalizes_at"] = invoice["created"] + AUTO_ADVANCE_DELAY_SECONDS
    charging = invoice["auto_advance"] and invoice["collection_method"] == "charge_automatically"
    invoice["next_payment_attempt"] = invoice["automatically_finalizes_at"] if charging else None


def apply_plain(invoice: ApiObject, changes: InvoiceChanges) -> None:
    for name in ("description", "footer", "statement_descriptor", "effective_at"):
        value = getattr(changes, name)
        if value is not None:
            invoice[name] = None if value is UNSET else value
    if changes.custom_fields is not None:
        fields = changes.custom_fields
        invoice["custom_fields"] = None if isinstance(fields, Unset) else list(fields)
    if changes.metadata is not None:
        invoice["metadata"] = apply_metadata(invoice["metadata"], changes.metadata)
    if changes.rendering is not None:
        _apply_rendering(invoice, changes.rendering)
    if changes.payment_settings is not None:
        _apply_payment_settings(invoice, changes.payment_settings)


def _apply_rendering(invoice: ApiObject, rendering: Fields) -> None:
    current = invoice["rendering"]
    if "amount_tax_display" in rendering:
        shown = rendering["amount_tax_display"]
        current["amount_tax_display"] = None if shown is UNSET else shown
    if "pdf" in rendering:
        current["pdf"] = {"page_size": rendering["pdf"].get("page_size", "auto")}
    if "template" in rendering:
        current["template"] = rendering["template"]
    if "template_version" in rendering:
        version = rendering["template_version"]
        current["template_version"] = None if version is UNSET else version


def _apply_payment_settings(invoice: ApiObject, settings: Fields) -> None:
    current = invoice["payment_settings"]
    for name in ("default_mandate", "payment_method_types"):
        if name in settings:
            current[name] = None if settings[name] is UNSET else settings[name]
    if "payment_method_options" in settings:
        options = settings["payment_method_options"]
        card = None if options is UNSET else options.get("card")
        current["payment_method_options"] = (
            None if options is UNSET else {"card": None if card in (None, UNSET) else {**card}}
        )


async def _apply_number(ctx: Context, invoice: ApiObject, number: str | Unset | None) -> None:
    if number is None:
        return
    if isinstance(number, Unset) or number == "":
        invoice["number"] = None
        return
    if await invoice_transitions.number_taken(ctx, number, besides=invoice["id"]):
        raise InvalidRequest(
            f"Invoice number {number} is already in use by another invoice.", param="number"
        )
    invoice["number"] = number


async def apply_default_payment_method(
    ctx: Context, invoice: ApiObject, reference: str | Unset | None
) -> None:
    """The invoice's `default_payment_method`: one attached to its customer."""
    if reference is None:
        return
    if isinstance(reference, Unset) or reference == "":
        invoice["default_payment_method"] = None
        return
    payment_method = await payment_methods.resolve(ctx, reference, param="default_payment_method")
    if payment_method["customer"] != invoice["customer"]:
        raise InvalidRequest(
            f"The customer does not have a payment method with the ID {reference}. The "
            "payment method must be attached to the customer.",
            param="default_payment_method",
            code="resource_missing",
        )
    invoice["default_payment_method"] = payment_method["id"]


async def apply_references(ctx: Context, invoice: ApiObject, changes: InvoiceChanges) -> None:
    """The changes that name other objects: payment method, tax rates, discounts, number."""
    await apply_default_payment_method(ctx, invoice, changes.default_payment_method)
    await _apply_number(ctx, invoice, changes.number)
    if isinstance(changes.default_tax_rates, list):
        invoice["default_tax_rates"] = await invoice_item_pricing.usable_tax_rates(
            ctx, changes.default_tax_rates, param="default_tax_rates"
        )
    elif changes.default_tax_rates is UNSET:
        invoice["default_tax_rates"] = []
    if changes.discounts is not None:
        invoice["discounts"] = await discounts.replace(
            ctx,
            list(invoice["discounts"]),
            None if isinstance(changes.discounts, Unset) else changes.discounts,
            owner=invoice["id"],
            lineage=discounts.Lineage.of(
                str(invoice["customer"]), str(invoice["id"]), discounts.parent_subscription(invoice)
            ),
            currency=invoice["currency"],
            invoice=invoice["id"],
        )


def _sent_changes(changes: InvoiceChanges) -> list[str]:
    return [
        name for name in InvoiceChanges.__dataclass_fields__ if getattr(changes, name) is not None
    ]


def refuse_on_finalized(invoice: Mapping[str, Any], changes: InvoiceChanges) -> None:
    if invoice["status"] == "draft":
        return
    allowed = (
        _FINALIZED_UPDATABLE if invoice["status"] in ("open", "uncollectible") else {"metadata"}
    )
    for name in _sent_changes(changes):
        if name not in allowed:
            raise InvoiceNotEditable("Finalized invoices can't be updated in this way", param=name)


def auto_advance_finalized(invoice: ApiObject, auto_advance: bool, now: int) -> None:
    """`auto_advance` on a finalized invoice: whether the job goes on collecting it."""
    invoice["auto_advance"] = auto_advance
    charging = invoice["collection_method"] == "charge_automatically"
    if auto_advance and charging and invoice["status"] == "open":
        invoice["next_payment_attempt"] = invoice["next_payment_attempt"] or (
            now + AUTO_ADVANCE_DELAY_SECONDS
        )
    else:
        invoice["next_payment_attempt"] = None
