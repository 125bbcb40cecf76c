"""Credit notes (`cn_...`, object "credit_note"; lines `cnli_...`): create, retrieve, update
(`memo`, `metadata`), list (filters `customer`, `invoice`, `created`), lines, preview and
preview lines, void (API 2026-10-28.endive: `refunds[]`, `total_taxes`,
`pre_payment_amount`/`post_payment_amount`, `type` `mixed`).

The arithmetic is `credit_note_amounts`'; this module applies it in one unit of work, the
invoice locked first (as every invoice path does), then its PaymentIntent, the charge a
refund returns money from, and the customer whose balance a credit changes:

- the pre-payment part lowers the invoice's `amount_due` and `amount_remaining` and adds to
  its `pre_payment_credit_notes_amount`; its PaymentIntent then asks what remains. Nothing
  remaining: the invoice is paid, its payment canceled (nothing more is collected) and
  `invoice.paid` announced, with no receipt (no payment was made).
- the post-payment part adds to `post_payment_credit_notes_amount` and is settled by
  `refund_amount` (a Refund of the invoice's charge through `refunds.create_refund`, so
  the ledger, `refund.created` and `charge.refunded` follow), `credit_amount` (a
  `credit_note` customer balance transaction, posted to the ledger, `customer.updated`) and
  `out_of_band_amount` (recorded, no money moves).
- `invoice.updated` (with `previous_attributes`) for the invoice's changed amounts, and
  `credit_note.created`.

Voiding (`status` void, `voided_at`) gives back what the note took of the invoice and of its
lines, undoes the pre-payment reduction (only while the invoice is still open or
uncollectible: a paid invoice is never reopened) and debits the customer's balance by the
credit it gave; a refund already made is money returned and stays (Kassa refunds at once,
and a refund cannot be undone). `credit_note.voided`, and `invoice.updated`.

Billing credits the invoice took stay spent: a note takes its share of a credited line's
credits (`credit_note_amounts`), shown in its `pretax_credit_amounts`, and gives nothing
back to a grant (Stripe's billing credits guide: "Issuing a Credit Note doesn't refund
credit grants applied to an invoice"); only voiding the invoice does (`credit_application`).

`pdf` is where Kassa serves the credit note's PDF, Stripe's shape:
`{KASSA_PUBLIC_URL}/kassa/credit_notes/{id}/pdf?secret=...` (`kassa.pages.credit_note_page`,
which finds the note by its link's secret through `note_for_page`). With `email_type`
`credit_note` (Stripe's default), creating a note emails it to the invoice's customer, its
PDF attached, in the same unit of work (`credit_note_emails`); `none` sends nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import apply_metadata
from kassa.services import charge_processing, events, page_links, payment_intents, refunds
from kassa.services.billing import (
    credit_note_amounts,
    credit_note_emails,
    credit_note_rates,
    customer_balance,
    invoice_documents,
    invoice_payments,
    invoice_transitions,
)
from kassa.services.billing.credit_note_amounts import NoteAmounts, PlannedLine, Split
from kassa.services.billing.credit_note_params import (
    LINES_PARAMS,
    LIST_PARAMS,
    NOTE_PARAMS,
    PREVIEW_LINES_PARAMS,
    UPDATE_PARAMS,
    DescribeNote,
    ListNoteLines,
    ListNotes,
    UpdateNote,
)
from kassa.services.billing.invoice_documents import load_invoice, private
from kassa.services.billing.invoice_lines import credit_entry, pretax_credit_entry, tax_entry
from kassa.services.billing.invoices import CREDIT_BALANCE_TRANSACTION
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    could_be_object_id,
    items_page,
    list_page_with,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    document_copy,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store import Transaction
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CREDIT_NOTES, PRIVATE

CREDITABLE_STATUSES: Final = ("open", "paid", "uncollectible")
"""Stripe issues credit notes on finalized invoices (its create docstring); a draft or a
void invoice has none."""
OWED_STATUSES: Final = ("open", "uncollectible")
"""Statuses whose `amount_remaining` a credit note reduces first."""
NOTES_PER_INVOICE_MAX: Final = 100
"""Credit notes one invoice takes (void ones included): its notes are read in one page to
number the next and to know what its lines have left."""
LINES_EMBEDDED_MAX: Final = 10
"""Lines embedded in the credit note ("the first handful"); `/lines` pages them all."""
LINE_OBJECT: Final = "credit_note_line_item"
PAGE_PATH: Final = "/kassa/credit_notes"
SECRET_BYTES: Final = 24
PREVIEW_LINE_PREFIX: Final = "cnli_preview_"
"""Preview lines are numbered, not drawn: `preview/lines` pages them with cursors across
requests, which must name the same lines each time."""
REFUND_REASONS: Final[Mapping[str, str]] = {
    "duplicate": "duplicate",
    "fraudulent": "fraudulent",
    "order_change": "requested_by_customer",
    "product_unsatisfactory": "requested_by_customer",
}
"""A credit note's `reason` as the reason of the refund it makes (Refunds take
`duplicate`, `fraudulent`, `requested_by_customer`)."""
NOTE_FIELDS_CHANGED: Final = (
    "amount_due",
    "amount_remaining",
    "post_payment_credit_notes_amount",
    "pre_payment_credit_notes_amount",
)


# --- the document ---------------------------------------------------------------------------


def shown(note: Mapping[str, Any]) -> ApiObject:
    """The note as the API shows it: its first lines embedded, private facts left out."""
    answer = dict(note)
    answer.pop(PRIVATE, None)
    lines = note["lines"]
    answer["lines"] = {
        **lines,
        "data": lines["data"][:LINES_EMBEDDED_MAX],
        "has_more": len(lines["data"]) > LINES_EMBEDDED_MAX,
    }
    return answer


def _line_object(
    ctx: Context,
    line: PlannedLine,
    line_id: str,
    metadata: Any,
    rates: Mapping[str, ApiObject],
) -> ApiObject:
    shown_line: ApiObject = {
        "id": line_id,
        "object": LINE_OBJECT,
        "amount": line.amount,
        "description": line.description,
        "discount_amount": line.discount_amount,
        "discount_amounts": [
            {"amount": d.amount, "discount": d.discount} for d in line.discount_amounts
        ],
        "livemode": ctx.livemode,
        "metadata": None if metadata is None else apply_metadata({}, metadata),
        "pretax_credit_amounts": [
            *(pretax_credit_entry(d.discount, d.amount) for d in line.discount_amounts),
            *(credit_entry(c.credit_balance_transaction, c.amount) for c in line.credit_amounts),
        ],
        "quantity": line.quantity,
        "tax_rates": [dict(rates[tax.tax_rate]) for tax in line.taxes],
        "taxes": [tax_entry(tax) for tax in line.taxes],
        "type": line.type,
        "unit_amount": line.unit_amount,
        "unit_amount_decimal": (
            None if line.unit_amount_decimal is None else str(line.unit_amount_decimal)
        ),
    }
    if line.invoice_line_item is not None:  # Stripe's custom lines have no such key
        shown_line["invoice_line_item"] = line.invoice_line_item
    return shown_line


def _document(
    ctx: Context,
    request: DescribeNote,
    invoice: Mapping[str, Any],
    planned: Sequence[PlannedLine],
    amounts: NoteAmounts,
    split: Split,
    number: str,
    rates: Mapping[str, ApiObject],
    *,
    preview: bool,
) -> ApiObject:
    note_id, now = new_id("cn"), ctx.now()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    sent = request.parsed_lines()
    lines = [
        _line_object(
            ctx,
            line,
            f"{PREVIEW_LINE_PREFIX}{index}" if preview else new_id("cnli"),
            sent[index].metadata,
            rates,
        )
        for index, line in enumerate(planned)
    ]
    return {
        "id": note_id,
        "object": "credit_note",
        "amount": split.total,
        "amount_shipping": 0,
        "created": now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amount": amounts.discount_amount,
        "discount_amounts": [
            {"amount": d.amount, "discount": d.discount} for d in amounts.discount_amounts
        ],
        "effective_at": now if request.effective_at is None else request.effective_at,
        "invoice": invoice["id"],
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/credit_notes/{note_id}/lines",
        },
        "livemode": ctx.livemode,
        "memo": request.memo,
        "metadata": apply_metadata({}, request.metadata or {}),
        "number": number,
        "out_of_band_amount": request.out_of_band_amount,
        "pdf": f"{ctx.payments.public_url}{PAGE_PATH}/{note_id}/pdf?secret={secret}",
        "post_payment_amount": split.post_payment,
        "pre_payment_amount": split.pre_payment,
        "pretax_credit_amounts": [
            *(pretax_credit_entry(d.discount, d.amount) for d in amounts.discount_amounts),
            *(credit_entry(c.credit_balance_transaction, c.amount) for c in amounts.credit_amounts),
        ],
        "reason": request.reason,
        "refunds": [],
        "shipping_cost": None,
        "status": "issued",
        "subtotal": amounts.subtotal,
        "subtotal_excluding_tax": amounts.subtotal_excluding_tax,
        "total": amounts.total,
        "total_excluding_tax": amounts.total_excluding_tax,
        "total_taxes": [tax_entry(tax) for tax in amounts.total_taxes],
        "type": split.type,
        "voided_at": None,
        PRIVATE: {
            "secret": secret,
            "email_type": request.email_type or "credit_note",
            "credit_amount": request.credit_amount or 0,
            "taken": [line.taken_entry() for line in planned if line.invoice_line_item is not None],
        },
    }


# --- what the invoice has already given -----------------------------------------------------


async def _notes_of(ctx: Context, invoice_id: str) -> list[ApiObject]:
    page = await ctx.tx.list_objects(
        CREDIT_NOTES,
        ctx.account_id,
        ObjectListQuery(limit=NOTES_PER_INVOICE_MAX, equals={"invoice": invoice_id}),
    )
    if page.has_more:
        raise InvalidParameter(
            f"Invoice {invoice_id} has {NOTES_PER_INVOICE_MAX} credit notes, the most Kassa "
            "issues on one invoice.",
            param="invoice",
        )
    return page.objects


def _credited(notes: Sequence[Mapping[str, Any]]) -> credit_note_amounts.Credited:
    issued = [note for note in notes if note["status"] == "issued"]
    return credit_note_amounts.credited_by(
        [{"total": note["total"], "lines": note[PRIVATE]["taken"]} for note in issued]
    )


async def _charge_of(ctx: Context, invoice: Mapping[str, Any]) -> ApiObject | None:
    """The charge that paid the invoice through its PaymentIntent, if one did."""
    intent_id = private(invoice).get("payment_intent")
    if intent_id is None:
        return None
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
    )
    if intent["status"] != "succeeded" or intent["latest_charge"] is None:
        return None
    return await charge_processing.load(ctx, str(intent["latest_charge"]))


def _refunded_outside(charge: Mapping[str, Any] | None, notes: Sequence[ApiObject]) -> int:
    """What was refunded of the invoice's charge other than by its issued credit notes (a
    voided note's refund stays made, no longer covered by a note: it counts here)."""
    if charge is None:
        return 0
    issued = [note for note in notes if note["status"] == "issued"]
    by_notes = sum(int(r["amount_refunded"]) for note in issued for r in note["refunds"])
    return max(int(charge["amount_refunded"]) - by_notes, 0)


