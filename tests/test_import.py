"""`kassa import`: the real command as a subprocess, on SQLite and PostgreSQL, against the
database of a running `kassa serve`; what it made is read back through the official SDK.
The CSV decoding is also checked in process (no database)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe

from kassa.imports.kinds import KINDS
from kassa.imports.pipeline import ROWS_PER_UNIT
from kassa.imports.report import PROGRESS_REDRAW_ROWS, ProgressBar
from kassa.imports.rows import Header, RowError, RowSource, SourceRow, decode_row, read_header
from tests.harness import Account, KassaServer

COMMAND_TIMEOUT_SECONDS = 120
LIST_LIMIT = 100


@dataclass(frozen=True)
class Imported:
    code: int
    errors: list[tuple[int, str]]
    """(line, field) of each error, in the order printed."""
    messages: list[str]
    summary: dict[str, Any]
    stderr: str


def kassa_command(
    server: KassaServer, account: Account, kind: str, path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """`kassa import KIND FILE --account ...` against the server's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    return subprocess.run(
        [sys.executable, "-m", "kassa", "import", kind, str(path), "--account", account.id,
         "--database", server.database_url, *options],
        capture_output=True, text=True, env=env, timeout=COMMAND_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip


def kassa_import(
    server: KassaServer, account: Account, kind: str, path: Path, *options: str
) -> Imported:
    """The command with `--json`, its lines read back."""
    completed = kassa_command(server, account, kind, path, "--json", *options)
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    errors = [line for line in lines if line["type"] == "error"]
    summaries = [line for line in lines if line["type"] == "summary"]
    return Imported(
        code=completed.returncode,
        errors=[(e["line"], e["field"]) for e in errors],
        messages=[e["message"] for e in errors],
        summary=summaries[0] if summaries else {},
        stderr=completed.stderr,
    )


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def counts(imported: Imported) -> tuple[int, int, int]:
    return imported.summary["created"], imported.summary["existing"], imported.summary["invalid"]


def customer_emails(client: stripe.StripeClient) -> list[str]:
    listed = client.v1.customers.list(params={"limit": LIST_LIMIT})
    return sorted(str(c.email) for c in listed.auto_paging_iter())


def event_types(client: stripe.StripeClient) -> list[str]:
    listed = client.v1.events.list(params={"limit": LIST_LIMIT})
    return sorted(e.type for e in listed.auto_paging_iter())


CUSTOMER_HEADER = ("external_id", "email", "name", "address[line1]", "metadata[plan]")


# -- customers ---------------------------------------------------------------------------------


def test_customers_are_created_with_their_events_and_listed_by_the_api(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "customers.csv",
        CUSTOMER_HEADER,
        [
            ("crm-1", "ada@example.com", "Ada", "1 Main St", "pro"),
            ("crm-2", " bob@example.com ", "Bob", "", ""),  # blanks stripped; empty = not sent
        ],
    )
    imported = kassa_import(server, account, "customers", path)
    assert imported.code == 0, imported.stderr
    assert imported.errors == []
    assert counts(imported) == (2, 0, 0)
    assert imported.summary["written"] is True

    listed = {str(c.email): c for c in client.v1.customers.list().data}
    assert sorted(listed) == ["ada@example.com", "bob@example.com"]
    ada, bob = listed["ada@example.com"], listed["bob@example.com"]
    assert ada.name == "Ada"
    assert ada.metadata is not None and ada.metadata.to_dict() == {"plan": "pro"}
    assert bob.metadata is not None and bob.metadata.to_dict() == {}
    assert ada.address is not None and ada.address.line1 == "1 Main St"
    assert bob.address is None
    created = client.v1.events.list(params={"type": "customer.created"}).data
    assert sorted(e.data.object["id"] for e in created) == sorted(c.id for c in listed.values())
    assert all(e.request is None or e.request.id is None for e in created), "no API request"


def test_bad_rows_are_all_reported_in_line_order_and_nothing_is_written(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "customers.csv",
        (*CUSTOMER_HEADER, "address[planet]", "test_clock"),
        [
            ("crm-1", "ok@example.com", "Fine", "", "", "", ""),
            ("crm-2", "not-an-email", "Bad email", "", "", "", ""),  # line 3
            ("crm-3", "a@example.com", "Planet", "", "", "Mars", ""),  # line 4
            ("crm-4", "b@example.com", "Clock", "", "", "", "clock_none"),  # line 5: a read
            ("", "c@example.com", "No key", "", "", "", ""),  # line 6
            ("crm-6", "d@example.com", "x" * 257, "", "", "", ""),  # line 7
        ],
    )
    imported = kassa_import(server, account, "customers", path)
    assert imported.code == 1
    assert imported.errors == [
        (3, "email"),
        (4, "address[planet]"),
        (5, "test_clock"),
        (6, "external_id"),
        (7, "name"),
    ]
    assert imported.messages[0] == "Invalid email address: not-an-email"
    assert imported.messages[1] == "Received unknown parameter: address[planet]"
    assert "No such test_clock: 'clock_none'" in imported.messages[2]
    assert imported.summary["written"] is False
    assert counts(imported) == (1, 0, 5)
    assert customer_emails(client) == []
    assert event_types(client) == []
    printed = kassa_command(server, account, "customers", path).stdout.splitlines()
    assert printed[:2] == [
        "line 3: email: Invalid email address: not-an-email",
        "line 4: address[planet]: Received unknown parameter: address[planet]",
    ]
    assert "6 rows: 1 to create, 0 existing, 5 invalid; nothing written" in printed[-1]


