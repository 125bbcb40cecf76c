"""Invoices (`in_...`): create, retrieve, update, delete, list, search, lines, finalize, pay,
send, void, mark uncollectible, and the preview of the invoice a customer would get now
(API 2026-10-28.endive: `parent`, `payments`, `total_taxes`, no `paid`/`charge`).

A draft is fully editable; once finalized only what Stripe allows changes
(`invoice_changes.refuse_on_finalized`). Parameters are in `invoice_params`, their effects in
`invoice_changes`, the status machine in `invoice_transitions`, payment in
`invoice_collection`, the arithmetic in `invoice_amounts` (through `invoice_lines`), the
preview in `invoice_preview`.

Stripe's defaults, from its API reference: `auto_advance` false for invoices created through
the API, `pending_invoice_items_behavior` `exclude`, `collection_method`
`charge_automatically`; `days_until_due`/`due_date` only with `send_invoice`, which needs
one of them. An auto-advancing draft is finalized an hour after it is created
(`automatically_finalizes_at`) by the auto-advance job (`invoice_advance`).
"""

from __future__ import annotations

from typing import Any

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.services import hooks, page_links, payment_intents
from kassa.services.billing import (
    customer_balance,
    customer_delinquency,
    discounts,
    invoice_collection,
    invoice_documents,
    invoice_items,
    invoice_lines,
    invoice_payments,
    invoice_reminders,
    invoice_transitions,
)
from kassa.services.billing.invoice_changes import (
    apply_collection,
    apply_default_payment_method,
    apply_draft_window,
    apply_plain,
    apply_references,
    auto_advance_finalized,
    billed_customer,
    check_no_tax_engine,
    default_currency,
    refuse_on_finalized,
)
from kassa.services.billing.invoice_documents import (
    deleted_stub,
    load_invoice,
    private,
    shown,
    view,
)
from kassa.services.billing.invoice_line_edit_params import (
    ADD_LINES_PARAMS,
    REMOVE_LINES_PARAMS,
    UPDATE_LINE_PARAMS,
    UPDATE_LINES_PARAMS,
    EditLines,
    UpdateLine,
)
from kassa.services.billing.invoice_line_edits import (
    add_lines,
    remove_lines,
    update_line,
    update_lines,
)
from kassa.services.billing.invoice_params import (
    CREATE_PARAMS,
    FINALIZE_PARAMS,
    LINES_PARAMS,
    LIST_PARAMS,
    UPDATE_PARAMS,
    CreateInvoice,
    FinalizeInvoice,
    ListInvoices,
    ListLines,
    UpdateInvoice,
)
from kassa.services.billing.invoice_preview import (
    PREVIEW_PARAMS,
    PreviewInvoice,
    create_preview,
)
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    items_page,
    list_page_with,
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
from kassa.services.search import METADATA, NUMBER, STRING, TOKEN, at, search_operation
from kassa.store import Transaction
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICES

__all__ = [  # what other modules use (the invoice pages call `list_lines` with `ListLines`)
    "RESOURCE",
    "ListLines",
    "create_invoice",
    "create_preview",
    "delete_invoice",
    "finalize_invoice",
    "invoice_for_page",
    "list_invoices",
    "list_lines",
    "mark_uncollectible",
    "retrieve_invoice",
    "send_invoice",
    "update_invoice",
    "void_invoice",
]


# --- operations -------------------------------------------------------------------------------


async def create_invoice(ctx: Context, request: CreateInvoice) -> ApiObject:
    ctx, invoice, items = await draft_invoice(ctx, request)
    await store_new_draft(ctx, invoice, items)
    return shown(invoice)


async def draft_invoice(
    ctx: Context, request: CreateInvoice
) -> tuple[Context, ApiObject, list[ApiObject]]:
    """A new draft as `request` describes it, not stored yet, with the context its customer
    governs and the pending items it took (`pending_invoice_items_behavior=include`):
    `store_new_draft` stores it. A caller adding items of its own (a subscription's period)
    puts them between the two."""
    check_no_tax_engine(request.automatic_tax)
    customer = await billed_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    subscription = (
        None
        if request.subscription is None
        else await invoice_items.customers_subscription(
            ctx, request.subscription, customer, billed="invoice"
        )
    )
    currency = (
        request.currency
        or (None if subscription is None else str(subscription["currency"]))
        or await default_currency(ctx, customer)
    )
    invoice = invoice_documents.blank_invoice(
        ctx, customer, currency, request.collection_method or "charge_automatically"
    )
    await invoice_documents.copy_account_name(ctx, invoice)
    if subscription is not None:
        invoice["parent"] = invoice_documents.subscription_parent(subscription)
    await invoice_documents.copy_customer_tax_ids(ctx, invoice)
    apply_collection(invoice, request, ctx.now())
    apply_draft_window(invoice, request, ctx.now())
    apply_plain(invoice, request)
    await apply_references(ctx, invoice, request)
    items = []
    if request.pending_invoice_items_behavior == "include":
        pending = await _pending_taken(ctx, customer["id"], currency, request.subscription)
        items = await invoice_items.take_items(ctx, pending, invoice["id"])
    return ctx, invoice, items