def _check_refund(charge: Mapping[str, Any] | None, refund_amount: int) -> None:
    if refund_amount == 0:
        return
    if charge is None:
        raise InvalidParameter(
            "This invoice was not paid through a PaymentIntent, so there is no payment to "
            "refund: give credit_amount or out_of_band_amount instead.",
            param="refund_amount",
        )
    left = charge_processing.refundable_amount(dict(charge))
    if refund_amount > left:
        raise InvalidParameter(
            f"refund_amount ({refund_amount}) is more than is left to refund of the invoice's "
            f"charge {charge['id']} ({left}).",
            param="refund_amount",
        )


async def _planned_note(
    ctx: Context, request: DescribeNote, invoice: ApiObject, *, preview: bool
) -> ApiObject:
    """The credit note `request` describes on `invoice` (checked, nothing written)."""
    if invoice["status"] not in CREDITABLE_STATUSES:
        raise InvalidParameter(
            f"You can only issue a credit note on a finalized invoice (open, paid or "
            f"uncollectible): invoice {invoice['id']} is {invoice['status']}.",
            param="invoice",
        )
    notes = await _notes_of(ctx, invoice["id"])
    credited = _credited(notes)
    sent = request.parsed_lines()
    rates = await credit_note_rates.tax_rates_for(ctx, sent, invoice)
    terms = {rate_id: credit_note_rates.terms(rate) for rate_id, rate in rates.items()}
    planned = credit_note_amounts.planned_lines(sent, invoice["lines"]["data"], credited, terms)
    has_lines = bool(request.lines)
    amounts = credit_note_amounts.note_amounts(request.amount, planned, has_lines=has_lines)
    total = amounts.total
    charge = await _charge_of(ctx, invoice)
    credit_note_amounts.check_invoice_limit(
        invoice, total, credited, _refunded_outside(charge, notes), has_lines=has_lines
    )
    owed = int(invoice["amount_remaining"]) if invoice["status"] in OWED_STATUSES else 0
    split = credit_note_amounts.split(total, owed)
    credit_note_amounts.check_post_payment(
        {
            "refund_amount": request.refund_amount,
            "credit_amount": request.credit_amount,
            "out_of_band_amount": request.out_of_band_amount,
        },
        split,
    )
    _check_refund(charge, request.refund_amount or 0)
    number = f"{invoice['number']}-CN-{len(notes) + 1:02d}"
    return _document(ctx, request, invoice, planned, amounts, split, number, rates, preview=preview)


