"""A quote's PDF (`GET /v1/quotes/{id}/pdf`): the quote drawn by the invoice PDF's layout
(`invoice_pdf.render_view_pdf`) from a `PaperView` built here, in its customer's locale (the
invoice's words for the lines and totals; the quote's own few words in English, which the
invoice text does not hold). Its lines, with their discounts and taxes, are the quote's line
items; its totals the quote's."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services import customers
from kassa.services.billing.quote_params import LINE_ITEMS_MAX
from kassa.services.billing.rendering.invoice_view import (
    Formats,
    InvoiceDocument,
    LineView,
    PaperView,
    SummaryRow,
    account_name,
    bill_to_lines,
    formats_for,
    paper_for,
    quantity_text,
    resolve_locale,
    seller_lines,
    unit_price_text,
)
from kassa.services.context import Context

QUOTE_TITLE: Final = "Quote"
QUOTE_NUMBER: Final = "Quote number"
EXPIRES: Final = "Expires"
HEADLINE: Final = "{amount} total, valid until {date}"
RECURRING: Final = "then {amount} every {count} {interval}(s)"


async def quote_pdf_renderer(
    ctx: Context, quote: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> Callable[[], bytes]:
    """What renders `quote` (as the API shows it) with its line items `items`: reads its
    customer and account here; the function returned renders, CPU-bound, for the caller to
    run on a thread."""
    customer = await customers.retrieve_customer(ctx, str(quote["customer"]))
    account = await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id}
    locale = resolve_locale(None, customer)
    ensure(len(items) <= LINE_ITEMS_MAX, f"a quote shows at most {LINE_ITEMS_MAX} lines")
    view = build_quote_view(quote, items, customer, account, locale)
    return functools.partial(_render, view)


def _render(view: PaperView) -> bytes:
    # Imported here, as the invoice's renderer imports it: fpdf2 costs start-up time that
    # only the first render should pay.
    from kassa.services.billing.rendering.invoice_pdf import render_view_pdf

    return render_view_pdf(view)


def build_quote_view(
    quote: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    customer: Mapping[str, Any],
    account: Mapping[str, Any],
    locale: str,
) -> PaperView:
    formats = formats_for(locale, str(quote["currency"]), account)
    parties = InvoiceDocument(invoice=quote, customer=customer, account=account)
    headline = HEADLINE.format(
        amount=formats.money(int(quote["amount_total"])),
        date=formats.date(int(quote["expires_at"])),
    )
    return PaperView(
        locale=formats.locale,
        text=formats.text,
        title=QUOTE_TITLE,
        number=str(quote["number"] or ""),
        status=str(quote["status"]),
        account_name=account_name(quote, account),
        seller=seller_lines(parties, formats.locale),
        bill_to=bill_to_lines(parties, formats.locale),
        facts=_facts(quote, formats),
        headline=headline,
        notice=_recurring_notice(quote, formats),
        description="\n".join(
            str(text) for text in (quote["header"], quote["description"]) if text
        ),
        custom_fields=(),
        lines=tuple(_line_view(item, formats) for item in items),
        summary=_summary(quote, formats),
        footer=str(quote["footer"] or ""),
        paper=paper_for(quote, account),
        issued_at=int(quote["status_transitions"]["finalized_at"] or quote["created"]),
        stamp="",
    )


def _facts(quote: Mapping[str, Any], formats: Formats) -> tuple[tuple[str, str], ...]:
    finalized = quote["status_transitions"]["finalized_at"] or quote["created"]
    return (
        (QUOTE_NUMBER, str(quote["number"] or "")),
        (formats.text.date_of_issue, formats.date(int(finalized))),
        (EXPIRES, formats.date(int(quote["expires_at"]))),
    )


def _recurring_notice(quote: Mapping[str, Any], formats: Formats) -> str:
    recurring = (quote["computed"] or {}).get("recurring")
    if recurring is None:
        return ""
    return RECURRING.format(
        amount=formats.money(int(recurring["amount_total"])),
        count=recurring["interval_count"],
        interval=recurring["interval"],
    )


def _line_view(item: Mapping[str, Any], formats: Formats) -> LineView:
    price = item.get("price") or {}
    return LineView(
        description=str(item.get("description") or ""),
        period="",
        quantity=quantity_text(item, formats.locale),
        unit_price=unit_price_text(price.get("unit_amount_decimal"), formats),
        amount=formats.money(int(item["amount_subtotal"])),
    )


def _summary(quote: Mapping[str, Any], formats: Formats) -> tuple[SummaryRow, ...]:
    text, details = formats.text, quote["total_details"]
    rows = [SummaryRow(text.subtotal, formats.money(int(quote["amount_subtotal"])))]
    if details["amount_discount"]:
        rows.append(SummaryRow(text.discount, formats.money(-int(details["amount_discount"]))))
    if details["amount_tax"]:
        rows.append(SummaryRow(text.tax, formats.money(int(details["amount_tax"]))))
    rows.append(SummaryRow(text.total, formats.money(int(quote["amount_total"])), emphasis=True))
    return tuple(rows)
