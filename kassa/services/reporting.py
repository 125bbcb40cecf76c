"""Stripe's Reporting API: report runs (`POST /v1/reporting/report_runs`, retrieve, list).

A run is checked when it is created (its type, its interval within the type's data, its
columns and options) and stored `pending`; the `reporting` job (`kassa.workers.reporting`)
computes it from the ledger (`kassa.services.report_rows`), stores the CSV as a file
(`kassa.services.files`), and marks the run `succeeded` with the file as its `result`, or
`failed` with an `error`, announcing `reporting.report_run.succeeded` or `.failed`. Runs
belong to the account, so the installation's clock governs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kassa.clock import Clock
from kassa.errors import InvalidParameter, MissingParameter
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.money import Currency
from kassa.params import Enum, ListOf, Param, String, Struct, Timestamp, parse_params
from kassa.services import events, files, report_rows, report_types
from kassa.services.context import Context, PaymentConfig
from kassa.services.listing import (
    PAGINATION_PARAMS,
    ListRequest,
    list_page,
    load_live_object,
)
from kassa.services.report_rows import ReportTooLarge, RunSpec
from kassa.services.report_types import ReportType
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store import Store
from kassa.store.tables import PRIVATE, REPORT_RUNS

RUN_FAILED_MESSAGE: Final = "The report could not be computed; Kassa's log says why."
COLUMNS_MAX: Final = 200
"""Columns one run may ask for (each type documents fewer than 100, metadata aside)."""
TIMEZONE_CHARS_MAX: Final = 64
PENDING_BATCH_MAX: Final = 20
"""Pending runs the job takes per scan."""
PENDING_BATCHES_PER_RUN_MAX: Final = 10
"""Scans per step: a larger backlog waits for the job's next step."""
log = logging.getLogger("kassa.reporting")

REPORTING_CATEGORIES: Final = (
    "advance",
    "advance_funding",
    "anticipation_repayment",
    "charge",
    "charge_failure",
    "climate_order_purchase",
    "climate_order_refund",
    "connect_collection_transfer",
    "connect_reserved_funds",
    "contribution",
    "dispute",
    "dispute_reversal",
    "fee",
    "financing_paydown",
    "financing_paydown_reversal",
    "financing_payout",
    "financing_payout_reversal",
    "issuing_authorization_hold",
    "issuing_authorization_release",
    "issuing_dispute",
    "issuing_transaction",
    "network_cost",
    "other_adjustment",
    "partial_capture_reversal",
    "payout",
    "payout_reversal",
    "platform_earning",
    "platform_earning_refund",
    "refund",
    "refund_failure",
    "risk_reserved_funds",
    "tax",
    "topup",
    "topup_reversal",
    "transfer",
    "transfer_reversal",
    "unreconciled_customer_funds",
)
"""Stripe's reporting categories, as the run parameter takes them."""
INTERVAL_PARAMS: Final = ("interval_start", "interval_end")
PARAMETERS: Final = Struct(
    fields={
        "columns": ListOf(String(max_chars=100), max_items=COLUMNS_MAX),
        "connected_account": String(max_chars=255),
        "currency": Currency(),
        "interval_end": Timestamp(),
        "interval_start": Timestamp(),
        "payout": String(max_chars=255),
        "reporting_category": Enum(values=REPORTING_CATEGORIES),
        "timezone": String(max_chars=TIMEZONE_CHARS_MAX),
    }
)
CREATE_PARAMS: dict[str, Param] = {
    "report_type": String(max_chars=100),
    "parameters": PARAMETERS,
}


@dataclass(frozen=True)
class CreateReportRun:
    report_type: str | None = None
    parameters: dict[str, Any] | None = None


def public(run: ApiObject) -> ApiObject:
    return {key: value for key, value in run.items() if key != PRIVATE}


# -- creating a run ----------------------------------------------------------------------------


def _report_type(name: str | None) -> ReportType:
    if not name:
        raise MissingParameter("report_type")
    found = report_types.BY_ID.get(name)
    if found is None:
        known = ", ".join(report_types.BY_ID)
        raise InvalidParameter(
            f"Invalid report_type: {name[:100]}. Kassa runs the report types {known}; see "
            "GET /v1/reporting/report_types.",
            param="report_type",
        )
    return found


def _check_options(report_type: ReportType, parameters: dict[str, Any]) -> None:
    for name in parameters:
        if name in INTERVAL_PARAMS or name == "columns" or name in report_type.options:
            continue
        raise InvalidParameter(
            f"The parameter `{name}` is not supported by report type {report_type.id}.",
            param=f"parameters[{name}]",
        )


def _columns(report_type: ReportType, asked: list[str] | None) -> tuple[str, ...]:
    if not asked:
        return report_type.default_columns
    for column in asked:
        if not report_type.allows(column):
            raise InvalidParameter(
                f"Invalid column `{column[:100]}` for report type {report_type.id}. The "
                "columns it takes are listed at docs.stripe.com/reports/report-types.",
                param="parameters[columns]",
            )
    return report_type.ordered(asked)


def _zone(name: str | None) -> ZoneInfo:
    if name is None:
        return report_rows.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidParameter(
            f"Invalid timezone: {name}. Use a time zone name from the IANA database, such "
            "as `America/New_York` or `Etc/UTC`.",
            param="parameters[timezone]",
        ) from None