async def _pending_taken(
    ctx: Context, customer_id: str, currency: str, subscription_id: str | None
) -> list[ApiObject]:
    """The pending items a new invoice takes: the customer's that wait for no live
    subscription, or, on an invoice of `subscription_id`, only that subscription's (Stripe:
    "the created invoice will only include pending invoice items for that subscription")."""
    if subscription_id is None:
        return await invoice_items.pending_items(ctx, customer_id, currency)
    pending = await invoice_items.pending_items(ctx, customer_id, currency, of_subscriptions=True)
    return [item for item in pending if discounts.parent_subscription(item) == subscription_id]


async def store_new_draft(ctx: Context, invoice: ApiObject, items: list[ApiObject]) -> None:
    """Work out a new draft's lines and totals from `items` (in line order), store it and
    announce `invoice.created`."""
    currency = str(invoice["currency"])
    amounts = await invoice_lines.compute(
        ctx,
        items,
        currency=currency,
        invoice_discounts=invoice["discounts"],
        default_tax_rates=invoice["default_tax_rates"],
    )
    invoice["starting_balance"] = await customer_balance.current_balance(
        ctx, str(invoice["customer"]), currency
    )
    elsewhere = await invoice_lines.debits_placed(ctx, items)
    invoice_lines.write_amounts(ctx, invoice, items, amounts, elsewhere)
    await invoice_documents.insert(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.created", invoice)


async def retrieve_invoice(ctx: Context, invoice_id: str) -> ApiObject:
    found = await invoice_documents.find_invoice(ctx, invoice_id, lock=False)
    if found is None:
        raise ResourceMissing("invoice", invoice_id)
    return deleted_stub(invoice_id) if found[1] else shown(found[0])


async def update_invoice(ctx: Context, request: UpdateInvoice) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice)
    ctx = await ctx.governed_by(invoice)
    refuse_on_finalized(invoice, request)
    check_no_tax_engine(request.automatic_tax)
    before = view(invoice)
    if invoice["status"] == "draft":
        customer = await billed_customer(ctx, str(invoice["customer"]))
        invoice.update(invoice_documents.customer_details(customer))
        await invoice_documents.copy_customer_tax_ids(ctx, invoice)
        apply_collection(invoice, request, ctx.now())
        apply_draft_window(invoice, request, ctx.now())
        apply_plain(invoice, request)
        await apply_references(ctx, invoice, request)
        await invoice_lines.refresh(ctx, invoice)
    else:
        if request.auto_advance is not None:
            changed = request.auto_advance != invoice["auto_advance"]
            auto_advance_finalized(invoice, request.auto_advance, ctx.now())
            if changed:
                await invoice_reminders.follow_auto_advance(ctx, invoice)
        apply_plain(invoice, request)
        await apply_default_payment_method(ctx, invoice, request.default_payment_method)
    after = view(invoice)
    if after != before:
        await invoice_documents.save(ctx, invoice)
        await invoice_documents.announce(ctx, "invoice.updated", invoice, before=before)
    return after


async def delete_invoice(ctx: Context, invoice_id: str) -> ApiObject:
    invoice = await load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    if invoice["status"] != "draft":
        raise InvalidRequest("You can only delete draft invoices.")
    if discounts.parent_subscription(invoice) is not None:
        # Stripe's delete: "Permanently deletes a one-off invoice draft ... if an invoice is
        # for a subscription, it must be voided."
        raise InvalidRequest(
            "You can only delete one-off invoices: this one is for a subscription. Finalize "
            "and void it instead."
        )
    await ctx.tx.mark_object_deleted(INVOICES, ctx.account_id, invoice["id"])
    forgotten = await discounts.discard(ctx, invoice["discounts"], owner=invoice["id"])
    await invoice_items.release_items(ctx, invoice["id"], forgotten_discounts=forgotten)
    await invoice_documents.announce(ctx, "invoice.deleted", invoice)
    return deleted_stub(invoice["id"])


