"""The invoice PDF: fixture invoices shaped as the API returns them, rendered in several
locales and read back with a real PDF text extractor (pypdf).

pypdf reads the CJK fallback font's glyphs with a NUL before each and spaces between them
(poppler's pdftotext reads the same file cleanly), so text is compared "squeezed": without
whitespace or NULs. Latin-script amounts are also compared with their spaces, the no-break
spaces babel puts in (`1.234,56 €`, `1 234,56 €`) read as plain ones.
"""

from __future__ import annotations

import copy
import datetime
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from kassa.services.billing.rendering.invoice_fonts import needs_fallback, strings_in
from kassa.services.billing.rendering.invoice_pdf import render_invoice_pdf
from kassa.services.billing.rendering.invoice_view import (
    decimal_money_text,
    money_text,
    resolve_locale,
)
from tests import invoice_fixtures as fixtures

TAX_RATES = {fixtures.VAT["id"]: fixtures.VAT}
DISCOUNTS = {"di_1KassaLoyalty": fixtures.loyalty_discount(fixtures.ZOE)}
MARGARETE = fixtures.customer(
    "cus_Margarete1",
    "Margarete Müller",
    "margarete@example.com",
    ["de-DE"],
    fixtures.address(line1="Hauptstraße 5", city="Berlin", postal_code="10115", country="DE"),
)
"""A customer whose name and address are all Latin script (Zoë's address is in Tokyo)."""


def render(
    invoice: dict[str, Any],
    locale: str,
    *,
    customer: dict[str, Any] = fixtures.ZOE,
    account: dict[str, Any] = fixtures.ACCOUNT,
    lines: list[dict[str, Any]] | None = None,
) -> bytes:
    return render_invoice_pdf(
        invoice, customer, account, locale, lines=lines, tax_rates=TAX_RATES, discounts=DISCOUNTS
    )


