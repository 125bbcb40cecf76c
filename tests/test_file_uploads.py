"""File uploads (`POST /v1/files`, multipart/form-data as Stripe takes it) against a live
server on SQLite and PostgreSQL: through the official SDK (its "files" base address set to
Kassa) a PDF, a PNG and a CSV are uploaded, retrieved, listed by purpose and downloaded back
byte for byte; an idempotency key replays the same file and refuses another file; the request
log keeps a summary of the file, never its bytes. Through plain HTTP every refusal is a 400
naming its parameter and leaves nothing stored; every other route keeps its urlencoded body
and its 1 MiB limit. A dispute's evidence takes only the account's own files."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from kassa.http.api import MAX_BODY_BYTES
from kassa.http.uploads import UPLOAD_BODY_BYTES_MAX
from kassa.services.billing.periods import add_months
from kassa.services.files import FILE_BYTES_MAX
from kassa.store import Store, migrate
from kassa.store.tables import FILES
from tests import direct_store, loopback
from tests.harness import Account, KassaServer, create_account

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CSV = b"date,amount\n2026-11-16,12.50\n"
DISPUTE_EVIDENCE = {"purpose": "dispute_evidence"}
LOG_POLLS_MAX = 100
LOG_POLL_SECONDS = 0.05


def png() -> bytes:
    """A 1x1 red PNG, made here: its signature, IHDR, IDAT and IEND chunks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def http(server: KassaServer, account: Account) -> Iterator[httpx.Client]:
    with server.http(account.secret_key) as client:
        yield client


