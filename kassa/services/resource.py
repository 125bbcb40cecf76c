"""A Stripe resource, declared once: id prefix, table, list filters, event types, every
route (object and collection actions, search, nested children, test helpers) and the target
of every expandable field. HTTP routes and expansion are generated from these declarations.

Each route is an `Operation`: a parser from the route's ids and the decoded form to a typed
request, and the operation that takes that request. The API calls `parse` then `run`; the
dashboard, workers and other services call the operation function directly with a request
they build, never a form.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from kassa.errors import MissingParameter
from kassa.invariants import ensure
from kassa.params import NotSupported, Param, parse_params
from kassa.services.context import Context
from kassa.store.tables import ObjectTable

ApiObject = dict[str, Any]


def document_copy(document: Mapping[str, Any]) -> ApiObject:
    """A deep copy of a stored document (what it was before a change, for
    `previous_attributes`): a JSON round trip, several times faster than `copy.deepcopy` on a
    document of this size, and exact, since a document holds only JSON's types."""
    copied: ApiObject = orjson.loads(orjson.dumps(document))
    return copied


Form = Mapping[str, Any]
RouteIds = tuple[str, ...]
"""The ids a route's path carries, outermost first: `()` for `/v1/customers`, `(cus,)` for
`/v1/customers/{id}`, `(cus, cbtxn)` for `/v1/customers/{id}/balance_transactions/{child_id}`."""
Request = TypeVar("Request")
Includer = Callable[[Context, ApiObject], Awaitable[Any]]
Fetcher = Callable[[Context, str], Awaitable[ApiObject | None]]
"""(context, id) -> the object, or None when this account has none by that id."""
ExpandTarget = str | tuple[str, ...]
"""The object name an expandable field's id names; a tuple for fields that may hold several
kinds (a `source` is a card or a bank account): the id's prefix then picks among those."""


@dataclass(frozen=True)
class RemovedParam:
    """A parameter Stripe removed in an API version: a request naming that version or a later
    one (`Stripe-Version`) is refused as Stripe refuses it, with its error code; a request
    pinning an earlier version, or naming none (`kassa.http.api._check_removed`), still has
    it taken."""

    since: datetime.date
    """The release date of the first API version without it."""
    code: str
    message: str


@dataclass(frozen=True)
class Operation(Generic[Request]):
    parse: Callable[[RouteIds, Form], Request]
    """Validate the route ids and form into the operation's typed request (before any read,
    so a malformed request fails the same way whether or not the object exists)."""
    run: Callable[[Context, Request], Awaitable[ApiObject]]
    writes: bool
    publishable_key_allowed: bool = False
    publishable_fields: frozenset[str] | None = None
    """What a publishable key sees of the answer: only these top-level fields, and only these
    may be expanded (Stripe's fields "retrievable with publishable key": each resource
    declares its list once, e.g. `payment_intents.PUBLISHABLE_FIELDS`, and gives it to each
    operation a publishable key may call). None: the whole object (a token or payment method
    the browser made itself)."""
    secret_fields: tuple[str, ...] = ()
    """Top-level fields of the answer that hold secrets (a new account's keys): sent once and
    never stored, neither in the request log nor in the idempotency record (a replay
    answers with them null), as Kassa stores only hashes of keys."""
    removed_params: Mapping[str, RemovedParam] = field(default_factory=dict)
    """Parameters Stripe removed in an API version Kassa speaks (`RemovedParam`), checked at
    the edge, where the request's version is known (`kassa.http.api`)."""
    api_version_required: bool = False
    """Refused without a `Stripe-Version` header, as Stripe refuses it (an ephemeral key is
    made for a client SDK pinned to its own version, which the server must name rather than
    fall back on its own): checked at the edge, where the headers are (`kassa.http.api`)."""
    multipart: bool = False
    """Takes Stripe's upload format, multipart/form-data with file parts, and only that
    (`POST /v1/files`): the edge decodes its body with `kassa.http.uploads`, up to
    `UPLOAD_BODY_BYTES_MAX` rather than the general `MAX_BODY_BYTES`."""


def route_id(ids: RouteIds, index: int = 0) -> str:
    """The id at `index` in the route; routes always carry it, so its absence is a mistake
    in the declaration, reported as Stripe reports a missing id."""
    if len(ids) <= index or not ids[index]:
        raise MissingParameter("id")
    return ids[index]


@dataclass(frozen=True)
class ParamsParser(Generic[Request]):
    """A parser that declares its parameters: it validates the form against `params` and
    builds the request from what was sent and the route's ids. The OpenAPI description
    (`kassa.http.openapi`) documents the operation from `params`; an operation whose
    parser is a plain function is documented without them."""

    params: Mapping[str, Param]
    build: Callable[[RouteIds, dict[str, Any]], Request]
    required: tuple[str, ...] = ()

    def __call__(self, ids: RouteIds, form: Form) -> Request:
        return self.build(ids, parse_params(self.params, form, required=self.required))


def _route_id_only(ids: RouteIds, _params: dict[str, Any]) -> str:
    return route_id(ids)