async def finalize_invoice(ctx: Context, request: FinalizeInvoice) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice)
    ctx = await ctx.governed_by(invoice)
    await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=request.auto_advance)
    if (
        invoice["auto_advance"]
        and invoice["collection_method"] == "send_invoice"
        and invoice["status"] == "open"
    ):
        await invoice_transitions.send(ctx, invoice)
    await invoice_documents.save(ctx, invoice)
    return shown(invoice)


async def send_invoice(ctx: Context, invoice_id: str) -> ApiObject:
    invoice = await load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    invoice_transitions.check_sendable(invoice)
    if invoice["status"] == "draft":
        # Stripe finalizes a draft it is asked to send, then sends it whatever finalizing
        # did: one with nothing due, paid at once, is emailed as any paid invoice is.
        await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=None)
    await invoice_transitions.send(ctx, invoice)
    await invoice_documents.save(ctx, invoice)
    return shown(invoice)


async def void_invoice(ctx: Context, invoice_id: str) -> ApiObject:
    invoice = await load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    await invoice_transitions.void(ctx, invoice)
    await invoice_documents.save(ctx, invoice)
    await hooks.invoice_closed(ctx, invoice)  # its subscription's status, if it has one
    return shown(invoice)


async def mark_uncollectible(ctx: Context, invoice_id: str) -> ApiObject:
    invoice = await load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    await invoice_transitions.mark_uncollectible(ctx, invoice, reason="user_forgiven")
    # Marked uncollectible through the API: the customer is no longer delinquent (Stripe's
    # `Customer.delinquent`; dunning and pauses marking it leave the flag as it is).
    await customer_delinquency.set_delinquent(ctx, str(invoice["customer"]), False)
    await invoice_documents.save(ctx, invoice)
    await hooks.invoice_closed(ctx, invoice)
    return shown(invoice)


# --- lists ------------------------------------------------------------------------------------


async def list_invoices(ctx: Context, request: ListInvoices) -> ApiObject:
    equals = {
        name: getattr(request, name)
        for name in ("collection_method", "customer", "status", "subscription")
        if getattr(request, name) is not None
    }
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals=equals,
        created=request.created or {},
        ranges={"due_date": request.due_date} if request.due_date else {},
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(ListPage([shown(i) for i in page.data], page.has_more), RESOURCE.url)


async def list_lines(ctx: Context, request: ListLines) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice, lock=False)
    # Not copied: the invoice was read for this answer alone.
    url = f"/v1/invoices/{invoice['id']}/lines"
    return items_page(invoice["lines"]["data"], request, object_name="line_item", url=url)


# --- includable fields, expansion, the customer's pages ---------------------------------------


async def _include_confirmation_secret(ctx: Context, invoice: ApiObject) -> Any:
    found = await invoice_documents.find_invoice(ctx, invoice["id"], lock=False)
    intent_id = None if found is None else private(found[0]).get("payment_intent")
    if intent_id is None:
        return None
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
    )
    return {"client_secret": intent["client_secret"], "type": "payment_intent"}


async def _include_amount_paid_off_stripe(ctx: Context, invoice: ApiObject) -> Any:
    found = await invoice_documents.find_invoice(ctx, invoice["id"], lock=False)
    return 0 if found is None else int(private(found[0])["amount_paid_off_stripe"])


async def _fetch_invoice(ctx: Context, invoice_id: str) -> ApiObject | None:
    found = await invoice_documents.find_invoice(ctx, invoice_id, lock=False)
    if found is None:
        return None
    return deleted_stub(invoice_id) if found[1] else shown(found[0])


async def invoice_for_page(tx: Transaction, invoice_id: str, secret: str) -> ApiObject | None:
    """For the hosted invoice page and the PDF, reached by their link rather than an API
    key: the finalized invoice (as the API shows it, with `account` added: whose invoice it
    is) when `secret` is its link's secret; else None."""
    found = await page_links.find_by_link(tx, INVOICES, invoice_id, secret)
    if found is None:
        return None
    invoice, account_id = found
    return {**shown(invoice), "account": account_id}


CREDIT_BALANCE_TRANSACTION = "billing.credit_balance_transaction"
"""What a pretax credit's `credit_balance_transaction` names (Stripe's billing credits,
applied at finalization: `credit_application`); null on a discount's entry."""

