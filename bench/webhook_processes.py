"""The processes bench/webhooks.py runs besides `kassa serve`, and what it asks the API.

- the fast receiver (bench/webhook_receiver_fast.py), pinned to the load CPUs, and its counts;
- one `python -m kassa worker`, pinned to the server CPU: the process being measured;
- py-spy attached to that worker for as long as it runs (stopped with SIGINT, which makes it
  write its profile);
- through the official `stripe` SDK against a `kassa serve` without delivery workers: a
  customer whose JSON every benchmark event carries, and the webhook endpoints;
- afterwards, through the API: every event the run wrote, to check that none is left with
  `pending_webhooks` (each delivery succeeded and was recorded).

Every child is stopped by its own process id; all traffic is on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import stripe
from bench_harness import (
    LOOPBACK_HOST,
    PROCESS_STOP_TIMEOUT_S,
    PROFILE_RATE_HZ,
    READY_POLL_INTERVAL_S,
    Account,
    BenchError,
    Server,
    http_get,
    list_all_objects,
    log_tail,
    pinned,
    stop_process,
)

BENCH_DIR = Path(__file__).resolve().parent
RECEIVER_SCRIPT = BENCH_DIR / "webhook_receiver_fast.py"
RECEIVER_READY_TIMEOUT_S = 20.0
# py-spy gets this long after SIGINT to write its profile.
PROFILER_STOP_TIMEOUT_S = 60.0
PROFILE_FORMAT_SUFFIX = ".collapsed.txt"
# The customer whose JSON each event carries: a realistic object from Kassa itself.
SAMPLE_CUSTOMER = {
    "email": "webhook-bench@example.com",
    "name": "Webhook Bench",
    "description": "Customer whose JSON the webhook benchmark's events carry",
    "metadata": {"order_id": "6735", "plan": "pro"},
}


@dataclasses.dataclass(frozen=True)
class EndpointSpec:
    """One endpoint to create: its receiver path, what it listens to, how fast it answers."""

    path: str
    event_types: tuple[str, ...]
    delay_ms: int = 0
    record_arrivals: bool = False


@dataclasses.dataclass(frozen=True)
class CreatedEndpoint:
    spec: EndpointSpec
    id: str
    secret: str


# --- Setup through the API --------------------------------------------------------------------


def sdk_client(server: Server, account: Account) -> stripe.StripeClient:
    return stripe.StripeClient(
        account.secret_key, base_addresses={"api": server.base_url}, max_network_retries=0
    )


def sample_customer(server: Server, account: Account) -> dict[str, Any]:
    """A customer created through the SDK, as the API returns it (its raw JSON)."""
    params: Any = dict(SAMPLE_CUSTOMER)
    customer = sdk_client(server, account).v1.customers.create(params=params)
    status, body = http_get(server.base_url, f"/v1/customers/{customer.id}", account.secret_key)
    if status != 200:
        raise BenchError(f"GET /v1/customers/{customer.id} answered {status}: {body[:300]!r}")
    loaded: dict[str, Any] = json.loads(body)
    return loaded


def create_endpoints(
    server: Server, account: Account, receiver_port: int, specs: Sequence[EndpointSpec]
) -> list[CreatedEndpoint]:
    client = sdk_client(server, account)
    created = []
    for spec in specs:
        # Any: the SDK types enabled_events as Stripe's literal list of event names.
        params: Any = {
            "url": f"http://{LOOPBACK_HOST}:{receiver_port}/{spec.path}",
            "enabled_events": list(spec.event_types),
            "description": f"webhook bench: {spec.path}",
        }
        endpoint = client.v1.webhook_endpoints.create(params=params)
        if not endpoint.secret:
            raise BenchError(f"webhook endpoint {endpoint.id} was created without a secret")
        created.append(CreatedEndpoint(spec, endpoint.id, endpoint.secret))
    return created


def check_events_delivered(server: Server, account: Account, event_ids: set[str]) -> dict[str, Any]:
    """Every event the run wrote is stored, with no delivery left pending."""
    listed = 0
    still_pending: list[str] = []
    for event in list_all_objects(server.base_url, account.secret_key, "/v1/events"):
        if event["id"] not in event_ids:
            continue  # the sample customer's own event, written before any endpoint existed
        listed += 1
        if event.get("pending_webhooks") != 0:
            still_pending.append(str(event["id"]))
    problems = []
    if listed != len(event_ids):
        problems.append(f"{listed:,} of the {len(event_ids):,} events written were listed")
    if still_pending:
        problems.append(
            f"{len(still_pending):,} events still have pending_webhooks, e.g. {still_pending[:3]}"
        )
    return {
        "events_written": len(event_ids),
        "events_listed": listed,
        "events_pending_webhooks": len(still_pending),
        "problems": problems,
        "ok": not problems,
    }


def count_attempts(server: Server, account: Account, endpoint_id: str) -> int:
    """Delivery attempts Kassa recorded for one endpoint, listed through the API."""
    path = f"/v1/webhook_endpoints/{endpoint_id}/webhook_attempts"
    return sum(1 for _ in list_all_objects(server.base_url, account.secret_key, path))


# --- The receiver ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReceiverHandle:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}"

    def stats(self) -> dict[str, Any]:
        return self._get_json("/stats")

    def arrivals(self, path: str) -> dict[str, float]:
        return {str(k): float(v) for k, v in self._get_json(f"/arrivals/{path}").items()}

    def _get_json(self, path: str) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise BenchError(
                f"the receiver exited with code {self.process.returncode}\n"
                f"{log_tail(self.log_path)}"
            )
        status, body = http_get(self.base_url, path, None)
        if status != 200:
            raise BenchError(f"receiver GET {path} answered {status}: {body[:300]!r}")
        loaded: dict[str, Any] = json.loads(body)
        return loaded


def write_receiver_config(path: Path, endpoints: Sequence[CreatedEndpoint]) -> Path:
    config = {
        "paths": {
            endpoint.spec.path: {
                "secret": endpoint.secret,
                "delay_ms": endpoint.spec.delay_ms,
                "record_arrivals": endpoint.spec.record_arrivals,
            }
            for endpoint in endpoints
        }
    }
    path.write_text(json.dumps(config, indent=2))
    # The file holds signing secrets: readable by this user only.
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def running_receiver(
    port: int, config: Path, log_path: Path, cpus: frozenset[int] | None
) -> Iterator[ReceiverHandle]:
    command = [sys.executable, str(RECEIVER_SCRIPT), "--port", str(port), "--config", str(config)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            pinned(command, cpus),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    receiver = ReceiverHandle(process, port, log_path)
    try:
        wait_for_receiver(receiver)
        yield receiver
    finally:
        stop_process(process, PROCESS_STOP_TIMEOUT_S)


def wait_for_receiver(receiver: ReceiverHandle) -> None:
    deadline = time.monotonic() + RECEIVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            receiver.stats()
        except (urllib.error.URLError, OSError):
            time.sleep(READY_POLL_INTERVAL_S)
            continue
        return
    raise BenchError(
        f"the receiver did not answer within {RECEIVER_READY_TIMEOUT_S}s\n"
        f"{log_tail(receiver.log_path)}"
    )


# --- The worker and its profiler -----------------------------------------------------------


# `kassa worker` with uvloop as the event loop (an experiment: Kassa's CLI uses asyncio's own).
# With -c, sys.argv[1:] are the arguments after the code, which Kassa's main() parses.
UVLOOP_WORKER_CODE = "import uvloop; uvloop.install(); from kassa.cli import main; main()"


def start_worker(
    url: str, log_path: Path, cpus: frozenset[int] | None, *, uvloop: bool = False
) -> subprocess.Popen[bytes]:
    """One `python -m kassa worker` process: the thing being measured."""
    entry = ["-c", UVLOOP_WORKER_CODE] if uvloop else ["-m", "kassa"]
    command = [sys.executable, *entry, "worker", "--database", url]
    # KASSA_WEBHOOK_WORKERS is for `kassa serve` only; leave the worker its defaults.
    env = {name: value for name, value in os.environ.items() if name != "KASSA_WEBHOOK_WORKERS"}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            pinned(command, cpus),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def ensure_running(process: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    if process.poll() is not None:
        raise BenchError(f"{what} exited with code {process.returncode}\n{log_tail(log_path)}")


@dataclasses.dataclass(frozen=True)
class WorkerProfiler:
    process: subprocess.Popen[bytes]
    output: Path
    log_path: Path
    started: float


def start_worker_profiler(
    py_spy: Path, worker_pid: int, output_stem: Path, cpus: frozenset[int] | None
) -> WorkerProfiler:
    """py-spy on the worker until stopped; collapsed stacks, one frame per function."""
    output = output_stem.with_name(output_stem.name + PROFILE_FORMAT_SUFFIX)
    log_path = output_stem.with_name(output_stem.name + ".py-spy.log")
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(worker_pid),
        "--rate",
        str(PROFILE_RATE_HZ),
        # Sampling without pausing the worker keeps the profile's own cost low.
        "--nonblocking",
        "--function",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            pinned(command, cpus), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return WorkerProfiler(process, output, log_path, time.monotonic())


def stop_worker_profiler(profiler: WorkerProfiler) -> tuple[Path | None, float]:
    """SIGINT makes py-spy stop sampling and write its file; the file and seconds sampled."""
    seconds = time.monotonic() - profiler.started
    if profiler.process.poll() is None:
        profiler.process.send_signal(signal.SIGINT)
        try:
            profiler.process.wait(timeout=PROFILER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stop_process(profiler.process, PROCESS_STOP_TIMEOUT_S)
    if not profiler.output.exists():
        print(
            f"  py-spy wrote no profile (code {profiler.process.returncode}); "
            f"see {profiler.log_path}\n{log_tail(profiler.log_path, 5)}",
            file=sys.stderr,
        )
        return None, seconds
    return profiler.output, seconds


def merged_per_second(paths: Mapping[str, Mapping[str, Any]]) -> list[int]:
    """Deliveries received in each whole second, all paths together, in time order."""
    totals: dict[int, int] = {}
    for stats in paths.values():
        for second, count in dict(stats["per_second"]).items():
            totals[int(second)] = totals.get(int(second), 0) + int(count)
    if not totals:
        return []
    first, last = min(totals), max(totals)
    return [totals.get(second, 0) for second in range(first, last + 1)]


# --- The worker's CPU time -------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc (Linux).

    On a shared machine the wall-clock rate drops when other processes take the worker's
    CPU; the CPU time per delivery does not, so the report gives both.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    # After the command name: state is field 3, utime field 14, stime field 15 (1-based).
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class WorkerCpu:
    """When the worker started and was ready, and its CPU time then and when it finished."""

    started: float
    ready: float
    ready_cpu_s: float
    finished_cpu_s: float = math.nan

    def finished(self, cpu_s: float) -> None:
        self.finished_cpu_s = cpu_s

    @property
    def delivering_cpu_s(self) -> float:
        return self.finished_cpu_s - self.ready_cpu_s
