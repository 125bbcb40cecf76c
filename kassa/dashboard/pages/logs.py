"""The request log: the account's API requests, newest first, filtered by status code, path
(a route template such as `/v1/customers/{id}`, or a concrete path such as
`/v1/customers/cus_123`) and idempotency key; and one request with its parameters and the
response it got."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import logs as view_model
from kassa.errors import InvalidParameter, InvalidRequest, RouteNotFound
from kassa.services.routes import MAX_PATH_CHARS, resolve, templates

_METHODS = ("GET", "POST", "DELETE")


@dataclass(frozen=True)
class PathFilter:
    route: str | None
    exact_path: str | None
    """Set when a concrete path was typed: only requests to exactly it."""


async def log_list(view: View) -> Response:
    entered = {name: view.param(name) for name in ("status", "path", "idempotency_key", "before")}
    problem = ""
    page = view_model.LogPage([], None)
    wanted = PathFilter(None, None)
    try:
        wanted = path_filter(entered["path"])
        query = view_model.log_query(
            entered["status"],
            wanted.route,
            wanted.exact_path,
            entered["idempotency_key"],
            entered["before"],
        )
        async with view.reading() as ctx:
            page = await view_model.request_log_page(ctx, query, PAGE_SIZE)
    except InvalidRequest as error:
        problem = error.message
    return view.render(
        "logs.html",
        400 if problem else 200,
        requests=page.requests,
        entered=entered,
        routes=route_templates(),
        problem=problem,
        next_url=None if page.next_before_seq is None else _list_url(entered, page.next_before_seq),
        newest_url=_list_url(entered, None),
        exact_path=wanted.exact_path,
        route=wanted.route,
        window=view_model.PATH_SEARCH_WINDOW,
    )


def _list_url(entered: dict[str, str], before_seq: int | None) -> str:
    """The list with the same filters, from `before_seq` back (None: from the newest)."""
    query = {**entered, "before": "" if before_seq is None else str(before_seq)}
    return f"{PREFIX}/logs?" + urlencode({k: v for k, v in query.items() if v})


async def log_detail(view: View) -> Response:
    async with view.reading() as ctx:
        logged = await view_model.logged_request(ctx, view.path_param("request_id"))
    return view.render("logs_detail.html", logged=logged)


def path_filter(typed: str) -> PathFilter:
    """What to filter the log by for what was typed in the path field: a route template as
    is, a concrete path as its route (indexed) plus the path itself."""
    text = typed.split("?", 1)[0].strip()
    if not text:
        return PathFilter(None, None)
    if len(text) > MAX_PATH_CHARS:
        raise InvalidParameter(f"A path is at most {MAX_PATH_CHARS} characters.", param="path")
    if "{" in text:
        if text not in route_templates():
            raise InvalidParameter(
                f"{text[:100]} is not one of the API's routes: pick one from the list, or type "
                "a path such as /v1/customers/cus_123.",
                param="path",
            )
        return PathFilter(text, None)
    path = text if text.startswith("/") else "/" + text
    route = _route_of(path)
    # A path without an id is its own route: the route filter alone is exact and indexed.
    return PathFilter(route, None if route == path else path)


def _route_of(path: str) -> str:
    """The template the API logs for `path`: the same for every method that serves it (the
    template is the path's shape), so try each. A path no route serves is refused before
    the key is checked, so it is in no account's log: say so rather than list nothing."""
    for method in _METHODS:
        try:
            return resolve(method, path).template
        except RouteNotFound:
            continue
    raise InvalidParameter(
        f"The API serves no path {path[:100]}, so no request to it is in the log.", param="path"
    )


def route_templates() -> list[str]:
    """Every route the API serves, as the request log records it."""
    return sorted({template for _, template in templates()})


PAGES = (
    Page("/logs", log_list),
    Page("/logs/{request_id}", log_detail),
)
