"""The command line every Kassa benchmark script shares: options, tools, main().

bench/customers.py and bench/payment_intents.py build their parsers from the
option groups here (adding their own between them), find kassa, wrk and py-spy
with find_tools, and run through run_main, which turns failures into exit codes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from bench_harness import DEFAULT_WORK_DIR, BenchError, SetupError, Tools

# --- Option bounds (seconds unless named otherwise) ----------------------------

DEFAULT_SCENARIO_SECONDS = 10
# Long enough for connection set-up, caches and SQLite pages to settle.
DEFAULT_WARMUP_SECONDS = 2
MIN_SCENARIO_SECONDS = 1
MAX_SCENARIO_SECONDS = 600
MAX_WARMUP_SECONDS = 60
# Startup includes imports and migrations of a possibly large database.
DEFAULT_READY_TIMEOUT_S = 60.0
MAX_READY_TIMEOUT_S = 600.0

DEFAULT_CONCURRENCY = (1, 32)
MAX_CONCURRENCY = 256

# --- Exit codes ------------------------------------------------------------------

EXIT_OK = 0
EXIT_BENCH_FAILED = 1
EXIT_SETUP_ERROR = 2
EXIT_INTERRUPTED = 130
SERVE_WORKERS_MAX = 16


# --- Command line ----------------------------------------------------------------
#
# Options every benchmark script has, added in three groups so that each
# script can put its own options between them.


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds",
        type=int,
        default=DEFAULT_SCENARIO_SECONDS,
        help="measured duration of each scenario (default %(default)s)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        default=DEFAULT_WARMUP_SECONDS,
        help="unmeasured run before each scenario (default %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, DEFAULT_CONCURRENCY)),
        help="comma-separated connection counts (default %(default)s)",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """`--output` and `--note`, for a script that writes one results file (a .json and a .txt)."""
    parser.add_argument("--output", type=Path, help="results JSON path (a .txt goes beside it)")
    parser.add_argument("--note", default="", help="a line for the report (what was measured)")


def add_storage_arguments(parser: argparse.ArgumentParser, results_prefix: str) -> None:
    parser.add_argument(
        "--database", metavar="URL_OR_PATH", help="use this database instead of a fresh SQLite file"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="databases, logs and profiles (default bench/.data/)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"results JSON (default bench/results/{results_prefix}-<timestamp>.json)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="RESULTS_JSON",
        help="compare with an earlier results file (10%% tolerance)",
    )


def add_environment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--install-wrk", action="store_true", help="run `apt-get install -y wrk` if wrk is missing"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and wrk to separate CPUs"
    )
    parser.add_argument("--kassa", type=Path, help="kassa executable (default: the venv's)")
    parser.add_argument(
        "--serve-workers",
        type=int,
        default=1,
        metavar="N",
        help="run `kassa serve --workers N` (default 1; with more, use --no-pin on a small "
        "machine, or all of them share the server's one CPU)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT_S,
        help="seconds to wait for the server to answer (default %(default)s)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep this run's database copy in the work dir"
    )


def validate_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks the options of the three groups above; turns --concurrency into a list."""
    if not MIN_SCENARIO_SECONDS <= args.seconds <= MAX_SCENARIO_SECONDS:
        parser.error(f"--seconds must be in [{MIN_SCENARIO_SECONDS}, {MAX_SCENARIO_SECONDS}]")
    if not 0 <= args.warmup_seconds <= MAX_WARMUP_SECONDS:
        parser.error(f"--warmup-seconds must be in [0, {MAX_WARMUP_SECONDS}]")
    if not 0 < args.ready_timeout <= MAX_READY_TIMEOUT_S:
        parser.error(f"--ready-timeout must be in (0, {MAX_READY_TIMEOUT_S}]")
    if not 1 <= args.serve_workers <= SERVE_WORKERS_MAX:
        parser.error(f"--serve-workers must be in [1, {SERVE_WORKERS_MAX}]")
    try:
        args.concurrency = parse_concurrency(args.concurrency)
    except ValueError as error:
        parser.error(str(error))


def parse_concurrency(text: str) -> list[int]:
    levels = sorted({int(part) for part in text.split(",") if part.strip()})
    if not levels or levels[0] < 1 or levels[-1] > MAX_CONCURRENCY:
        raise ValueError(f"--concurrency values must be in [1, {MAX_CONCURRENCY}]")
    return levels


# --- Tools -------------------------------------------------------------------------


def find_tools(args: argparse.Namespace) -> Tools:
    return Tools(
        kassa=find_kassa(args.kassa),
        wrk=find_wrk(install=args.install_wrk),
        py_spy=find_py_spy() if args.profile else None,
    )


def venv_bin_dir() -> Path:
    # sys.executable may be a symlink to the base interpreter; the venv's bin/
    # is where it was invoked from, so do not resolve it.
    return Path(sys.executable).parent


def find_executable(name: str) -> Path | None:
    beside_python = venv_bin_dir() / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which(name)
    return Path(found) if found else None


def find_kassa(explicit: Path | None) -> Path:
    kassa = explicit or find_executable("kassa")
    if kassa is None or not kassa.exists():
        raise SetupError(
            "kassa executable not found; install the project first: "
            "`. .venv/bin/activate && pip install -e .` (or pass --kassa PATH)"
        )
    return kassa


def find_wrk(*, install: bool) -> Path:
    wrk = shutil.which("wrk")
    if wrk is None and install:
        install_wrk()
        wrk = shutil.which("wrk")
    if wrk is None:
        raise SetupError(
            "wrk is not installed. Install it with "
            "`apt-get update && apt-get install -y wrk` (as root), "
            "or rerun with --install-wrk to let this script do it."
        )
    return Path(wrk)


def install_wrk() -> None:
    print("wrk is missing; running apt-get install -y wrk", file=sys.stderr)
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        completed = subprocess.run(command, check=False, stdin=subprocess.DEVNULL)
        if completed.returncode != 0:
            raise SetupError(f"`{' '.join(command)}` failed with code {completed.returncode}")


def find_py_spy() -> Path:
    py_spy = find_executable("py-spy")
    if py_spy is None:
        raise SetupError("--profile needs py-spy: `. .venv/bin/activate && pip install py-spy`")
    return py_spy


def raise_interrupt(signum: int, _frame: types.FrameType | None) -> NoReturn:
    # Turn SIGTERM into the same clean unwinding as Ctrl-C, so that the
    # `finally` blocks stop the server and wrk.
    raise KeyboardInterrupt(f"signal {signum}")


def run_main(
    parse_arguments: Callable[[Sequence[str]], argparse.Namespace],
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """A benchmark script's main(): options, then run, with errors as exit codes."""
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        return run(args)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SETUP_ERROR
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BENCH_FAILED
    except KeyboardInterrupt:
        print("interrupted; server stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
