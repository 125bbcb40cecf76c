"""Benchmark Kassa's customer endpoints against one local `kassa serve`.

Starts a single server process on a free 127.0.0.1 port, drives it with wrk
(one thread; connections = concurrency) through the Lua scripts in bench/lua/,
and reports requests per second, p50/p99 latency and errors for three
scenarios: create, retrieve and list customers. See bench/README.md.

Every bound (durations, timeouts, seed size, chunk sizes) is a named constant
below or a checked option, all traffic goes to 127.0.0.1, and the server is
stopped on every way out of the script.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

# --- Paths -------------------------------------------------------------------

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"
DEFAULT_WORK_DIR = BENCH_DIR / ".data"
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
DATABASE_FILE_NAME = "kassa.db"

# --- Network: loopback only --------------------------------------------------

# The benchmark never targets anything but this address.
LOOPBACK_HOST = "127.0.0.1"

# --- Durations and timeouts (seconds) ----------------------------------------

DEFAULT_SCENARIO_SECONDS = 10
# Long enough for connection set-up, caches and SQLite pages to settle.
DEFAULT_WARMUP_SECONDS = 2
MIN_SCENARIO_SECONDS = 1
MAX_SCENARIO_SECONDS = 600
MAX_WARMUP_SECONDS = 60
# Startup includes imports and migrations of a possibly large database.
DEFAULT_READY_TIMEOUT_S = 60.0
MAX_READY_TIMEOUT_S = 600.0
READY_POLL_INTERVAL_S = 0.1
# Time a child (server, wrk, py-spy) gets to exit after SIGTERM before SIGKILL.
PROCESS_STOP_TIMEOUT_S = 15.0
# Bound on `kassa accounts create` and on other short helper commands.
CLI_TIMEOUT_S = 60.0
# Bound on one readiness probe (the only HTTP this script makes itself).
HTTP_TIMEOUT_S = 5.0
# wrk counts a request as timed out after this long (its --timeout).
WRK_REQUEST_TIMEOUT_S = 5
# Extra time wrk gets beyond its -d duration before it is killed.
WRK_EXIT_GRACE_S = 30.0
# Extra time py-spy gets beyond its recording duration to write its file.
PROFILER_EXIT_GRACE_S = 60.0

# --- Load shape ----------------------------------------------------------------

DEFAULT_CONCURRENCY = (1, 32)
MAX_CONCURRENCY = 256
SCENARIOS = ("create", "retrieve", "list")
LIST_PAGE_LIMIT = 10
# wrk with one thread: the load generator stays on one core.
WRK_THREADS = 1

# --- Retrieve ids --------------------------------------------------------------

# Ids loaded into wrk for "retrieve"; wrk builds one request per id up front.
RETRIEVE_ID_SAMPLE_MAX = 100_000

# --- Seeding -------------------------------------------------------------------

MAX_SEED_CUSTOMERS = 10_000_000
SEED_CONCURRENCY = 32
# Chunks are sized to take about this long, so progress shows every few seconds.
SEED_CHUNK_TARGET_S = 3.0
SEED_FIRST_CHUNK = 2_000
SEED_CHUNK_MIN = 500
SEED_CHUNK_MAX = 50_000
# A chunk that has not finished by then is abandoned and retried.
SEED_CHUNK_TIME_LIMIT_S = 300
SEED_CHUNK_MAX_ATTEMPTS = 3
# Bound on one seeding session; progress is saved, a later run resumes.
SEED_TIME_LIMIT_S = 4 * 3600.0
SEED_PROGRESS_INTERVAL_S = 3.0
SEED_STATE_FILE_NAME = "seed.json"
SEED_IDS_FILE_NAME = "ids.txt"

# --- Profiling -----------------------------------------------------------------

PROFILED_SCENARIOS = ("create", "retrieve")
PROFILE_RATE_HZ = 100
PROFILE_FORMATS = {"flamegraph": ".svg", "speedscope": ".speedscope.json"}

# --- Targets (one server process, SQLite, this 2-core machine) ---------------

TARGET_CONCURRENCY = 32
TARGET_CREATE_RPS = 5_000.0
TARGET_RETRIEVE_RPS = 15_000.0
TARGET_P99_MS = 20.0
# With 1,000,000 customers stored, results stay within this of a fresh database.
COMPARE_TOLERANCE = 0.10

# --- Markers shared with bench/lua/*.lua ---------------------------------------

WRK_RESULT_MARKER = "KASSA_WRK_RESULT "
SEED_CHUNK_DONE_MARKER = "KASSA_SEED_CHUNK_DONE"

# --- Exit codes ------------------------------------------------------------------

EXIT_OK = 0
EXIT_BENCH_FAILED = 1
EXIT_SETUP_ERROR = 2
EXIT_INTERRUPTED = 130

MICROSECONDS_PER_MS = 1000.0
MICROSECONDS_PER_S = 1_000_000.0
LOG_TAIL_LINES = 30


class BenchError(Exception):
    """A failure that ends the benchmark with a message, not a traceback."""


class SetupError(BenchError):
    """A missing tool or a bad option: nothing was measured."""


# --- Small data types --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Account:
    id: str
    secret_key: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "secret_key": self.secret_key}


@dataclasses.dataclass(frozen=True)
class CpuPlan:
    """CPUs for the server and for the load tools; None means not pinned."""

    server: frozenset[int] | None
    load: frozenset[int] | None

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "not pinned"
        return f"server on CPU {sorted(self.server)}, load on CPU {sorted(self.load)}"


@dataclasses.dataclass(frozen=True)
class Tools:
    kassa: Path
    wrk: Path
    py_spy: Path | None


@dataclasses.dataclass(frozen=True)
class WrkResult:
    duration_s: float
    requests: int
    responses_2xx: int
    responses_other: int
    status_counts: dict[str, int]
    socket_errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())


@dataclasses.dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    concurrency: int
    wrk: WrkResult
    error_samples: list[str]
    profiled: bool
    profile_path: str | None

    @property
    def rps(self) -> float:
        """Successful (2xx) responses per second: failures are not throughput."""
        return self.wrk.responses_2xx / self.wrk.duration_s if self.wrk.duration_s else 0.0

    def latency_ms(self, name: str) -> float:
        return self.wrk.latency_us.get(name, math.nan) / MICROSECONDS_PER_MS

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "seconds": round(self.wrk.duration_s, 3),
            "requests": self.wrk.requests,
            "responses_2xx": self.wrk.responses_2xx,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.latency_ms("p50"), 3),
            "p90_ms": round(self.latency_ms("p90"), 3),
            "p99_ms": round(self.latency_ms("p99"), 3),
            "p99_9_ms": round(self.latency_ms("p99_9"), 3),
            "max_ms": round(self.latency_ms("max"), 3),
            "non_2xx": self.wrk.responses_other,
            "socket_errors": self.wrk.socket_errors,
            "status_counts": self.wrk.status_counts,
            "error_samples": self.error_samples,
            "profiled": self.profiled,
            "profile": self.profile_path,
        }


@dataclasses.dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path


@dataclasses.dataclass
class RunContext:
    """What every scenario needs: the tools, the server, where files go."""

    tools: Tools
    cpus: CpuPlan
    server: Server
    account: Account
    run_dir: Path
    created_ids_file: Path
    extra_ids_file: Path | None
    retrieve_ids_file: Path | None = None


# --- Command line ----------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/customers.py",
        description="Benchmark customer create/retrieve/list on one local kassa server.",
    )
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
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of %(default)s"
    )
    parser.add_argument(
        "--seed-customers",
        type=int,
        default=0,
        metavar="N",
        help="store N customers first (kept in the work dir and reused)",
    )
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
        help="results JSON (default bench/results/customers-<timestamp>.json)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="RESULTS_JSON",
        help="compare with an earlier results file (10%% tolerance)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the server during the "
        "highest-concurrency create and retrieve scenarios",
    )
    parser.add_argument("--profile-format", choices=sorted(PROFILE_FORMATS), default="flamegraph")
    parser.add_argument(
        "--install-wrk", action="store_true", help="run `apt-get install -y wrk` if wrk is missing"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and wrk to separate CPUs"
    )
    parser.add_argument("--kassa", type=Path, help="kassa executable (default: the venv's)")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT_S,
        help="seconds to wait for the server to answer (default %(default)s)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep this run's database copy in the work dir"
    )
    args = parser.parse_args(argv)
    validate_arguments(parser, args)
    return args


def validate_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not MIN_SCENARIO_SECONDS <= args.seconds <= MAX_SCENARIO_SECONDS:
        parser.error(f"--seconds must be in [{MIN_SCENARIO_SECONDS}, {MAX_SCENARIO_SECONDS}]")
    if not 0 <= args.warmup_seconds <= MAX_WARMUP_SECONDS:
        parser.error(f"--warmup-seconds must be in [0, {MAX_WARMUP_SECONDS}]")
    if not 0 <= args.seed_customers <= MAX_SEED_CUSTOMERS:
        parser.error(f"--seed-customers must be in [0, {MAX_SEED_CUSTOMERS}]")
    if not 0 < args.ready_timeout <= MAX_READY_TIMEOUT_S:
        parser.error(f"--ready-timeout must be in (0, {MAX_READY_TIMEOUT_S}]")
    if args.seed_customers and args.database:
        parser.error("--seed-customers manages its own database; do not combine with --database")
    try:
        args.concurrency = parse_concurrency(args.concurrency)
        args.scenarios = parse_scenarios(args.scenarios)
    except ValueError as error:
        parser.error(str(error))


def parse_concurrency(text: str) -> list[int]:
    levels = sorted({int(part) for part in text.split(",") if part.strip()})
    if not levels or levels[0] < 1 or levels[-1] > MAX_CONCURRENCY:
        raise ValueError(f"--concurrency values must be in [1, {MAX_CONCURRENCY}]")
    return levels


def parse_scenarios(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if not chosen or unknown:
        raise ValueError(f"--scenarios must be a subset of {','.join(SCENARIOS)}")
    # Always in the canonical order: retrieve uses the ids that create made.
    return [name for name in SCENARIOS if name in chosen]


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


def wrk_version(wrk: Path) -> str:
    # `wrk -v` prints its banner and exits non-zero; only the first line matters.
    completed = subprocess.run(
        [str(wrk), "-v"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )
    lines = (completed.stdout or completed.stderr).splitlines()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." -> "wrk debian/4.1.0-3+b2"
    return lines[0].split("[")[0].strip() if lines else "unknown"


def git_commit() -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    except OSError:
        return "unknown"
    return completed.stdout.strip() if completed.returncode == 0 else "unknown"


# --- CPU pinning ---------------------------------------------------------------------


def plan_cpus(*, pin: bool) -> CpuPlan:
    """Server on the first allowed CPU, load tools on the others.

    On this 2-core machine this keeps wrk from stealing cycles from the server
    (and the other way round), which makes runs comparable.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return CpuPlan(server=None, load=None)
    return CpuPlan(server=frozenset(cpus[:1]), load=frozenset(cpus[1:]))