def upload(
    http: httpx.Client,
    contents: bytes | None,
    filename: str,
    fields: dict[str, str],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A raw multipart upload, as curl's `-F file=@... -F purpose=...` sends one (the fields
    as parts too, so that an upload without a file is still multipart)."""
    parts: list[tuple[str, Any]] = [(name, (None, value)) for name, value in fields.items()]
    if contents is not None:
        parts.append(("file", (filename, contents, "application/octet-stream")))
    return http.post("/v1/files", files=parts, headers=headers)


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return error


def download(server: KassaServer, account: Account, url: str) -> httpx.Response:
    assert url.startswith(server.url)
    return loopback.get(url, auth=(account.secret_key, ""), timeout=30)


def file_ids(client: stripe.StripeClient, **params: Any) -> list[str]:
    listed: Any = params
    return [found.id for found in client.v1.files.list(params=listed).data]


def test_a_pdf_uploaded_through_the_sdk_is_retrieved_listed_and_downloaded(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    uploaded = client.v1.files.create(
        params={"file": io.BytesIO(PDF), "purpose": "dispute_evidence"}
    )
    assert uploaded.id.startswith("file_")
    assert (uploaded.object, uploaded.purpose, uploaded.type) == ("file", "dispute_evidence", "pdf")
    # stripe-python names a part read from memory "blob".
    assert (uploaded.filename, uploaded.size, uploaded.title) == ("blob", len(PDF), None)
    # Dispute evidence expires nine months after the upload (Stripe's file upload guide).
    assert uploaded.expires_at == add_months(uploaded.created, 9)
    assert uploaded.links is not None
    assert uploaded.links.to_dict() == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/file_links?file={uploaded.id}",
    }
    assert uploaded.url == f"{server.url}/v1/files/{uploaded.id}/contents"
    assert client.v1.files.retrieve(uploaded.id).to_dict() == uploaded.to_dict()
    assert file_ids(client, purpose="dispute_evidence") == [uploaded.id]
    assert file_ids(client, purpose="business_logo") == []

    downloaded = download(server, account, uploaded.url)
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.content == PDF


def test_a_png_opened_from_disk_keeps_its_name_and_never_expires(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    image = png()
    path = tmp_path / "logo.png"
    path.write_bytes(image)
    with path.open("rb") as opened:
        uploaded = client.v1.files.create(params={"file": opened, "purpose": "business_logo"})
    # stripe-python sends the path the file was opened with: Kassa keeps the name alone.
    assert (uploaded.filename, uploaded.type, uploaded.size) == ("logo.png", "png", len(image))
    assert uploaded.expires_at is None
    assert file_ids(client, purpose="business_logo") == [uploaded.id]
    assert uploaded.url is not None
    downloaded = download(server, account, uploaded.url)
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.content == image


def test_a_csv_is_told_by_its_extension(
    server: KassaServer, account: Account, http: httpx.Client
) -> None:
    made = upload(http, CSV, "taxes.csv", {"purpose": "tax_document_user_upload"})
    assert made.status_code == 200, made.text
    assert (made.json()["type"], made.json()["filename"]) == ("csv", "taxes.csv")
    downloaded = download(server, account, made.json()["url"])
    assert downloaded.headers["content-type"].startswith("text/csv")
    assert downloaded.content == CSV


def test_a_filename_cannot_break_the_download_s_header(
    server: KassaServer, account: Account, http: httpx.Client
) -> None:
    body = (
        b"--x\r\n"
        b'Content-Disposition: form-data; name="file"; filename="C:\\docs\\a\\"b.pdf"\r\n'
        b"\r\n" + PDF + b"\r\n"
        b'--x\r\nContent-Disposition: form-data; name="purpose"\r\n\r\ndispute_evidence\r\n'
        b"--x--\r\n"
    )
    made = http.post(
        "/v1/files", content=body, headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["filename"] == 'a"b.pdf'
    downloaded = download(server, account, made.json()["url"])
    assert downloaded.headers["content-disposition"] == 'attachment; filename="a_b.pdf"'
    assert downloaded.content == PDF


def test_file_link_data_without_a_link_is_taken(http: httpx.Client) -> None:
    fields = {
        **DISPUTE_EVIDENCE,
        "file_link_data[create]": "false",
        "file_link_data[metadata][case]": "7",
    }
    made = upload(http, PDF, "evidence.pdf", fields)
    assert made.status_code == 200, made.text
    assert made.json()["links"]["data"] == []


def test_a_publishable_key_may_upload(server: KassaServer, account: Account) -> None:
    """Stripe takes uploads straight from the browser, with the publishable key."""
    with server.http(account.publishable_key) as browser:
        made = upload(browser, png(), "selfie.png", {"purpose": "identity_document"})
    assert made.status_code == 200, made.text
    assert made.json()["type"] == "png"


def logged_request_body(database_url: str, account_id: str, request_id: str) -> str:
    """The request log's copy of a request's parameters, once the log has been flushed."""
    for _ in range(LOG_POLLS_MAX):
        logged = direct_store.logged_request(database_url, account_id, request_id)
        if logged is not None:
            return logged.request_body or ""
        time.sleep(LOG_POLL_SECONDS)
    raise AssertionError(f"request {request_id} never reached the request log")


def test_an_idempotent_upload_replays_the_same_file_and_refuses_another(
    server: KassaServer, account: Account, client: stripe.StripeClient, http: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    params: Any = {"file": io.BytesIO(PDF), "purpose": "dispute_evidence"}
    first = client.v1.files.create(params=params, options={"idempotency_key": key})
    params["file"] = io.BytesIO(PDF)
    again = client.v1.files.create(params=params, options={"idempotency_key": key})
    assert again.to_dict() == first.to_dict()
    replayed = upload(http, PDF, "blob", DISPUTE_EVIDENCE, {"Idempotency-Key": key})
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.to_dict()
    assert file_ids(client) == [first.id]

    # The same fields and filename with other bytes: another request under the same key.
    other = PDF.replace(b"Catalog", b"Catalo2")
    reused = upload(http, other, "blob", DISPUTE_EVIDENCE, {"Idempotency-Key": key})
    assert reused.status_code == 400
    assert reused.json()["error"]["type"] == "idempotency_error"
    assert file_ids(client) == [first.id]

    logged = logged_request_body(server.database_url, account.id, replayed.headers["request-id"])
    assert '"filename":"blob"' in logged and f'"size":{len(PDF)}' in logged
    assert "Catalog" not in logged and "PDF" not in logged


BIG = FILE_BYTES_MAX + 1


@pytest.mark.parametrize(
    ("contents", "filename", "fields", "param"),
    [
        (None, "", {"purpose": "dispute_evidence"}, "file"),
        (PDF, "evidence.pdf", {}, "purpose"),
        (PDF, "evidence.pdf", {"purpose": "finance_report_run"}, "purpose"),
        (PDF, "evidence.pdf", {"purpose": "no_such_purpose"}, "purpose"),
        (PDF, "kassa.apk", {"purpose": "terminal_android_apk"}, "purpose"),
        (b"", "evidence.pdf", {"purpose": "dispute_evidence"}, "file"),
        (PDF, "evidence.pdf", {"purpose": "business_logo"}, "file"),
        (b"\x00\x01 not a known type", "evidence.bin", {"purpose": "dispute_evidence"}, "file"),
        (b"\xff\xfe not UTF-8", "taxes.csv", {"purpose": "tax_document_user_upload"}, "file"),
        (
            PDF,
            "evidence.pdf",
            {"purpose": "dispute_evidence", "file_link_data[create]": "true"},
            "file_link_data[create]",
        ),
        (PDF, "evidence.pdf", {"purpose": "dispute_evidence", "title": "x"}, "title"),
        (b"%PDF-" + bytes(BIG - 5), "big.pdf", {"purpose": "dispute_evidence"}, "file"),
        (
            b"%PDF-" + bytes(UPLOAD_BODY_BYTES_MAX),
            "bigger.pdf",
            {"purpose": "dispute_evidence"},
            "file",
        ),
    ],
    ids=[
        "no_file",
        "no_purpose",
        "purpose_not_uploadable",
        "unknown_purpose",
        "purpose_refused_by_kassa",
        "empty_file",
        "type_the_purpose_does_not_take",
        "unknown_type",
        "csv_not_text",
        "file_link",
        "unknown_parameter",
        "file_over_the_limit",
        "body_over_the_limit",
    ],
)
def test_a_refused_upload_names_its_parameter_and_stores_nothing(
    client: stripe.StripeClient,
    http: httpx.Client,
    contents: bytes | None,
    filename: str,
    fields: dict[str, str],
    param: str,
) -> None:
    error = refusal(upload(http, contents, filename, fields))
    assert error["param"] == param
    assert file_ids(client) == []


def test_a_file_sent_as_a_text_part_is_refused(
    client: stripe.StripeClient, http: httpx.Client
) -> None:
    sent = http.post(
        "/v1/files", files={"purpose": (None, "dispute_evidence"), "file": (None, "%PDF-")}
    )
    error = refusal(sent)
    assert (error["param"], "multipart/form-data" in error["message"]) == ("file", True)
    assert file_ids(client) == []


def test_an_upload_must_be_multipart(client: stripe.StripeClient, http: httpx.Client) -> None:
    urlencoded = refusal(http.post("/v1/files", data={"purpose": "dispute_evidence"}))
    assert "multipart/form-data" in urlencoded["message"]
    no_boundary = http.post(
        "/v1/files", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}
    )
    assert "boundary" in refusal(no_boundary)["message"]
    truncated = http.post(
        "/v1/files",
        content=b'--x\r\nContent-Disposition: form-data; name="purpose"\r\n\r\ndispute_evidence',
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert "closing boundary" in refusal(truncated)["message"]
    assert file_ids(client) == []


def test_every_other_route_keeps_its_urlencoded_body_and_limit(http: httpx.Client) -> None:
    made = http.post("/v1/customers", data={"email": "a@b.test", "metadata[k]": "v"})
    assert made.status_code == 200, made.text
    multipart = http.post("/v1/customers", files={"email": (None, "a@b.test")})
    assert "application/x-www-form-urlencoded" in refusal(multipart)["message"]
    too_large = http.post("/v1/customers", data={"description": "x" * MAX_BODY_BYTES})
    assert too_large.status_code == 413


def disputed_charge(client: stripe.StripeClient) -> stripe.Dispute:
    params: Any = {
        "amount": 2000,
        "currency": "usd",
        "payment_method": "pm_card_createDispute",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    intent = client.v1.payment_intents.create(params=params)
    (dispute,) = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    return dispute


def test_dispute_evidence_takes_only_the_account_s_own_files(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    dispute = disputed_charge(client)
    stranger = server.client(create_account(server.database_url).secret_key)
    theirs = stranger.v1.files.create(
        params={"file": io.BytesIO(PDF), "purpose": "dispute_evidence"}
    )
    for missing in ("file_nosuchfile", theirs.id):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.disputes.update(
                dispute.id, params={"evidence": {"receipt": missing}, "submit": False}
            )
        assert refused.value.http_status == 400
        assert refused.value.code == "resource_missing"
        assert refused.value.param == "evidence[receipt]"
        assert str(refused.value.user_message) == f"No such file upload: '{missing}'"
    assert client.v1.disputes.retrieve(dispute.id).evidence.receipt is None

    ours = client.v1.files.create(params={"file": io.BytesIO(PDF), "purpose": "dispute_evidence"})
    staged = client.v1.disputes.update(
        dispute.id, params={"evidence": {"receipt": ours.id}, "submit": False}
    )
    assert staged.evidence.receipt == ours.id


BYTES_MIGRATION = 58
"""`0058_file_contents_bytes`: a file's contents became bytes (they were report CSV text)."""


def test_report_files_stored_as_text_become_their_utf8_bytes(private_database_url: str) -> None:
    """A database written before uploads: the migration keeps each report's CSV as its UTF-8
    bytes, backslashes and all (PostgreSQL's text-to-bytea cast would read them as escapes)."""
    engine = "sqlite" if private_database_url.startswith("sqlite") else "postgresql"
    csv = '"a\\\\b","é"\n'

    async def run(store: Store) -> tuple[str, bytes] | None:
        async with store.write() as tx:
            await direct_store.apply_migrations_before(tx, engine, BYTES_MIGRATION, 0)
            await tx.insert_account({"id": "acct_old", "created": 0})
            await tx.insert_object(FILES, "acct_old", {"id": "file_old", "created": 0})
            quoted = csv.replace("'", "''")
            await tx.run_script_statement(
                "INSERT INTO file_contents (file_id, account_id, content_type, size_bytes, "
                f"contents) VALUES ('file_old', 'acct_old', 'text/csv', {len(csv.encode())}, "
                f"'{quoted}')"
            )
        await migrate(store, 0)
        async with store.read() as tx:
            return await tx.file_contents("acct_old", "file_old")

    assert direct_store.with_store(private_database_url, run) == ("text/csv", csv.encode())