async def _check_interval(
    ctx: Context, report_type: ReportType, parameters: dict[str, Any]
) -> tuple[int, int]:
    for name in INTERVAL_PARAMS:
        if parameters.get(name) is None:
            raise MissingParameter(f"parameters[{name}]")
    start, end = int(parameters["interval_start"]), int(parameters["interval_end"])
    data = await report_types.availability(ctx)
    for name, value in (("interval_start", start), ("interval_end", end)):
        if not data.start <= value <= data.end:
            raise InvalidParameter(
                f"`{name}` ({value}) must be between the report type's data_available_start "
                f"({data.start}) and data_available_end ({data.end}); data is available for "
                f"whole days only (see GET /v1/reporting/report_types/{report_type.id}).",
                param=f"parameters[{name}]",
            )
    if start >= end:
        raise InvalidParameter(
            f"`interval_start` ({start}) must be before `interval_end` ({end}).",
            param="parameters[interval_start]",
        )
    return start, end


async def create_report_run(ctx: Context, request: CreateReportRun) -> ApiObject:
    report_type = _report_type(request.report_type)
    parameters = dict(request.parameters or {})
    _check_options(report_type, parameters)
    columns = _columns(report_type, parameters.get("columns"))
    _zone(parameters.get("timezone"))
    await _check_interval(ctx, report_type, parameters)
    run = {
        "id": new_id("frr"),
        "object": "reporting.report_run",
        "created": ctx.now(),
        "error": None,
        "livemode": ctx.livemode,
        "parameters": parameters,
        "report_type": report_type.id,
        "result": None,
        "status": "pending",
        "succeeded_at": None,
        PRIVATE: {"columns": list(columns)},
    }
    await ctx.tx.insert_object(REPORT_RUNS, ctx.account_id, run)
    return public(run)


async def retrieve_report_run(ctx: Context, run_id: str) -> ApiObject:
    return public(await load_live_object(ctx, RESOURCE, run_id))


# -- running it --------------------------------------------------------------------------------


def run_spec(account_id: str, run: ApiObject) -> RunSpec:
    """What a stored run reports (its parameters were checked when it was created)."""
    parameters = run["parameters"]
    return RunSpec(
        account_id=account_id,
        report_type=report_types.BY_ID[run["report_type"]],
        columns=tuple(run[PRIVATE]["columns"]),
        start=int(parameters["interval_start"]),
        end=int(parameters["interval_end"]),
        zone=_zone(parameters.get("timezone")),
        currency=parameters.get("currency"),
        reporting_category=parameters.get("reporting_category"),
    )


async def _finish(ctx: Context, run_id: str, csv: str | None, error: str | None) -> bool:
    """Store the outcome if the run is still pending (another worker may have finished it
    meanwhile: it is read under its row lock); whether this call finished it."""
    run = await load_live_object(ctx, RESOURCE, run_id)
    if run["status"] != "pending":
        return False
    if csv is None:
        ensure(error is not None, "a run fails with an error")
        run.update(status="failed", error=error)
        event_type = "reporting.report_run.failed"
    else:
        result = await files.store_file(
            ctx,
            files.NewFile(
                purpose="finance_report_run",
                filename=f"{run_id}.csv",
                title=f"FinanceReportRun {run_id}",
                type="csv",
                contents=csv.encode(),
            ),
        )
        run.update(status="succeeded", result=result, succeeded_at=ctx.now())
        event_type = "reporting.report_run.succeeded"
    await ctx.tx.update_object(REPORT_RUNS, ctx.account_id, run)
    await events.announce(ctx, event_type, public(run))
    return True


async def run_report(
    store: Store, clock: Clock, payments: PaymentConfig, account_id: str, run_id: str
) -> bool:
    """Compute one pending run (reads only, a page per unit) and store its outcome in one
    write unit; whether this call finished it."""
    async with store.read() as tx:
        ctx = Context(account_id=account_id, tx=tx, clock=clock, payments=payments)
        run = await load_live_object(ctx, RESOURCE, run_id)
    if run["status"] != "pending":
        return False
    csv: str | None = None
    error: str | None = None
    try:
        csv = await report_rows.report_csv(store, run_spec(account_id, run))
    except ReportTooLarge as too_large:
        error = str(too_large)
    except Exception:
        # A run that cannot be computed fails (as Stripe's rarely do) rather than being
        # retried at every step ahead of the runs behind it.
        log.exception("report run %s failed", run_id)
        error = RUN_FAILED_MESSAGE
    async with store.write() as tx:
        ctx = Context(account_id=account_id, tx=tx, clock=clock, payments=payments)
        return await _finish(ctx, run_id, csv, error)


async def run_pending_reports(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """The `reporting` job's step: every pending run (in bounded batches), oldest first;
    how many this step finished."""
    finished = 0
    tried: set[str] = set()
    for _ in range(PENDING_BATCHES_PER_RUN_MAX):
        async with store.read() as tx:
            pending = await tx.pending_report_runs(PENDING_BATCH_MAX)
        fresh = [entry for entry in pending if entry.run_id not in tried]
        for entry in fresh:
            tried.add(entry.run_id)
            if await run_report(store, clock, payments, entry.account_id, entry.run_id):
                finished += 1
        if len(pending) < PENDING_BATCH_MAX or not fresh:
            break
    return finished


async def list_report_runs(ctx: Context, request: ListRequest) -> ApiObject:
    page = await list_page(ctx, RESOURCE, request.params)
    page.data[:] = [public(run) for run in page.data]
    return list_envelope(page, RESOURCE.url)


def _parse_list(ids: RouteIds, form: Form) -> ListRequest:
    return ListRequest(RESOURCE, parse_params(PAGINATION_PARAMS, form))


RESOURCE = Resource(
    object_name="reporting.report_run",
    id_prefix="frr",
    collection="reporting/report_runs",
    table=REPORT_RUNS,
    create=Operation(
        request_parser(CreateReportRun, CREATE_PARAMS, required=("report_type",)),
        create_report_run,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_report_run, writes=False),
    lister=Operation(_parse_list, list_report_runs, writes=False),
    event_types=("reporting.report_run.failed", "reporting.report_run.succeeded"),
)