# --- operations -----------------------------------------------------------------------------


async def _invoice_for_note(ctx: Context, invoice_id: str, *, lock: bool) -> Context:
    """Check the invoice id (a 400 naming `invoice`, as Stripe's), and the context its
    customer governs."""
    invoice = await load_invoice(ctx, invoice_id, param="invoice", lock=lock)
    return await ctx.governed_by(invoice)


async def create_credit_note(ctx: Context, request: DescribeNote) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice, param="invoice")
    ctx = await ctx.governed_by(invoice)
    note = await _planned_note(ctx, request, invoice, preview=False)
    before = invoice_documents.view(invoice)
    invoice["pre_payment_credit_notes_amount"] += note["pre_payment_amount"]
    invoice["post_payment_credit_notes_amount"] += note["post_payment_amount"]
    await _change_remaining(ctx, invoice, -int(note["pre_payment_amount"]))
    if request.refund_amount:
        refund = await refunds.create_refund(
            ctx,
            refunds.CreateRefund(
                payment_intent=str(private(invoice)["payment_intent"]),
                amount=request.refund_amount,
                reason=REFUND_REASONS.get(request.reason or ""),
            ),
        )
        note["refunds"] = [
            {
                "amount_refunded": refund["amount"],
                "payment_record_refund": None,
                "refund": refund["id"],
                "type": "refund",
            }
        ]
    if request.credit_amount:
        transaction = await customer_balance.record_for_credit_note(
            ctx, invoice, note["id"], -request.credit_amount
        )
        note["customer_balance_transaction"] = transaction["id"]
    await ctx.tx.insert_object(CREDIT_NOTES, ctx.account_id, note)
    await events.announce(ctx, "credit_note.created", shown(note))
    await _store_invoice(ctx, invoice, before)
    if note[PRIVATE]["email_type"] == "credit_note":
        await credit_note_emails.queue_credit_note_email(ctx, note, invoice)
    return shown(note)


