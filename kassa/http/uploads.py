"""The body of an upload (`POST /v1/files`): Stripe's upload format, multipart/form-data
(RFC 7578), decoded into a form as it arrives by python-multipart's streaming parser (the
one Starlette uses). Text parts become form values named in Stripe's bracket dialect
(`file_link_data[create]`, `kassa.http.forms.decode_parts`); a part with a filename becomes
an `UploadedFile`, held in memory (at most FILE_BYTES_MAX).

Only operations that declare it (`Operation.multipart`) read their body here, so the
general limit (`kassa.http.api.MAX_BODY_BYTES`, 1 MiB) holds for every other route, and the
urlencoded path of every other request does not change. An upload may be up to
UPLOAD_BODY_BYTES_MAX; a file part is refused naming its parameter as soon as it passes
FILE_BYTES_MAX, before the rest of the body is read.
"""

from __future__ import annotations

from typing import Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.http.forms import Form, decode_parts
from kassa.params import UploadedFile, file_too_large
from kassa.services.files import FILE_BYTES_MAX

UPLOAD_OVERHEAD_BYTES_MAX: Final = 64 * 1024
"""What an upload may carry besides its file's bytes: boundaries, part headers and the text
parts (`purpose`, `file_link_data[...]` with up to 50 metadata keys). The SDKs' own come to
well under a kilobyte."""
UPLOAD_BODY_BYTES_MAX: Final = FILE_BYTES_MAX + UPLOAD_OVERHEAD_BYTES_MAX
UPLOAD_PARTS_MAX: Final = 100
"""Parts one upload may have: a file, its purpose and file link data with metadata."""
MULTIPART_FORM: Final = "multipart/form-data"
_DISPOSITION: Final = b"content-disposition"


class UploadBody:
    """One upload's body, fed as it arrives (`feed`), then read as a form (`form`). Every
    failure is a `KassaError` (400), never an exception that could become a 500."""

    def __init__(self, content_type: str, content_length: str | None) -> None:
        kind, options = parse_options_header(content_type)
        if kind != MULTIPART_FORM.encode() or not options.get(b"boundary"):
            shown = kind.decode("latin-1") or "none"
            raise InvalidRequest(
                f"Invalid Content-Type {shown[:80]!r}: uploads to /v1/files take Stripe's "
                f"upload format, {MULTIPART_FORM} with a boundary, the file in the part "
                "named `file` (curl: `-F file=@receipt.pdf -F purpose=dispute_evidence`)."
            )
        if content_length is not None:
            if not content_length.isdigit():
                raise InvalidRequest("Invalid Content-Length header.")
            if int(content_length) > UPLOAD_BODY_BYTES_MAX:
                raise _body_too_large()
        self._parts = _Parts()
        try:
            self._parser = MultipartParser(
                options[b"boundary"],
                {
                    "on_part_begin": self._parts.on_part_begin,
                    "on_header_field": self._parts.on_header_field,
                    "on_header_value": self._parts.on_header_value,
                    "on_header_end": self._parts.on_header_end,
                    "on_headers_finished": self._parts.on_headers_finished,
                    "on_part_data": self._parts.on_part_data,
                    "on_part_end": self._parts.on_part_end,
                    "on_end": self._parts.on_end,
                },
            )
        except FormParserError as error:
            raise _malformed(str(error)) from error
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > UPLOAD_BODY_BYTES_MAX:
            raise _body_too_large()
        try:
            self._parser.write(chunk)
        except FormParserError as error:
            raise _malformed(str(error)) from error

    def form(self) -> Form:
        """The form, once the whole body was fed."""
        if not self._parts.complete:
            raise _malformed("the body ends before its closing boundary")
        return decode_parts(self._parts.parts)


class _Parts:
    """python-multipart's callbacks: the parts collected, each bounded as it grows."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str | UploadedFile]] = []
        self.complete = False
        """The closing boundary was read."""
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._filename: str | None = None
        """None for a text part."""
        self._data = bytearray()
        self._text_bytes = 0

    def on_part_begin(self) -> None:
        if len(self.parts) >= UPLOAD_PARTS_MAX:
            raise _malformed(f"an upload has at most {UPLOAD_PARTS_MAX} parts")
        self._disposition = b""
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        # Only the disposition matters: the SDKs send every file as application/octet-stream,
        # so a file's type is told from its contents (`kassa.services.file_types`).
        if self._header_name.lower() == _DISPOSITION:
            self._disposition = bytes(self._header_value)
        self._header_name = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if not options.get(b"name"):
            raise _malformed("a part has no Content-Disposition header with a name")
        self._name = _text(options[b"name"])
        filename = options.get(b"filename")
        self._filename = None if filename is None else _basename(_text(filename))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]
        if self._filename is not None:
            if len(self._data) > FILE_BYTES_MAX:
                raise file_too_large(self._name, FILE_BYTES_MAX)
            return
        self._text_bytes += end - start
        if self._text_bytes > UPLOAD_OVERHEAD_BYTES_MAX:
            raise InvalidParameter(
                f"An upload's parameters other than the file may hold at most "
                f"{UPLOAD_OVERHEAD_BYTES_MAX} bytes.",
                param=self._name[:80],
            )

    def on_part_end(self) -> None:
        if self._filename is None:
            self.parts.append((self._name, _text(bytes(self._data))))
        else:
            self.parts.append((self._name, UploadedFile(self._filename, bytes(self._data))))
        self._data = bytearray()

    def on_end(self) -> None:
        self.complete = True


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest("Invalid request: the body is not valid UTF-8.") from error


def _basename(filename: str) -> str:
    """The name without the folders a client may send with it (stripe-python sends a file
    opened from disk under the path it was opened with)."""
    return filename.replace("\\", "/").rpartition("/")[2]


def _malformed(reason: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid {MULTIPART_FORM} body: {reason[:200]}.")


def _body_too_large() -> InvalidParameter:
    # The file is what makes an upload large: the error names it, as the file's own does.
    return InvalidParameter(
        f"Invalid file: an upload may be at most {UPLOAD_BODY_BYTES_MAX} bytes, a file of at "
        f"most {FILE_BYTES_MAX} bytes and the form around it.",
        param="file",
    )
