"""Invoice items (`ii_...`, object "invoiceitem"): create, retrieve, update, delete, list (API
2026-10-28.endive: the price is named in `pricing.price_details`).

An item is priced by an amount, a stored price, `price_data` or a decimal unit amount
(`invoice_item_pricing`); its parameters are in `invoice_item_params`.

An item is pending (`invoice: null`) until an invoice takes it, or is put on a draft with
`invoice`; it is pending again when that draft is deleted (`release_items`). It can be
changed or deleted while pending or while its invoice is a draft; each change works the
draft's lines and totals out again (`invoice_lines.refresh`) in the same unit of work.
Lock order, as every invoice path takes them: the invoice, then the item. The steps of
create, update and delete that leave the draft to the caller (`store_new_item`,
`store_changed_item`, `store_deleted_item`, and `store_unassigned_item`) are also a draft's
line edits' (`invoice_line_edits`), which work the draft out once for all their lines.

Events: `invoiceitem.created`, `invoiceitem.deleted` (Stripe's event list for this API
version has no `invoiceitem.updated`); a draft whose lines change announces
`invoice.updated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kassa.errors import InvalidParameter, InvalidRequest, InvoiceNotEditable, ResourceMissing
from kassa.invariants import ensure
from kassa.services import events
from kassa.services.billing import (
    discounts,
    invoice_documents,
    invoice_lines,
)
from kassa.services.billing.invoice_amounts import LINES_MAX
from kassa.services.billing.invoice_item_params import (
    CREATE_PARAMS,
    LIST_PARAMS,
    UPDATE_PARAMS,
    CreateInvoiceItem,
    ItemChanges,
    ListInvoiceItems,
    Priced,
    UpdateInvoiceItem,
)
from kassa.services.billing.invoice_item_pricing import (
    amount_param,
    apply_changes,
    apply_discounts,
    apply_priced,
    blank_item,
    deleted_stub,
    price_changed_item,
    price_new_item,
    view,
)
from kassa.services.billing.subscription_documents import ENDED
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    could_be_object_id,
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
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS, DISCOUNTS, INVOICE_ITEMS, SUBSCRIPTIONS

# --- the invoice an item is on -------------------------------------------------------------


async def _draft_for(ctx: Context, invoice_id: str, customer: str, currency: str) -> ApiObject:
    """The draft invoice a new item goes on (locked: it is about to change)."""
    invoice = await invoice_documents.load_invoice(ctx, invoice_id, param="invoice")
    check_item_fits(invoice, customer, currency, added=1)
    return invoice


def check_item_fits(
    invoice: Mapping[str, Any], customer: str, currency: str, *, added: int
) -> None:
    """Whether an item of `customer` in `currency` may go on `invoice`: a draft of the same
    customer and currency, with room for `added` more lines."""
    invoice_id = invoice["id"]
    if invoice["status"] != "draft":
        raise InvoiceNotEditable(
            "Invalid invoice: This invoice is no longer editable", param="invoice"
        )
    if invoice["customer"] != customer:
        raise InvalidParameter(
            f"The invoice {invoice_id} belongs to another customer than this invoice item.",
            param="invoice",
        )
    if invoice["currency"] != currency:
        raise InvalidParameter(
            f"The currency of the invoice item ({currency}) must match the currency of the "
            f"invoice ({invoice['currency']}).",
            param="currency",
        )
    if len(invoice["lines"]["data"]) + added > LINES_MAX:
        raise InvalidRequest(
            f"An invoice holds at most {LINES_MAX} invoice items.", param="invoice"
        )


async def refresh_draft(ctx: Context, invoice: ApiObject, before: ApiObject) -> None:
    """Store a draft whose items changed, its lines and totals worked out again, and
    announce the change."""
    await invoice_lines.refresh(ctx, invoice)
    await invoice_documents.save(ctx, invoice)
    after = invoice_documents.view(invoice)
    if after != before:
        await invoice_documents.announce(ctx, "invoice.updated", invoice, before=before)


async def _customer(ctx: Context, customer_id: str | None) -> ApiObject:
    """The live customer an item bills, read without a lock: an item changes nothing on
    its customer, and invoices lock a customer only after the invoice."""
    if customer_id is None:
        raise InvalidParameter(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    if found is None or found[1]:
        raise ResourceMissing("customer", customer_id, param="customer")
    ctx.remember_customer(found[0])
    return found[0]


# --- operations -------------------------------------------------------------------------------


async def create_invoice_item(ctx: Context, request: CreateInvoiceItem) -> ApiObject:
    customer = await _customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    priced = await price_new_item(ctx, request, customer)
    invoice = (
        await _draft_for(ctx, request.invoice, customer["id"], priced.currency)
        if request.invoice is not None
        else None
    )
    item = await store_new_item(ctx, request, customer, priced, invoice)
    if invoice is not None:
        await refresh_draft(ctx, invoice, invoice_documents.view(invoice))
    return view(item)


async def store_new_item(
    ctx: Context,
    request: CreateInvoiceItem,
    customer: Mapping[str, Any],
    priced: Priced,
    invoice: Mapping[str, Any] | None,
) -> ApiObject:
    """Make, store and announce the item `request` describes, priced (`price_new_item`), on
    `invoice` if given (checked by `check_item_fits`); the caller works the draft out again
    (`refresh_draft`), once for all the items it adds."""
    item = blank_item(ctx, customer, priced)
    apply_priced(item, priced, param=amount_param(request))
    await apply_changes(ctx, item, request)
    if invoice is not None:
        item["invoice"] = invoice["id"]
    if request.subscription is not None:
        item["parent"] = await _subscription_parent(ctx, request.subscription, customer)
    if isinstance(request.discounts, list):  # after invoice and parent: discounts reused from them
        await apply_discounts(ctx, item, request.discounts, invoice)
    await ctx.tx.insert_object(INVOICE_ITEMS, ctx.account_id, item)
    await events.announce(ctx, "invoiceitem.created", view(item))
    return item


async def _subscription_parent(
    ctx: Context, subscription_id: str, customer: Mapping[str, Any]
) -> dict[str, Any]:
    """`subscription`: the item waits for that subscription's next invoice (not any other
    invoice of the customer's)."""
    await customers_subscription(ctx, subscription_id, customer, billed="invoice item")
    return {
        "subscription_details": {"subscription": subscription_id, "subscription_item": None},
        "type": "subscription_details",
    }