async def _change_remaining(ctx: Context, invoice: ApiObject, change: int) -> None:
    """A credit note's pre-payment part taken off what the invoice asks (`change`
    negative), or given back by its void: the invoice's PaymentIntent follows; nothing left
    to pay, the invoice is paid."""
    if change == 0:
        return
    invoice["amount_due"] += change
    invoice["amount_remaining"] += change
    ensure(invoice["amount_remaining"] >= 0, "a credit note never takes an invoice below zero")
    if invoice["amount_remaining"] > 0:
        await invoice_payments.resize_default_payment(ctx, invoice)
        return
    # Nothing more is collected; Stripe names no cancellation reason for this one, as for a
    # payment recorded out of band.
    await invoice_payments.cancel_default_payment(ctx, invoice, cancellation_reason=None)
    await invoice_transitions.mark_paid(ctx, invoice, attempted=False)


async def _store_invoice(ctx: Context, invoice: ApiObject, before: ApiObject) -> None:
    await invoice_documents.save(ctx, invoice)
    if any(invoice[name] != before[name] for name in (*NOTE_FIELDS_CHANGED, "status")):
        await invoice_documents.announce(ctx, "invoice.updated", invoice, before=before)


async def preview_credit_note(ctx: Context, request: DescribeNote) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice, param="invoice", lock=False)
    ctx = await ctx.governed_by(invoice)
    return shown(await _planned_note(ctx, request, invoice, preview=True))


