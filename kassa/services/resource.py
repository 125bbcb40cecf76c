"""A Stripe resource, declared once: id prefix, table, operations, expandable fields and
list filters. HTTP routes and expansion are generated from these declarations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kassa.params import Param
from kassa.services.context import Context
from kassa.store.tables import ObjectTable

ApiObject = dict[str, Any]
Handler = Callable[[Context, str | None, dict[str, Any]], Awaitable[ApiObject]]
"""(context, object id or None, decoded form without `expand`) -> the API object."""
Includer = Callable[[Context, ApiObject], Awaitable[Any]]
Fetcher = Callable[[Context, str], Awaitable[ApiObject | None]]
"""(context, id) -> the object, or None when this account has none by that id."""
Lister = Callable[[Context, dict[str, Any]], Awaitable["ListPage"]]


@dataclass(frozen=True)
class Operation:
    handler: Handler
    writes: bool
    publishable_key_allowed: bool = False


@dataclass(frozen=True)
class ListPage:
    data: list[ApiObject]
    has_more: bool


@dataclass(frozen=True)
class Resource:
    object_name: str
    id_prefix: str
    collection: str
    """The URL segment: `/v1/{collection}`."""
    table: ObjectTable | None
    """Where the objects are stored as documents; None for views derived otherwise."""
    create: Operation | None = None
    retrieve: Operation | None = None
    update: Operation | None = None
    delete: Operation | None = None
    list_filters: Mapping[str, Param] | None = None
    """None: the resource has no list endpoint."""
    actions: Mapping[str, Operation] = field(default_factory=dict)
    """`POST /v1/{collection}/{id}/{action}`."""
    expandable: frozenset[str] = frozenset()
    """Dotted paths holding an id that `expand[]` replaces with the object."""
    includable: Mapping[str, Includer] = field(default_factory=dict)
    """Fields returned only when expanded (Stripe's "includable" fields)."""
    sublists: Mapping[str, Operation] = field(default_factory=dict)
    """`GET /v1/{collection}/{id}/{name}`: lists belonging to one object."""
    test_helpers: Mapping[str, Operation] = field(default_factory=dict)
    """`POST /v1/test_helpers/{collection}/{id}/{action}`."""
    singleton: bool = False
    """One object per account at `/v1/{collection}` (the balance): GET retrieves it."""
    fetch: Fetcher | None = None
    """How to load one object by id, for resources without a `table`."""
    lister: Lister | None = None
    """How to list, for resources without a `table` (lists are generic otherwise)."""

    @property
    def url(self) -> str:
        return f"/v1/{self.collection}"
