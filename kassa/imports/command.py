"""`kassa import KIND FILE --account acct_...`: exit 0 when every row is imported (created,
or existing from an earlier run), 1 when some rows are invalid (nothing written, or with
`--skip-invalid` the valid ones written), 2 when the import cannot run (no such file or
account, a file without a header line; argparse refuses an unknown kind with 2 too).

The process writes as `kassa serve` and `kassa worker` do: the observers of domain writes
are installed (`kassa.observers`), and the payment settings loaded the same way.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kassa import database
from kassa.clock import Clock, SystemClock
from kassa.config import Settings
from kassa.imports.kinds import KINDS, ImportKind
from kassa.imports.pipeline import ImportJob, Mode, Tally, run_pass
from kassa.imports.report import ProgressBar, Summary, print_errors, print_summary
from kassa.imports.rows import Header, open_rows

EXIT_IMPORTED = 0
EXIT_INVALID_ROWS = 1
EXIT_CANNOT_RUN = 2

_PHASES = {
    Mode.VALIDATE: "validating",
    Mode.WRITE_ALL: "writing",
    Mode.WRITE_VALID: "importing",
}


class NoHeaderLine(Exception):
    """The file is empty, or its first line blank: there is no import to run."""


@dataclass(frozen=True)
class ImportOptions:
    kind: str
    path: Path
    account_id: str
    skip_invalid: bool = False
    as_json: bool = False


def run_import(settings: Settings, options: ImportOptions) -> int:
    """The command: prints the errors and the summary; returns the exit code."""
    if not options.path.is_file():
        print(f"kassa import: no such file: {options.path}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return asyncio.run(_run(settings, options, SystemClock()))


async def _run(settings: Settings, options: ImportOptions, clock: Clock) -> int:
    from kassa import observers  # noqa: F401  (installs the observers of domain writes)
    from kassa.services.setup import load_payment_config

    store = await database.open_migrated_store(settings, clock)
    try:
        async with store.read() as tx:
            account = await tx.get_account(options.account_id)
        if account is None:
            print(f"kassa import: no such account: {options.account_id!r}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        kind = KINDS[options.kind]
        job = ImportJob(
            store, kind, options.account_id, clock, await load_payment_config(store, settings)
        )
        started = time.perf_counter()  # a duration to report, not a time anything is stamped with
        try:
            tally, written = await _import(job, options)
        except OSError as error:
            print(f"kassa import: cannot read {options.path}: {error}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        except NoHeaderLine:
            print(
                f"kassa import: {options.path} has no header line: its first line names the "
                f"columns (external_id{' or id' if kind.id_is_key else ''}, then the "
                "parameters to send)",
                file=sys.stderr,
            )
            return EXIT_CANNOT_RUN
        _report(kind, options, tally, written, time.perf_counter() - started)
        return EXIT_INVALID_ROWS if tally.invalid else EXIT_IMPORTED
    finally:
        await store.close()


async def _import(job: ImportJob, options: ImportOptions) -> tuple[Tally, bool]:
    """The passes the options ask for: the tally of the last one run, and whether it wrote."""
    modes = (Mode.WRITE_VALID,) if options.skip_invalid else (Mode.VALIDATE, Mode.WRITE_ALL)
    tally = Tally()
    for mode in modes:
        with open_rows(job.kind, options.path) as source:
            if not source.has_header_line:
                raise NoHeaderLine
            if not isinstance(source.header, Header):
                tally.add_errors(source.header)
                return tally, False
            progress = ProgressBar(_PHASES[mode], source.size_bytes)
            tally = await run_pass(job, source, mode, progress)
            progress.finish()
        if mode is Mode.VALIDATE and tally.invalid:
            return tally, False
    return tally, True


def _report(
    kind: ImportKind, options: ImportOptions, tally: Tally, written: bool, seconds: float
) -> None:
    print_errors(tally.errors, tally.errors_omitted, as_json=options.as_json, out=sys.stdout)
    summary = Summary(
        kind=kind.name,
        object_name=kind.object_name,
        path=str(options.path),
        account_id=options.account_id,
        tally=tally,
        written=written,
        seconds=seconds,
    )
    print_summary(summary, as_json=options.as_json, out=sys.stdout)
