"""Time the invoice PDF (`kassa.services.billing.rendering.invoice_pdf`) in this process.

Three invoices shaped as the API returns them (the test fixtures' builder,
tests/invoice_fixtures.py): a Latin-script one of 3 lines, a Latin-script one of 60 lines
(several pages) and a Japanese one in yen (its text needs the CJK fallback font). Each is
rendered once cold (the first render in the process: fonts read, parsed and anything cached
built) and then `--renders` times warm; the report gives the cold time and the warm
median, 90th percentile and mean per render (wall clock), the CPU time per render (this
process's, which other work on a shared machine disturbs less than the wall clock), and
the PDF's size. No server, no database: only the renderer, pinned to nothing.

    python bench/invoice_pdf.py                 # 20 warm renders per invoice
    python bench/invoice_pdf.py --renders 50

Writes bench/results/invoice_pdf-<UTC timestamp>.json and .txt (`--output` elsewhere).
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench_cli import add_report_arguments
from bench_harness import DEFAULT_RESULTS_DIR, REPO_DIR
from bench_results import (
    git_commit,
    git_tree_has_changes,
    machine_environment,
    publish_results,
    utc_stamp,
)

sys.path.insert(0, str(REPO_DIR))  # the fixtures live in the tests package

from kassa.services.billing.rendering.invoice_pdf import render_invoice_pdf
from tests import invoice_fixtures as fixtures

RENDERS_DEFAULT = 20
RENDERS_MAX = 1_000
LATIN_SHORT_LINES = 3
LATIN_LONG_LINES = 60
TARGET_LATIN_SHORT_MS = 50.0
"""The goal for the common case: a short Latin-script invoice, rendered warm."""

LATIN_CUSTOMER = fixtures.customer(
    "cus_Bench1",
    "Margarete Müller",
    "margarete@example.com",
    ["de-DE"],
    fixtures.address(line1="Hauptstraße 5", city="Berlin", postal_code="10115", country="DE"),
)


@dataclass(frozen=True)
class Case:
    name: str
    render: Callable[[], bytes]


@dataclass(frozen=True)
class Timing:
    name: str
    cold_ms: float
    warm_ms: list[float]
    cpu_ms: float
    """Mean CPU time of a warm render."""
    pdf_bytes: int

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.warm_ms)
        return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.name,
            "cold_ms": round(self.cold_ms, 1),
            "renders": len(self.warm_ms),
            "median_ms": round(statistics.median(self.warm_ms), 1),
            "p90_ms": round(self.percentile(0.9), 1),
            "mean_ms": round(statistics.fmean(self.warm_ms), 1),
            "cpu_ms": round(self.cpu_ms, 1),
            "pdf_bytes": self.pdf_bytes,
        }


def latin_invoice(invoice_id: str, number: str, lines: int) -> Case:
    billing = fixtures.Billing(
        currency="eur",
        items=[
            fixtures.Item(f"Beratung, Woche {index + 1:02d}", 1 + index % 3, 12_500 + index)
            for index in range(lines)
        ],
        coupon=fixtures.LOYALTY_COUPON,
        tax_rate=fixtures.VAT,
    )
    invoice = fixtures.invoice(invoice_id, number, LATIN_CUSTOMER, billing)
    every_line = fixtures.all_lines(invoice, billing)
    return Case(
        f"latin, {lines} lines",
        lambda: render_invoice_pdf(
            invoice,
            LATIN_CUSTOMER,
            fixtures.ACCOUNT,
            "de",
            lines=every_line,
            tax_rates={fixtures.VAT["id"]: fixtures.VAT},
            discounts={"di_1KassaLoyalty": fixtures.loyalty_discount(LATIN_CUSTOMER)},
        ),
    )


def japanese_invoice() -> Case:
    invoice = fixtures.yen_invoice()
    return Case(
        "japanese (CJK fallback), 2 lines",
        lambda: render_invoice_pdf(invoice, fixtures.TOKYO_TRADING, fixtures.ACCOUNT, "ja"),
    )


def cases() -> list[Case]:
    return [
        latin_invoice("in_1KassaBenchShort", "BEN1-0001", LATIN_SHORT_LINES),
        latin_invoice("in_1KassaBenchLong", "BEN1-0002", LATIN_LONG_LINES),
        japanese_invoice(),
    ]


def elapsed_ms(render: Callable[[], bytes]) -> tuple[float, bytes]:
    started = time.perf_counter()
    pdf = render()
    return (time.perf_counter() - started) * 1000, pdf


def measure(case: Case, renders: int) -> Timing:
    cold_ms, pdf = elapsed_ms(case.render)
    cpu_started = time.process_time()
    warm = [elapsed_ms(case.render)[0] for _ in range(renders)]
    cpu_ms = (time.process_time() - cpu_started) * 1000 / renders
    return Timing(case.name, cold_ms, warm, cpu_ms, len(pdf))


def environment() -> dict[str, Any]:
    commit = git_commit()
    changed = git_tree_has_changes(REPO_DIR)
    return {"git_commit": commit + ("+changes" if changed else ""), **machine_environment()}


def report_text(report: dict[str, Any]) -> str:
    env = report["environment"]
    header = (
        f"{'invoice':<34} {'cold ms':>8} {'renders':>8} {'median ms':>10} {'p90 ms':>8} "
        f"{'mean ms':>8} {'CPU ms':>7} {'PDF bytes':>10}"
    )
    lines = [
        f"Invoice PDF rendering, {report['started_at']}",
        f"Machine: {env['cpu_model']}, {env['cpus']} CPUs ({env['cpus_usable']} usable), "
        f"Python {env['python']}, load average {env['load_average']}; "
        f"commit {env['git_commit']}",
        *([report["note"]] if report["note"] else []),
        "",
        header,
        "-" * len(header),
    ]
    for row in report["cases"]:
        lines.append(
            f"{row['case']:<34} {row['cold_ms']:>8.1f} {row['renders']:>8} "
            f"{row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['mean_ms']:>8.1f} "
            f"{row['cpu_ms']:>7.1f} {row['pdf_bytes']:>10,}"
        )
    short = report["cases"][0]
    met = short["median_ms"] < TARGET_LATIN_SHORT_MS
    lines += [
        "",
        f"  [{'met' if met else 'MISSED'}] {short['case']} under {TARGET_LATIN_SHORT_MS:.0f} ms "
        f"(warm median): {short['median_ms']} ms ({short['cpu_ms']} ms of CPU)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--renders",
        type=int,
        default=RENDERS_DEFAULT,
        help="warm renders per invoice (default %(default)s)",
    )
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.renders <= RENDERS_MAX:
        parser.error(f"--renders must be in [1, {RENDERS_MAX}]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = utc_stamp()
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    timings = []
    for case in cases():
        print(f"rendering {case.name}", file=sys.stderr)
        timings.append(measure(case, args.renders))
    report = {
        "started_at": started_at,
        "note": args.note,
        "environment": environment(),
        "cases": [timing.as_dict() for timing in timings],
    }
    text = report_text(report)
    output = args.output or DEFAULT_RESULTS_DIR / f"invoice_pdf-{stamp}.json"
    publish_results(output, report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