def pinned(command: list[str], cpus: frozenset[int] | None) -> list[str]:
    """The command prefixed with taskset, so it runs only on `cpus`.

    taskset sets the affinity and then execs the command, so the process id
    stays the command's own (py-spy attaches to it) and every thread the
    command starts later inherits the affinity.
    """
    if cpus is None:
        return command
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SetupError("CPU pinning needs taskset (Debian: util-linux); or pass --no-pin")
    return [taskset, "--cpu-list", ",".join(map(str, sorted(cpus))), *command]


# --- Database and account ----------------------------------------------------------


def sqlite_url(path: Path) -> str:
    # sqlite:/// followed by an absolute path, e.g. sqlite:////work/kassa.db.
    return f"sqlite:///{path.resolve()}"


def database_url(value: str) -> str:
    """Accept a URL as is, or a file path meaning a SQLite database."""
    if "://" in value:
        return value
    return sqlite_url(Path(value))


def create_account(kassa: Path, url: str) -> Account:
    command = [str(kassa), "accounts", "create", "--database", url, "--json"]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"`kassa accounts create` took over {CLI_TIMEOUT_S}s") from error
    if completed.returncode != 0:
        raise BenchError(
            f"`kassa accounts create` failed ({completed.returncode}):\n{completed.stderr.strip()}"
        )
    return parse_account(completed.stdout)