def page_texts(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return [_spaced(page.extract_text()) for page in reader.pages]


def _spaced(text: str) -> str:
    return re.sub(r"[\u00a0\u202f]", " ", text.replace("\x00", ""))


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\x00", ""))


def all_text(pdf: bytes) -> str:
    return "\n".join(page_texts(pdf))


# The consulting invoice: subtotal 1,234.56 EUR, 10% loyalty discount 123.46, VAT 19% 211.11
# on 1,111.10, total 1,322.21; issued 28 October 2026 and due 27 November (Berlin days).
LOCALES = [
    pytest.param(
        "en",
        ["Invoice", "€1,234.56", "-€123.46", "€211.11", "€1,322.21", "€1,111.10"],
        ["October 28, 2026", "November 27, 2026", "Loyalty (10%)", "VAT (19% on €1,111.10)"],
        id="en",
    ),
    pytest.param(
        "de",
        ["Rechnung", "1.234,56 €", "-123,46 €", "211,11 €", "1.322,21 €", "1.111,10 €"],
        ["28. Oktober 2026", "27. November 2026", "Loyalty (10 %)", "Fälliger Betrag"],
        id="de",
    ),
    pytest.param(
        "fr",
        ["Facture", "1 234,56 €", "-123,46 €", "211,11 €", "1 322,21 €", "1 111,10 €"],
        ["28 octobre 2026", "27 novembre 2026", "Montant dû", "Sous-total"],
        id="fr",
    ),
    pytest.param(
        "ja",
        ["請求書", "€1,234.56", "-€123.46", "€211.11", "€1,322.21"],
        ["2026年10月28日", "2026年11月27日", "小計", "請求金額"],
        id="ja",
    ),
]


@pytest.mark.parametrize(("locale", "amounts", "words"), LOCALES)
def test_the_invoice_reads_in_each_locale(
    locale: str, amounts: list[str], words: list[str]
) -> None:
    text = all_text(render(fixtures.consulting_invoice(), locale))
    flat = squeezed(text)
    for expected in [*amounts, *words, "ZOE1-0001", "Zoë Łukasiewicz", "東京", "Kassa Werkstatt"]:
        assert squeezed(expected) in flat, f"{expected!r} missing from the {locale} PDF"
    if locale != "ja":  # Latin script: the spacing inside amounts is the locale's own
        for expected in amounts:
            assert expected in text, f"{expected!r} not spaced as {locale} spaces it"


def test_the_customer_name_and_address_render_with_their_own_characters() -> None:
    text = all_text(render(fixtures.consulting_invoice(), "de"))
    assert "Zoë Łukasiewicz" in text  # Latin Extended from Noto Sans
    flat = squeezed(text)
    assert "丸の内1-1" in flat and "100-0005東京" in flat  # CJK from the fallback font
    assert "Japan" in text  # the country, named in German


def test_a_japanese_customer_in_yen() -> None:
    pdf = render(fixtures.yen_invoice(), "ja", customer=fixtures.TOKYO_TRADING)
    flat = squeezed(all_text(pdf))
    for expected in [
        "東京商事株式会社",
        "請求書",
        "年間保守契約",
        "出張費",
        "￥120,000",
        "￥24,000",
    ]:
        assert expected in flat, expected
    assert "￥144,000" in flat  # subtotal, total, amount due and remaining
    assert "1/1ページ" in flat


def test_dates_are_the_accounts_calendar_days() -> None:
    """Issued at 01:00 on 28 October UTC: still the 27th in Los Angeles."""
    pacific = copy.deepcopy(fixtures.ACCOUNT)
    pacific["settings"]["dashboard"]["timezone"] = "America/Los_Angeles"
    text = all_text(render(fixtures.consulting_invoice(), "en", account=pacific))
    assert "Date of issue October 27, 2026" in text
    berlin = all_text(render(fixtures.consulting_invoice(), "en"))
    assert "Date of issue October 28, 2026" in berlin


def test_the_same_invoice_gives_the_same_bytes() -> None:
    invoice = fixtures.consulting_invoice()
    first, second = render(invoice, "de"), render(copy.deepcopy(invoice), "de")
    assert first == second
    renumbered = {**invoice, "number": "ZOE1-0002"}
    assert render(renumbered, "de") != first
    info = PdfReader(io.BytesIO(first)).metadata
    assert info is not None and info.creation_date is not None
    issued = datetime.datetime.fromtimestamp(fixtures.FINALIZED, datetime.UTC)
    assert info.creation_date.astimezone(datetime.UTC) == issued
    assert info.title == "Rechnung ZOE1-0001"
    assert info.author == "Kassa Werkstatt"


def test_sixty_lines_run_over_several_pages() -> None:
    invoice, lines = fixtures.many_lines_invoice(60)
    assert invoice["lines"]["has_more"] is True  # the embedded list holds only ten
    pages = page_texts(render(invoice, "en", lines=lines))
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Description" in text and "Unit price" in text  # headings repeat
    seats = re.findall(r"Workshop seat (\d\d)", "\n".join(pages))
    assert seats == [f"{index:02d}" for index in range(1, 61)]
    assert "Amount due $7,500.00" in pages[-1]
    assert "Invoice ZOE1-0002" in pages[1]  # the running header after page one


def test_paid_void_and_uncollectible_invoices_say_so() -> None:
    open_invoice = fixtures.consulting_invoice()
    paid = all_text(render(fixtures.with_status(open_invoice, "paid", fixtures.PAID), "en"))
    assert "Paid on October 30, 2026" in paid
    assert "Date paid October 30, 2026" in paid
    assert "Amount paid €1,322.21" in paid and "Amount remaining €0.00" in paid
    void = all_text(render(fixtures.with_status(open_invoice, "void", fixtures.PAID), "fr"))
    assert "Annulée" in void and "Cette facture a été annulée le 30 octobre 2026." in void
    marked = fixtures.with_status(open_invoice, "uncollectible", fixtures.PAID)
    uncollectible = all_text(render(marked, "de"))
    assert "am 30. Oktober 2026 als uneinbringlich markiert" in uncollectible


def test_a_starting_credit_balance_is_shown_as_applied() -> None:
    billing = fixtures.Billing(
        currency="usd", items=[fixtures.Item("Support plan", 1, 10_000)], starting_balance=-2_500
    )
    invoice = fixtures.invoice("in_1KassaCredit", "ZOE1-0003", fixtures.ZOE, billing)
    text = all_text(render(invoice, "en"))
    assert "Applied balance -$25.00" in text
    assert "Amount due $75.00" in text


def test_letter_paper_for_a_us_account_and_a4_elsewhere() -> None:
    us = {**fixtures.consulting_invoice(), "account_country": "US"}
    width = PdfReader(io.BytesIO(render(us, "en"))).pages[0].mediabox.width
    assert round(float(width)) == 612  # 8.5 in
    a4 = PdfReader(io.BytesIO(render(fixtures.consulting_invoice(), "en"))).pages[0]
    assert round(float(a4.mediabox.width)) == 595  # 210 mm


def test_text_with_characters_no_font_has_still_renders() -> None:
    invoice = fixtures.consulting_invoice()
    invoice["lines"]["data"][0]["description"] = "Party kit 🎉 with a bell\x07"
    text = all_text(render(invoice, "en"))
    assert "Party kit" in text and "with a bell" in text


def test_an_unknown_locale_falls_back_to_english() -> None:
    assert resolve_locale("xx-NOPE", {"preferred_locales": []}) == "en"
    assert resolve_locale(None, {"preferred_locales": ["zz", "fr-CA"]}) == "fr_CA"
    assert "Invoice" in all_text(render(fixtures.consulting_invoice(), "xx"))


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123_456, "eur", "de", "1.234,56\u00a0€"),
        (123_456, "eur", "fr", "1\u202f234,56\u00a0€"),
        (500, "jpy", "ja", "￥500"),
        (5_124, "kwd", "en", "KWD5.124"),  # three decimals
        (500, "isk", "en", "ISK5"),  # two in the API, none in use
        (550, "isk", "en", "ISK5.5"),  # a minor unit babel's CLDR digits would drop
        (-1_050, "usd", "en", "-$10.50"),
    ],
)
def test_amounts_keep_every_minor_unit(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert money_text(amount, currency, locale) == expected


def test_a_fractional_unit_amount_is_shown_in_full() -> None:
    assert decimal_money_text(Decimal("0.5"), "usd", "en") == "$0.005"


# --- fonts: the CJK fallback only where needed, parsed fonts shared safely --------------------


def latin_invoice(number: str = "MARG-0001") -> dict[str, Any]:
    return fixtures.invoice("in_1KassaLatin", number, MARGARETE, fixtures.CONSULTING)


def embedded_fonts(pdf: bytes) -> set[str]:
    names: set[str] = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        fonts = cast(DictionaryObject, resources["/Font"].get_object())
        names |= {
            str(cast(DictionaryObject, font.get_object())["/BaseFont"]) for font in fonts.values()
        }
    return names


def test_only_a_document_with_cjk_text_embeds_the_cjk_font() -> None:
    latin = render(latin_invoice(), "de", customer=MARGARETE)
    assert embedded_fonts(latin) == {"/MPDFAA+NotoSans"}
    assert "Margarete Müller" in all_text(latin) and "Hauptstraße 5" in all_text(latin)
    assert PdfReader(io.BytesIO(latin)).pdf_header == "%PDF-1.4"
    zoe = render(fixtures.consulting_invoice(), "de")  # her address is in Tokyo
    assert embedded_fonts(zoe) == {"/MPDFAA+NotoSans", "/MPDFAA+NotoSansCJKJP"}
    assert PdfReader(io.BytesIO(zoe)).pdf_header == "%PDF-1.6"  # a CID-keyed CFF font
    party = latin_invoice()
    party["lines"]["data"][0]["description"] = "Party kit 🎉"  # neither font has it
    party_pdf = render(party, "de", customer=MARGARETE)
    assert PdfReader(io.BytesIO(party_pdf)).pdf_header == "%PDF-1.6"  # the fallback was tried
    assert "Party kit" in all_text(party_pdf)


def test_a_document_renders_the_same_whatever_was_rendered_before_or_alongside() -> None:
    """Each document gets its own copy of the fonts' parsed data: the glyphs one document
    used never end up in another's subset, sequentially or on threads at once."""
    jobs = [
        (latin_invoice(), "de", MARGARETE),
        (fixtures.yen_invoice(), "ja", fixtures.TOKYO_TRADING),
        (latin_invoice("MARG-0002"), "fr", MARGARETE),
        (fixtures.consulting_invoice(), "en", fixtures.ZOE),
    ]

    def one(job: tuple[dict[str, Any], str, dict[str, Any]]) -> bytes:
        invoice, locale, customer = job
        return render(invoice, locale, customer=customer)

    alone = [one(job) for job in jobs]
    assert [one(job) for job in reversed(jobs)] == list(reversed(alone))
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(one, jobs * 2)) == alone * 2


@dataclass(frozen=True)
class _Inner:
    words: tuple[str, ...]


@dataclass(frozen=True)
class _Outer:
    title: str
    inner: _Inner
    rows: tuple[tuple[str, str], ...]
    count: int


def test_every_string_of_a_view_is_checked_for_characters_noto_sans_lacks() -> None:
    view = _Outer("Rechnung", _Inner(("Zoë", "Łukasiewicz")), (("Menge", "1,00 €"),), 3)
    assert sorted(strings_in(view)) == ["1,00 €", "Menge", "Rechnung", "Zoë", "Łukasiewicz"]
    assert not needs_fallback(strings_in(view))
    # Greek, Cyrillic and Vietnamese are Noto Sans's own.
    assert not needs_fallback(["Straße 1\nΑθήνα, Москва, Hà Nội"])  # noqa: RUF001
    assert needs_fallback(["Straße 1", "東京"])
    deep = _Outer("Invoice", _Inner(("請求書",)), (), 0)
    assert needs_fallback(strings_in(deep))
