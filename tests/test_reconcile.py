"""`kassa reconcile`, run as a real subprocess: generated files with a known number of each
outcome (CSV and Parquet), malformed rows listed by line, exit codes, the `--json` keys,
column mapping, payouts matched to bank lines (ambiguous candidates included), Kassa's own
balance transactions and payouts as the ledger on SQLite and PostgreSQL, and `--record`."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
import stripe

from kassa.reconciliation.engine import connect, reconcile_files
from kassa.reconciliation.inputs import InputFile
from kassa.store import Store
from tests.direct_store import with_store
from tests.harness import create_account
from tests.test_balance import ShiftedClockServer, at, pay
from tests.test_payouts import fund, payout_server, set_schedule

__all__ = ["payout_server"]  # the module's server fixture, shared with tests/test_payouts.py

COMMAND_TIMEOUT_SECONDS = 120
JSON_COUNT_KEYS = [
    "matched",
    "missing_in_bank",
    "missing_in_ledger",
    "discrepant",
    "duplicate_ids_in_ledger",
    "duplicate_ids_in_bank",
    "rejected_ledger",
    "rejected_bank",
]
HEADER = ["id", "amount", "currency", "date"]


def reconcile(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", "reconcile", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def reconcile_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    done = reconcile(*args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def write_csv(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path | str) -> list[dict[str, str]]:
    with Path(path).open(newline="") as found:
        return list(csv.DictReader(found))


# -- generated files with known answers -----------------------------------------------------

KNOWN = {
    "matched": 120,
    "missing_in_bank": 7,
    "missing_in_ledger": 5,
    "discrepant": 9,  # 6 amounts, 3 currencies
    "duplicate_ids_in_ledger": 4,
    "duplicate_ids_in_bank": 3,
    "rejected_ledger": 6,
    "rejected_bank": 2,
}


def generated_files(folder: Path, seed: int) -> tuple[Path, Path]:
    """A ledger and a bank file with KNOWN outcomes, rows shuffled by `seed`."""
    rng = random.Random(seed)
    ledger: list[list[object]] = []
    bank: list[list[object]] = []
    serial = iter(range(1, 10_000))

    def row(amount: int | None = None, currency: str = "usd") -> list[object]:
        amount = rng.randint(1, 99_999_999) if amount is None else amount
        return [f"txn_{next(serial):06d}", amount, currency, f"2026-11-{rng.randint(1, 30):02d}"]

    for _ in range(KNOWN["matched"]):
        same = row()
        ledger.append(same)
        bank.append(list(same))
    ledger += [row() for _ in range(KNOWN["missing_in_bank"])]
    bank += [row() for _ in range(KNOWN["missing_in_ledger"])]
    for n in range(KNOWN["discrepant"]):
        theirs = row(currency="eur" if n < 6 else "usd")
        mine = list(theirs)
        if n < 6:
            mine[1] = int(str(mine[1])) + 1
        else:
            mine[2] = "gbp"
        ledger.append(mine)
        bank.append(theirs)
    for side, count in ((ledger, KNOWN["duplicate_ids_in_ledger"]), (bank, 3)):
        for _ in range(count):
            twice = row()
            side += [twice, list(twice)]
    rejected_ledger: list[list[object]] = [
        ["", 5, "usd", "2026-11-01"],
        ["txn_bad_1", "12.5", "usd", "2026-11-01"],
        ["txn_bad_2", "12,5", "usd", "2026-11-01"],
        ["txn_bad_3", 100, "xyz", "2026-11-01"],
        ["txn_bad_4", 100, "usd", "2026-02-30"],
        ["txn_bad_5", "", "usd", "2026-11-01"],
    ]
    ledger += rejected_ledger
    bank += [["txn_bad_6", "0x10", "usd", "2026-11-01"], ["txn_bad_7", 9, "", "2026-11-01"]]
    rng.shuffle(ledger)
    rng.shuffle(bank)
    return write_csv(folder / "ledger.csv", ledger), write_csv(folder / "bank.csv", bank)


def as_parquet(path: Path) -> Path:
    target = path.with_suffix(".parquet")
    duckdb.execute(
        f"COPY (SELECT * FROM read_csv('{path}', all_varchar = true)) TO '{target}' "
        "(FORMAT parquet)"
    )
    return target


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_generated_files_give_the_known_counts(tmp_path: Path, file_format: str) -> None:
    ledger, bank = generated_files(tmp_path, seed=15)
    if file_format == "parquet":
        ledger, bank = as_parquet(ledger), as_parquet(bank)
    code, found = reconcile_json(ledger, bank, "--out", tmp_path / "out")
    assert code == 1
    assert {k: found[k] for k in JSON_COUNT_KEYS} == KNOWN
    assert len(read_csv(found["files"]["matched"])) == KNOWN["matched"]
    for outcome in ("missing_in_bank", "missing_in_ledger", "discrepant"):
        assert len(read_csv(found["files"][outcome])) == KNOWN[outcome], outcome
    reasons = sorted(r["reason"] for r in read_csv(found["files"]["discrepant"]))
    assert reasons == ["amount differs"] * 6 + ["currency differs"] * 3
    duplicates = read_csv(found["files"]["duplicate_ids_in_ledger"])
    assert [d["ledger_rows"] for d in duplicates] == ["2"] * KNOWN["duplicate_ids_in_ledger"]
    rejected = read_csv(found["files"]["rejected_ledger"])
    assert {r["field"] for r in rejected} == {"id", "amount", "currency", "date"}
    assert len({r["line"] for r in rejected}) == KNOWN["rejected_ledger"]


def test_large_inputs_are_split_by_id_and_give_the_same_counts(tmp_path: Path) -> None:
    """Inputs larger than the partition size are split by a hash of the id into parts,
    each grouped on its own (what bounds memory at 10 million rows), here forced with a
    part of 2 KB: the same answers, rejected rows and rows without an id included."""
    ledger, bank = generated_files(tmp_path, seed=3)
    work = tmp_path / "work"
    work.mkdir()
    found = {}
    for name, partition_bytes in (("whole", 10**9), ("parts", 2_000)):
        out = tmp_path / name
        out.mkdir()
        con = connect(work)
        try:
            found[name] = reconcile_files(
                con, InputFile("ledger", ledger), InputFile("bank", bank), out, work,
                partition_bytes,
            )  # fmt: skip
        finally:
            con.close()
    assert dict(found["whole"].counts) == dict(found["parts"].counts) == KNOWN
    assert len(list((work / "ledger").glob("part=*"))) > 3
    for outcome in KNOWN:
        whole = sorted(map(str, read_csv(found["whole"].files[outcome])))
        assert whole == sorted(map(str, read_csv(found["parts"].files[outcome]))), outcome


def test_rejected_rows_are_listed_by_file_line_and_field(tmp_path: Path) -> None:
    ledger = write_csv(
        tmp_path / "ledger.csv",
        [
            ["t1", 100, "usd", "2026-11-02"],  # line 2
            ["", 5, "usd", "2026-11-02"],  # 3: no id
            ["t2", "12.50", "usd", "2026-11-02"],  # 4: not an integer
            ["t3", 7, "zzz", "2026-11-02"],  # 5: unknown currency
            ["t4", 8, "USD", "2026-11-02"],  # 6: fine (currencies are not case-sensitive)
            ["t5", "9x", "abc", "2026-13-01"],  # 7: three problems
        ],
    )
    bank = write_csv(tmp_path / "bank.csv", [["t1", 100, "usd", ""], ["t4", 8, "usd", ""]])
    code, found = reconcile_json(ledger, bank, "--out", tmp_path / "out")
    assert code == 1
    assert found["matched"] == 2
    assert found["rejected_ledger"] == 4
    listed = [
        (r["file"], r["line"], r["field"], r["value"], r["message"])
        for r in read_csv(found["files"]["rejected_ledger"])
    ]
    where = str(ledger)
    assert listed == [
        (where, "3", "id", "", "no id"),
        (where, "4", "amount", "12.50", "the amount is not an integer number of minor units"),
        (where, "5", "currency", "zzz", "not a currency Kassa knows (ISO 4217, e.g. usd)"),
        (where, "7", "amount", "9x", "the amount is not an integer number of minor units"),
        (where, "7", "currency", "abc", "not a currency Kassa knows (ISO 4217, e.g. usd)"),
        (where, "7", "date", "2026-13-01", "the date is not a date YYYY-MM-DD"),
    ]
    assert read_csv(found["files"]["rejected_bank"]) == []

    # The same rows in a Parquet file: rows count from 1 (no header line).
    parquet = as_parquet(ledger)
    _, from_parquet = reconcile_json(parquet, bank, "--out", tmp_path / "parquet")
    assert [
        (r["file"], int(r["line"]) + 1, r["field"], r["value"], r["message"])
        for r in read_csv(from_parquet["files"]["rejected_ledger"])
    ] == [(str(parquet), int(line), *rest) for _, line, *rest in listed]


def test_amounts_other_than_plain_integers_are_rejected(tmp_path: Path) -> None:
    """An amount is an integer of minor units: thousands separators, decimals (with a point
    or a comma, even .0), exponents and underscores are rejected by line, never read as
    another number ("1,000" is not 1, "10,00" not 10)."""
    written = ["1,000", "10,00", "12.0", "1e3", "1_000", "0x10", "+5", "12,5"]
    ids = [f"t{n}" for n in range(len(written))]
    ledger = write_csv(tmp_path / "ledger.csv", [[i, 1_000, "usd", ""] for i in ids])
    bank_rows = [[f"t{n}", amount, "usd", ""] for n, amount in enumerate(written)]
    bank = write_csv(tmp_path / "bank.csv", bank_rows)
    code, found = reconcile_json(ledger, bank, "--out", tmp_path / "out")
    assert code == 1
    assert (found["matched"], found["discrepant"], found["rejected_bank"]) == (0, 0, 8)
    listed = [
        (r["line"], r["field"], r["value"], r["message"])
        for r in read_csv(found["files"]["rejected_bank"])
    ]
    message = "the amount is not an integer number of minor units"
    assert listed == [(str(n + 2), "amount", a, message) for n, a in enumerate(written)]


def test_awkward_csv_rows_are_listed_not_dropped(tmp_path: Path) -> None:
    """A byte order mark, CRLF line ends, a quoted field over two lines, a row short of
    columns and one with too many: each row lands in exactly one outcome."""
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(
        b"\xef\xbb\xbfid,amount,currency,note\r\n"
        b't1,100,usd,"two\r\nlines"\r\n'
        b"t2,5,usd,x,surplus\r\n"
        b",7,usd,y\r\n"
        b"t3,1\r\n"
        b"t4,9,usd,z\r\n"
    )
    bank = write_csv(tmp_path / "bank.csv", [["t1", 100, "usd", ""], ["t4", 9, "usd", ""]])
    code, found = reconcile_json(ledger, bank, "--out", tmp_path / "out")
    assert code == 1
    assert (found["matched"], found["rejected_ledger"], found["missing_in_bank"]) == (2, 3, 0)
    listed = [
        (r["line"], r["field"], r["message"]) for r in read_csv(found["files"]["rejected_ledger"])
    ]
    # Lines count records, as DuckDB's reader does: the quoted field spans lines 2 and 3.
    assert listed == [
        ("3", "", "the row has more columns than the header"),
        ("4", "id", "no id"),
        ("5", "currency", "the row has fewer columns than the header"),
        ("5", "note", "the row has fewer columns than the header"),
    ]


def test_an_id_rejected_in_one_file_is_not_also_missing_from_the_other(tmp_path: Path) -> None:
    """Every id ends in one outcome: rejected, whether the SQL checks or the CSV reader
    refused its row, and whatever the other file holds."""
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "id,amount,currency,date\n"
        "a,12.5,usd,\n"  # an amount that is not an integer
        "b,100,xyz,\n"  # an unknown currency: the reader's cast
        "c,100,usd,2026-02-30\n"  # not a date: the reader's cast
        'd,100,usd,"2026-11-01",extra\n'  # too many columns
        "e,100,usd,\n"
    )
    bank = write_csv(tmp_path / "bank.csv", [[i, 100, "usd", ""] for i in "abcde"])
    code, found = reconcile_json(ledger, bank, "--out", tmp_path / "out")
    assert code == 1
    assert {k: found[k] for k in JSON_COUNT_KEYS} == {
        "matched": 1,
        "missing_in_bank": 0,
        "missing_in_ledger": 0,
        "discrepant": 0,
        "duplicate_ids_in_ledger": 0,
        "duplicate_ids_in_bank": 0,
        "rejected_ledger": 4,
        "rejected_bank": 0,
    }
    assert [r["line"] for r in read_csv(found["files"]["rejected_ledger"])] == ["2", "3", "4", "5"]
    assert read_csv(found["files"]["missing_in_ledger"]) == []


def test_exit_codes_and_messages(tmp_path: Path) -> None:
    rows = [["t1", 100, "usd", "2026-11-02"], ["t2", 200, "eur", "2026-11-03"]]
    ledger = write_csv(tmp_path / "ledger.csv", rows)
    same = write_csv(tmp_path / "same.csv", list(reversed(rows)))
    code, found = reconcile_json(ledger, same, "--out", tmp_path / "ok")
    assert code == 0
    assert [k for k, v in found.items() if isinstance(v, int)] == JSON_COUNT_KEYS
    assert found["matched"] == 2
    assert set(found["files"]) == set(JSON_COUNT_KEYS)
    assert all(Path(p).is_file() for p in found["files"].values())

    readable = reconcile(ledger, same, "--out", tmp_path / "ok2")
    assert readable.returncode == 0
    assert "everything matched" in readable.stdout

    missing = reconcile(ledger, tmp_path / "nope.csv", "--out", tmp_path / "x")
    assert missing.returncode == 2
    assert "nope.csv: no such file" in missing.stderr

    headless = tmp_path / "headless.csv"
    headless.write_text("t1,100,usd,2026-11-02\n")
    no_header = reconcile(ledger, headless, "--out", tmp_path / "x")
    assert no_header.returncode == 2
    assert "has no column id, amount, currency" in no_header.stderr
    assert "--bank-columns" in no_header.stderr

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the file is empty" in reconcile(ledger, empty, "--out", tmp_path / "x").stderr

    breaks = write_csv(tmp_path / "breaks.csv", rows[:1])
    assert reconcile(ledger, breaks, "--out", tmp_path / "b").returncode == 1


def test_a_bad_out_folder_or_country_is_refused_with_exit_2(tmp_path: Path) -> None:
    rows = [["t1", 100, "usd", "2026-11-02"]]
    ledger = write_csv(tmp_path / "ledger.csv", rows)
    unwritable = reconcile(ledger, ledger, "--out", "/proc/kassa-nope")
    assert unwritable.returncode == 2
    assert "--out /proc/kassa-nope: cannot create the folder" in unwritable.stderr
    assert "database" not in unwritable.stderr
    unknown = reconcile(
        ledger, ledger, "--payouts", "--country", "XX", "--out", tmp_path / "out"
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "--country XX: no bank holiday calendar" in unknown.stderr
    assert "list_supported_countries" in unknown.stderr
    assert not (tmp_path / "out").exists()


def test_column_mapping(tmp_path: Path) -> None:
    ledger = write_csv(
        tmp_path / "ledger.csv",
        [["t1", 100, "usd", "x"], ["t2", 5, "jpy", "y"]],
        ["reference", "cents", "ccy", "note"],
    )
    bank = write_csv(tmp_path / "bank.csv", [["t1", 100, "usd", ""], ["t2", 6, "jpy", ""]])
    unmapped = reconcile(ledger, bank, "--out", tmp_path / "x")
    assert unmapped.returncode == 2
    assert "no column id, amount, currency" in unmapped.stderr
    code, found = reconcile_json(
        ledger, bank, "--out", tmp_path / "out",
        "--ledger-columns", "id=reference,amount=cents,currency=ccy",
    )  # fmt: skip
    assert code == 1
    assert (found["matched"], found["discrepant"]) == (1, 1)
    [discrepant] = read_csv(found["files"]["discrepant"])
    assert (discrepant["id"], discrepant["reason"]) == ("t2", "amount differs")
    bad = reconcile(ledger, bank, "--ledger-columns", "colour=red")
    assert bad.returncode == 2
    assert "NAME one of id, amount, currency, date, trace_id" in bad.stderr


def test_header_columns_that_are_blank_repeated_or_mapped_twice(tmp_path: Path) -> None:
    """A trailing comma (common in bank exports) leaves a blank column that is ignored; a
    column Kassa reads named twice, or one column mapped to two names, is refused with
    what to fix."""
    ledger = write_csv(tmp_path / "ledger.csv", [["t1", 100, "usd"]], ["id", "amount", "currency"])
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("id,amount,currency,\nt1,100,usd,\n")
    code, found = reconcile_json(ledger, trailing, "--out", tmp_path / "out")
    assert (code, found["matched"], found["rejected_bank"]) == (0, 1, 0)

    unused_twice = tmp_path / "notes.csv"
    unused_twice.write_text("id,note,amount,currency,note\nt1,a,100,usd,b\n")
    code, found = reconcile_json(ledger, unused_twice, "--out", tmp_path / "out2")
    assert (code, found["matched"]) == (0, 1)

    used_twice = tmp_path / "twice.csv"
    used_twice.write_text("id,amount,currency,amount\nt1,100,usd,100\n")
    refused = reconcile(ledger, used_twice, "--out", tmp_path / "out3")
    assert refused.returncode == 2
    assert "Error" not in refused.stderr
    assert "column amount appears twice in the header (columns 2 and 4)" in refused.stderr

    one_for_two = reconcile(ledger, ledger, "--bank-columns", "id=amount")
    assert one_for_two.returncode == 2
    assert "--bank-columns gives the column amount to both id and amount" in one_for_two.stderr


# -- payouts and bank lines -----------------------------------------------------------------

PAYOUT_HEADER = ["id", "amount", "currency", "date", "trace_id"]


def test_payout_matching_by_trace_id_amount_and_window(tmp_path: Path) -> None:
    # 2026-11-20 is a Friday, 2026-11-26 Thanksgiving (a US bank holiday).
    payouts = write_csv(
        tmp_path / "payouts.csv",
        [
            ["po_trace", 5_000, "usd", "2026-11-18", "TRACE1"],
            ["po_trace_wrong", 7_000, "usd", "2026-11-18", "TRACE2"],
            ["po_window", 1_234, "usd", "2026-11-20", ""],  # line on Tue 24th: 2 business days
            ["po_late", 4_321, "usd", "2026-11-20", ""],  # line on Wed 25th: 3 business days
            ["po_twin_a", 900, "usd", "2026-11-18", ""],  # two payouts, one line: ambiguous
            ["po_twin_b", 900, "usd", "2026-11-19", ""],
            ["po_two_lines", 800, "eur", "2026-11-18", ""],  # one payout, two lines
            ["po_holiday", 600, "usd", "2026-11-25", ""],  # Thu 26 is a holiday: Mon 30 fits
            ["po_gone", 333, "usd", "2026-11-18", ""],
            ["po_dup", 10, "usd", "2026-11-18", ""],
            ["po_dup", 10, "usd", "2026-11-18", ""],
        ],
        PAYOUT_HEADER,
    )
    bank = write_csv(
        tmp_path / "bank.csv",
        [
            ["L1", 5_000, "usd", "2026-11-30", "TRACE1"],  # by trace id, whatever the date
            ["L2", 7_001, "usd", "2026-11-18", "TRACE2"],  # trace id, amount differs
            ["L3", 1_234, "usd", "2026-11-24", ""],
            ["L4", 4_321, "usd", "2026-11-25", ""],
            ["L5", 900, "usd", "2026-11-19", ""],
            ["L6", 800, "eur", "2026-11-18", ""],
            ["L7", 800, "eur", "2026-11-19", ""],
            ["L8", 600, "usd", "2026-11-30", ""],
            ["L9", 999, "usd", "2026-11-18", ""],
        ],
        PAYOUT_HEADER,
    )
    code, found = reconcile_json(
        payouts, bank, "--payouts", "--window-days", "2", "--country", "US",
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 1
    assert {k: v for k, v in found.items() if k != "files"} == {
        "matched": 3,
        "missing_in_bank": 2,
        "missing_in_ledger": 2,
        "discrepant": 1,
        "duplicate_ids_in_ledger": 1,
        "duplicate_ids_in_bank": 0,
        "rejected_ledger": 0,
        "rejected_bank": 0,
        "ambiguous_in_ledger": 3,
        "ambiguous_in_bank": 3,
    }
    files = found["files"]
    matched = {
        (r["payout_id"], r["bank_line_id"], r["matched_by"]) for r in read_csv(files["matched"])
    }
    assert matched == {
        ("po_trace", "L1", "trace_id"),
        ("po_window", "L3", "amount, currency and date"),
        ("po_holiday", "L8", "amount, currency and date"),
    }
    [discrepant] = read_csv(files["discrepant"])
    assert (discrepant["payout_id"], discrepant["bank_line_id"]) == ("po_trace_wrong", "L2")
    assert discrepant["reason"] == "amount differs"
    assert {r["payout_id"] for r in read_csv(files["missing_in_bank"])} == {"po_late", "po_gone"}
    assert {r["bank_line_id"] for r in read_csv(files["missing_in_ledger"])} == {"L4", "L9"}
    ambiguous = {r["payout_id"]: r["candidates"] for r in read_csv(files["ambiguous_in_ledger"])}
    assert ambiguous == {"po_twin_a": "L5", "po_twin_b": "L5", "po_two_lines": "L6 L7"}
    lines = {r["bank_line_id"]: r["candidates"] for r in read_csv(files["ambiguous_in_bank"])}
    assert lines == {"L5": "po_twin_a po_twin_b", "L6": "po_two_lines", "L7": "po_two_lines"}


def test_payout_and_line_with_different_trace_ids_never_match(tmp_path: Path) -> None:
    """Two trace ids are two transfers: equal amounts and dates do not pair them. A trace id
    on two lines (or two payouts) is ambiguous, not settled by the amount."""
    payouts = write_csv(
        tmp_path / "payouts.csv",
        [
            ["po_other_trace", 1_000, "usd", "2026-12-07", "930732900047433"],
            ["po_trace_twice", 2_500, "usd", "2026-12-08", "188437282349263"],
        ],
        PAYOUT_HEADER,
    )
    bank = write_csv(
        tmp_path / "bank.csv",
        [
            ["B2", 1_000, "usd", "2026-12-07", "111111111111111"],
            ["L1", 2_500, "usd", "2026-12-08", "188437282349263"],
            ["L2", 2_500, "usd", "2026-12-09", "188437282349263"],
        ],
        PAYOUT_HEADER,
    )
    code, found = reconcile_json(
        payouts, bank, "--payouts", "--country", "US", "--out", tmp_path / "out"
    )
    assert code == 1
    assert (found["matched"], found["discrepant"]) == (0, 0)
    files = found["files"]
    assert [r["payout_id"] for r in read_csv(files["missing_in_bank"])] == ["po_other_trace"]
    assert [r["bank_line_id"] for r in read_csv(files["missing_in_ledger"])] == ["B2"]
    ambiguous = {r["payout_id"]: r["candidates"] for r in read_csv(files["ambiguous_in_ledger"])}
    assert ambiguous == {"po_trace_twice": "L1 L2"}
    lines = {r["bank_line_id"]: r["candidates"] for r in read_csv(files["ambiguous_in_bank"])}
    assert lines == {"L1": "po_trace_twice", "L2": "po_trace_twice"}


# -- Kassa's own rows as the ledger -------------------------------------------------------


@pytest.fixture
def shifted(payout_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    payout_server.set_now(at("2026-11-18T10:00:00"))  # a Wednesday
    yield payout_server


def test_kassa_balance_transactions_against_a_bank_file(
    shifted: ShiftedClockServer, tmp_path: Path
) -> None:
    server = shifted
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    for amount in (1_000, 2_000, 3_000, 4_000):
        pay(client, amount)
    listed = list(client.v1.balance_transactions.list(params={"limit": 100}).auto_paging_iter())
    assert len(listed) == 4
    day = "2026-01-01"
    rows = [[t.id, t.amount, t.currency, day] for t in listed]
    rows[0][1] = int(str(rows[0][1])) + 1  # one discrepant
    rows.pop()  # one missing in the bank
    rows.append(["txn_not_ours", 50, "usd", day])  # one missing in the ledger
    bank = write_csv(tmp_path / "bank.csv", rows)
    args = ["--account", account.id, "--from", "2000-01-01", "--to", "2099-12-31"]
    code, found = reconcile_json(
        "kassa", bank, *args, "--database", server.database_url, "--out", tmp_path / "out"
    )
    assert code == 1
    assert (found["matched"], found["discrepant"]) == (2, 1)
    assert (found["missing_in_bank"], found["missing_in_ledger"]) == (1, 1)
    assert found["rejected_ledger"] == found["rejected_bank"] == 0

    outside = reconcile_json(
        "kassa", bank, "--account", account.id, "--from", "2000-01-01", "--to", "2000-01-02",
        "--database", server.database_url, "--out", tmp_path / "none",
    )  # fmt: skip
    assert outside[1]["matched"] == 0
    assert outside[1]["missing_in_ledger"] == 4

    no_range = reconcile("kassa", bank, "--account", account.id, "--database", server.database_url)
    assert no_range.returncode == 2
    assert "--from YYYY-MM-DD" in no_range.stderr


def test_kassa_payouts_against_bank_lines(shifted: ShiftedClockServer, tmp_path: Path) -> None:
    server = shifted
    account = create_account(server.database_url)
    client: stripe.StripeClient = server.client(account.secret_key)
    net = fund(client, 10_000)
    set_schedule(client, interval="daily")
    server.set_now(at("2026-11-19T00:00:05"))  # the automatic payout goes out
    [automatic] = [p for p in client.v1.payouts.list().data if p.automatic]
    assert automatic.amount == net
    server.set_now(at("2026-11-24T00:00:05"))  # and has arrived, with its trace id
    paid = client.v1.payouts.retrieve(automatic.id)
    assert paid.status == "paid"
    assert paid.trace_id is not None and paid.trace_id.value
    bank = write_csv(
        tmp_path / "bank.csv",
        [["STMT-1", net, "usd", "2026-11-23", paid.trace_id.value], ["STMT-2", 5, "usd", "", ""]],
        PAYOUT_HEADER,
    )
    code, found = reconcile_json(
        "kassa", bank, "--payouts", "--account", account.id, "--from", "2026-11-01",
        "--to", "2026-11-30", "--database", server.database_url, "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 1  # STMT-2, undated, matches nothing
    assert (found["matched"], found["missing_in_ledger"], found["missing_in_bank"]) == (1, 1, 0)
    [matched] = read_csv(found["files"]["matched"])
    assert (matched["payout_id"], matched["matched_by"]) == (automatic.id, "trace_id")
    swept = read_csv(found["files"]["payout_transactions"])
    assert [(s["payout_id"], s["type"]) for s in swept] == [(automatic.id, "charge")]


# -- recorded runs --------------------------------------------------------------------------


def test_record_keeps_counts_and_a_sample(shifted: ShiftedClockServer, tmp_path: Path) -> None:
    server = shifted
    account = create_account(server.database_url)
    ledger, bank = generated_files(tmp_path, seed=7)
    without_account = reconcile(ledger, bank, "--record", "--database", server.database_url)
    assert without_account.returncode == 2
    assert "--account" in without_account.stderr
    stranger = reconcile(
        ledger, bank, "--record", "--account", "acct_nope", "--database", server.database_url,
        "--out", tmp_path / "stranger",
    )  # fmt: skip
    assert stranger.returncode == 2
    assert "there is no account acct_nope" in stranger.stderr
    assert not (tmp_path / "stranger").exists()  # checked before anything is written
    code, found = reconcile_json(
        ledger, bank, "--record", "--account", account.id,
        "--database", server.database_url, "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 1
    run_id = found["run"]

    async def read(store: Store) -> Any:
        async with store.read() as tx:
            runs = await tx.reconciliation_runs(account.id, 10)
            return runs, await tx.recorded_breaks(run_id, 1_000)

    runs, breaks = with_store(server.database_url, read)
    [run] = runs
    assert (run.id, run.kind, run.ledger) == (run_id, "files", str(ledger))
    assert {k: run.counts[k] for k in JSON_COUNT_KEYS} == KNOWN
    assert run.breaks == sum(KNOWN.values()) - KNOWN["matched"]
    by_outcome: dict[str, int] = {}
    for recorded in breaks:
        by_outcome[recorded.outcome] = by_outcome.get(recorded.outcome, 0) + 1
    assert by_outcome == {k: v for k, v in KNOWN.items() if k != "matched"}
    [first_missing] = [b for b in breaks if b.outcome == "missing_in_bank" and b.position == 1]
    assert set(first_missing.detail) == {"id", "amount", "currency", "date"}