def parse_account(output: str) -> Account:
    # The JSON object is the last line that parses; anything before it is logging.
    for line in reversed(output.strip().splitlines()):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and str(data.get("secret_key", "")).startswith("sk_"):
            return Account(id=str(data.get("id", "")), secret_key=str(data["secret_key"]))
    raise BenchError(f"no account JSON in `kassa accounts create` output:\n{output}")


# --- Loopback HTTP (readiness probes only; the load goes through wrk) ------------------


def loopback_opener() -> urllib.request.OpenerDirector:
    # No proxies: an http_proxy variable must not send loopback calls elsewhere.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(base_url: str, path: str, secret_key: str | None) -> tuple[int, bytes]:
    url = base_url + path
    if urllib.parse.urlsplit(url).hostname != LOOPBACK_HOST:
        raise BenchError(f"refusing a non-loopback URL: {url}")
    request = urllib.request.Request(url)
    if secret_key:
        request.add_header("Authorization", f"Bearer {secret_key}")
    try:
        with loopback_opener().open(request, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- The server ------------------------------------------------------------------------


def free_loopback_port() -> int:
    # The kernel picks a free port; the tiny window before the server binds it
    # is acceptable for a benchmark run on a developer machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(
    kassa: Path, url: str, log_path: Path, cpus: CpuPlan, ready_timeout: float, secret_key: str
) -> Iterator[Server]:
    """One `kassa serve` on 127.0.0.1, ready when entered, stopped when left."""
    port = free_loopback_port()
    command = [str(kassa), "serve", "--host", LOOPBACK_HOST, "--port", str(port), "--database", url]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            pinned(command, cpus.server),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal reaches this script only,
            # which then stops the server in order.
            start_new_session=True,
        )
        server = Server(
            process=process, base_url=f"http://{LOOPBACK_HOST}:{port}", log_path=log_path
        )
        try:
            wait_until_ready(server, secret_key, ready_timeout)
            yield server
        finally:
            stop_process(process, PROCESS_STOP_TIMEOUT_S)


def wait_until_ready(server: Server, secret_key: str, timeout_s: float) -> None:
    """Poll /healthz (or the list endpoint, if there is no /healthz) until 200."""
    deadline = time.monotonic() + timeout_s
    probe_path = "/healthz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"kassa serve exited with code {server.process.returncode}\n"
                f"{log_tail(server.log_path)}"
            )
        try:
            status, _ = http_get(server.base_url, probe_path, secret_key)
        except (urllib.error.URLError, OSError):
            status = 0  # not listening yet
        if status == 200:
            return
        if status == 404 and probe_path == "/healthz":
            probe_path = "/v1/customers?limit=1"
        time.sleep(READY_POLL_INTERVAL_S)
    raise BenchError(f"kassa serve did not answer within {timeout_s}s\n{log_tail(server.log_path)}")


