"""The invoice PDF (`invoice_pdf`), rendered with fpdf2 from the same view as the hosted page,
and the credit note PDF (`pdf`), in the same layout from its own view (`credit_note_view`):
the layout draws a `PaperView`.

The fonts (`invoice_fonts`): Noto Sans for the text, and Noto Sans CJK JP as the fallback for
any character Noto Sans lacks, added only to a document whose text has one. Both are
embedded as subsets of the glyphs used. One weight only: Noto Sans ships as a variable font,
and making a bold instance of it costs seconds per process, so the layout ranks text by size
and colour. Characters neither font has (emoji, Thai) are left out, and fpdf2 logs which.

The same invoice or note renders to the same bytes: the PDF's creation date is its date of
issue, and nothing else in the file depends on the clock or on chance (nor on what the
process rendered before: each document gets its own copy of the fonts' parsed data).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from kassa.services.billing.rendering import invoice_fonts
from kassa.services.billing.rendering.credit_note_view import (
    CreditNoteDocument,
    build_credit_note_view,
)
from kassa.services.billing.rendering.invoice_fonts import (
    FALLBACK_FONT,
    TEXT_FONT,
    needs_fallback,
    strings_in,
)
from kassa.services.billing.rendering.invoice_view import (
    InvoiceDocument,
    PaperView,
    build_view,
)

MARGIN_MM: Final = 18.0
BOTTOM_MARGIN_MM: Final = 22.0
"""Room under the body for the footer line on every page."""
FOOTER_FROM_BOTTOM_MM: Final = -14.0

INK: Final = (28, 28, 30)
MUTED: Final = (110, 112, 118)
RULE: Final = (214, 216, 222)
ALERT: Final = (176, 36, 36)
STAMP: Final = (232, 150, 150)

TITLE_PT: Final = 22.0
HEADLINE_PT: Final = 15.0
NAME_PT: Final = 12.0
BODY_PT: Final = 9.5
SMALL_PT: Final = 8.0
EMPHASIS_PT: Final = 11.0
STAMP_PT: Final = 96.0
STAMP_ANGLE_DEGREES: Final = 35.0
LINE_MM: Final = 5.0
SMALL_LINE_MM: Final = 4.2

QUANTITY_COLUMN_MM: Final = 16.0
MONEY_COLUMN_MM: Final = 32.0
SUMMARY_WIDTH_MM: Final = 100.0
SUMMARY_AMOUNT_MM: Final = 34.0
FACT_LABEL_MM: Final = 34.0

FOOTER_SEPARATOR: Final = " \u00b7 "
_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# fontTools reports every subsetting step at INFO: one PDF would flood a server's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def render_invoice_pdf(
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any],
    account: Mapping[str, Any],
    locale: str,
    *,
    lines: Sequence[Mapping[str, Any]] | None = None,
    tax_rates: Mapping[str, Mapping[str, Any]] | None = None,
    discounts: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """The invoice as a PDF, its amounts and dates written for `locale` (a babel locale
    name such as `de` or `fr_CA`; unknown ones fall back to English).

    `lines` gives every line when the invoice's embedded list is only its first page;
    `tax_rates` and `discounts` (by id) name the tax and discount rows."""
    document = InvoiceDocument(
        invoice=invoice,
        customer=customer,
        account=account,
        lines=lines,
        tax_rates=tax_rates or {},
        discounts=discounts or {},
    )
    return render_document_pdf(document, locale)


def render_document_pdf(document: InvoiceDocument, locale: str) -> bytes:
    """CPU-bound (tens of milliseconds; the first in a process, and the first needing the
    CJK font, a few hundred more): call it off the event loop."""
    return render_view_pdf(build_view(document, locale))


def render_credit_note_pdf(document: CreditNoteDocument, locale: str) -> bytes:
    """The credit note's PDF in `locale`; CPU-bound as `render_document_pdf` is."""
    return render_view_pdf(build_credit_note_view(document, locale))


