"""The types of files Kassa keeps (Stripe's `file.type`: `pdf`, `png`, `csv`, ...): how an
upload's type is told, which types each upload purpose takes, and each type's content type.

Stripe's file upload guide (docs.stripe.com/file-upload) lists, per purpose, the formats it
takes; an upload of another type is refused naming `file`. A type is told from the content's
first bytes where the format has a signature (PDF, PNG, JPEG, GIF), and otherwise from the
filename's extension, checked against the content as far as cheaply possible (a zip archive
for `xlsx` and `docx`, an OLE compound file for `xls`, UTF-8 text for `csv`, `json`, `txt`,
`md` and `svg`): what the client says in the part's Content-Type is not used, since the
SDKs send `application/octet-stream` for every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kassa.errors import InvalidParameter


@dataclass(frozen=True)
class FileType:
    content_type: str
    """What a download of the file is sent as."""
    signature: bytes = b""
    """The bytes the content starts with; for a type told by its signature, what tells it."""
    extensions: tuple[str, ...] = ()
    """Lower-case, without the dot: the type of a file without a known signature."""
    text: bool = False
    """The content must be UTF-8 text."""


FILE_TYPES: Final = {
    "pdf": FileType("application/pdf", b"%PDF-"),
    "png": FileType("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": FileType("image/jpeg", b"\xff\xd8\xff"),
    "gif": FileType("image/gif", b"GIF8"),
    "csv": FileType("text/csv", extensions=("csv",), text=True),
    "xls": FileType("application/vnd.ms-excel", b"\xd0\xcf\x11\xe0", ("xls",)),
    "xlsx": FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"PK\x03\x04",
        ("xlsx",),
    ),
    "docx": FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04",
        ("docx",),
    ),
    "json": FileType("application/json", extensions=("json",), text=True),
    "txt": FileType("text/plain", extensions=("txt",), text=True),
    "md": FileType("text/markdown", extensions=("md", "markdown"), text=True),
    "svg": FileType("image/svg+xml", extensions=("svg",), text=True),
}
SIGNED_TYPES: Final = ("pdf", "png", "jpg", "gif")
"""Told by their first bytes alone, whatever the filename says."""
IMAGES: Final = ("jpg", "png")
DOCUMENTS: Final = ("pdf", *IMAGES)
UPLOAD_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "account_requirement": DOCUMENTS,
    "additional_verification": DOCUMENTS,
    "business_icon": (*IMAGES, "gif"),
    "business_logo": (*IMAGES, "gif"),
    "customer_signature": (*IMAGES, "svg"),
    "dispute_evidence": DOCUMENTS,
    "identity_document": DOCUMENTS,
    "issuing_regulatory_reporting": ("json",),
    "pci_document": ("pdf",),
    "platform_terms_of_service": ("pdf", "txt", "md"),
    "tax_document_user_upload": (*DOCUMENTS, "csv", "xlsx", "docx"),
    "terminal_reader_splashscreen": (*IMAGES, "gif"),
}
"""The purposes a file may be uploaded for, and the types each takes (Stripe's file upload
guide). Stripe also takes `terminal_android_apk`, `terminal_wifi_certificate` and
`terminal_wifi_private_key`, whose formats its guide does not list: Kassa refuses those
purposes (`files.NOT_UPLOADABLE`)."""


def detected_type(contents: bytes, filename: str) -> str | None:
    """The file's type, or None when Kassa cannot tell it."""
    for name in SIGNED_TYPES:
        if contents.startswith(FILE_TYPES[name].signature):
            return name
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    for name, kind in FILE_TYPES.items():
        if extension in kind.extensions and _content_fits(contents, kind):
            return name
    return None


def _content_fits(contents: bytes, kind: FileType) -> bool:
    if not contents.startswith(kind.signature):
        return False
    if not kind.text:
        return True
    try:
        contents.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def upload_type(contents: bytes, filename: str, purpose: str) -> str:
    """The type of a file uploaded for `purpose`; InvalidParameter naming `file` when Kassa
    cannot tell it, or the purpose does not take it."""
    taken = UPLOAD_TYPES[purpose]
    listed = ", ".join(taken)
    found = detected_type(contents, filename)
    if found is None:
        raise InvalidParameter(
            f"Kassa could not tell the type of the file '{filename[:80]}': files of purpose "
            f"`{purpose}` must be one of {listed} (PDF, PNG, JPEG and GIF files are told by "
            "their contents, others by their filename's extension).",
            param="file",
        )
    if found not in taken:
        raise InvalidParameter(
            f"Files of purpose `{purpose}` must be one of {listed}; this one is {found}.",
            param="file",
        )
    return found
