"""The invoice PDF's two fonts, read and parsed once per process, and added to each document
as a fresh copy.

Fonts come from PyPI packages Kassa depends on, so every machine that installs Kassa has
them: Noto Sans (`fontpkg-noto-sans`: Latin, Greek, Cyrillic, Vietnamese) for the text, and
Noto Sans CJK JP (`noto-cjk-sans-jp-regular`: kana, kanji, hangul and the CJK forms of
punctuation and currency signs), the fallback for any character Noto Sans lacks. Only a
document whose text has such a character gets the fallback (`needs_fallback`): it is a
16 MB font, and adding it cost every invoice a few hundred milliseconds.

What is done once per process, for each font (`TEXT`, `FALLBACK`) on its first use:

- The font file is read and *prepared*: the tables fpdf2's subsetter drops from every
  embedded font anyway (layout: GSUB, GPOS, GDEF; colour and bitmap glyphs) are dropped
  first, and so are Noto Sans's variation tables (fvar, gvar, avar, HVAR, MVAR, STAT). A
  variable TrueType font's `glyf` and `hmtx` are its default instance, Regular at normal
  width, which is the one the PDF uses: outlines and advance widths are the same, the PDF
  shows the same text in the same places, and the embedded subset is a static font.
  (Instancing with fontTools' `instancer` gives that same instance but takes seconds.)
- The prepared font is parsed into an fpdf2 `TTFFont`, the *template*: its character map,
  widths and glyph ids, which fpdf2's `add_font` otherwise parses again for every
  document.

Per document (`PreparedFont.add_to`): a copy of the template with its own per-document state
(a fontTools font over the prepared bytes, which output subsets in place; the widths table
fpdf2 extends as text is measured; the glyph subset; the font descriptor output numbers),
sharing only what no document changes (the character map and glyph ids). This reaches into
fpdf2's `TTFFont` (checked against fpdf2 2.8): its `add_font` takes only a file path and
parses the file every time, with no way to hand it parsed data.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import threading
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fontTools import ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from kassa.invariants import ensure

TEXT_FONT: Final = "NotoSans"
FALLBACK_FONT: Final = "NotoSansCJK"

DROPPED_TABLES: Final = (
    # What fpdf2 (2.8, `OutputProducer._add_fonts`) drops from every font it embeds.
    *("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix"),
    *("CBDT", "CBLC", "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR"),
    # A variable font's variations: the default instance stays (see the module's note).
    *("fvar", "gvar", "avar", "cvar", "HVAR", "VVAR", "MVAR", "STAT"),
    # Vertical writing and baselines (the CJK font's): the PDF writes horizontally, and of a
    # CID-keyed CFF font fpdf2 embeds only the CFF outlines.
    *("vhea", "vmtx", "VORG", "BASE"),
    # A signature of the file as shipped, which dropping tables breaks anyway.
    "DSIG",
)
"""Tables a prepared font goes without."""


def text_font_path() -> Path:
    return _font_file("fontpkg_noto_sans", "files/NotoSans[wdth,wght].ttf")


def fallback_font_path() -> Path:
    return _font_file("noto_cjk_sans_jp_regular", "NotoSansCJKjp-Regular.otf")


def _font_file(package: str, name: str) -> Path:
    return Path(str(resources.files(package).joinpath(name)))


class PreparedFont:
    """One font, prepared and parsed on first use (once per process, whichever thread asks
    first), then added to any number of documents."""

    def __init__(self, family: str, path: Path) -> None:
        self.family = family
        self.path = path
        self._lock = threading.Lock()
        self._loaded: tuple[bytes, TTFFont] | None = None

    @property
    def data(self) -> bytes:
        """The prepared font file."""
        return self._load()[0]

    @property
    def template(self) -> TTFFont:
        """The prepared font as fpdf2 parses it; never added to a document itself."""
        return self._load()[1]

    def _load(self) -> tuple[bytes, TTFFont]:
        loaded = self._loaded
        if loaded is None:
            with self._lock:  # a second thread waits rather than doing it all again
                if self._loaded is None:
                    self._loaded = _parsed(self.family, _prepared_bytes(self.path))
                loaded = self._loaded
        return loaded

    def add_to(self, pdf: FPDF) -> None:
        """What `pdf.add_font(self.family, fname=self.path)` does, from the parsed template."""
        font = self._fresh_copy(len(pdf.fonts) + 1)
        ensure(font.fontkey not in pdf.fonts, f"{self.family} is added once")
        pdf.fonts[font.fontkey] = font
        if font.is_cff and font.is_cid_keyed:
            pdf._set_min_pdf_version("1.6")  # as add_font does for CID-keyed CFF fonts

    def _fresh_copy(self, index: int) -> TTFFont:
        """The template with its own copy of everything a document changes: `i` (the
        font's number in the document), the fontTools font (output subsets it in place,
        then closes it), the widths (a defaultdict that measuring fills in), the glyph
        subset and missing glyphs, the descriptor (output gives it an object number and its
        font file), the largest size used and the HarfBuzz font (unused: no text shaping)."""
        template = self.template
        font = copy.copy(template)
        font.i = index
        font.ttfont = _unparsed(self.data)
        font.cw = template.cw.copy()
        font.desc = copy.copy(template.desc)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None
        font.subset = SubsetMap(font)
        return font


def _parsed(family: str, data: bytes) -> tuple[bytes, TTFFont]:
    # TTFFont reads its "file" with fontTools, which takes a file object as well as a path.
    template = TTFFont(FPDF(), io.BytesIO(data), family.lower(), "")  # type: ignore[arg-type]
    ensure(template.color_font is None, f"{family} has no colour glyphs")
    ensure(not template.is_symbol, f"{family} maps Unicode, not a symbol charset")
    # What fontTools parsed to build the template (every subtable of the character map, the
    # metrics and CFF charset of 65,535 glyphs in the CJK font) is of no further use: each
    # document parses its own. An unparsed font takes its place, to keep the memory.
    template.ttfont.close()
    template.ttfont = _unparsed(data)
    return data, template


def _unparsed(data: bytes) -> Any:
    """A fontTools font over `data`, whose tables are parsed as they are first read."""
    return ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)


def _prepared_bytes(path: Path) -> bytes:
    """The font file without DROPPED_TABLES. fontTools copies the other tables' bytes as
    they are, without parsing them (parsing the CJK font's outlines would make saving it
    recompile them, which takes a minute)."""
    font = ttLib.TTFont(path, recalcTimestamp=False, lazy=True)
    try:
        for tag in DROPPED_TABLES:
            if tag in font:
                del font[tag]
        buffer = io.BytesIO()
        font.save(buffer)
    finally:
        font.close()
    return buffer.getvalue()


TEXT: Final = PreparedFont(TEXT_FONT, text_font_path())
FALLBACK: Final = PreparedFont(FALLBACK_FONT, fallback_font_path())


def needs_fallback(texts: Iterable[str]) -> bool:
    """Whether any character the document draws is one Noto Sans lacks (newlines break
    lines and are never drawn)."""
    covers = TEXT.template.cmap
    return any(ord(c) not in covers for text in texts for c in text if c != "\n")


def strings_in(value: object) -> Iterator[str]:
    """Every string in a view: dataclass fields, tuples and lists, walked all the way down,
    so that a field added to the view later is checked without being named here."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from strings_in(getattr(value, field.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from strings_in(item)