def test_skip_invalid_writes_the_valid_rows_and_lists_the_others(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "customers.csv",
        ("external_id", "email", "test_clock"),
        [
            ("crm-1", "one@example.com", ""),
            ("crm-2", "two@", ""),
            ("crm-3", "three@example.com", "clock_none"),  # fails in the operation
            ("crm-4", "four@example.com", ""),
        ],
    )
    imported = kassa_import(server, account, "customers", path, "--skip-invalid")
    assert imported.code == 1
    assert imported.errors == [(3, "email"), (4, "test_clock")]
    assert counts(imported) == (2, 0, 2)
    assert customer_emails(client) == ["four@example.com", "one@example.com"]
    assert event_types(client) == ["customer.created"] * 2


def test_importing_a_file_again_creates_nothing_twice(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    rows = [(f"crm-{n}", f"c{n}@example.com", f"C {n}", "", "") for n in range(5)]
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, rows)
    first = kassa_import(server, account, "customers", path)
    assert (first.code, counts(first)) == (0, (5, 0, 0))
    again = kassa_import(server, account, "customers", path)
    assert (again.code, counts(again)) == (0, (0, 5, 0))
    # A longer file: the known rows are skipped, the new one (and a repeat of it) made once.
    longer = [*rows, ("crm-new", "new@example.com", "New", "", ""), rows[0]]
    longer.append(("crm-new", "other@example.com", "Repeat", "", ""))
    more = kassa_import(server, account, "customers", write_csv(path, CUSTOMER_HEADER, longer))
    assert (more.code, counts(more)) == (0, (1, 7, 0))
    assert len(customer_emails(client)) == 6
    assert event_types(client) == ["customer.created"] * 6


