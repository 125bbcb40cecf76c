"""Rendering emails for a customer: the locale to write in, amounts and dates formatted for
it (Babel, from CLDR), and the subject, plain text and HTML of each kind from the templates
in `kassa/services/templates/mail/` (`{kind}.subject.txt`, `{kind}.txt`, `{kind}.html`).

The locale is the first of the customer's `preferred_locales` Babel knows (`de-DE`, `fr`,
`pt-BR`), else English. It decides how amounts (`1.234,56 €`) and dates (`4. März 2027`)
read; the sentences around them are English (Kassa ships no translations yet).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

from kassa import money

DEFAULT_LOCALE = "en"
LOCALE_TAG_CHARS_MAX = 35
"""BCP 47 tags Stripe takes are short (`zh-Hant-HK`); longer strings are not tried."""
LOCALES_TRIED_MAX = 30
"""A customer has at most 30 preferred locales."""
SUBJECT_CHARS_MAX = 250
"""A subject is one header line: line breaks (from a business name) collapse into one
space, and it is cut to this length."""

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("kassa.services", "templates/mail"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates are package files that do not change under a running process: without
    # this, every render stats its template (and each it extends) to see whether to reload.
    auto_reload=False,
)
_LINE_BREAKS = re.compile(r"[ \t\r\n\f\v\x85\u2028\u2029]+")
"""Whitespace a subject collapses: line breaks of every kind, not the no-break spaces CLDR
puts between an amount and its currency sign."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def choose_locale(preferred_locales: Sequence[object] | None) -> Locale:
    """The first of `preferred_locales` (BCP 47 tags, as Stripe stores them) that Babel
    knows, else English."""
    for tag in list(preferred_locales or ())[:LOCALES_TRIED_MAX]:
        if not isinstance(tag, str) or not 0 < len(tag) <= LOCALE_TAG_CHARS_MAX:
            continue
        try:
            return Locale.parse(tag.replace("_", "-"), sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            continue
    return Locale.parse(DEFAULT_LOCALE)


def locale_tag(locale: Locale) -> str:
    """`de-DE`, `en`: the locale as a BCP 47 tag (the HTML `lang`, the email's record)."""
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def format_money(amount: int, currency: str, locale: Locale) -> str:
    """Integer minor units, shown in `locale`: 123456 usd is `$1,234.56` in en,
    `1.234,56 $` in de. `Decimal.scaleb` shifts by the currency's exponent exactly."""
    major = Decimal(amount).scaleb(-money.exponent(currency))
    return str(format_currency(major, currency.upper(), locale=locale))


def format_day(day: dt.date, locale: Locale) -> str:
    """A calendar day in `locale`'s long form: `March 4, 2027`, `4. März 2027`."""
    return str(format_date(day, format="long", locale=locale))


def render_email(kind: str, values: Mapping[str, Any], locale: Locale) -> RenderedEmail:
    """The subject, text and HTML of `kind` with `values` (already formatted strings).
    The HTML escapes every value; the text and subject are plain."""
    context = {**values, "lang": locale_tag(locale)}
    subject = _TEMPLATES.get_template(f"{kind}.subject.txt").render(context)
    return RenderedEmail(
        subject=_one_line(subject),
        text=_TEMPLATES.get_template(f"{kind}.txt").render(context),
        html=_TEMPLATES.get_template(f"{kind}.html").render(context),
    )


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()[:SUBJECT_CHARS_MAX]


def has_templates(kind: str) -> bool:
    names = set(_TEMPLATES.list_templates())
    return all(f"{kind}{suffix}" in names for suffix in (".subject.txt", ".txt", ".html"))
