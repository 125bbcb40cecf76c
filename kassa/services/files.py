"""Files (`file_...`): Stripe's file objects, the results of report runs (purpose
`finance_report_run`, a CSV) and files uploaded through `POST /v1/files` (dispute evidence,
documents, images: `file_types`). Create (an upload), retrieve, list (filter `purpose`), and
download: Stripe serves a file's bytes at files.stripe.com/v1/files/{id}/contents to the
account's secret key; Kassa serves them at `GET /v1/files/{id}/contents` on the API's own
address, which is what a file's `url` says. File links are not modelled.

An upload arrives as Stripe sends it, multipart/form-data: the API edge decodes the body
(`kassa.http.uploads`) and the file part reaches the parser below as an `UploadedFile`.
The bytes are kept in `file_contents`, apart from the document, at most FILE_BYTES_MAX each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import (
    Boolean,
    Enum,
    FileUpload,
    Metadata,
    Param,
    Struct,
    Timestamp,
    UploadedFile,
)
from kassa.services import file_types
from kassa.services.billing.periods import add_months
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_live_object
from kassa.services.resource import (
    ApiObject,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    no_params,
)
from kassa.store.tables import FILES

FILE_BYTES_MAX: Final = 8 * 1024 * 1024
"""The largest file Kassa keeps (8 MiB): a report that would be larger fails, saying so, and
a larger upload is refused (Stripe takes up to 16 MB for some purposes)."""
FILE_RETENTION_DAYS: Final = 365
"""Stripe's report files expire a year after they are made (`expires_at`). Kassa states it
and keeps the bytes until the account is reset."""
EXPIRES_AFTER_DAYS: Final = {"finance_report_run": FILE_RETENTION_DAYS, "customer_signature": 7}
EXPIRES_AFTER_MONTHS: Final = {"dispute_evidence": 9, "issuing_regulatory_reporting": 24}
"""When files of each purpose expire (`expires_at`), as Stripe's file upload guide lists it:
a purpose in neither table never expires (`expires_at` null). Kassa keeps every file's
bytes until the account is reset, as it does a report's."""
PURPOSES: Final = (
    "account_requirement",
    "additional_verification",
    "business_icon",
    "business_logo",
    "customer_signature",
    "dispute_evidence",
    "document_provider_identity_document",
    "finance_report_run",
    "financial_account_statement",
    "identity_document",
    "identity_document_downloadable",
    "issuing_regulatory_reporting",
    "pci_document",
    "platform_terms_of_service",
    "selfie",
    "sigma_scheduled_query",
    "tax_document_user_upload",
    "terminal_android_apk",
    "terminal_reader_splashscreen",
    "terminal_wifi_certificate",
    "terminal_wifi_private_key",
)
"""Every purpose a file has on Stripe (the list filter's values)."""
_NO_FORMATS: Final = (
    "Stripe's file upload guide lists no file formats for it, and Kassa has no Terminal "
    "readers to use the file."
)
NOT_UPLOADABLE: Final = {
    "terminal_android_apk": _NO_FORMATS,
    "terminal_wifi_certificate": _NO_FORMATS,
    "terminal_wifi_private_key": _NO_FORMATS,
}
"""Purposes Stripe takes uploads for that Kassa refuses, with the reason."""
UPLOAD_PURPOSES: Final = tuple(sorted((*file_types.UPLOAD_TYPES, *NOT_UPLOADABLE)))
"""The purposes Stripe takes uploads for (`POST /v1/files`'s `purpose`): the others are
Stripe's own files' (a report's `finance_report_run`)."""
CONTENTS: Final = "contents"
"""The path segment of a file's download (`/v1/files/{id}/contents`)."""
LIST_FILTERS: dict[str, Param] = {"purpose": Enum(values=PURPOSES)}
FILE_LINKS_UNSUPPORTED: Final = (
    "Kassa does not support file links (`/v1/file_links`): upload with "
    "file_link_data[create]=false, or without file_link_data."
)
CREATE_PARAMS: dict[str, Param] = {
    "file": FileUpload(max_bytes=FILE_BYTES_MAX),
    "purpose": Enum(values=UPLOAD_PURPOSES),
    "file_link_data": Struct(
        {"create": Boolean(), "expires_at": Timestamp(), "metadata": Metadata()},
        required=("create",),
    ),
}


