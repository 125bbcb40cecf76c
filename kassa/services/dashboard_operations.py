"""What the dashboard's operations pages show: events and their webhook attempts, webhook
endpoints and how well they answer, the request log, and the ledger's accounts and verify
result. Each read is one indexed, bounded query (or a fixed handful of them)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ledger.accounts import bucket_of
from kassa.ledger.verify import verify_ledger
from kassa.params import Integer, Param, String
from kassa.services import events, webhook_attempts, webhook_endpoints
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_live_object
from kassa.services.resource import ApiObject, Resource
from kassa.store.dashboard_operation_queries import AttemptOutcomes
from kassa.store.dashboard_queries import LoggedRequest, RequestLogFilter
from kassa.store.tables import EVENTS

SUCCESS_RATE_WINDOW = 100
"""A success rate covers an endpoint's newest this-many attempts: a bounded read of the
(endpoint_id, seq) index, and recent enough to say how the endpoint answers now."""
PATH_SEARCH_WINDOW = 1_000
"""Requests to a route read per page when looking for one exact path among them."""
FILTER_TEXT_CHARS_MAX = 255
STATUS_CODE_MIN = 100
STATUS_CODE_MAX = 599
WILDCARD = ".*"

_STATUS_CODE = Integer(minimum=STATUS_CODE_MIN, maximum=STATUS_CODE_MAX)
_SEQ_CURSOR = Integer(minimum=1)
_FILTER_TEXT = String(max_chars=FILTER_TEXT_CHARS_MAX)

# One verify at a time per process: it reads every ledger row, and clicks piling up would
# multiply that cost.
_VERIFY_LOCK = asyncio.Lock()


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventsPage:
    events: list[ApiObject]
    next_cursor: str | None
    """The id to list older events after, when there are any."""


def event_type_choices() -> list[str]:
    """Every type Kassa sends, after the wildcard for each family (`charge.*`)."""
    families = {
        event_type.rsplit(".", depth)[0] + WILDCARD
        for event_type in events.EVENT_TYPES
        for depth in range(1, event_type.count(".") + 1)
    }
    return sorted(families) + list(events.EVENT_TYPES)


def check_event_type_filter(type_filter: str) -> None:
    """A type Kassa sends, or a family of them (`charge.*`): anything else is a typo that
    would only ever list nothing."""
    if type_filter.endswith(WILDCARD):
        prefix = type_filter[:-1]  # `charge.*` -> `charge.`: the dot keeps `charges` out
        known = any(t.startswith(prefix) for t in events.EVENT_TYPES)
    else:
        known = type_filter in events.EVENT_TYPES
    if not known:
        raise InvalidParameter(
            f"Kassa sends no events of type {type_filter[:100]}: pick a type from the list, "
            "or a family such as charge.*",
            param="type",
        )


async def events_page(
    ctx: Context, type_filter: str, starting_after: str, limit: int
) -> EventsPage:
    if type_filter.endswith(WILDCARD):
        check_event_type_filter(type_filter)
        return await _family_page(ctx, type_filter[:-1], starting_after, limit)
    form = {"limit": str(limit)}
    if type_filter and type_filter != "*":
        check_event_type_filter(type_filter)
        form["type"] = type_filter
    if starting_after:
        form["starting_after"] = starting_after
    page = await events.list_events(ctx, form)
    cursor = str(page.data[-1]["id"]) if page.has_more and page.data else None
    return EventsPage(page.data, cursor)


async def _family_page(ctx: Context, prefix: str, starting_after: str, limit: int) -> EventsPage:
    """Events of every type starting with `prefix` (`charge.`): Kassa sends a known set of
    types, so the family is those types, each read through its own index range."""
    before_seq = None
    if starting_after:
        before_seq = (
            await ctx.tx.object_seq(EVENTS, ctx.account_id, starting_after)
            if could_be_object_id(starting_after)
            else None
        )
        if before_seq is None:
            raise ResourceMissing("event", starting_after, param="starting_after")
    types = [t for t in events.EVENT_TYPES if t.startswith(prefix)]
    found = await ctx.tx.list_events_of_types(ctx.account_id, types, before_seq, limit + 1)
    cursor = str(found[limit - 1]["id"]) if len(found) > limit else None
    return EventsPage(found[:limit], cursor)


def event_summary(event: ApiObject) -> str:
    """One line saying what the event is about: `payment_intent pi_1 · $10.00 · succeeded`."""
    obj = event.get("data", {}).get("object", {})
    parts = [f"{obj.get('object', 'object')} {obj.get('id', '')}".strip()]
    amount, currency = obj.get("amount"), obj.get("currency")
    if isinstance(amount, int) and isinstance(currency, str) and currency:
        parts.append(money.format_amount(amount, currency))
    status = obj.get("status")
    if isinstance(status, str):
        parts.append(status.replace("_", " "))
    return " · ".join(parts)


@dataclass(frozen=True)
class AttemptsPage:
    attempts: list[ApiObject]
    """Stripe-style `webhook_attempt` objects, newest first."""
    next_cursor: str | None


@dataclass(frozen=True)
class EventDetail:
    event: ApiObject
    attempts: AttemptsPage
    endpoints: list[ApiObject]
    """The account's endpoints, to resend the event to."""
    endpoint_urls: dict[str, str]


