"""What every Kassa benchmark script runs: one server, wrk and py-spy, pinned.

bench/customers.py and bench/payment_intents.py import this module (it sits
beside them, so `python bench/<script>.py` finds it), with bench_cli.py (the
shared options, finding the tools, main()) and bench_results.py (tables,
results files, profile summaries). This one starts one `kassa serve` on a free
127.0.0.1 port, pinned to the first CPU with taskset; runs wrk (pinned to the
other CPUs) with a Lua script from bench/lua/ and parses the JSON line that
bench/lua/common.lua prints; attaches py-spy to the server; creates accounts,
lists objects through the API and runs `kassa ledger verify`. Every bound is a
named constant below or a checked option, all traffic goes to 127.0.0.1, and
every child process is stopped by its own id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.message
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

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

READY_POLL_INTERVAL_S = 0.1
# Time a child (server, wrk, py-spy) gets to exit after SIGTERM before SIGKILL.
PROCESS_STOP_TIMEOUT_S = 15.0
SERVER_START_ATTEMPTS_MAX = 3
"""Ports tried for one server: a port the kernel called free may be taken by another
process before the server binds it (the server then exits, and the next port is tried)."""
ADDRESS_IN_USE = "address already in use"
"""What uvicorn (and Python's socket errors) log when a port is taken."""
INSTANCE_ID_VARIABLE = "KASSA_INSTANCE_ID"
INSTANCE_ID_HEADER = "Kassa-Instance-Id"
"""A server started here is told an id it echoes on /healthz (Kassa and bench/ceiling_app.py
do), so that a server another process started on the same port is never measured instead."""
# Bound on `kassa accounts create` and on other short helper commands.
CLI_TIMEOUT_S = 60.0
# Bound on one HTTP request of the scripts themselves (probes, list pages).
HTTP_TIMEOUT_S = 5.0
# wrk counts a request as timed out after this long (its --timeout).
WRK_REQUEST_TIMEOUT_S = 5
# Extra time wrk gets beyond its -d duration before it is killed.
WRK_EXIT_GRACE_S = 30.0
# Extra time py-spy gets beyond its recording duration to write its file.
PROFILER_EXIT_GRACE_S = 60.0
# Bound on `kassa ledger verify`, which reads the whole journal.
LEDGER_VERIFY_TIMEOUT_S = 600.0

# --- Listing objects through the API -------------------------------------------

# Stripe's largest page; and a bound on pages, i.e. 10,000,000 objects.
LIST_PAGE_LIMIT_MAX = 100
LIST_PAGES_MAX = 100_000

# --- Load shape ----------------------------------------------------------------

# wrk with one thread: the load generator stays on one core.
WRK_THREADS = 1

# --- Profiling -----------------------------------------------------------------

PROFILE_RATE_HZ = 100
# py-spy output formats and the file suffix of each; "raw" is collapsed stacks
# (one "frame;frame;... count" line per stack), which bench_results summarises.
PROFILE_FORMATS = {"flamegraph": ".svg", "speedscope": ".speedscope.json", "raw": ".collapsed.txt"}

# --- Markers shared with bench/lua/common.lua ------------------------------------

WRK_RESULT_MARKER = "KASSA_WRK_RESULT "

# --- Units and limits of messages -----------------------------------------------

MICROSECONDS_PER_MS = 1000.0
MICROSECONDS_PER_S = 1_000_000.0
LOG_TAIL_LINES = 30
# Kept from a failed `kassa ledger verify`: this many problems, this many characters.
LEDGER_PROBLEM_SAMPLES = 5
LEDGER_MESSAGE_MAX = 2000


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
    profile_path: Path | None
    server_cpu_s: float | None = None
    """CPU time (user + system, all threads) the server spent during the measured run; None
    where /proc cannot tell."""

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per answered request: unlike req/s, it hardly moves when other work
        shares the machine, so it compares runs made at different times."""
        if self.server_cpu_s is None or not self.wrk.requests:
            return math.nan
        return self.server_cpu_s * MICROSECONDS_PER_S / self.wrk.requests

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
            "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 3),
            "cpu_us_per_request": round(self.cpu_us_per_request, 1),
            "profiled": self.profiled,
            "profile": display_path(self.profile_path) if self.profile_path else None,
        }


@dataclasses.dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path


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


def make_run_dir(work_dir: Path, stamp: str, prefix: str = "run") -> Path:
    """A new directory for one run's database, logs and profiles."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    # mkdtemp: two runs started in the same second still get their own directory.
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{stamp}-", dir=work_dir))


def choose_database(database_option: str | None, run_dir: Path) -> tuple[str, Path | None]:
    """The URL to use, and the fresh SQLite file to delete afterwards (if it is one).

    Without --database, a fresh SQLite file in the run's own directory.
    """
    if database_option:
        return database_url(database_option), None
    database = run_dir / DATABASE_FILE_NAME
    return sqlite_url(database), database


def remove_database_files(database: Path) -> None:
    for path in database.parent.glob(database.name + "*"):
        path.unlink(missing_ok=True)


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


# --- Loopback HTTP (probes and checks only; the load goes through wrk) -----------------


def loopback_opener() -> urllib.request.OpenerDirector:
    # No proxies: an http_proxy variable must not send loopback calls elsewhere.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(base_url: str, path: str, secret_key: str | None) -> tuple[int, bytes]:
    status, body, _ = http_get_with_headers(base_url, path, secret_key)
    return status, body


def http_get_status(base_url: str, path: str, secret_key: str | None) -> tuple[int, str | None]:
    """The status of a GET and the instance id its answer echoes (None without one)."""
    status, _, headers = http_get_with_headers(base_url, path, secret_key)
    return status, headers.get(INSTANCE_ID_HEADER)


def http_get_with_headers(
    base_url: str, path: str, secret_key: str | None
) -> tuple[int, bytes, email.message.Message]:
    url = base_url + path
    if urllib.parse.urlsplit(url).hostname != LOOPBACK_HOST:
        raise BenchError(f"refusing a non-loopback URL: {url}")
    request = urllib.request.Request(url)
    if secret_key:
        request.add_header("Authorization", f"Bearer {secret_key}")
    try:
        with loopback_opener().open(request, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status), bytes(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def http_post_form(
    base_url: str, path: str, secret_key: str, fields: Mapping[str, str]
) -> tuple[int, bytes]:
    """One form-encoded POST (set-up requests of the scripts; the load goes through wrk)."""
    url = base_url + path
    if urllib.parse.urlsplit(url).hostname != LOOPBACK_HOST:
        raise BenchError(f"refusing a non-loopback URL: {url}")
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(fields).encode(), method="POST"
    )
    request.add_header("Authorization", f"Bearer {secret_key}")
    try:
        with loopback_opener().open(request, timeout=HTTP_TIMEOUT_S) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def list_all_objects(base_url: str, secret_key: str, path: str) -> Iterator[dict[str, Any]]:
    """Every object of a Stripe list endpoint, newest first, a page at a time.

    One keep-alive connection, pages of LIST_PAGE_LIMIT_MAX, `starting_after`
    the last id of the page before; at most LIST_PAGES_MAX pages.
    """
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname != LOOPBACK_HOST or parts.port is None:
        raise BenchError(f"refusing a non-loopback URL: {base_url}")
    headers = {"Authorization": f"Bearer {secret_key}"}
    connection = http.client.HTTPConnection(LOOPBACK_HOST, parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        query: dict[str, str | int] = {"limit": LIST_PAGE_LIMIT_MAX}
        for _ in range(LIST_PAGES_MAX):
            connection.request("GET", f"{path}?{urllib.parse.urlencode(query)}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError(f"GET {path} answered {response.status}: {body[:400]!r}")
            page = json.loads(body)
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            query["starting_after"] = page["data"][-1]["id"]
        raise BenchError(f"GET {path} still has more after {LIST_PAGES_MAX:,} pages")
    finally:
        connection.close()


# --- The server ------------------------------------------------------------------------


def free_loopback_port() -> int:
    # The kernel picks a free port; another process may bind it before the server does,
    # which `running_http_server` notices (the server exits, or answers with another id).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(
    kassa: Path,
    url: str,
    log_path: Path,
    cpus: CpuPlan,
    ready_timeout: float,
    secret_key: str,
    serve_workers: int = 1,
) -> Iterator[Server]:
    """One `kassa serve` on 127.0.0.1 (with `serve_workers` processes), ready when entered,
    stopped when left."""

    def command(port: int) -> list[str]:
        host = ["--host", LOOPBACK_HOST, "--port", str(port)]
        return [str(kassa), "serve", *host, "--database", url, "--workers", str(serve_workers)]

    with running_http_server(
        "kassa serve", command, log_path, cpus, ready_timeout, secret_key
    ) as server:
        yield server


class PortTaken(BenchError):
    """The server could not have the port it was given: another process has it."""


@contextlib.contextmanager
def running_http_server(
    name: str,
    command: Callable[[int], list[str]],
    log_path: Path,
    cpus: CpuPlan,
    ready_timeout: float,
    secret_key: str,
    poll_s: float = READY_POLL_INTERVAL_S,
) -> Iterator[Server]:
    """`command(port)` on a free 127.0.0.1 port, pinned to the server's CPU.

    Ready when entered (it answers GET /healthz as the process started here, asked every
    `poll_s`), stopped when left, whatever happened. A port lost to another process is
    replaced by a new one, up to SERVER_START_ATTEMPTS_MAX ports.
    """
    for attempt in range(1, SERVER_START_ATTEMPTS_MAX + 1):
        try:
            server = start_http_server(
                name, command, log_path, cpus, ready_timeout, secret_key, poll_s
            )
        except PortTaken as taken:
            if attempt == SERVER_START_ATTEMPTS_MAX:
                raise
            print(f"{taken}; trying another port", file=sys.stderr)
            continue
        try:
            yield server
        finally:
            stop_process(server.process, PROCESS_STOP_TIMEOUT_S)
        return


def start_http_server(
    name: str,
    command: Callable[[int], list[str]],
    log_path: Path,
    cpus: CpuPlan,
    ready_timeout: float,
    secret_key: str,
    poll_s: float = READY_POLL_INTERVAL_S,
) -> Server:
    """The server started and answering; stopped again if it is not ready."""
    port = free_loopback_port()
    instance_id = uuid.uuid4().hex
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            pinned(command(port), cpus.server),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, INSTANCE_ID_VARIABLE: instance_id},
            # Own session: a Ctrl-C in the terminal reaches this script only,
            # which then stops the server in order.
            start_new_session=True,
        )
    server = Server(process=process, base_url=f"http://{LOOPBACK_HOST}:{port}", log_path=log_path)
    try:
        wait_until_ready(server, secret_key, ready_timeout, name, instance_id, poll_s)
    except BaseException:
        stop_process(process, PROCESS_STOP_TIMEOUT_S)
        raise
    return server


