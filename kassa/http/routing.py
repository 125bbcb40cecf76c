"""Routes generated from the resource catalog: `/v1/{collection}[/{id}[/{action}]]`."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import RouteNotFound
from kassa.services import catalog
from kassa.services.resource import Operation, Resource

MAX_PATH_CHARS = 1_000
TEST_HELPERS = "test_helpers"


@dataclass(frozen=True)
class Route:
    resource: Resource
    operation: Operation | None
    """None for a list: lists are generic (`kassa.services.listing`)."""
    object_id: str | None
    template: str
    """The route as a metrics label: `/v1/customers/{id}`."""
    is_list: bool = False


_BY_COLLECTION = {resource.collection: resource for resource in catalog.RESOURCES}


def resolve(method: str, path: str) -> Route:
    if len(path) > MAX_PATH_CHARS:
        raise RouteNotFound(method, path[:80] + "...")
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "v1" and parts[1] == TEST_HELPERS:
        route = _match_test_helper(method, parts[2:])
    else:
        resource = _BY_COLLECTION.get(parts[1]) if len(parts) >= 2 and parts[0] == "v1" else None
        route = None if resource is None else _match(resource, method, parts[2:])
    if route is None:
        raise RouteNotFound(method, path)
    return route


def _match_test_helper(method: str, rest: list[str]) -> Route | None:
    """`POST /v1/test_helpers/{collection}/{id}/{action}`."""
    if method != "POST" or len(rest) != 3 or not rest[1]:
        return None
    resource = _BY_COLLECTION.get(rest[0])
    operation = None if resource is None else resource.test_helpers.get(rest[2])
    if resource is None or operation is None:
        return None
    template = f"/v1/{TEST_HELPERS}/{resource.collection}/{{id}}/{rest[2]}"
    return Route(resource, operation, rest[1], template)


def _match(resource: Resource, method: str, rest: list[str]) -> Route | None:
    base = resource.url
    if resource.singleton:
        if rest or method != "GET" or resource.retrieve is None:
            return None
        return Route(resource, resource.retrieve, None, base)
    if not rest:
        if method == "GET" and resource.list_filters is not None:
            return Route(resource, None, None, base, is_list=True)
        if method == "POST" and resource.create is not None:
            return _route(resource, resource.create, None, base)
        return None
    object_id = rest[0]
    if not object_id:
        return None
    if len(rest) == 1:
        operation = {
            "GET": resource.retrieve,
            "POST": resource.update,
            "DELETE": resource.delete,
        }.get(method)
        return (
            None if operation is None else _route(resource, operation, object_id, f"{base}/{{id}}")
        )
    if len(rest) == 2 and method == "GET" and rest[1] in resource.sublists:
        return _route(resource, resource.sublists[rest[1]], object_id, f"{base}/{{id}}/{rest[1]}")
    if len(rest) == 2 and method == "POST" and rest[1] in resource.actions:
        return _route(resource, resource.actions[rest[1]], object_id, f"{base}/{{id}}/{rest[1]}")
    return None


def _route(
    resource: Resource, operation: Operation | None, object_id: str | None, template: str
) -> Route | None:
    return None if operation is None else Route(resource, operation, object_id, template)
