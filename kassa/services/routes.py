"""Routes generated from the resource catalog (the API edge matches requests with them; the
dashboard lists them): plain data from the declarations, no HTTP types.

Every declared operation becomes one path template (`/v1/customers/{id}`,
`/v1/invoices/create_preview`, `/v1/customers/{id}/balance_transactions/{child_id}`,
`/v1/test_helpers/test_clocks/{id}/advance`), compiled into a tree of path segments: a
request walks it once, segment by segment, and a literal segment wins over an id
(`/v1/customers/search` is the search, not the customer `search`); a method the literal
route does not declare is an unrecognized URL there (`POST /v1/customers/search`, as on
Stripe), not the id's route.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kassa.errors import RouteNotFound
from kassa.invariants import ensure
from kassa.services import catalog, listing
from kassa.services.resource import Operation, Resource, RouteIds

MAX_PATH_CHARS = 1_000
MAX_PATH_SEGMENTS = 8
"""The deepest declared route has six segments after `/v1`; deeper paths match nothing."""
TEST_HELPERS = "test_helpers"
_ID = "{id}"
_CHILD_ID = "{child_id}"


@dataclass(frozen=True)
class Route:
    resource: Resource
    """The resource the route's response is about (for a list: its items)."""
    operation: Operation[Any]
    ids: RouteIds
    template: str
    """The route as a metrics label: `/v1/customers/{id}`."""


@dataclass(frozen=True)
class DeclaredRoute:
    method: str
    template: str
    resource: Resource
    operation: Operation[Any]


@dataclass(frozen=True)
class _Endpoint:
    resource: Resource
    operation: Operation[Any]
    template: str


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    wildcard: _Node | None = None
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    """HTTP method -> what answers there."""


def _declared_routes(
    resource: Resource, base: str
) -> Iterator[tuple[str, str, Operation[Any], Resource]]:
    """(method, template, operation, resource) for every route `resource` declares, its
    collection at `base` (`/v1/customers`, or `/v1/customers/{id}/balance_transactions`)."""
    nested = _ID in base
    item = f"{base}/{_CHILD_ID if nested else _ID}"
    if resource.singleton:
        if resource.retrieve is not None:
            yield "GET", base, resource.retrieve, resource
        if resource.update is not None:  # `POST /v1/balance_settings`
            yield "POST", base, resource.update, resource
        return
    if resource.lister is not None:
        yield "GET", base, resource.lister, resource
    elif resource.list_filters is not None:
        yield "GET", base, listing.generic_list(resource), resource
    if resource.create is not None:
        yield "POST", base, resource.create, resource
    if resource.search is not None:
        yield "GET", f"{base}/search", resource.search, resource
    for name, operation in resource.collection_actions.items():
        yield "POST", f"{base}/{name}", operation, resource
    for name, operation in resource.collection_reads.items():
        yield "GET", f"{base}/{name}", operation, resource
    for method, maybe in (
        ("GET", resource.retrieve),
        ("POST", resource.update),
        ("DELETE", resource.delete),
    ):
        if maybe is not None:
            yield method, item, maybe, resource
    for name, operation in resource.actions.items():
        yield "POST", f"{item}/{name}", operation, resource
    for name, operation in resource.sublists.items():
        yield "GET", f"{item}/{name}", operation, resource
    for name, operation in resource.delete_actions.items():
        yield "DELETE", f"{item}/{name}", operation, resource
    for child in resource.nested:
        ensure(not nested, f"{child.object_name}: resources nest one level deep")
        yield from _declared_routes(child, f"{item}/{child.collection}")
    for name, operation in resource.test_helpers.items():
        helper_item = f"/v1/{TEST_HELPERS}/{resource.collection}/{_ID}"
        yield "POST", f"{helper_item}/{name}", operation, resource


class RouteTable:
    """The routes of `resources`, compiled into a tree of path segments."""

    def __init__(self, resources: tuple[Resource, ...]) -> None:
        self._root = _Node()
        for resource in resources:
            for method, template, operation, owner in _declared_routes(resource, resource.url):
                self._add(method, template, _Endpoint(owner, operation, template))

    def _add(self, method: str, template: str, endpoint: _Endpoint) -> None:
        node = self._root
        for segment in template.strip("/").split("/"):
            if segment in (_ID, _CHILD_ID):
                node.wildcard = node.wildcard or _Node()
                node = node.wildcard
            else:
                node = node.literals.setdefault(segment, _Node())
        ensure(method not in node.endpoints, f"{method} {template} is declared twice")
        node.endpoints[method] = endpoint

    def resolve(self, method: str, path: str) -> Route:
        if len(path) > MAX_PATH_CHARS:
            raise RouteNotFound(method, path[:80] + "...")
        segments = path.strip("/").split("/")
        if len(segments) > MAX_PATH_SEGMENTS:
            raise RouteNotFound(method, path)
        ids: list[str] = []
        endpoint = _match(self._root, segments, method, ids)
        if endpoint is None:
            raise RouteNotFound(method, path)
        return Route(endpoint.resource, endpoint.operation, tuple(ids), endpoint.template)

    def templates(self) -> list[tuple[str, str]]:
        """Every (method, template) served, for documentation and the dashboard's filters."""
        return [(route.method, route.template) for route in self.declared()]

    def declared(self) -> list[DeclaredRoute]:
        """Every route served, by template then method."""
        found: list[DeclaredRoute] = []
        stack = [self._root]
        while stack:
            node = stack.pop()
            found.extend(
                DeclaredRoute(method, e.template, e.resource, e.operation)
                for method, e in node.endpoints.items()
            )
            stack.extend(node.literals.values())
            if node.wildcard is not None:
                stack.append(node.wildcard)
        return sorted(found, key=lambda route: (route.template, route.method))


def _match(node: _Node, segments: list[str], method: str, ids: list[str]) -> _Endpoint | None:
    """Depth first, a literal segment before an id; `ids` collects the ids on the way.
    The recursion is bounded by MAX_PATH_SEGMENTS."""
    if not segments:
        return node.endpoints.get(method)
    segment, rest = segments[0], segments[1:]
    literal = node.literals.get(segment)
    if literal is not None:
        found = _match(literal, rest, method, ids)
        if found is not None or (not rest and literal.endpoints):
            # A path that ends at a declared literal route answers by its methods only:
            # `POST /v1/customers/search` is no update of a customer `search`.
            return found
    if segment and node.wildcard is not None:
        ids.append(segment)
        found = _match(node.wildcard, rest, method, ids)
        if found is not None:
            return found
        ids.pop()
    return None


ROUTES = RouteTable(catalog.RESOURCES)
resolve = ROUTES.resolve
templates = ROUTES.templates
declared = ROUTES.declared