def wait_until_ready(
    server: Server,
    secret_key: str,
    timeout_s: float,
    name: str,
    instance_id: str | None = None,
    poll_s: float = READY_POLL_INTERVAL_S,
) -> None:
    """Poll /healthz (or the list endpoint, if there is no /healthz) until 200 from this
    server: an answer echoing another instance id, or the server's exit while another
    process listens on its port, is PortTaken."""
    deadline = time.monotonic() + timeout_s
    probe_path = "/healthz"
    port = urllib.parse.urlsplit(server.base_url).port
    while time.monotonic() < deadline:
        try:
            status, echoed = http_get_status(server.base_url, probe_path, secret_key)
        except (urllib.error.URLError, OSError):
            status, echoed = 0, None  # not listening yet
        if instance_id is not None and echoed not in (None, instance_id):
            raise PortTaken(f"another server answers on port {port}")
        if server.process.poll() is not None:
            if status != 0 or ADDRESS_IN_USE in log_tail(server.log_path).lower():
                raise PortTaken(f"{name} exited: another process has port {port}")
            raise BenchError(
                f"{name} exited with code {server.process.returncode}\n{log_tail(server.log_path)}"
            )
        if status == 200:
            # A server without the echo (an older Kassa, another emulator) is taken at its word.
            return
        if status == 404 and probe_path == "/healthz":
            probe_path = "/v1/customers?limit=1"
        time.sleep(poll_s)
    raise BenchError(f"{name} did not answer within {timeout_s}s\n{log_tail(server.log_path)}")


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