LINES = Resource(
    object_name="line_item",
    id_prefix="il",
    collection="lines",
    table=None,
    lister=Operation(
        request_parser(ListLines, LINES_PARAMS, ids=("invoice",)), list_lines, writes=False
    ),
    update=Operation(
        request_parser(UpdateLine, UPDATE_LINE_PARAMS, ids=("invoice", "line_item_id")),
        update_line,
        writes=True,
    ),
    expandable={
        "discount_amounts.discount": "discount",
        "discounts": "discount",
        "pretax_credit_amounts.credit_balance_transaction": CREDIT_BALANCE_TRANSACTION,
        "pretax_credit_amounts.discount": "discount",
        "pricing.price_details.price": "price",
        "subscription": "subscription",
    },
)
"""An invoice's lines (`RESOURCE.nested`): they exist only inside their invoice, listed at
`/v1/invoices/{id}/lines`, updated one at a time at `/v1/invoices/{id}/lines/{line_item_id}`
while a draft (`invoice_line_edits`) and embedded in it (`lines.data`); declared for what
`expand[]` may reach on them (Stripe's `InvoiceLineItem`)."""

RESOURCE = Resource(
    object_name="invoice",
    id_prefix="in",
    collection="invoices",
    table=INVOICES,
    create=Operation(request_parser(CreateInvoice, CREATE_PARAMS), create_invoice, writes=True),
    retrieve=Operation(no_params, retrieve_invoice, writes=False),
    update=Operation(
        request_parser(UpdateInvoice, UPDATE_PARAMS, ids=("invoice",)), update_invoice, writes=True
    ),
    delete=Operation(no_params, delete_invoice, writes=True),
    lister=Operation(request_parser(ListInvoices, LIST_PARAMS), list_invoices, writes=False),
    search=search_operation(
        INVOICES,
        "invoices",
        {
            "created": NUMBER,
            "currency": STRING,
            "customer": STRING,
            "last_finalization_error_code": at("last_finalization_error.code", STRING),
            "last_finalization_error_type": at("last_finalization_error.type", STRING),
            "metadata": METADATA,
            "number": STRING,
            "receipt_number": STRING,
            "status": TOKEN,
            "subscription": at("parent.subscription_details.subscription", STRING),
            "total": NUMBER,
        },
        view=shown,
    ),
    actions={
        "add_lines": Operation(
            request_parser(EditLines, ADD_LINES_PARAMS, ids=("invoice",), required=("lines",)),
            add_lines,
            writes=True,
        ),
        "finalize": Operation(
            request_parser(FinalizeInvoice, FINALIZE_PARAMS, ids=("invoice",)),
            finalize_invoice,
            writes=True,
        ),
        "mark_uncollectible": Operation(no_params, mark_uncollectible, writes=True),
        "remove_lines": Operation(
            request_parser(EditLines, REMOVE_LINES_PARAMS, ids=("invoice",), required=("lines",)),
            remove_lines,
            writes=True,
        ),
        "update_lines": Operation(
            request_parser(EditLines, UPDATE_LINES_PARAMS, ids=("invoice",), required=("lines",)),
            update_lines,
            writes=True,
        ),
        "pay": Operation(
            request_parser(
                invoice_collection.PayInvoice, invoice_collection.PAY_PARAMS, ids=("invoice",)
            ),
            invoice_collection.pay_invoice,
            writes=True,
        ),
        "send": Operation(no_params, send_invoice, writes=True),
        "void": Operation(no_params, void_invoice, writes=True),
    },
    collection_actions={
        "create_preview": Operation(
            request_parser(PreviewInvoice, PREVIEW_PARAMS), create_preview, writes=False
        )
    },
    nested=(LINES,),
    expandable={
        "customer": "customer",
        "default_payment_method": "payment_method",
        "discounts": "discount",
        "latest_revision": "invoice",
        "test_clock": "test_helpers.test_clock",
        "total_discount_amounts.discount": "discount",
        "total_pretax_credit_amounts.credit_balance_transaction": CREDIT_BALANCE_TRANSACTION,
        "total_pretax_credit_amounts.discount": "discount",
    },
    embedded={"lines.data": "line_item"},
    includable={
        "amount_paid_off_stripe": _include_amount_paid_off_stripe,
        "confirmation_secret": _include_confirmation_secret,
        "payments": invoice_payments.include_payments,
    },
    event_types=(
        "invoice.created",
        "invoice.deleted",
        "invoice.finalization_failed",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.overdue",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.sent",
        "invoice.upcoming",
        "invoice.updated",
        "invoice.voided",
        "invoice.will_be_due",
    ),
    fetch=_fetch_invoice,
)