async def preview_lines(ctx: Context, request: DescribeNote) -> ApiObject:
    invoice = await load_invoice(ctx, request.invoice, param="invoice", lock=False)
    ctx = await ctx.governed_by(invoice)
    note = await _planned_note(ctx, request, invoice, preview=True)
    url = "/v1/credit_notes/preview/lines"
    return items_page(note["lines"]["data"], request, object_name=LINE_OBJECT, url=url)


async def _load_note(ctx: Context, note_id: str, *, lock: bool) -> ApiObject:
    found = (
        await ctx.tx.get_object(CREDIT_NOTES, ctx.account_id, note_id, lock=lock)
        if could_be_object_id(note_id)
        else None
    )
    if found is None:
        raise ResourceMissing("credit_note", note_id)
    return found[0]


async def note_for_page(tx: Transaction, note_id: str, secret: str) -> ApiObject | None:
    """For the PDF, reached by its `pdf` link rather than an API key: the note with every
    line, private facts left out, and `account` added (whose note it is), when `secret` is
    its link's secret; else None."""
    found = await page_links.find_by_link(tx, CREDIT_NOTES, note_id, secret)
    if found is None:
        return None
    note, account_id = found
    return {**_without_private(note), "account": account_id}


async def note_for_pdf(ctx: Context, note_id: str) -> ApiObject:
    """For the PDF its email attaches (`credit_note_pdf_renderer`): the note with every
    line, private facts left out. Raises `ResourceMissing` if there is no such note."""
    return _without_private(await _load_note(ctx, note_id, lock=False))


def _without_private(note: Mapping[str, Any]) -> ApiObject:
    return {key: value for key, value in note.items() if key != PRIVATE}


async def retrieve_credit_note(ctx: Context, note_id: str) -> ApiObject:
    return shown(await _load_note(ctx, note_id, lock=False))


async def update_credit_note(ctx: Context, request: UpdateNote) -> ApiObject:
    note = await _load_note(ctx, request.credit_note, lock=True)
    ctx = await _invoice_for_note(ctx, str(note["invoice"]), lock=False)
    before = document_copy(shown(note))
    if request.memo is not None:
        note["memo"] = request.memo
    if request.metadata is not None:
        note["metadata"] = apply_metadata(note["metadata"], request.metadata)
    after = shown(note)
    if after != before:
        await ctx.tx.update_object(CREDIT_NOTES, ctx.account_id, note)
        await events.announce(ctx, "credit_note.updated", after, previous=before)
    return after


