"""Routes generated from the resource catalog: `/v1/{collection}[/{id}[/{action}]]`."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import RouteNotFound
from kassa.services import catalog
from kassa.services.resource import Operation, Resource

MAX_PATH_CHARS = 1_000


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
    resource = _BY_COLLECTION.get(parts[1]) if len(parts) >= 2 and parts[0] == "v1" else None
    route = None if resource is None else _match(resource, method, parts[2:])
    if route is None:
        raise RouteNotFound(method, path)
    return route


def _match(resource: Resource, method: str, rest: list[str]) -> Route | None:
    base = resource.url
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
    if len(rest) == 2 and method == "POST" and rest[1] in resource.actions:
        return _route(resource, resource.actions[rest[1]], object_id, f"{base}/{{id}}/{rest[1]}")
    return None


def _route(
    resource: Resource, operation: Operation | None, object_id: str | None, template: str
) -> Route | None:
    return None if operation is None else Route(resource, operation, object_id, template)
