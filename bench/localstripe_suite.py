"""Run localstripe's own test script (its `test.sh`, curl statements against a Stripe-like
server) against a fresh local `kassa serve`, and report which statements fail.

    python bench/localstripe_suite.py --script PATH/TO/localstripe/test.sh

The script is not part of Kassa: fetch localstripe beside the project (never into it) and
pass its test.sh. It is run as written except for four substitutions: its `set -eux` becomes
an ERR trap, so a failing statement is counted and the run goes on instead of stopping; its
HOST and SK point at this server and this run's secret key; and its made-up publishable key
is this run's publishable key. A statement here is a top-level command of the script (a
`curl`, an assignment from one, a `[ ... ]` check); a statement that fails because an
earlier one left a variable empty counts as failing too, as it would for a user.

Results go to bench/results/localstripe-<stamp>.json: the counts, and each failing
statement's line number and text. Bounded: the run has a timeout, the server is stopped by
its own process id, and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, add_storage_arguments, find_kassa, run_main
from bench_harness import (
    CLI_TIMEOUT_S,
    DEFAULT_RESULTS_DIR,
    BenchError,
    SetupError,
    choose_database,
    display_path,
    make_run_dir,
    plan_cpus,
    remove_database_files,
    running_server,
)

SCRIPT_TIMEOUT_S = 600.0
"""localstripe's script takes about a minute against Kassa; ten is a hang."""
READY_TIMEOUT_S = 30.0
SCRIPT_CHARS_MAX = 1_000_000
FAILURE_MARKER = "KASSA_LOCALSTRIPE_FAILED"
STATEMENT_MARKER = "KASSA_LOCALSTRIPE_STATEMENT"
LOCALSTRIPE_PUBLISHABLE_KEY = "pk_test_sldkjflaksdfj"
FUTURE_CARD_YEAR = 2042
_PAST_CARD_YEAR = re.compile(r"(exp_year\]?=)(20[12]\d|2[0-5])\b")
"""`exp_year]=2020`, `exp_year=24`: the years the script wrote when they were ahead."""
# Each top-level statement sets a marker as it starts (the DEBUG trap fires before every
# simple command of the top-level shell, several per pipeline: only the first per line
# counts), and the ERR trap reports the line of a statement that failed.
PROLOGUE = (
    "set -u +e; __kassa_last=0; "
    'trap \'if [ "$BASH_SUBSHELL" = 0 ] && [ "$LINENO" != "$__kassa_last" ]; then '
    f'__kassa_last=$LINENO; echo "{STATEMENT_MARKER} $LINENO" >&3; fi\' DEBUG; '
    f"trap 'echo \"{FAILURE_MARKER} $LINENO\" >&3' ERR"
)
"""One line in place of the script's `set -eux`, so line numbers stay the script's own."""


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, required=True, help="localstripe's test.sh")
    parser.add_argument("--kassa", type=Path, help="kassa executable (default: the venv's)")
    parser.add_argument(
        "--future-card-years",
        action="store_true",
        help=f"move the script's card expiry years that have passed to {FUTURE_CARD_YEAR}: "
        "Stripe, and Kassa, decline an expired card, and each such card fails the "
        "statements after it",
    )
    add_storage_arguments(parser, "localstripe")
    return parser.parse_args(argv)


def adapted_script(
    text: str, base_url: str, secret_key: str, publishable_key: str, *, future_years: bool = False
) -> str:
    """localstripe's script, pointed at Kassa and run to the end."""
    if len(text) > SCRIPT_CHARS_MAX:
        raise SetupError(f"the script is over {SCRIPT_CHARS_MAX} characters: is it test.sh?")
    replaced, count = re.subn(r"(?m)^set -eux$", PROLOGUE, text)
    if count != 1:
        raise SetupError("the script has no `set -eux` line: is it localstripe's test.sh?")
    replaced = re.sub(r"(?m)^HOST=.*$", f"HOST={base_url}", replaced)
    replaced = re.sub(r"(?m)^SK=.*$", f"SK={secret_key}", replaced)
    if future_years:
        replaced = _PAST_CARD_YEAR.sub(lambda m: f"{m[1]}{FUTURE_CARD_YEAR}", replaced)
    return replaced.replace(LOCALSTRIPE_PUBLISHABLE_KEY, publishable_key)