async def customers_subscription(
    ctx: Context, subscription_id: str, customer: Mapping[str, Any], *, billed: str
) -> ApiObject:
    """The subscription an invoice item or an invoice (`billed`) names as its `subscription`,
    read without a lock: the customer's own, and still billing."""
    found = await ctx.tx.get_object(SUBSCRIPTIONS, ctx.account_id, subscription_id, lock=False)
    if found is None or found[1]:
        raise ResourceMissing("subscription", subscription_id, param="subscription")
    subscription = found[0]
    if subscription["customer"] != customer["id"]:
        raise InvalidParameter(
            f"The subscription {subscription_id} belongs to another customer than this {billed}.",
            param="subscription",
        )
    if subscription["status"] in ENDED:
        raise InvalidParameter(
            f"The subscription {subscription_id} is {subscription['status']}: it makes no "
            "more invoices.",
            param="subscription",
        )
    return subscription


async def load_item(ctx: Context, item_id: str, *, lock: bool = True) -> ApiObject:
    """Any live item, a subscription's period charge included (the invoice paths' own)."""
    found = (
        await ctx.tx.get_object(INVOICE_ITEMS, ctx.account_id, item_id, lock=lock)
        if could_be_object_id(item_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("invoiceitem", item_id)
    return found[0]


async def load_shown_item(ctx: Context, item_id: str, *, lock: bool = True) -> ApiObject:
    """An item the API shows: a subscription's period charge is missing, as Stripe has no
    invoice item behind such a line (`is_period_item`)."""
    item = await load_item(ctx, item_id, lock=lock)
    if invoice_lines.is_period_item(item):
        raise ResourceMissing("invoiceitem", item_id)
    return item


async def retrieve_invoice_item(ctx: Context, item_id: str) -> ApiObject:
    return view(await load_shown_item(ctx, item_id, lock=False))


async def _editable(ctx: Context, item_id: str) -> tuple[ApiObject, ApiObject | None]:
    """The item and its draft invoice, both locked (the invoice first: the order every
    invoice path takes); refused when its invoice is no longer a draft."""
    peek = await load_shown_item(ctx, item_id, lock=False)
    invoice = (
        None
        if peek["invoice"] is None
        else await invoice_documents.load_invoice(ctx, peek["invoice"], param="invoice")
    )
    item = await load_item(ctx, item_id)
    if invoice is not None and invoice["status"] != "draft":
        raise InvoiceNotEditable(
            f"The invoice item {item_id} is on invoice {invoice['id']}, which is no longer a "
            "draft: only items not yet invoiced or on a draft can change."
        )
    return item, invoice


async def update_invoice_item(ctx: Context, request: UpdateInvoiceItem) -> ApiObject:
    item, invoice = await _editable(ctx, request.invoiceitem)
    ctx = await ctx.governed_by(item)
    invoice_before = None if invoice is None else invoice_documents.view(invoice)
    await store_changed_item(ctx, item, request, invoice)
    if invoice is not None and invoice_before is not None:
        await refresh_draft(ctx, invoice, invoice_before)
    return view(item)


async def store_changed_item(
    ctx: Context, item: ApiObject, changes: ItemChanges, invoice: Mapping[str, Any] | None
) -> None:
    """Apply `changes` to a locked, editable item (pending, or on the draft `invoice`) and
    store it; the caller works the draft out again (`refresh_draft`)."""
    priced = await price_changed_item(ctx, item, changes)
    if priced is not None:
        apply_priced(item, priced, param=amount_param(changes))
    await apply_changes(ctx, item, changes)
    if changes.discounts is not None:
        await apply_discounts(ctx, item, changes.discounts, invoice)
    await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)


async def delete_invoice_item(ctx: Context, item_id: str) -> ApiObject:
    item, invoice = await _editable(ctx, item_id)
    ctx = await ctx.governed_by(item)
    invoice_before = None if invoice is None else invoice_documents.view(invoice)
    await store_deleted_item(ctx, item)
    if invoice is not None and invoice_before is not None:
        await refresh_draft(ctx, invoice, invoice_before)
    return deleted_stub(item["id"])


async def store_deleted_item(ctx: Context, item: ApiObject) -> None:
    """Delete a locked, editable item, giving back the discounts made for it, and announce
    it; the caller works its draft out again (`refresh_draft`)."""
    await ctx.tx.mark_object_deleted(INVOICE_ITEMS, ctx.account_id, item["id"])
    await discounts.discard(ctx, item["discounts"], owner=item["id"])
    await events.announce(ctx, "invoiceitem.deleted", view(item))


async def list_invoice_items(ctx: Context, request: ListInvoiceItems) -> ApiObject:
    equals = {
        name: value
        for name, value in (("customer", request.customer), ("invoice", request.invoice))
        if value is not None
    }
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals=equals,
        created=request.created or {},
        nulls=_shown_only(request.pending),
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(ListPage([view(i) for i in page.data], page.has_more), RESOURCE.url)


def _shown_only(pending: bool | None) -> dict[str, bool]:
    """The list's `nulls`: never a subscription's period charges (`is_period_item`), and
    pending or not as `pending` asks."""
    nulls = {"period_item": True}
    if pending is not None:
        nulls["invoice"] = pending
    return nulls


async def pending_items(
    ctx: Context, customer: str, currency: str | None, *, of_subscriptions: bool = False
) -> list[ApiObject]:
    """The customer's pending items (in `currency` if given), newest first: what an
    invoice created with `pending_invoice_items_behavior=include` takes. Items made for a
    live subscription (its prorations, or `subscription` given) wait for that
    subscription's invoice and are left out, unless `of_subscriptions`; those of an ended
    one (the credit a cancellation with `prorate` makes) are the customer's, collected on
    its next invoice as Stripe collects them."""
    page = await ctx.tx.list_objects(
        INVOICE_ITEMS,
        ctx.account_id,
        ObjectListQuery(limit=LINES_MAX, equals={"customer": customer}, nulls={"invoice": True}),
    )
    pending = [item for item in page.objects if currency is None or item["currency"] == currency]
    return pending if of_subscriptions else await not_waiting(ctx, pending)


async def not_waiting(
    ctx: Context, items: list[ApiObject], *, for_subscription: str | None = None
) -> list[ApiObject]:
    """Of pending `items`, those the customer's next invoice takes: naming no subscription,
    or one that has ended (`_ended_subscriptions`), and, on `for_subscription`'s invoice,
    that subscription's own; the items of any other live subscription wait for it."""
    ended = await _ended_subscriptions(ctx, items)
    taken = (for_subscription, None, *ended)
    return [item for item in items if discounts.parent_subscription(item) in taken]


async def _ended_subscriptions(ctx: Context, items: list[ApiObject]) -> frozenset[str]:
    """Those of the subscriptions `items` name that have ended (canceled, or
    incomplete_expired): their items no longer wait for them. One read of the distinct
    subscriptions, as many as the items at most (a page of pending items, LINES_MAX)."""
    named = sorted(
        {name for item in items if (name := discounts.parent_subscription(item)) is not None}
    )
    if not named:
        return frozenset()
    found = await ctx.tx.objects_by_ids(SUBSCRIPTIONS, ctx.account_id, named)
    return frozenset(name for name, doc in found.items() if doc["status"] in ENDED)


async def take_items(ctx: Context, items: list[ApiObject], invoice_id: str) -> list[ApiObject]:
    """Put pending items on a new invoice (each locked and checked still pending: a
    concurrent invoice may have taken it first)."""
    taken = []
    for peek in items[:LINES_MAX]:
        item = await load_item(ctx, peek["id"])
        if item["invoice"] is None:
            item["invoice"] = invoice_id
            await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)
            taken.append(item)
    return taken