def stop_process(process: subprocess.Popen[Any], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL after timeout_s; only this one process id."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(
            f"process {process.pid} ignored SIGTERM for {timeout_s}s; killing it", file=sys.stderr
        )
        process.kill()
        process.wait(timeout=timeout_s)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def server_log_problems(path: Path) -> dict[str, int]:
    """Counts of lines in the server log that point at server-side failures."""
    counts = {"tracebacks": 0, "lines_with_500": 0, "log_lines": 0}
    try:
        with path.open(errors="replace") as log:
            for line in log:
                counts["log_lines"] += 1
                if line.startswith("Traceback"):
                    counts["tracebacks"] += 1
                if " 500 " in line or '" 500' in line:
                    counts["lines_with_500"] += 1
    except OSError:
        pass
    return counts


# --- wrk ---------------------------------------------------------------------------------


def run_wrk(
    tools: Tools,
    cpus: CpuPlan,
    base_url: str,
    script: str,
    *,
    concurrency: int,
    seconds: int,
    script_args: Mapping[str, str],
    stop_marker: str | None = None,
) -> WrkResult:
    """Run wrk once and parse the JSON line that bench/lua/common.lua prints.

    If stop_marker is given, wrk is ended with SIGINT as soon as the script
    prints it (wrk would otherwise sleep out its whole -d duration).
    """
    command = [
        str(tools.wrk),
        "-t",
        str(WRK_THREADS),
        "-c",
        str(concurrency),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{WRK_REQUEST_TIMEOUT_S}s",
        "-s",
        str(LUA_DIR / script),
        base_url,
        "--",
        *(f"{key}={value}" for key, value in script_args.items()),
    ]
    process = subprocess.Popen(
        pinned(command, cpus.load),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(seconds + WRK_EXIT_GRACE_S, process.kill)
    watchdog.start()
    try:
        output = read_wrk_output(process, stop_marker)
        process.wait()
    finally:
        watchdog.cancel()
        stop_process(process, PROCESS_STOP_TIMEOUT_S)
    return parse_wrk_output(output, process.returncode)


def read_wrk_output(process: subprocess.Popen[str], stop_marker: str | None) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if stop_marker is not None and line.startswith(stop_marker):
            process.send_signal(signal.SIGINT)
    return lines


def parse_wrk_output(lines: list[str], returncode: int | None) -> WrkResult:
    for line in lines:
        if line.startswith(WRK_RESULT_MARKER):
            return wrk_result_from_json(json.loads(line[len(WRK_RESULT_MARKER) :]))
    tail = "\n".join(lines[-LOG_TAIL_LINES:])
    raise BenchError(f"wrk (exit code {returncode}) printed no result line:\n{tail}")


def wrk_result_from_json(data: dict[str, Any]) -> WrkResult:
    return WrkResult(
        duration_s=float(data["duration_us"]) / MICROSECONDS_PER_S,
        requests=int(data["requests"]),
        responses_2xx=int(data["responses_2xx"]),
        responses_other=int(data["responses_other"]),
        status_counts={str(k): int(v) for k, v in dict(data["status_counts"]).items()},
        socket_errors={str(k): int(v) for k, v in dict(data["socket_errors"]).items()},
        latency_us={str(k): float(v) for k, v in dict(data["latency_us"]).items()},
    )


def read_error_samples(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if line]


# --- Scenarios ------------------------------------------------------------------------------


def scenario_script_args(
    ctx: RunContext, scenario: str, nonce: str, errors_file: Path
) -> dict[str, str]:
    common = {"key": ctx.account.secret_key, "errors_file": str(errors_file)}
    if scenario == "create":
        return {**common, "nonce": nonce, "ids_file": str(ctx.created_ids_file)}
    if scenario == "retrieve":
        ids_file = retrieve_ids(ctx)
        # A numeric seed for Lua's math.randomseed, different on every run.
        return {**common, "ids_file": str(ids_file), "seed": str(random.randrange(1 << 30))}
    return {**common, "limit": str(LIST_PAGE_LIMIT)}


def run_scenario(
    ctx: RunContext,
    scenario: str,
    concurrency: int,
    *,
    seconds: int,
    warmup_seconds: int,
    profile: ProfileRequest | None,
) -> ScenarioResult:
    label = f"{scenario}-c{concurrency}"
    if warmup_seconds > 0:
        print(f"  {label}: warm-up {warmup_seconds}s", file=sys.stderr)
        run_scenario_once(ctx, scenario, concurrency, warmup_seconds, f"{label}-warmup")
    print(f"  {label}: measuring {seconds}s", file=sys.stderr)
    profiler = start_profiler(ctx, profile, label, seconds) if profile else None
    try:
        result = run_scenario_once(ctx, scenario, concurrency, seconds, label)
    finally:
        profile_path = finish_profiler(profiler) if profiler else None
    return ScenarioResult(
        scenario=scenario,
        concurrency=concurrency,
        wrk=result,
        error_samples=read_error_samples(errors_file_for(ctx, label)),
        profiled=profiler is not None,
        profile_path=profile_path,
    )


def errors_file_for(ctx: RunContext, label: str) -> Path:
    return ctx.run_dir / f"errors-{label}.txt"


def run_scenario_once(
    ctx: RunContext, scenario: str, concurrency: int, seconds: int, label: str
) -> WrkResult:
    errors_file = errors_file_for(ctx, label)
    errors_file.unlink(missing_ok=True)
    # The nonce keeps Idempotency-Keys unique across warm-ups, runs and reruns.
    nonce = f"{label}-{uuid.uuid4().hex[:12]}"
    return run_wrk(
        ctx.tools,
        ctx.cpus,
        ctx.server.base_url,
        f"{scenario}.lua",
        concurrency=concurrency,
        seconds=seconds,
        script_args=scenario_script_args(ctx, scenario, nonce, errors_file),
    )


def retrieve_ids(ctx: RunContext) -> Path:
    """The ids file for "retrieve": a uniform sample of every id recorded."""
    if ctx.retrieve_ids_file is not None:
        return ctx.retrieve_ids_file
    sources = [
        path
        for path in (ctx.created_ids_file, ctx.extra_ids_file)
        if path is not None and path.exists()
    ]
    sample = sample_lines(sources, RETRIEVE_ID_SAMPLE_MAX)
    if not sample:
        # Each run has its own new account, so its only customers are the ones
        # this run created or the seed's.
        raise BenchError("no customer ids to retrieve: include the create scenario or seed")
    path = ctx.run_dir / "retrieve-ids.txt"
    path.write_text("\n".join(sample) + "\n")
    ctx.retrieve_ids_file = path
    print(f"  retrieve: {len(sample):,} distinct ids sampled", file=sys.stderr)
    return path


def sample_lines(paths: Sequence[Path], limit: int) -> list[str]:
    """A uniform sample of up to `limit` lines, in one pass over files of any size.

    Repeated lines are dropped from the sample: a retried seed chunk records
    the ids it replays a second time.
    """
    chooser = random.Random()
    reservoir: list[str] = []
    seen = 0
    for path in paths:
        with path.open() as lines:
            for line in lines:
                value = line.strip()
                if not value:
                    continue
                seen += 1
                if len(reservoir) < limit:
                    reservoir.append(value)
                else:
                    slot = chooser.randrange(seen)
                    if slot < limit:
                        reservoir[slot] = value
    return list(dict.fromkeys(reservoir))


# --- Profiling ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProfileRequest:
    py_spy: Path
    output_format: str
    profiles_dir: Path


@dataclasses.dataclass(frozen=True)
class RunningProfiler:
    process: subprocess.Popen[bytes]
    output: Path
    log_path: Path
    seconds: int


def start_profiler(
    ctx: RunContext, profile: ProfileRequest, label: str, seconds: int
) -> RunningProfiler:
    """py-spy attached to the server for the measured part of one scenario."""
    profile.profiles_dir.mkdir(parents=True, exist_ok=True)
    output = profile.profiles_dir / f"{label}{PROFILE_FORMATS[profile.output_format]}"
    log_path = profile.profiles_dir / f"{label}.py-spy.log"
    command = [
        str(profile.py_spy),
        "record",
        "--pid",
        str(ctx.server.process.pid),
        "--duration",
        str(seconds),
        "--rate",
        str(PROFILE_RATE_HZ),
        # Sampling without pausing the server keeps the profile's own cost low.
        "--nonblocking",
        # In case the server forks workers.
        "--subprocesses",
        "--format",
        profile.output_format,
        "--output",
        str(output),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pinned(command, ctx.cpus.load),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningProfiler(process=process, output=output, log_path=log_path, seconds=seconds)


def finish_profiler(profiler: RunningProfiler) -> str | None:
    try:
        profiler.process.wait(timeout=profiler.seconds + PROFILER_EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        stop_process(profiler.process, PROCESS_STOP_TIMEOUT_S)
    if profiler.process.returncode != 0 or not profiler.output.exists():
        print(
            f"  py-spy failed (code {profiler.process.returncode}); see {profiler.log_path}\n"
            f"{log_tail(profiler.log_path, 5)}",
            file=sys.stderr,
        )
        return None
    print(f"  profile: {profiler.output}", file=sys.stderr)
    return display_path(profiler.output)


# --- Seeding ------------------------------------------------------------------------------


@dataclasses.dataclass
class SeedState:
    """seed.json in a seed directory; saved after every chunk so runs resume."""

    target: int
    seeded: int
    account: Account

    def save(self, path: Path) -> None:
        data = {"target": self.target, "seeded": self.seeded, "account": self.account.as_json()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        temporary.replace(path)  # atomic: a crash never leaves half a file

    @staticmethod
    def load(path: Path) -> SeedState:
        data = json.loads(path.read_text())
        account = data["account"]
        return SeedState(
            target=int(data["target"]),
            seeded=int(data["seeded"]),
            account=Account(id=str(account["id"]), secret_key=str(account["secret_key"])),
        )


@dataclasses.dataclass
class SeedProgress:
    target: int
    start_count: int
    started_at: float
    last_report_at: float

    def report(self, count: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_report_at < SEED_PROGRESS_INTERVAL_S:
            return
        self.last_report_at = now
        elapsed = max(now - self.started_at, 1e-9)
        rate = (count - self.start_count) / elapsed
        remaining = (self.target - count) / rate if rate > 0 else math.inf
        print(
            f"  seed: {count:,}/{self.target:,} ({100 * count / self.target:.1f}%) "
            f"{rate:,.0f}/s, elapsed {format_duration(elapsed)}, "
            f"ETA {format_duration(remaining)}",
            file=sys.stderr,
        )


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def seed_directory(work_dir: Path, target: int) -> Path:
    return work_dir / f"seed-{target}"


def ensure_seeded(
    tools: Tools, cpus: CpuPlan, work_dir: Path, target: int, ready_timeout: float
) -> tuple[Path, SeedState]:
    """Bring the seed database for `target` up to `target` customers."""
    seed_dir = seed_directory(work_dir, target)
    seed_dir.mkdir(parents=True, exist_ok=True)
    state_path = seed_dir / SEED_STATE_FILE_NAME
    url = sqlite_url(seed_dir / DATABASE_FILE_NAME)
    if state_path.exists():
        state = SeedState.load(state_path)
    else:
        state = SeedState(target=target, seeded=0, account=create_account(tools.kassa, url))
        state.save(state_path)
    if state.seeded >= target:
        print(f"seed: reusing {seed_dir} ({state.seeded:,} customers)", file=sys.stderr)
        return seed_dir, state
    print(
        f"seed: {state.seeded:,} of {target:,} customers stored in {seed_dir}; "
        "creating the rest through the API",
        file=sys.stderr,
    )
    with running_server(
        tools.kassa, url, seed_dir / "server.log", cpus, ready_timeout, state.account.secret_key
    ) as server:
        seed_through_api(tools, cpus, server, state, state_path, seed_dir)
    return seed_dir, state


def seed_through_api(
    tools: Tools, cpus: CpuPlan, server: Server, state: SeedState, state_path: Path, seed_dir: Path
) -> None:
    # last_report_at = -inf: the first chunk reports at once, showing the rate early.
    progress = SeedProgress(
        target=state.target,
        start_count=state.seeded,
        started_at=time.monotonic(),
        last_report_at=-math.inf,
    )
    chunk = SEED_FIRST_CHUNK
    while state.seeded < state.target:
        if time.monotonic() - progress.started_at > SEED_TIME_LIMIT_S:
            raise BenchError(
                f"seeding stopped after {SEED_TIME_LIMIT_S:.0f}s at "
                f"{state.seeded:,}; rerun to resume"
            )
        count = min(chunk, state.target - state.seeded)
        chunk_seconds = seed_chunk(tools, cpus, server, state, seed_dir, count)
        state.seeded += count
        state.save(state_path)
        progress.report(state.seeded, force=state.seeded >= state.target)
        chunk = next_chunk_size(count, chunk_seconds)


def next_chunk_size(count: int, seconds: float) -> int:
    rate = count / max(seconds, 1e-3)
    return max(SEED_CHUNK_MIN, min(SEED_CHUNK_MAX, int(rate * SEED_CHUNK_TARGET_S)))


def seed_chunk(
    tools: Tools, cpus: CpuPlan, server: Server, state: SeedState, seed_dir: Path, count: int
) -> float:
    """Create customers [seeded, seeded + count); returns the seconds it took.

    A failed attempt is simply repeated: the Lua script derives each
    Idempotency-Key from the customer number, so nothing is created twice.
    """
    errors_file = seed_dir / "errors.txt"
    for attempt in range(1, SEED_CHUNK_MAX_ATTEMPTS + 1):
        started = time.monotonic()
        errors_file.unlink(missing_ok=True)
        try:
            result = run_wrk(
                tools,
                cpus,
                server.base_url,
                "seed.lua",
                concurrency=SEED_CONCURRENCY,
                seconds=SEED_CHUNK_TIME_LIMIT_S,
                stop_marker=SEED_CHUNK_DONE_MARKER,
                script_args={
                    "key": state.account.secret_key,
                    "first": str(state.seeded),
                    "count": str(count),
                    "ids_file": str(seed_dir / SEED_IDS_FILE_NAME),
                    "errors_file": str(errors_file),
                },
            )
        except BenchError as error:
            problem = str(error)
        else:
            if result.responses_2xx == count:
                return time.monotonic() - started
            problem = (
                f"{result.responses_2xx:,} of {count:,} created; statuses "
                f"{result.status_counts}; samples {read_error_samples(errors_file)[:2]}"
            )
        print(
            f"  seed chunk at {state.seeded:,} attempt {attempt} failed: {problem}", file=sys.stderr
        )
    raise BenchError(
        f"seeding failed {SEED_CHUNK_MAX_ATTEMPTS} times at customer "
        f"{state.seeded:,}\n{log_tail(server.log_path)}"
    )


def copy_database(seed_dir: Path, run_dir: Path) -> Path:
    """Copy the seed database (and any WAL files) so a run never grows it."""
    for source in sorted(seed_dir.glob(DATABASE_FILE_NAME + "*")):
        shutil.copy2(source, run_dir / source.name)
    return run_dir / DATABASE_FILE_NAME


# --- Results ------------------------------------------------------------------------------


def evaluate_targets(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    minimum_rps = {"create": TARGET_CREATE_RPS, "retrieve": TARGET_RETRIEVE_RPS}
    for result in results:
        if result.concurrency != TARGET_CONCURRENCY:
            continue
        if result.scenario in minimum_rps:
            required = minimum_rps[result.scenario]
            checks.append(
                {
                    "target": f"{result.scenario} c{TARGET_CONCURRENCY} >= {required:,.0f} req/s",
                    "value": round(result.rps, 1),
                    "met": result.rps >= required,
                }
            )
        p99 = result.latency_ms("p99")
        checks.append(
            {
                "target": f"{result.scenario} c{TARGET_CONCURRENCY} p99 < {TARGET_P99_MS:g} ms",
                "value": round(p99, 3),
                "met": p99 < TARGET_P99_MS,
            }
        )
    return checks


def compare_with(baseline_path: Path, results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    """Per scenario: throughput and p99 relative to an earlier results file."""
    baseline = json.loads(baseline_path.read_text())
    earlier = {
        (str(item["scenario"]), int(item["concurrency"])): item
        for item in baseline.get("scenarios", [])
    }
    rows: list[dict[str, Any]] = []
    for result in results:
        before = earlier.get((result.scenario, result.concurrency))
        if before is None or not before.get("rps"):
            continue
        rps_ratio = result.rps / float(before["rps"])
        p99_ratio = result.latency_ms("p99") / float(before["p99_ms"]) if before["p99_ms"] else 1.0
        rows.append(
            {
                "scenario": result.scenario,
                "concurrency": result.concurrency,
                "rps_ratio": round(rps_ratio, 3),
                "p99_ratio": round(p99_ratio, 3),
                "within_tolerance": rps_ratio >= 1 - COMPARE_TOLERANCE
                and p99_ratio <= 1 + COMPARE_TOLERANCE,
            }
        )
    return rows


def results_table(results: Sequence[ScenarioResult]) -> str:
    header = (
        f"{'scenario':<10} {'conc':>4} {'requests':>9} {'req/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'sock err':>8}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        marker = " (profiled)" if result.profiled else ""
        lines.append(
            f"{result.scenario:<10} {result.concurrency:>4} {result.wrk.requests:>9,} "
            f"{result.rps:>9,.0f} {result.latency_ms('p50'):>8.2f} "
            f"{result.latency_ms('p99'):>8.2f} {result.latency_ms('max'):>8.2f} "
            f"{result.wrk.responses_other:>8,} {result.wrk.socket_error_count:>8,}{marker}"
        )
    return "\n".join(lines)


def targets_table(checks: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(
        f"  [{'met' if check['met'] else 'MISSED'}] {check['target']}: {check['value']:,}"
        for check in checks
    )


def comparison_table(rows: Sequence[Mapping[str, Any]], baseline: Path) -> str:
    lines = [f"Compared with {baseline} (tolerance {COMPARE_TOLERANCE:.0%}):"]
    for row in rows:
        verdict = "ok" if row["within_tolerance"] else "OUTSIDE"
        lines.append(
            f"  [{verdict}] {row['scenario']} c{row['concurrency']}: "
            f"req/s x{row['rps_ratio']}, p99 x{row['p99_ratio']}"
        )
    return "\n".join(lines)


def display_path(path: Path) -> str:
    """Relative to the repository when inside it: results files are committed."""
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def utc_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_results(path: Path, report: Mapping[str, Any], text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    text_path = path.with_suffix(".txt")
    text_path.write_text(text + "\n")
    return text_path


def environment_report(tools: Tools, cpus: CpuPlan) -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "cpus": os.cpu_count(),
        "pinning": cpus.describe(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version(tools.wrk),
    }


# --- Orchestration ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workspace:
    run_dir: Path
    database_url: str
    account: Account
    seeded_customers: int
    extra_ids_file: Path | None
    owned_database: Path | None  # deleted at the end unless --keep-data


def prepare_workspace(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, stamp: str
) -> Workspace:
    work_dir: Path = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    # mkdtemp: two runs started in the same second still get their own directory.
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{stamp}-", dir=work_dir))
    if args.seed_customers:
        seed_dir, state = ensure_seeded(
            tools, cpus, work_dir, args.seed_customers, args.ready_timeout
        )
        print(f"copying the seeded database to {run_dir}", file=sys.stderr)
        database = copy_database(seed_dir, run_dir)
        return Workspace(
            run_dir,
            sqlite_url(database),
            state.account,
            state.seeded,
            seed_dir / SEED_IDS_FILE_NAME,
            database,
        )
    if args.database:
        url = database_url(args.database)
        return Workspace(run_dir, url, create_account(tools.kassa, url), 0, None, None)
    database = run_dir / DATABASE_FILE_NAME
    url = sqlite_url(database)
    return Workspace(run_dir, url, create_account(tools.kassa, url), 0, None, database)


def measure(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, workspace: Workspace
) -> tuple[list[ScenarioResult], dict[str, int]]:
    log_path = workspace.run_dir / "server.log"
    profile = (
        ProfileRequest(tools.py_spy, args.profile_format, workspace.run_dir / "profiles")
        if tools.py_spy
        else None
    )
    profiled_concurrency = max(args.concurrency)
    results: list[ScenarioResult] = []
    print(f"starting kassa serve ({cpus.describe()}); log: {log_path}", file=sys.stderr)
    with running_server(
        tools.kassa,
        workspace.database_url,
        log_path,
        cpus,
        args.ready_timeout,
        workspace.account.secret_key,
    ) as server:
        ctx = RunContext(
            tools=tools,
            cpus=cpus,
            server=server,
            account=workspace.account,
            run_dir=workspace.run_dir,
            created_ids_file=workspace.run_dir / "created-ids.txt",
            extra_ids_file=workspace.extra_ids_file,
        )
        for scenario in args.scenarios:
            for concurrency in args.concurrency:
                wants_profile = (
                    scenario in PROFILED_SCENARIOS and concurrency == profiled_concurrency
                )
                results.append(
                    run_scenario(
                        ctx,
                        scenario,
                        concurrency,
                        seconds=args.seconds,
                        warmup_seconds=args.warmup_seconds,
                        profile=profile if wants_profile else None,
                    )
                )
    return results, server_log_problems(log_path)


def build_report(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    workspace: Workspace,
    results: Sequence[ScenarioResult],
    log_problems: Mapping[str, int],
    started_at: str,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "customers",
        "started_at": started_at,
        "environment": environment_report(tools, cpus),
        "settings": {
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "concurrency": args.concurrency,
            "scenarios": args.scenarios,
            "wrk_threads": WRK_THREADS,
            "list_limit": LIST_PAGE_LIMIT,
            "database": workspace.database_url.split(":", 1)[0],
            "seeded_customers": workspace.seeded_customers,
        },
        "scenarios": [result.as_json() for result in results],
        "targets": evaluate_targets(results),
        "server_log": {"path": display_path(workspace.run_dir / "server.log"), **log_problems},
    }
    if args.compare:
        report["comparison"] = {
            "baseline": str(args.compare),
            "rows": compare_with(args.compare, results),
        }
    return report


def report_text(report: Mapping[str, Any], results: Sequence[ScenarioResult]) -> str:
    settings = report["settings"]
    env = report["environment"]
    parts = [
        f"Kassa customers benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{env['wrk']}, {env['pinning']})",
        f"{settings['seconds']:g}s per scenario after {settings['warmup_seconds']:g}s warm-up; "
        f"{settings['seeded_customers']:,} customers seeded; req/s counts 2xx responses",
        "",
        results_table(results),
        "",
        "Targets:",
        targets_table(report["targets"]) or "  (no scenario at the target concurrency)",
    ]
    log = report["server_log"]
    if log["tracebacks"] or log["lines_with_500"]:
        parts += [
            "",
            f"Server log: {log['tracebacks']} tracebacks, {log['lines_with_500']} "
            f"lines with 500 ({log['path']})",
        ]
    if "comparison" in report:
        parts += [
            "",
            comparison_table(report["comparison"]["rows"], Path(report["comparison"]["baseline"])),
        ]
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    stamp = utc_stamp()
    tools = find_tools(args)
    cpus = plan_cpus(pin=not args.no_pin)
    workspace = prepare_workspace(args, tools, cpus, stamp)
    try:
        results, log_problems = measure(args, tools, cpus, workspace)
    finally:
        if workspace.owned_database is not None and not args.keep_data:
            remove_database_files(workspace.owned_database)
    report = build_report(args, tools, cpus, workspace, results, log_problems, started_at)
    text = report_text(report, results)
    output = args.output or DEFAULT_RESULTS_DIR / f"customers-{stamp}.json"
    text_path = write_results(output, report, text)
    print(text)
    print(f"\nresults: {output} and {text_path}")
    return EXIT_OK


def remove_database_files(database: Path) -> None:
    for path in database.parent.glob(database.name + "*"):
        path.unlink(missing_ok=True)


def raise_interrupt(signum: int, _frame: types.FrameType | None) -> NoReturn:
    # Turn SIGTERM into the same clean unwinding as Ctrl-C, so that the
    # `finally` blocks stop the server and wrk.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