def test_a_file_needs_a_key_column_and_known_parameters(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    no_key = write_csv(tmp_path / "no_key.csv", ("email", "name"), [("a@example.com", "A")])
    imported = kassa_import(server, account, "customers", no_key)
    assert (imported.code, imported.errors) == (1, [(1, "external_id")])
    assert "creates nothing twice" in imported.messages[0]
    unknown = write_csv(
        tmp_path / "unknown.csv",
        ("external_id", "emial", "address", "address[city]"),
        [("k", "a@example.com", "x", "y")],
    )
    imported = kassa_import(server, account, "customers", unknown)
    assert (imported.code, imported.errors) == (1, [(1, "emial")])
    clashing = write_csv(
        tmp_path / "clash.csv", ("external_id", "address", "address[city]"), [("k", "x", "y")]
    )
    imported = kassa_import(server, account, "customers", clashing)
    assert (imported.code, imported.errors) == (1, [(1, "address[city]")])
    assert customer_emails(client) == []


def test_the_command_cannot_run_without_its_file_kind_or_account(
    server: KassaServer, account: Account, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, [])
    missing_file = kassa_import(server, account, "customers", tmp_path / "none.csv")
    assert (missing_file.code, missing_file.summary) == (2, {})
    assert "no such file" in missing_file.stderr
    unknown_kind = kassa_import(server, account, "widgets", path)
    assert unknown_kind.code == 2 and "invalid choice" in unknown_kind.stderr
    for name, content in (("empty.csv", b""), ("blank.csv", b"\xef\xbb\xbf\n\n")):
        empty = tmp_path / name
        empty.write_bytes(content)
        nothing = kassa_import(server, account, "customers", empty)
        assert (nothing.code, nothing.summary) == (2, {}), name
        assert "has no header line" in nothing.stderr
    stranger = Account("acct_nobody", "", "")
    unknown_account = kassa_import(server, stranger, "customers", path)
    assert unknown_account.code == 2 and "no such account" in unknown_account.stderr


# -- products, prices, invoice items -----------------------------------------------------------


def test_products_prices_and_invoice_items_name_earlier_imports_by_key(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    products = write_csv(
        tmp_path / "products.csv",
        ("id", "name", "metadata[tier]"),
        [("gold", "Gold", "1"), ("silver", "Silver", "2")],
    )
    imported = kassa_import(server, account, "products", products)
    assert (imported.code, counts(imported)) == (0, (2, 0, 0)), imported.errors
    prices = write_csv(
        tmp_path / "prices.csv",
        ("external_id", "product", "product_external_id", "unit_amount", "currency",
         "recurring[interval]", "lookup_key"),
        [
            ("gold-m", "gold", "", "2000", "usd", "month", "gold_monthly"),
            ("silver-m", "", "silver", "1000", "usd", "month", ""),
            ("bad", "", "bronze", "500", "usd", "", ""),
            ("both", "gold", "gold", "500", "usd", "", ""),
        ],
    )  # fmt: skip
    imported = kassa_import(server, account, "prices", prices, "--skip-invalid")
    assert imported.errors == [(4, "product_external_id"), (5, "product_external_id")]
    assert "No product was imported with external_id 'bronze'" in imported.messages[0]
    assert counts(imported) == (2, 0, 2)
    listed = {str(p.product): p for p in client.v1.prices.list().data}
    assert sorted(listed) == ["gold", "silver"]
    assert listed["gold"].lookup_key == "gold_monthly" and listed["silver"].unit_amount == 1000

    customers = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, [("crm-1", "a@x.test", "A", "", "")])
    assert kassa_import(server, account, "customers", customers).code == 0
    items = write_csv(
        tmp_path / "items.csv",
        ("external_id", "customer_external_id", "price_external_id", "amount", "currency",
         "description"),
        [
            ("ii-1", "crm-1", "", "500", "usd", "Setup fee"),
            ("ii-2", "crm-1", "gold-m", "", "", ""),
            ("ii-3", "crm-404", "", "100", "usd", ""),
        ],
    )  # fmt: skip
    imported = kassa_import(server, account, "invoiceitems", items)
    assert (imported.code, imported.errors) == (1, [(4, "customer_external_id")])
    assert client.v1.invoice_items.list().data == []
    fixed_rows = [("ii-1", "crm-1", "", "500", "usd"), ("ii-2", "crm-1", "gold-m", "", "")]
    fixed_header = (
        "external_id",
        "customer_external_id",
        "price_external_id",
        "amount",
        "currency",
    )
    fixed = write_csv(items, fixed_header, fixed_rows)
    imported = kassa_import(server, account, "invoiceitems", fixed)
    assert (imported.code, counts(imported)) == (0, (2, 0, 0))
    customer_id = client.v1.customers.list().data[0].id
    listed_items = client.v1.invoice_items.list(params={"customer": customer_id}).data
    assert sorted(i.amount for i in listed_items) == [500, 2000]
    types = event_types(client)
    for created in ("product.created", "price.created", "invoiceitem.created"):
        assert types.count(created) == 2, types


def test_a_check_between_batches_stops_the_write_and_a_fixed_file_resumes(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    """Two prices claiming one lookup_key in different batches: each batch passes the
    validation alone, so the write stops at the second; the first batch stays written and
    importing the fixed file skips it."""
    client.v1.products.create(params={"id": "plan", "name": "Plan"})
    header = ("external_id", "product", "unit_amount", "currency", "lookup_key")
    rows = [(f"p-{n}", "plan", str(100 + n), "usd", "") for n in range(ROWS_PER_UNIT + 1)]
    rows[0] = ("p-0", "plan", "100", "usd", "taken")
    rows[-1] = (rows[-1][0], "plan", "999", "usd", "taken")  # the next batch's last line
    path = write_csv(tmp_path / "prices.csv", header, rows)
    imported = kassa_import(server, account, "prices", path)
    last_line = ROWS_PER_UNIT + 2
    assert imported.code == 1
    assert imported.summary["stopped_at"]["line"] == last_line
    assert imported.errors == [(last_line, "lookup_key")]
    assert counts(imported) == (ROWS_PER_UNIT, 0, 1)
    rows[-1] = (rows[-1][0], "plan", "999", "usd", "other")
    resumed = kassa_import(server, account, "prices", write_csv(path, header, rows))
    assert (resumed.code, counts(resumed)) == (0, (1, ROWS_PER_UNIT, 0))
    found = client.v1.prices.list(params={"lookup_keys": ["taken", "other"]}).data
    assert sorted((p.lookup_key, p.unit_amount) for p in found) == [("other", 999), ("taken", 100)]


# -- the CSV, decoded in process ---------------------------------------------------------------


def _header(kind: str, names: Sequence[str]) -> Header:
    header = read_header(KINDS[kind], names)
    assert isinstance(header, Header), header
    return header


def test_bracket_columns_nest_as_the_api_form_decoder_nests_them() -> None:
    header = _header(
        "customers",
        [" external_id ", "address[city]", "metadata[0]", "preferred_locales[0]", "email"],
    )
    row = decode_row(header, 7, ["k1", " Oslo ", "zero", "nb", ""])
    assert row == SourceRow(
        line=7,
        key="k1",
        form={
            "address": {"city": "Oslo"},
            "metadata": {"0": "zero"},
            "preferred_locales": {"0": "nb"},
        },
        references=(),
    )
    assert decode_row(header, 8, ["k2", "a\x00b", "", "", ""]) == RowError(
        8, "address[city]", "Strings may not contain NUL characters."
    )
    assert decode_row(header, 10, ["k\x00", "", "", "", ""]) == RowError(
        10, "external_id", "Strings may not contain NUL characters."
    )
    assert decode_row(header, 9, ["k3", "", "", "", "", "extra"]) == RowError(
        9, "", "The row has 6 cells; the header names 5 columns."
    )
    appended = read_header(KINDS["customers"], ["external_id", "preferred_locales[]"])
    hint = "Name list items by index in a column: preferred_locales[0]"
    assert appended == [RowError(1, "preferred_locales[]", hint)]


def test_products_are_keyed_by_their_id_when_there_is_no_external_id() -> None:
    header = _header("products", ["id", "name"])
    assert header.key_column == "id"
    row = decode_row(header, 2, ["gold", "Gold"])
    assert isinstance(row, SourceRow) and (row.key, row.form) == (
        "gold",
        {"id": "gold", "name": "Gold"},
    )
    refused = read_header(KINDS["prices"], ["id", "currency"])
    assert isinstance(refused, list)
    assert [(e.line, e.field) for e in refused] == [(1, "external_id"), (1, "id")]


class Terminal(io.StringIO):
    """What the progress bar writes to when stderr is a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    terminal, piped = Terminal(), io.StringIO()
    for stream in (terminal, piped):
        bar = ProgressBar("validating", 1_000, stream)
        bar(PROGRESS_REDRAW_ROWS - 1, 400)  # not yet
        bar(PROGRESS_REDRAW_ROWS, 500)
        bar.finish()
    assert terminal.getvalue() == f"\rvalidating [{'#' * 15}{'.' * 15}]  50% 5,000 rows\n"
    assert piped.getvalue() == ""


def test_rows_are_numbered_by_the_line_they_start_on() -> None:
    data = '\ufeffexternal_id,description\nk1,"two\nlines"\n\nk2,x\n'.encode()
    source = RowSource(KINDS["customers"], io.BytesIO(data), len(data))
    rows = list(source.rows())
    assert [(r.line, r.key, r.form) for r in rows if isinstance(r, SourceRow)] == [
        (2, "k1", {"description": "two\nlines"}),
        (5, "k2", {"description": "x"}),
    ]
    assert source.position_bytes == len(data)


def test_a_quote_never_closed_stops_the_import_on_its_line(
    server: KassaServer, account: Account, client: stripe.StripeClient, tmp_path: Path
) -> None:
    """A cell whose quote is not closed would take every line after it as its text: the
    file is refused on the line the quote opens, and no row is written."""
    path = tmp_path / "stray.csv"
    path.write_text(
        "external_id,email,description\n"
        "r1,r1@example.com,first\n"
        'r2,r2@example.com,"12 inch monitor\n'
        "r3,r3@example.com,third\n"
        "r4,r4@example.com,fourth\n"
    )
    imported = kassa_import(server, account, "customers", path)
    assert (imported.code, imported.errors) == (1, [(3, "")])
    assert "never closed" in imported.messages[0]
    assert imported.summary["written"] is False
    assert customer_emails(client) == []
    skipping = kassa_import(server, account, "customers", path, "--skip-invalid")
    assert (skipping.code, skipping.errors) == (1, [(3, "")])
    assert customer_emails(client) == ["r1@example.com"]


def test_a_quote_followed_by_text_is_an_error_on_its_line() -> None:
    data = b'external_id,description\nk1,"a "quoted" word"\nk2,x\n'
    rows = list(RowSource(KINDS["customers"], io.BytesIO(data), len(data)).rows())
    [error] = [r for r in rows if isinstance(r, RowError)]
    assert error.line == 2
    assert '""' in error.message


def test_text_that_is_not_utf8_is_reported_on_its_own_line() -> None:
    """Not on the header's line because the first block of the file is decoded at once."""
    data = b"external_id,name\nk1,Ok\nk2,Caf\xe9\nk3,Later\n"
    source = RowSource(KINDS["customers"], io.BytesIO(data), len(data))
    assert isinstance(source.header, Header)
    rows = list(source.rows())
    assert [r.key for r in rows if isinstance(r, SourceRow)] == ["k1"]
    [error] = [r for r in rows if isinstance(r, RowError)]
    assert error.line == 3
    assert "UTF-8" in error.message and "save the file as UTF-8" in error.message