class Download(dict[str, Any]):
    """An answer that is a file's bytes rather than a JSON object: the API edge sends `body`
    as it is, with `content_type`; or, with `render`, the bytes `render()` makes, which the
    edge calls after the unit of work has ended, under the server's render bound (a PDF
    drawn from what the unit read). A dict (holding nothing) only so that it travels where
    operations' answers go."""

    def __init__(
        self,
        body: bytes,
        content_type: str,
        filename: str,
        render: Callable[[], bytes] | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.filename = filename
        self.render = render


@dataclass(frozen=True)
class NewFile:
    purpose: str
    filename: str
    title: str | None
    type: str
    """The file type Stripe names (`csv`, `pdf`: `file_types.FILE_TYPES`), and so its
    content type."""
    contents: bytes


@dataclass(frozen=True)
class UploadFile:
    """`POST /v1/files`: the file, what it is for, and its type (told before anything is
    written, so a refused upload stores nothing)."""

    file: UploadedFile
    purpose: str
    type: str


def contents_url(ctx: Context, file_id: str) -> str:
    return f"{ctx.payments.public_url}/v1/files/{file_id}/{CONTENTS}"


def expires_at(purpose: str, created: int) -> int | None:
    if purpose in EXPIRES_AFTER_DAYS:
        return created + EXPIRES_AFTER_DAYS[purpose] * DAY_SECONDS
    if purpose in EXPIRES_AFTER_MONTHS:
        return add_months(created, EXPIRES_AFTER_MONTHS[purpose])
    return None


async def store_file(ctx: Context, new: NewFile) -> ApiObject:
    """Store the file and its bytes (the caller kept them within FILE_BYTES_MAX)."""
    size = len(new.contents)
    ensure(size <= FILE_BYTES_MAX, f"a file holds at most {FILE_BYTES_MAX} bytes")
    ensure(new.type in file_types.FILE_TYPES, f"Kassa stores no files of type {new.type}")
    now = ctx.now()
    file_id = new_id("file")
    stored = {
        "id": file_id,
        "object": "file",
        "created": now,
        "expires_at": expires_at(new.purpose, now),
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
        ctx.account_id, file_id, file_types.FILE_TYPES[new.type].content_type, new.contents
    )
    return stored


def _upload_request(_ids: RouteIds, params: dict[str, Any]) -> UploadFile:
    link = params.get("file_link_data")
    if link is not None and link["create"]:
        raise InvalidParameter(FILE_LINKS_UNSUPPORTED, param="file_link_data[create]")
    purpose: str = params["purpose"]
    if purpose in NOT_UPLOADABLE:
        raise InvalidParameter(
            f"Kassa does not take uploads of purpose `{purpose}`: {NOT_UPLOADABLE[purpose]}",
            param="purpose",
        )
    uploaded: UploadedFile = params["file"]
    kind = file_types.upload_type(uploaded.contents, uploaded.filename, purpose)
    return UploadFile(uploaded, purpose, kind)


async def upload_file(ctx: Context, request: UploadFile) -> ApiObject:
    """`POST /v1/files`: the uploaded file, stored as it was sent."""
    return await store_file(
        ctx,
        NewFile(
            purpose=request.purpose,
            filename=request.file.filename,
            title=None,
            type=request.type,
            contents=request.file.contents,
        ),
    )


async def require_file(ctx: Context, file_id: str, param: str) -> None:
    """A file of this account, named by `param` of another request (a dispute's
    `evidence[receipt]`): one it does not have is answered as Stripe answers it, a 400
    `resource_missing` naming the parameter, "No such file upload: 'file_...'"."""
    found = (
        # Read, not changed: no row lock (taken out of the order other writers take theirs).
        await ctx.tx.get_object(FILES, ctx.account_id, file_id, lock=False)
        if could_be_object_id(file_id)
        else None
    )
    if found is None or found[1]:
        raise InvalidParameter(
            f"No such file upload: '{file_id[:80]}'", param=param, code="resource_missing"
        )


async def retrieve_file(ctx: Context, file_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, file_id)


async def download_file(ctx: Context, file_id: str) -> ApiObject:
    """`GET /v1/files/{id}/contents`: the file's bytes, as they were stored."""
    stored = await load_live_object(ctx, RESOURCE, file_id)
    found = await ctx.tx.file_contents(ctx.account_id, file_id)
    if found is None:
        raise ResourceMissing("file", file_id)
    content_type, contents = found
    return Download(contents, content_type, str(stored["filename"]))


RESOURCE = Resource(
    object_name="file",
    id_prefix="file",
    collection="files",
    table=FILES,
    # Stripe takes uploads with a publishable key too (its guide: "upload files to Stripe
    # directly from the browser"); file links, which Kassa refuses anyway, need a secret key.
    create=Operation(
        ParamsParser(CREATE_PARAMS, _upload_request, required=("file", "purpose")),
        upload_file,
        writes=True,
        multipart=True,
        publishable_key_allowed=True,
    ),
    retrieve=Operation(no_params, retrieve_file, writes=False),
    list_filters=LIST_FILTERS,
    sublists={CONTENTS: Operation(no_params, download_file, writes=False)},
)
