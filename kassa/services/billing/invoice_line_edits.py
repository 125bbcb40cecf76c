"""Editing a draft invoice's lines: `add_lines`, `update_lines`, `remove_lines` (each
returns the invoice) and one line's update (`POST /v1/invoices/{id}/lines/{line_item_id}`,
which returns the line). Stripe: these are "only possible when an invoice is still a draft".

A line is backed by an invoice item, so every edit is an item's create, update or delete
(`invoice_items.store_new_item`, `store_changed_item`, `store_deleted_item`): pricing,
discounts and their redemptions, tax rates and events are exactly those of
`/v1/invoiceitems` on a draft. The draft is worked out again once, after every line of the
request (`invoice_items.refresh_draft`: one `invoice.updated`, its `previous_attributes`
what changed). A request is one unit of work: a refusal of any of its lines writes nothing,
and names that line's parameter (`lines[1][id]`).

A subscription's period line is backed by its subscription item (the invoice item behind
it is Kassa's own, never shown: `invoice_lines.is_period_item`): such a line takes only
`metadata`, set as sent rather than merged (Stripe's docstring: "For type=subscription line
items, the incoming metadata specified on the request is directly used"), and it cannot be
removed (change the subscription instead). Its prorations are invoice items, edited as any.

`remove_lines`' `behavior`: `delete` deletes the line's item (`invoiceitem.deleted`);
`unassign` puts it back to pending (`invoice: null`, no event: Stripe's event list for
this API version has no `invoiceitem.updated`) for the customer's next invoice, as
`remove_lines` documents ("Unassigned line items can be reassigned to an invoice").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, InvoiceNotEditable, ResourceMissing
from kassa.invariants import ensure
from kassa.params import UNSET, MetadataUpdate, Unset, apply_metadata
from kassa.services.billing import (
    discounts,
    invoice_documents,
    invoice_items,
    invoice_lines,
)
from kassa.services.billing.invoice_amounts import LINES_MAX
from kassa.services.billing.invoice_changes import billed_customer
from kassa.services.billing.invoice_item_params import (
    CreateInvoiceItem,
    ItemChanges,
)
from kassa.services.billing.invoice_item_pricing import price_new_item
from kassa.services.billing.invoice_line_edit_params import (
    EditLines,
    Fields,
    UpdateLine,
    item_changes,
    sent_changes,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS

PERIOD_LINE_CHANGES: Final = frozenset({"metadata"})
"""What a subscription's period line takes here; the rest is its subscription item's."""

# --- the draft and its lines ---------------------------------------------------------------


async def _draft(ctx: Context, invoice_id: str) -> tuple[Context, ApiObject, ApiObject]:
    """The invoice (locked: its lines are about to change, and every path locks an invoice
    before its items), the context its customer governs, and the invoice as it was."""
    invoice = await invoice_documents.load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    if invoice["status"] != "draft":
        raise InvoiceNotEditable(
            f"The invoice {invoice_id} is {invoice['status']}: its lines can be added, "
            "updated or removed only while it is a draft."
        )
    return ctx, invoice, invoice_documents.view(invoice)


async def _finish(
    ctx: Context, invoice: ApiObject, before: ApiObject, metadata: MetadataUpdate | None
) -> ApiObject:
    """`invoice_metadata` applied, the lines and totals worked out again and stored, and
    `invoice.updated` announced if anything changed."""
    if metadata is not None:
        invoice["metadata"] = apply_metadata(invoice["metadata"], metadata)
    await invoice_items.refresh_draft(ctx, invoice, before)
    return invoice_documents.shown(invoice)


async def _item_behind(
    ctx: Context, invoice: Mapping[str, Any], line_id: str, seen: set[str]
) -> ApiObject:
    """The item behind the invoice's line `line_id`, locked (after the invoice). A line of
    another invoice, or none, is missing; one named twice in a request is refused."""
    on_invoice = {str(line["id"]) for line in invoice["lines"]["data"]}
    if line_id not in on_invoice:
        raise ResourceMissing(
            "line_item", line_id, reason=f"It is not a line of invoice {invoice['id']}."
        )
    if line_id in seen:
        raise InvalidParameter(f"The line {line_id} is named twice in lines.", param="id")
    seen.add(line_id)
    item = await invoice_items.load_item(ctx, invoice_lines.item_id_of_line(line_id))
    ensure(item["invoice"] == invoice["id"], "a line's item is on the line's invoice")
    return item


@contextmanager
def _naming_line(index: int, line: Fields) -> Iterator[None]:
    """A refusal of entry `index` names its parameter under `lines[index]`."""
    try:
        yield
    except InvalidRequest as refused:
        refused.param = _line_param(index, refused.param, line)
        raise


def _line_param(index: int, param: str | None, line: Fields) -> str:
    """`pricing[price]` -> `lines[0][pricing][price]`. A line has no `currency`: a
    currency that does not match the invoice's is its price's (`pricing[price]`, or
    `price_data[currency]`)."""
    if param is None:
        return f"lines[{index}]"
    if param == "currency":
        param = "pricing[price]" if "pricing" in line else "price_data[currency]"
    head, bracket, rest = param.partition("[")
    return f"lines[{index}][{head}]{bracket}{rest}"


# --- operations ------------------------------------------------------------------------------


async def add_lines(ctx: Context, request: EditLines) -> ApiObject:
    ctx, invoice, before = await _draft(ctx, request.invoice)
    room = LINES_MAX - len(invoice["lines"]["data"])
    if len(request.lines) > room:
        raise InvalidRequest(
            f"An invoice holds at most {LINES_MAX} lines: this one has room for {room} more.",
            param="lines",
        )
    customer = await billed_customer(ctx, str(invoice["customer"]))
    for index, line in enumerate(request.lines[:LINES_MAX]):
        with _naming_line(index, line):
            await _add_line(ctx, invoice, customer, line)
    return await _finish(ctx, invoice, before, request.invoice_metadata)


async def _add_line(
    ctx: Context, invoice: ApiObject, customer: Mapping[str, Any], line: Fields
) -> None:
    changes = item_changes(line)
    if line.get("invoice_item") is not None:
        attached = await _attach(ctx, invoice, str(line["invoice_item"]), ItemChanges(**changes))
        _place_last(invoice, attached)
        return
    if not {"amount", "pricing", "price_data"} & set(changes):
        raise InvalidParameter(
            "Missing required param: amount. A new line takes amount, pricing[price] or "
            "price_data; or invoice_item, a pending invoice item to add.",
            param="amount",
            code="parameter_missing",
        )
    request = CreateInvoiceItem(
        customer=str(customer["id"]),
        currency=str(invoice["currency"]),
        invoice=str(invoice["id"]),
        **changes,
    )
    priced = await price_new_item(ctx, request, customer)
    invoice_items.check_item_fits(invoice, str(customer["id"]), priced.currency, added=0)
    _place_last(
        invoice, await invoice_items.store_new_item(ctx, request, customer, priced, invoice)
    )


def _place_last(invoice: ApiObject, item: Mapping[str, Any]) -> None:
    """The added line's place: after those already there, in the request's order (the
    refresh keeps a known line's place, `invoice_lines.ordered`, and writes it whole)."""
    invoice["lines"]["data"].append({"id": invoice_lines.line_id(str(item["id"]))})


async def _attach(
    ctx: Context, invoice: ApiObject, item_id: str, changes: ItemChanges
) -> ApiObject:
    """`invoice_item`: a pending item of the invoice's customer, in its currency, that this
    invoice may take (not one waiting for another, live, subscription's invoice), put on the
    draft with the entry's other fields applied as an item's update."""
    try:
        item = await invoice_items.load_shown_item(ctx, item_id)
    except ResourceMissing as missing:
        missing.param = "invoice_item"
        raise
    if item["invoice"] is not None:
        raise InvalidRequest(
            f"The invoice item {item_id} is on invoice {item['invoice']} already: only a "
            "pending invoice item can be added.",
            param="invoice_item",
        )
    if item["customer"] != invoice["customer"] or item["currency"] != invoice["currency"]:
        raise InvalidParameter(
            f"The invoice item {item_id} bills another customer or currency than invoice "
            f"{invoice['id']}.",
            param="invoice_item",
        )
    own_subscription = discounts.parent_subscription(invoice)
    if not await invoice_items.not_waiting(ctx, [item], for_subscription=own_subscription):
        raise InvalidRequest(
            f"The invoice item {item_id} waits for the next invoice of its subscription "
            f"{discounts.parent_subscription(item)}.",
            param="invoice_item",
        )
    item["invoice"] = invoice["id"]
    await invoice_items.store_changed_item(ctx, item, changes, invoice)
    return item


async def update_lines(ctx: Context, request: EditLines) -> ApiObject:
    ctx, invoice, before = await _draft(ctx, request.invoice)
    seen: set[str] = set()
    for index, line in enumerate(request.lines[:LINES_MAX]):
        with _naming_line(index, line):
            item = await _item_behind(ctx, invoice, str(line["id"]), seen)
            await _change_line(ctx, invoice, item, ItemChanges(**item_changes(line)))
    return await _finish(ctx, invoice, before, request.invoice_metadata)


async def _change_line(
    ctx: Context, invoice: ApiObject, item: ApiObject, changes: ItemChanges
) -> None:
    if not invoice_lines.is_period_item(item):
        await invoice_items.store_changed_item(ctx, item, changes, invoice)
        return
    for name in sent_changes(changes):
        if name not in PERIOD_LINE_CHANGES:
            raise InvalidRequest(
                f"A subscription item's line takes only metadata here, not {name}: update "
                "the subscription item for the rest.",
                param=name,
            )
    if changes.metadata is not None:
        sent = changes.metadata
        item["metadata"] = (
            {} if isinstance(sent, Unset) else {k: v for k, v in sent.items() if v is not UNSET}
        )
        await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)