async def release_items(
    ctx: Context, invoice_id: str, *, forgotten_discounts: frozenset[str]
) -> None:
    """Put the items of a draft being deleted back to pending (`invoice: null`), each
    locked after the invoice (the order every invoice path takes).

    Stripe documents neither way (pending means "not yet attached to any invoices"; items
    can be deleted when not attached or on a draft): Kassa chooses pending, so nothing
    billable is lost with the draft and the integration deletes what it does not want. An
    item keeps its `parent`: one made for a live subscription (a proration, or `subscription`
    given) waits for that subscription's next invoice, as its other pending items do. The
    draft's own discounts, forgotten with it, leave the items that reused them. No event:
    Stripe lists no `invoiceitem.updated` for this API version, and documents none here."""
    for peek in await invoice_lines.items_on(ctx, invoice_id):
        item = await load_item(ctx, peek["id"])
        ensure(item["invoice"] == invoice_id, "an item released is on the draft deleted")
        item["invoice"] = None
        item["discounts"] = [d for d in item["discounts"] if d not in forgotten_discounts]
        await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)


async def store_unassigned_item(ctx: Context, item: ApiObject) -> None:
    """Take a locked item off its draft, pending again (`invoice: null`) for the customer's
    next invoice (`remove_lines` with `behavior=unassign`). Its discounts reused from that
    draft (or the draft's subscription) leave it with the draft, as `release_items` has
    them: it keeps only those of its own lineage (its own, its subscription's, the
    customer's). No event, as for `release_items`."""
    ensure(item["invoice"] is not None, "an item unassigned is on a draft")
    item["invoice"] = None
    found = await ctx.tx.objects_by_ids(DISCOUNTS, ctx.account_id, list(item["discounts"]))
    lineage = (None, str(item["id"]), discounts.parent_subscription(item))
    item["discounts"] = [
        name
        for name in item["discounts"]
        if name in found and discounts.owner_of(found[name]) in lineage
    ]
    await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, item)


