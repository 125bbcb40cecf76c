"""The `InvoiceDocument` an invoice's page and PDF are built from, gathered from the store:
the customer, the account, the tax rates its taxes name and its discounts with their
coupons. The hosted page (`kassa.pages.invoice_backend`) and the invoice email's PDF
attachment (`invoice_pdf_renderer`, which the mail worker calls when it sends the email)
both build it here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kassa.errors import ResourceMissing
from kassa.services import customers
from kassa.services.billing import coupons, discounts, invoice_documents, tax_rates
from kassa.services.billing.rendering.invoice_view import InvoiceDocument, resolve_locale
from kassa.services.context import Context
from kassa.services.resource import ApiObject

TAX_RATES_SHOWN_MAX: Final = 100
"""Tax rates named on one invoice's page: an invoice has at most a few per line."""
DISCOUNTS_SHOWN_MAX: Final = 100
"""Discounts named on one invoice's page (Stripe allows 20 per invoice and per item)."""


async def build_document(
    ctx: Context,
    invoice: Mapping[str, Any],
    *,
    lines: Sequence[Mapping[str, Any]] | None = None,
    customer: Mapping[str, Any] | None = None,
) -> InvoiceDocument:
    """`invoice` as the API shows it (an `account` key, as the page's lookup adds, is
    dropped); `lines` every line when the embedded ones are only the first page; `customer`
    when the caller holds it (else it is read)."""
    shown = {key: value for key, value in invoice.items() if key != "account"}
    if customer is None:
        customer = await customers.retrieve_customer(ctx, str(shown["customer"]))
    account = await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id}
    return InvoiceDocument(
        invoice=shown,
        customer=customer,
        account=account,
        lines=lines,
        tax_rates=await _tax_rates(ctx, shown),
        discounts=await _discounts(ctx, shown),
    )


async def invoice_pdf_renderer(ctx: Context, invoice_id: str) -> Callable[[], bytes]:
    """What renders the invoice's PDF as it is stored now (every line), in its customer's
    locale: the email attachment `AttachmentKind.INVOICE_PDF` of `kassa.services.mail`.
    The document is gathered here, with reads only (a read transaction will do); the
    function returned renders it, CPU-bound (tens of milliseconds), for the caller to run
    on a thread, after its transaction has ended. Raises `ResourceMissing` if the invoice
    is gone."""
    invoice = await invoice_documents.load_invoice(ctx, invoice_id, lock=False)
    shown = invoice_documents.view(invoice)
    document = await build_document(ctx, shown, lines=invoice["lines"]["data"])
    locale = resolve_locale(None, document.customer)
    return functools.partial(render_pdf, document, locale)


def render_pdf(document: InvoiceDocument, locale: str) -> bytes:
    """The PDF of `document` in `locale` (`invoice_pdf.render_document_pdf`), CPU-bound."""
    # Imported here, not at the top: fpdf2 and the fontTools it loads take about a fifth of
    # a server's start-up CPU, and most processes (every CLI command, most servers) never
    # render a PDF. The first render pays it instead, once per process.
    from kassa.services.billing.rendering.invoice_pdf import render_document_pdf

    return render_document_pdf(document, locale)


async def _tax_rates(ctx: Context, invoice: Mapping[str, Any]) -> dict[str, ApiObject]:
    """The tax rates the invoice's taxes name (their names and percentages label them)."""
    ids = dict.fromkeys(
        str(tax["tax_rate_details"]["tax_rate"])
        for tax in invoice.get("total_taxes") or ()
        if (tax.get("tax_rate_details") or {}).get("tax_rate")
    )
    found: dict[str, ApiObject] = {}
    for tax_rate_id in list(ids)[:TAX_RATES_SHOWN_MAX]:
        try:
            found[tax_rate_id] = await tax_rates.retrieve_tax_rate(ctx, tax_rate_id)
        except ResourceMissing:
            continue  # shown as "Tax"
    return found


async def _discounts(ctx: Context, invoice: Mapping[str, Any]) -> dict[str, ApiObject]:
    """The invoice's discounts, each with `source.coupon` expanded to the coupon that
    names it on the page."""
    ids = dict.fromkeys(
        str(entry["discount"])
        for entry in invoice.get("total_discount_amounts") or ()
        if isinstance(entry.get("discount"), str)
    )
    found: dict[str, ApiObject] = {}
    for discount_id in list(ids)[:DISCOUNTS_SHOWN_MAX]:
        try:
            discount = await discounts.load_discount(ctx, discount_id)
        except ResourceMissing:
            continue  # shown as "Discount"
        source = dict(discount.get("source") or {})
        coupon_id = source.get("coupon")
        if isinstance(coupon_id, str):
            source["coupon"] = await coupons.fetch_coupon(ctx, coupon_id)
        found[discount_id] = {**discount, "source": source}
    return found