# --- Ledger -------------------------------------------------------------------------------


def verify_ledger(kassa: Path, url: str) -> dict[str, Any]:
    """`kassa ledger verify`: its exit code, summary line and problems found."""
    command = [str(kassa), "ledger", "verify", "--database", url]
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=LEDGER_VERIFY_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "exit_code": None,
            "summary": f"timed out after {LEDGER_VERIFY_TIMEOUT_S:.0f}s",
            "problems": None,
            "problem_samples": [],
            "seconds": round(time.monotonic() - started, 1),
        }
    lines = completed.stdout.strip().splitlines()
    problems = [line for line in lines if line.startswith("PROBLEM ")]
    return {
        "ok": completed.returncode == 0,
        "exit_code": completed.returncode,
        "summary": lines[-1] if lines else completed.stderr.strip()[-LEDGER_MESSAGE_MAX:],
        "problems": len(problems),
        "problem_samples": problems[:LEDGER_PROBLEM_SAMPLES],
        "seconds": round(time.monotonic() - started, 1),
    }


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
    threads: int = WRK_THREADS,
) -> WrkResult:
    """Run wrk once and parse the JSON line that bench/lua/common.lua prints.

    If stop_marker is given, wrk is ended with SIGINT as soon as the script
    prints it (wrk would otherwise sleep out its whole -d duration). `threads`
    (at most `concurrency`) is wrk's -t: a script that keeps state per
    connection runs one thread per connection, each with a Lua state of its own.
    """
    if not 1 <= threads <= concurrency:
        raise SetupError(f"wrk needs 1 to {concurrency} threads for {concurrency} connections")
    command = [
        str(tools.wrk),
        "-t",
        str(threads),
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


# --- Warm-up, measurement and profile of one scenario ---------------------------------------


def warm_up_then_measure(
    scenario: str,
    concurrency: int,
    *,
    seconds: int,
    warmup_seconds: int,
    run_once: Callable[[int, str], WrkResult],
    errors_file: Callable[[str], Path],
    start_profile: Callable[[str, int], RunningProfiler] | None,
    server_pid: int | None = None,
) -> tuple[ScenarioResult, WrkResult | None]:
    """An unmeasured warm-up (if any), then the measured run, profiled if asked.

    `run_once(seconds, label)` runs wrk once; `errors_file(label)` is where its
    Lua script wrote error samples. Returns the measured result and the
    warm-up's own wrk result (its requests changed the database too).
    """
    label = f"{scenario}-c{concurrency}"
    warmup: WrkResult | None = None
    if warmup_seconds > 0:
        print(f"  {label}: warm-up {warmup_seconds}s", file=sys.stderr)
        warmup = run_once(warmup_seconds, f"{label}-warmup")
    print(f"  {label}: measuring {seconds}s", file=sys.stderr)
    profiler = start_profile(label, seconds) if start_profile else None
    cpu_before = process_cpu_seconds(server_pid)
    try:
        result = run_once(seconds, label)
    finally:
        profile_path = finish_profiler(profiler) if profiler else None
    cpu_after = process_cpu_seconds(server_pid)
    measured = ScenarioResult(
        scenario=scenario,
        concurrency=concurrency,
        wrk=result,
        error_samples=read_error_samples(errors_file(label)),
        profiled=profiler is not None,
        profile_path=profile_path,
        server_cpu_s=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
    )
    return measured, warmup


def process_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of process `pid` (all its threads) so far, from
    /proc/PID/stat; None without a pid or where /proc cannot tell (not Linux, exited)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces: utime and
    # stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields = stat.rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- Profiling ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProfileRequest:
    py_spy: Path
    output_format: str
    profiles_dir: Path
    # py-spy --function: one frame per function (its first line) rather than
    # one per line executed, which is what a per-function summary needs.
    per_function: bool = False


@dataclasses.dataclass(frozen=True)
class RunningProfiler:
    process: subprocess.Popen[bytes]
    output: Path
    log_path: Path
    seconds: int


def start_profiler(
    server: Server, cpus: CpuPlan, profile: ProfileRequest, label: str, seconds: int
) -> RunningProfiler:
    """py-spy attached to the server for the measured part of one scenario."""
    profile.profiles_dir.mkdir(parents=True, exist_ok=True)
    output = profile.profiles_dir / f"{label}{PROFILE_FORMATS[profile.output_format]}"
    log_path = profile.profiles_dir / f"{label}.py-spy.log"
    command = [
        str(profile.py_spy),
        "record",
        "--pid",
        str(server.process.pid),
        "--duration",
        str(seconds),
        "--rate",
        str(PROFILE_RATE_HZ),
        # Sampling without pausing the server keeps the profile's own cost low.
        "--nonblocking",
        # In case the server forks workers.
        "--subprocesses",
        *(["--function"] if profile.per_function else []),
        "--format",
        profile.output_format,
        "--output",
        str(output),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pinned(command, cpus.load),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningProfiler(process=process, output=output, log_path=log_path, seconds=seconds)


def finish_profiler(profiler: RunningProfiler) -> Path | None:
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
    return profiler.output


# --- Paths in results files --------------------------------------------------------------


def display_path(path: Path) -> str:
    """Relative to the repository when inside it: results files are committed."""
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)