async def _fetch(ctx: Context, item_id: str) -> ApiObject | None:
    found = await ctx.tx.get_object(INVOICE_ITEMS, ctx.account_id, item_id, lock=False)
    if found is None or invoice_lines.is_period_item(found[0]):
        return None
    return deleted_stub(item_id) if found[1] else view(found[0])


RESOURCE = Resource(
    object_name="invoiceitem",
    id_prefix="ii",
    collection="invoiceitems",
    table=INVOICE_ITEMS,
    create=Operation(
        request_parser(CreateInvoiceItem, CREATE_PARAMS, required=("customer",)),
        create_invoice_item,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_invoice_item, writes=False),
    update=Operation(
        request_parser(UpdateInvoiceItem, UPDATE_PARAMS, ids=("invoiceitem",)),
        update_invoice_item,
        writes=True,
    ),
    delete=Operation(no_params, delete_invoice_item, writes=True),
    lister=Operation(
        request_parser(ListInvoiceItems, LIST_PARAMS), list_invoice_items, writes=False
    ),
    expandable={
        "customer": "customer",
        "invoice": "invoice",
        "pricing.price_details.price": "price",
        "test_clock": "test_helpers.test_clock",
    },
    event_types=("invoiceitem.created", "invoiceitem.deleted"),
    fetch=_fetch,
)
