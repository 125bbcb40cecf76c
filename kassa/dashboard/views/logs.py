"""What the dashboard's request log pages show: the account's API requests, newest first,
filtered by status code, route or exact path, and idempotency key; and one request.

Every read is one indexed, bounded query: a path is searched for within a bounded window of
its route's requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidParameter, ResourceMissing
from kassa.params import Integer, Param, String
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.store.dashboard_queries import LoggedRequest, RequestLogFilter

PATH_SEARCH_WINDOW = 1_000
"""Requests to a route read per page when looking for one exact path among them."""
FILTER_TEXT_CHARS_MAX = 255
STATUS_CODE_MIN = 100
STATUS_CODE_MAX = 599

_STATUS_CODE = Integer(minimum=STATUS_CODE_MIN, maximum=STATUS_CODE_MAX)
_SEQ_CURSOR = Integer(minimum=1)
_FILTER_TEXT = String(max_chars=FILTER_TEXT_CHARS_MAX)


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