async def event_detail(ctx: Context, event_id: str, attempts_after: str, limit: int) -> EventDetail:
    event = await load_live_object(ctx, events.RESOURCE, event_id)
    attempts = await _attempts(ctx, events.RESOURCE, event_id, "event_id", attempts_after, limit)
    endpoints = await _endpoints(ctx)
    return EventDetail(event, attempts, endpoints, {str(e["id"]): str(e["url"]) for e in endpoints})


async def _attempts(
    ctx: Context, parent: Resource, parent_id: str, column: str, after: str, limit: int
) -> AttemptsPage:
    form = {"limit": str(limit)}
    if after:
        form["starting_after"] = after
    listed = await webhook_attempts.list_attempts(ctx, parent, parent_id, column, form)
    data: list[ApiObject] = listed["data"]
    cursor = str(data[-1]["id"]) if listed["has_more"] and data else None
    return AttemptsPage(data, cursor)


async def _endpoints(ctx: Context) -> list[ApiObject]:
    return await ctx.tx.webhook_endpoint_docs(
        ctx.account_id, events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
    )


# -- webhook endpoints -------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointRow:
    endpoint: ApiObject
    rate: AttemptOutcomes


@dataclass(frozen=True)
class EndpointDetail:
    endpoint: ApiObject
    rate: AttemptOutcomes
    attempts: AttemptsPage


async def endpoints_overview(ctx: Context) -> list[EndpointRow]:
    """Every endpoint (an account has at most 16) with its recent success rate."""
    return [EndpointRow(e, await _success_rate(ctx, str(e["id"]))) for e in await _endpoints(ctx)]


async def endpoint_detail(
    ctx: Context, endpoint_id: str, attempts_after: str, limit: int
) -> EndpointDetail:
    endpoint = await load_live_object(ctx, webhook_endpoints.RESOURCE, endpoint_id)
    attempts = await _attempts(
        ctx, webhook_endpoints.RESOURCE, endpoint_id, "endpoint_id", attempts_after, limit
    )
    return EndpointDetail(endpoint, await _success_rate(ctx, endpoint_id), attempts)


async def _success_rate(ctx: Context, endpoint_id: str) -> AttemptOutcomes:
    return await ctx.tx.webhook_attempt_outcomes(ctx.account_id, endpoint_id, SUCCESS_RATE_WINDOW)


def enabled_events_form(text: str) -> list[str]:
    """`charge.succeeded, refund.created` (commas or spaces) as the API's list. An unknown
    name is refused here with a short message (the API's lists every type Kassa sends)."""
    names = [name for name in text.replace(",", " ").split() if name]
    for name in names:
        if name != "*" and name not in events.EVENT_TYPES:
            raise InvalidParameter(
                f"Kassa sends no events of type {name[:100]}: use * for all, or types from "
                "the suggestions such as charge.succeeded.",
                param="enabled_events",
            )
    return names


# -- request log -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogQuery:
    status: int | None = None
    route: str | None = None
    path: str | None = None
    """An exact path under `route`, searched for in a bounded window of that route."""
    idempotency_key: str | None = None
    before_seq: int | None = None


@dataclass(frozen=True)
class LogPage:
    requests: list[LoggedRequest]
    next_before_seq: int | None


