"""Files (`file_...`): Stripe's file objects, here the results of report runs (purpose
`finance_report_run`, a CSV). Retrieve, list (filter `purpose`), and download: Stripe serves a
file's bytes at files.stripe.com/v1/files/{id}/contents to the account's secret key; Kassa
serves them at `GET /v1/files/{id}/contents` on the API's own address, which is what a file's
`url` says. Uploads and file links are not modelled.

The bytes are kept in `file_contents`, apart from the document, at most FILE_BYTES_MAX each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import Enum, Param
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params
from kassa.store.tables import FILES

FILE_BYTES_MAX: Final = 8 * 1024 * 1024
"""The largest file Kassa keeps (8 MiB): a report that would be larger fails, saying so."""
FILE_RETENTION_DAYS: Final = 365
"""Stripe's report files expire a year after they are made (`expires_at`). Kassa states it
and keeps the bytes until the account is reset."""
PURPOSES: Final = (
    "account_requirement",
    "additional_verification",
    "business_icon",
    "business_logo",
    "customer_signature",
    "dispute_evidence",
    "document_provider_identity_document",
    "finance_report_run",
    "identity_document",
    "identity_document_downloadable",
    "pci_document",
    "selfie",
    "sigma_scheduled_query",
    "tax_document_user_upload",
    "terminal_reader_splashscreen",
)
CONTENTS: Final = "contents"
"""The path segment of a file's download (`/v1/files/{id}/contents`)."""
LIST_FILTERS: dict[str, Param] = {"purpose": Enum(values=PURPOSES)}


class Download(dict[str, Any]):
    """An answer that is a file's bytes rather than a JSON object: the API edge sends `body`
    as it is, with `content_type`. A dict (holding nothing) only so that it travels where
    operations' answers go."""

    def __init__(self, body: bytes, content_type: str, filename: str) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.filename = filename


@dataclass(frozen=True)
class NewFile:
    purpose: str
    filename: str
    title: str | None
    type: str
    """The file type Stripe names (`csv`), and so its content type."""
    contents: str


CONTENT_TYPES: Final = {"csv": "text/csv"}


def contents_url(ctx: Context, file_id: str) -> str:
    return f"{ctx.payments.public_url}/v1/files/{file_id}/{CONTENTS}"


async def store_file(ctx: Context, new: NewFile) -> ApiObject:
    """Store the file and its bytes (the caller kept them within FILE_BYTES_MAX)."""
    size = len(new.contents.encode())
    ensure(size <= FILE_BYTES_MAX, f"a file holds at most {FILE_BYTES_MAX} bytes")
    ensure(new.type in CONTENT_TYPES, f"Kassa stores files of types {sorted(CONTENT_TYPES)}")
    now = ctx.now()
    file_id = new_id("file")
    stored = {
        "id": file_id,
        "object": "file",
        "created": now,
        "expires_at": now + FILE_RETENTION_DAYS * DAY_SECONDS,
        "filename": new.filename,
        "links": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/file_links?file={file_id}",
        },
        "purpose": new.purpose,
        "size": size,
        "title": new.title,
        "type": new.type,
        "url": contents_url(ctx, file_id),
    }
    await ctx.tx.insert_object(FILES, ctx.account_id, stored)
    await ctx.tx.insert_file_contents(
        ctx.account_id, file_id, CONTENT_TYPES[new.type], new.contents
    )
    return stored


async def retrieve_file(ctx: Context, file_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, file_id)


async def download_file(ctx: Context, file_id: str) -> ApiObject:
    """`GET /v1/files/{id}/contents`: the file's bytes."""
    stored = await load_live_object(ctx, RESOURCE, file_id)
    found = await ctx.tx.file_contents(ctx.account_id, file_id)
    if found is None:
        raise ResourceMissing("file", file_id)
    content_type, contents = found
    return Download(contents.encode(), content_type, str(stored["filename"]))


RESOURCE = Resource(
    object_name="file",
    id_prefix="file",
    collection="files",
    table=FILES,
    retrieve=Operation(no_params, retrieve_file, writes=False),
    list_filters=LIST_FILTERS,
    sublists={CONTENTS: Operation(no_params, download_file, writes=False)},
)