def create_keys(kassa: Path, url: str) -> dict[str, str]:
    completed = subprocess.run(
        [str(kassa), "accounts", "create", "--database", url, "--json"],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if completed.returncode != 0:
        raise BenchError(f"`kassa accounts create` failed:\n{completed.stderr.strip()}")
    account: dict[str, str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return account


def run_script(script: str, work_dir: Path) -> tuple[list[int], list[int], str]:
    """(statement lines, failing lines, the script's stderr tail)."""
    path = work_dir / "test.sh"
    path.write_text(script)
    markers = work_dir / "markers.txt"
    with markers.open("w") as marker_file:
        completed = subprocess.run(
            ["bash", "-c", f"exec 3>&1; bash {path} 3>&3 >/dev/null 2>{work_dir}/stderr.txt"],
            stdout=marker_file,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    del completed
    statements: list[int] = []
    failures: list[int] = []
    for line in markers.read_text().splitlines():
        kind, _, number = line.partition(" ")
        if kind == STATEMENT_MARKER:
            statements.append(int(number))
        elif kind == FAILURE_MARKER:
            failures.append(int(number))
    stderr_tail = "\n".join((work_dir / "stderr.txt").read_text().splitlines()[-20:])
    return statements, failures, stderr_tail


def statement_text(lines: list[str], line_number: int) -> str:
    """The statement that ends on `line_number` (bash reports a multi-line command's last
    line for ERR; its first line names the endpoint): up to 8 lines back to its start."""
    end = line_number - 1
    start = end
    while start > 0 and end - start < 8 and lines[start - 1].rstrip().endswith(("\\", "$(", "|")):
        start -= 1
    return " ".join(line.strip() for line in lines[start : end + 1])


def run(args: argparse.Namespace) -> int:
    kassa = find_kassa(args.kassa)
    if not args.script.is_file():
        raise SetupError(
            f"{args.script} not found: fetch localstripe (github.com/adrienverge/localstripe) "
            "beside the project and pass its test.sh"
        )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = make_run_dir(args.work_dir, stamp, prefix="localstripe")
    url, database = choose_database(args.database, run_dir)
    keys = create_keys(kassa, url)
    print(f"kassa serve on {display_path(run_dir)}; running {args.script} ...", flush=True)
    original = args.script.read_text()
    with running_server(
        kassa,
        url,
        run_dir / "server.log",
        plan_cpus(pin=False),
        READY_TIMEOUT_S,
        keys["secret_key"],
    ) as server:
        script = adapted_script(
            original,
            server.base_url,
            keys["secret_key"],
            keys["publishable_key"],
            future_years=args.future_card_years,
        )
        statements, failures, stderr_tail = run_script(script, run_dir)
    if database is not None and not getattr(args, "keep_data", False):
        remove_database_files(database)
    lines = script.splitlines()
    failing: list[dict[str, Any]] = [
        {"line": n, "statement": statement_text(lines, n)[:300]} for n in failures
    ]
    results: dict[str, Any] = {
        "script": str(args.script),
        "future_card_years": args.future_card_years,
        "statements_run": len(set(statements)),
        "statements_failed": len(failures),
        "failures": failing,
        "stderr_tail": stderr_tail,
    }
    output = args.output or DEFAULT_RESULTS_DIR / f"localstripe-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    for failure in failing:
        print(f"  line {failure['line']}: {failure['statement'][:160]}")
    print(
        f"{len(failures)} of {len(set(statements))} statements failed; "
        f"results in {display_path(output)}"
    )
    return EXIT_OK if not failures else EXIT_BENCH_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