def render_view_pdf(view: PaperView) -> bytes:
    pdf = _DocumentPdf(view, with_fallback=needs_fallback(_drawn_text(view)))
    pdf.add_page()
    _heading(pdf, view)
    _parties(pdf, view)
    _status(pdf, view)
    _lines_table(pdf, view)
    _summary(pdf, view)
    _closing_text(pdf, view)
    return bytes(pdf.output())


def _drawn_text(view: PaperView) -> Iterator[str]:
    """Every string the layout draws: the view's, and the layout's own separators."""
    yield from (printable(text) for text in strings_in(view))
    yield FOOTER_SEPARATOR


def printable(text: str) -> str:
    """Control characters (other than newlines) have no glyph: a space stands in."""
    return _CONTROL_CHARACTERS.sub(" ", text)


class _DocumentPdf(FPDF):
    def __init__(self, view: PaperView, *, with_fallback: bool) -> None:
        super().__init__(orientation="portrait", unit="mm", format=view.paper)
        self.view = view
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(True, BOTTOM_MARGIN_MM)
        invoice_fonts.TEXT.add_to(self)
        if with_fallback:
            invoice_fonts.FALLBACK.add_to(self)
            # exact_match=False: the fallback serves text in any style of the main font.
            self.set_fallback_fonts([FALLBACK_FONT], exact_match=False)
        self.set_font(TEXT_FONT, size=BODY_PT)
        title = f"{view.title} {view.number}".strip()
        self.set_title(printable(title))
        self.set_author(printable(view.account_name))
        self.set_creator("Kassa")
        self.set_lang(view.locale.replace("_", "-"))
        self.set_creation_date(datetime.datetime.fromtimestamp(view.issued_at, datetime.UTC))

    def header(self) -> None:
        if self.view.stamp:
            self._stamp()
        if self.page_no() == 1:
            return
        self._small(MUTED)
        title = f"{self.view.title} {self.view.number}".strip()
        self.cell(0, SMALL_LINE_MM, printable(title), align="R")
        self.ln(SMALL_LINE_MM * 2)

    def footer(self) -> None:
        self.set_y(FOOTER_FROM_BOTTOM_MM)
        self._small(MUTED)
        left = FOOTER_SEPARATOR.join(
            part for part in (self.view.number, self.view.account_name, self.view.headline) if part
        )
        page = self.view.text.page_of.format(page=self.page_no(), pages="{nb}")
        self.cell(self.epw * 0.75, SMALL_LINE_MM, printable(left), align="L")
        self.cell(0, SMALL_LINE_MM, page, align="R")

    def _stamp(self) -> None:
        """The stamp, diagonally across the page's middle; drawn first, so text covers it."""
        x, y = self.l_margin, self.h / 2
        self.set_font(TEXT_FONT, size=STAMP_PT)
        self.set_text_color(*STAMP)
        with self.rotation(STAMP_ANGLE_DEGREES, x=self.w / 2, y=y):
            self.set_xy(x, y - STAMP_PT * 0.18)
            self.cell(self.epw, STAMP_PT * 0.36, printable(self.view.stamp), align="C")
        self.set_xy(self.l_margin, self.t_margin)

    def _small(self, color: tuple[int, int, int]) -> None:
        self.set_font(TEXT_FONT, size=SMALL_PT)
        self.set_text_color(*color)

    def write_line(
        self, text: str, size: float, color: tuple[int, int, int], height: float
    ) -> None:
        self.set_font(TEXT_FONT, size=size)
        self.set_text_color(*color)
        self.multi_cell(0, height, printable(text), new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: _DocumentPdf, view: PaperView) -> None:
    top = pdf.get_y()
    pdf.set_font(TEXT_FONT, size=TITLE_PT)
    pdf.set_text_color(*INK)
    pdf.cell(pdf.epw / 2, 10, printable(view.title), align="L")
    pdf.set_font(TEXT_FONT, size=NAME_PT)
    pdf.set_xy(pdf.l_margin + pdf.epw / 2, top + 2)
    pdf.multi_cell(pdf.epw / 2, 6, printable(view.account_name), align="R")
    pdf.set_y(top + 14)
    for label, value in view.facts:
        pdf.set_font(TEXT_FONT, size=BODY_PT)
        pdf.set_text_color(*MUTED)
        pdf.cell(FACT_LABEL_MM, LINE_MM, printable(label))
        pdf.set_text_color(*INK)
        pdf.cell(0, LINE_MM, printable(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _block(pdf: _DocumentPdf, x: float, width: float, title: str, lines: tuple[str, ...]) -> float:
    """A titled block of lines at x; returns the y below it."""
    pdf.set_x(x)
    pdf.set_font(TEXT_FONT, size=SMALL_PT)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(width, SMALL_LINE_MM, printable(title), new_x="LEFT", new_y="NEXT")
    pdf.set_font(TEXT_FONT, size=BODY_PT)
    for index, line in enumerate(lines):
        pdf.set_text_color(*(INK if index == 0 else MUTED))
        pdf.multi_cell(width, LINE_MM, printable(line), new_x="LEFT", new_y="NEXT")
    return pdf.get_y()


def _parties(pdf: _DocumentPdf, view: PaperView) -> None:
    top, half = pdf.get_y(), pdf.epw / 2
    below_bill_to = _block(pdf, pdf.l_margin, half - 4, view.text.bill_to, view.bill_to)
    pdf.set_y(top)
    # No title over the seller: a blank one keeps both names on the same line.
    below_seller = _block(pdf, pdf.l_margin + half, half, " ", view.seller)
    pdf.set_xy(pdf.l_margin, max(below_bill_to, below_seller) + 6)


def _status(pdf: _DocumentPdf, view: PaperView) -> None:
    pdf.write_line(view.headline, HEADLINE_PT, INK, 7.5)
    if view.notice:
        pdf.write_line(view.notice, BODY_PT, ALERT, LINE_MM)
    if view.description:
        pdf.ln(2)
        pdf.write_line(view.description, BODY_PT, INK, LINE_MM)
    for name, value in view.custom_fields:
        pdf.write_line(f"{name}: {value}", BODY_PT, MUTED, LINE_MM)
    pdf.ln(5)


def _lines_table(pdf: _DocumentPdf, view: PaperView) -> None:
    text = view.text
    description_mm = pdf.epw - QUANTITY_COLUMN_MM - 2 * MONEY_COLUMN_MM
    pdf.set_font(TEXT_FONT, size=BODY_PT)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    with pdf.table(
        col_widths=(description_mm, QUANTITY_COLUMN_MM, MONEY_COLUMN_MM, MONEY_COLUMN_MM),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        v_align="TOP",
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(color=MUTED, size_pt=SMALL_PT),
        line_height=LINE_MM,
        padding=(1.3, 1.2),
        repeat_headings=1,
        width=pdf.epw,
    ) as table:
        table.row([text.description, text.quantity, text.unit_price, text.amount])
        for line in view.lines:
            description = "\n".join(part for part in (line.description, line.period) if part)
            row = table.row()
            row.cell(printable(description))
            row.cell(line.quantity)
            row.cell(line.unit_price)
            row.cell(line.amount)
    pdf.ln(4)


def _summary(pdf: _DocumentPdf, view: PaperView) -> None:
    pdf.set_font(TEXT_FONT, size=BODY_PT)
    pdf.set_text_color(*INK)
    with pdf.table(
        col_widths=(SUMMARY_WIDTH_MM - SUMMARY_AMOUNT_MM, SUMMARY_AMOUNT_MM),
        text_align=("LEFT", "RIGHT"),
        borders_layout="NONE",
        first_row_as_headings=False,
        line_height=LINE_MM + 0.6,
        padding=(0.8, 1.2),
        width=SUMMARY_WIDTH_MM,
        align="RIGHT",
    ) as table:
        for summary_row in view.summary:
            style = FontFace(size_pt=EMPHASIS_PT if summary_row.emphasis else BODY_PT)
            row = table.row()
            row.cell(printable(summary_row.label), style=style)
            row.cell(summary_row.amount, style=style)
    pdf.ln(6)


def _closing_text(pdf: _DocumentPdf, view: PaperView) -> None:
    if view.footer:
        pdf.write_line(view.footer, SMALL_PT + 0.5, MUTED, SMALL_LINE_MM)