async def void_credit_note(ctx: Context, note_id: str) -> ApiObject:
    # The invoice is locked before its note, in the order creating a note takes them.
    invoice_id = str((await _load_note(ctx, note_id, lock=False))["invoice"])
    invoice = await load_invoice(ctx, invoice_id, param="invoice")
    ctx = await ctx.governed_by(invoice)
    note = await _load_note(ctx, note_id, lock=True)
    if note["status"] == "void":
        raise InvalidRequest(f"Credit note {note_id} has already been voided.")
    pre = int(note["pre_payment_amount"])
    if pre and invoice["status"] not in OWED_STATUSES:
        raise InvalidRequest(
            f"Credit note {note_id} reduced what invoice {invoice_id} had to pay by {pre}, and "
            f"the invoice is now {invoice['status']}: voiding the note would ask that again "
            "of an invoice that is no longer collected."
        )
    before = invoice_documents.view(invoice)
    invoice["pre_payment_credit_notes_amount"] -= pre
    invoice["post_payment_credit_notes_amount"] -= int(note["post_payment_amount"])
    await _change_remaining(ctx, invoice, pre)
    credit = int(note[PRIVATE]["credit_amount"])
    if credit:
        await customer_balance.record_for_credit_note(ctx, invoice, note_id, credit)
    note["status"] = "void"
    note["voided_at"] = ctx.now()
    await ctx.tx.update_object(CREDIT_NOTES, ctx.account_id, note)
    await events.announce(ctx, "credit_note.voided", shown(note))
    await _store_invoice(ctx, invoice, before)
    return shown(note)


# --- lists ----------------------------------------------------------------------------------


async def list_credit_notes(ctx: Context, request: ListNotes) -> ApiObject:
    equals = {
        name: getattr(request, name)
        for name in ("customer", "invoice")
        if getattr(request, name) is not None
    }
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT, equals=equals, created=request.created or {}
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(ListPage([shown(n) for n in page.data], page.has_more), RESOURCE.url)


async def list_lines(ctx: Context, request: ListNoteLines) -> ApiObject:
    note = await _load_note(ctx, request.credit_note, lock=False)
    url = f"/v1/credit_notes/{note['id']}/lines"
    return items_page(note["lines"]["data"], request, object_name=LINE_OBJECT, url=url)


async def _fetch(ctx: Context, note_id: str) -> ApiObject | None:
    if not could_be_object_id(note_id):
        return None
    found = await ctx.tx.get_object(CREDIT_NOTES, ctx.account_id, note_id, lock=False)
    return None if found is None else shown(found[0])


_DISCOUNTS_EXPANDABLE: Final[Mapping[str, str]] = {
    "discount_amounts.discount": "discount",
    "pretax_credit_amounts.credit_balance_transaction": CREDIT_BALANCE_TRANSACTION,
    "pretax_credit_amounts.discount": "discount",
}

LINES = Resource(
    object_name=LINE_OBJECT,
    id_prefix="cnli",
    collection="lines",
    table=None,
    lister=Operation(
        request_parser(ListNoteLines, LINES_PARAMS, ids=("credit_note",)), list_lines, writes=False
    ),
    expandable=_DISCOUNTS_EXPANDABLE,
)
"""A credit note's lines: inside their note, listed at `/v1/credit_notes/{id}/lines`."""

RESOURCE = Resource(
    object_name="credit_note",
    id_prefix="cn",
    collection="credit_notes",
    table=CREDIT_NOTES,
    create=Operation(
        request_parser(DescribeNote, NOTE_PARAMS, required=("invoice",)),
        create_credit_note,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_credit_note, writes=False),
    update=Operation(
        request_parser(UpdateNote, UPDATE_PARAMS, ids=("credit_note",)),
        update_credit_note,
        writes=True,
    ),
    lister=Operation(request_parser(ListNotes, LIST_PARAMS), list_credit_notes, writes=False),
    actions={"void": Operation(no_params, void_credit_note, writes=True)},
    collection_reads={
        "preview": Operation(
            request_parser(DescribeNote, NOTE_PARAMS, required=("invoice",)),
            preview_credit_note,
            writes=False,
        ),
        "preview/lines": Operation(
            request_parser(DescribeNote, PREVIEW_LINES_PARAMS, required=("invoice",)),
            preview_lines,
            writes=False,
        ),
    },
    nested=(LINES,),
    expandable={
        "customer": "customer",
        "customer_balance_transaction": "customer_balance_transaction",
        "invoice": "invoice",
        "refunds.refund": "refund",
        **_DISCOUNTS_EXPANDABLE,
    },
    embedded={"lines.data": "credit_note_line_item"},
    event_types=("credit_note.created", "credit_note.updated", "credit_note.voided"),
    fetch=_fetch,
)