async def remove_lines(ctx: Context, request: EditLines) -> ApiObject:
    ctx, invoice, before = await _draft(ctx, request.invoice)
    seen: set[str] = set()
    for index, line in enumerate(request.lines[:LINES_MAX]):
        with _naming_line(index, line):
            item = await _item_behind(ctx, invoice, str(line["id"]), seen)
            if invoice_lines.is_period_item(item):
                raise InvalidRequest(
                    f"The line {line['id']} is a subscription item's: it cannot be removed "
                    "from its invoice (update the subscription instead).",
                    param="id",
                )
            if line["behavior"] == "delete":
                await invoice_items.store_deleted_item(ctx, item)
            else:
                await invoice_items.store_unassigned_item(ctx, item)
    return await _finish(ctx, invoice, before, request.invoice_metadata)


async def update_line(ctx: Context, request: UpdateLine) -> ApiObject:
    ctx, invoice, before = await _draft(ctx, request.invoice)
    item = await _item_behind(ctx, invoice, request.line_item_id, set())
    await _change_line(ctx, invoice, item, request)
    await _finish(ctx, invoice, before, None)
    updated = [line for line in invoice["lines"]["data"] if line["id"] == request.line_item_id]
    ensure(len(updated) == 1, "a line updated stays on its invoice")
    return dict(updated[0])
