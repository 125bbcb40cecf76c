"""Invoices: the list (filters by status and customer), one invoice with its lines,
payments, credit notes, events and emails, and the finalize, send, void and
mark-uncollectible actions, and voiding one of its credit notes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import invoices as view_model
from kassa.errors import KassaError, ResourceMissing
from kassa.services.context import Context
from kassa.services.resource import ApiObject


async def invoice_list(view: View) -> Response:
    filters = view_model.parse_filters(
        status=view.param("status"),
        customer=view.param("customer"),
        starting_after=view.param("starting_after"),
    )
    async with view.reading() as ctx:
        listing = await view_model.invoice_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "invoices.html",
        listing=listing,
        filters=shown,
        statuses=view_model.STATUS_CHOICES,
        customer_label=view_model.customer_label,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/invoices" + (f"?{urlencode(query)}" if query else "")


async def invoice(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.invoice_detail(
            ctx, view.path_param("id"), view.param("lines_after")
        )
    here = PREFIX + _detail_path(detail.invoice["id"])
    next_lines_url = ""
    if detail.lines.next_cursor:
        next_lines_url = f"{here}?{urlencode({'lines_after': detail.lines.next_cursor})}#lines"
    return view.render(
        "invoice_detail.html",
        detail=detail,
        customer_label=view_model.customer_label,
        line_product=view_model.line_product,
        line_price=view_model.line_price,
        line_taxes=view_model.line_taxes,
        line_discounts=view_model.line_discounts,
        unit_amount_text=view_model.unit_amount_text,
        next_lines_url=next_lines_url,
        first_lines_url=f"{here}#lines" if detail.lines.paged else "",
    )


def _detail_path(invoice_id: str) -> str:
    return f"/invoices/{quote(invoice_id, safe='')}"


Action = Callable[[Context, str], Awaitable[str]]
"""(context, invoice id) -> the notice to show once it is done."""


async def _act(view: View, action: Action) -> Response:
    """Run one action in a write unit, then back to the invoice (Post/Redirect/Get) with
    what happened, or Stripe's words for why it did not."""
    invoice_id = view.path_param("id")
    try:
        async with view.writing() as ctx:
            notice = await action(ctx, invoice_id)
    except ResourceMissing as missing:
        return view.redirect("/invoices", error=missing_message(missing))
    except KassaError as error:
        return view.redirect(_detail_path(invoice_id), error=error.message)
    return view.redirect(_detail_path(invoice_id), notice=notice)


async def finalize(view: View) -> Response:
    async def act(ctx: Context, invoice_id: str) -> str:
        done = await view_model.finalize(ctx, invoice_id)
        return f"Invoice {done['number']} finalized; it is {done['status']}."

    return await _act(view, act)


async def send(view: View) -> Response:
    async def act(ctx: Context, invoice_id: str) -> str:
        return _sent_notice(await view_model.send(ctx, invoice_id))

    return await _act(view, act)


def _sent_notice(sent: ApiObject) -> str:
    if sent["customer_email"]:
        return f"Invoice {sent['number']} sent to {sent['customer_email']}."
    return f"Invoice {sent['number']} marked sent; the customer has no email address."


async def void(view: View) -> Response:
    async def act(ctx: Context, invoice_id: str) -> str:
        done = await view_model.void(ctx, invoice_id)
        return f"Invoice {done['number']} voided."

    return await _act(view, act)


async def mark_uncollectible(view: View) -> Response:
    async def act(ctx: Context, invoice_id: str) -> str:
        done = await view_model.mark_uncollectible(ctx, invoice_id)
        return f"Invoice {done['number']} marked uncollectible."

    return await _act(view, act)


async def void_credit_note(view: View) -> Response:
    note_id = view.path_param("credit_note")

    async def act(ctx: Context, invoice_id: str) -> str:
        done = await view_model.void_credit_note(ctx, invoice_id, note_id)
        return f"Credit note {done['number']} voided."

    return await _act(view, act)


PAGES = (
    Page("/invoices", invoice_list),
    Page("/invoices/{id}", invoice),
    Page("/invoices/{id}/finalize", finalize, methods=("POST",)),
    Page("/invoices/{id}/send", send, methods=("POST",)),
    Page("/invoices/{id}/void", void, methods=("POST",)),
    Page("/invoices/{id}/mark_uncollectible", mark_uncollectible, methods=("POST",)),
    Page("/invoices/{id}/credit_notes/{credit_note}/void", void_credit_note, methods=("POST",)),
)