no_params: ParamsParser[str] = ParamsParser({}, _route_id_only)
"""The parser of calls that take no parameters, only the object's id (a retrieve)."""


def request_parser(
    request_type: type[Request],
    schema: Mapping[str, Param],
    *,
    ids: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
) -> ParamsParser[Request]:
    """A parser building `request_type` (a dataclass) from `schema`'s parameters (each a
    field of the same name, left at its default when not sent) and the route's ids (the
    fields named by `ids`, in order)."""
    fields = {f.name for f in dataclasses.fields(request_type)}  # type: ignore[arg-type]
    # A parameter Kassa refuses never reaches the request: it needs no field.
    taken = {name for name, param in schema.items() if not isinstance(param, NotSupported)}
    ensure(
        taken | set(ids) <= fields,
        f"{request_type.__name__} lacks fields for {sorted(taken | set(ids) - fields)}",
    )

    def build(route_ids: RouteIds, params: dict[str, Any]) -> Request:
        for index, name in enumerate(ids):
            params[name] = route_id(route_ids, index)
        return request_type(**params)

    return ParamsParser(schema, build, required)


@dataclass(frozen=True)
class ListPage:
    data: list[ApiObject]
    has_more: bool


def list_envelope(page: ListPage, url: str) -> ApiObject:
    return {"object": "list", "data": page.data, "has_more": page.has_more, "url": url}


@dataclass(frozen=True)
class Resource:
    object_name: str
    id_prefix: str
    collection: str
    """The URL path under `/v1/`: `customers`, or `test_helpers/test_clocks`; for a nested
    resource, the segment under its parent's object (`balance_transactions`)."""
    table: ObjectTable | None
    """Where the objects are stored as documents; None for views derived otherwise."""
    create: Operation[Any] | None = None
    retrieve: Operation[Any] | None = None
    update: Operation[Any] | None = None
    delete: Operation[Any] | None = None
    list_filters: Mapping[str, Param] | None = None
    """The generic list's filters (columns of `table`); None: no generic list."""
    list_created: bool = True
    """Whether the generic list takes `created`, as most of Stripe's lists do; False where
    Stripe's takes only the cursors (test clocks), so `created` is an unknown parameter."""
    list_view: Callable[[ApiObject], ApiObject] | None = None
    """How the generic list shows each stored object (a document with facts only the store
    keeps shows a copy without them: its module's `public`); None: as stored."""
    lister: Operation[Any] | None = None
    """`GET` on the collection when the generic list does not fit (it returns the list
    envelope itself); nested resources always declare theirs."""
    search: Operation[Any] | None = None
    """`GET /v1/{collection}/search`."""
    actions: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`POST /v1/{collection}/{id}/{action}`."""
    collection_actions: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`POST /v1/{collection}/{action}` (`/v1/invoices/create_preview`)."""
    collection_reads: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`GET /v1/{collection}/{name}`: reads about the collection rather than one object
    (`/v1/credit_notes/preview`, and `preview/lines`: a name may hold segments)."""
    sublists: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`GET /v1/{collection}/{id}/{name}`: lists belonging to one object."""
    delete_actions: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`DELETE /v1/{collection}/{id}/{name}`: removing a part of one object
    (`/v1/subscriptions/{id}/discount`)."""
    nested: tuple[Resource, ...] = ()
    """Resources under one object: `/v1/{collection}/{id}/{child.collection}[/{child_id}]`,
    whose operations get both ids."""
    test_helpers: Mapping[str, Operation[Any]] = field(default_factory=dict)
    """`POST /v1/test_helpers/{collection}/{id}/{action}`."""
    expandable: Mapping[str, ExpandTarget] = field(default_factory=dict)
    """Dotted path of a field holding an id -> the kind of object `expand[]` puts there."""
    embedded: Mapping[str, str] = field(default_factory=dict)
    """Dotted path of a field holding an API object in full (a subscription item's `price`),
    or a list of them (a subscription's `items.data`) -> its object name: `expand[]` goes on
    inside it by that object's own declarations (`items.data.price.product`)."""
    includable: Mapping[str, Includer] = field(default_factory=dict)
    """Fields returned only when expanded (Stripe's "includable" fields)."""
    event_types: tuple[str, ...] = ()
    """The event types announced about this resource's objects."""
    singleton: bool = False
    """One object per account at `/v1/{collection}` (the balance): GET retrieves it, POST
    updates it when `update` is declared (the balance settings)."""
    fetch: Fetcher | None = None
    """How to load one object by id, for resources without a `table`."""
    routes_only: bool = False
    """Routes on objects another declaration stands for (a charge's refund routes, a
    customer's `sources` beside its `cards`, its tax ids beside `/v1/tax_ids`): never the
    resource that expansion, includes and `resource_for_object` use for its object name
    (`catalog` checks that exactly one declaration per object name is not)."""

    @property
    def url(self) -> str:
        return f"/v1/{self.collection}"

    @property
    def has_list(self) -> bool:
        return self.lister is not None or self.list_filters is not None