def log_query(
    status: str, route: str | None, path: str | None, idempotency_key: str, before: str
) -> LogQuery:
    """The filters as typed into the page; InvalidParameter says which one is wrong."""
    return LogQuery(
        status=_parsed(
            _STATUS_CODE,
            status,
            "status",
            f"The status code is a number from {STATUS_CODE_MIN} to {STATUS_CODE_MAX}.",
        ),
        route=route,
        path=path,
        idempotency_key=_parsed(
            _FILTER_TEXT,
            idempotency_key,
            "idempotency_key",
            f"An idempotency key has at most {FILTER_TEXT_CHARS_MAX} characters.",
        ),
        before_seq=_parsed(_SEQ_CURSOR, before, "before", "That page link is not valid."),
    )


def _parsed(spec: Param, text: str, name: str, explanation: str) -> Any:
    """`text` parsed by `spec`, None when empty; a plain-language message when malformed."""
    if not text:
        return None
    try:
        return spec.parse(text, name)
    except InvalidParameter:
        raise InvalidParameter(explanation, param=name) from None


async def request_log_page(ctx: Context, query: LogQuery, limit: int) -> LogPage:
    wanted = RequestLogFilter(
        status=query.status,
        route=query.route,
        idempotency_key=query.idempotency_key,
        before_seq=query.before_seq,
    )
    if query.path is not None and query.route is not None:
        found = await ctx.tx.search_request_log_path(
            ctx.account_id, wanted, query.path, limit, PATH_SEARCH_WINDOW
        )
        return LogPage(found.rows, found.continue_before_seq)
    rows = await ctx.tx.search_request_log(ctx.account_id, wanted, limit + 1)
    more = len(rows) > limit
    return LogPage(rows[:limit], rows[limit - 1].seq if more else None)


async def logged_request(ctx: Context, request_id: str) -> LoggedRequest:
    found = (
        await ctx.tx.get_logged_request(ctx.account_id, request_id)
        if could_be_object_id(request_id)
        else None
    )
    if found is None:
        raise ResourceMissing("request", request_id)
    return found


# -- ledger ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerAccount:
    name: str
    """`acct_X:available:usd`."""
    bucket: str
    currency: str
    amount: int


async def ledger_accounts(ctx: Context) -> list[LedgerAccount]:
    """The account's own ledger accounts (two per currency it has used), by currency."""
    rows = await ctx.tx.owner_balances(ctx.account_id)
    accounts = [LedgerAccount(name, bucket_of(name), cur, amount) for name, cur, amount in rows]
    return sorted(accounts, key=lambda a: (a.currency, a.bucket != "available", a.name))


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    """True when the whole installation's ledger is consistent."""
    transactions: int
    entries: int
    ledger_accounts: int
    own_problems: list[str]
    """Problems with this account's ledger transactions or ledger accounts."""
    other_problems: int
    """Problems elsewhere (other accounts, platform accounts): counted, never shown."""
    seconds: float


async def verify(ctx: Context) -> VerifyOutcome:
    """`kassa ledger verify`: it checks the whole installation (its queries take no account),
    so problems are split into this account's and a count of the rest."""
    if _VERIFY_LOCK.locked():
        raise InvalidRequest("A ledger verify is already running; try again when it finishes.")
    async with _VERIFY_LOCK:
        started = time.perf_counter()
        report = await verify_ledger(ctx.tx)
        own = await _own_problems(ctx, report.problems)
        elapsed = time.perf_counter() - started
    return VerifyOutcome(
        ok=not report.problems,
        transactions=report.transactions,
        entries=report.entries,
        ledger_accounts=report.accounts,
        own_problems=own,
        other_problems=len(report.problems) - len(own),
        seconds=elapsed,
    )


async def _own_problems(ctx: Context, problems: list[str]) -> list[str]:
    """Each problem starts with what it is about (`txn_1: ...` or `acct_X:pending:usd: ...`);
    keep those whose ledger transaction or ledger account belongs to this account."""
    subjects = [problem.split(": ", 1)[0] for problem in problems]
    owners = await ctx.tx.ledger_transaction_owners([s for s in subjects if ":" not in s])
    return [
        problem
        for problem, subject in zip(problems, subjects, strict=True)
        if _subject_owner(subject, owners) == ctx.account_id
    ]


def _subject_owner(subject: str, transaction_owners: dict[str, str]) -> str | None:
    if ":" in subject:
        return subject.split(":", 1)[0]
    return transaction_owners.get(subject)
