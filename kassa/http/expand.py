"""Stripe's `expand[]`: replace ids with the objects they name, including nested paths
(`customer.default_source`), `data.x` inside lists and search results (and a search's
`total_count`), paths inside API objects embedded in full (a subscription's
`items.data.price.product`, an invoice's `lines.data.discounts`), and inside arrays of plain
hashes, walked element by element without `data.` (an invoice's
`total_discount_amounts.discount`). What may be expanded comes from the resource
declarations."""

from __future__ import annotations

from typing import Any

from kassa.errors import InvalidRequest
from kassa.params import list_items
from kassa.services import catalog, search
from kassa.services.context import Context
from kassa.services.listing import fetch_object
from kassa.services.resource import ExpandTarget, Resource

MAX_EXPAND_PATHS = 20
MAX_EXPAND_DEPTH = 4
"""Stripe allows expansions up to four levels deep (`data.` inside a list counts)."""
MAX_EXPAND_PATH_CHARS = 300
MAX_EXPANDED_IDS = 250
"""A list of ids expanded (an invoice's lines' discounts are bounded by its 250 lines)."""
MAX_EMBEDDED_OBJECTS = 250
"""An embedded list walked for expansion (an invoice embeds its first ten lines, a
subscription its at most 20 items; an invoice has at most 250 lines). Expanding inside a
list embedded in each item of a page multiplies: per path, at most the page size
(`LIST_LIMIT_MAX`, 100) x this x `MAX_EXPANDED_IDS` objects are fetched; in practice a page
of 100 invoices embedding ten lines of at most 20 discounts each (`DISCOUNTS_MAX`) fetches
at most 100 x 10 x 20 = 20,000 discounts for `data.lines.data.discounts`."""
MAX_ARRAY_HASHES = 250
"""An array of plain hashes walked for expansion (an invoice's `total_discount_amounts`, a
line's `discount_amounts`: one entry per discount, at most an invoice's 20 own plus its
lines'). Its elements are expanded as the object holding the array declares
(`total_discount_amounts.discount`), each one id: per path at most this many objects."""

ExpandTree = dict[str, "ExpandTree"]


def parse_expand(value: Any) -> list[str]:
    if value is None:
        return []
    items = [item for _, item in list_items(value, "expand")]
    if len(items) > MAX_EXPAND_PATHS or not all(isinstance(i, str) for i in items):
        raise InvalidRequest(
            f"Invalid expand: give at most {MAX_EXPAND_PATHS} dotted paths as expand[]=path",
            param="expand",
        )
    paths: list[str] = items
    for path in paths:
        if not path or len(path) > MAX_EXPAND_PATH_CHARS:
            raise InvalidRequest(f"Invalid expand path: {path[:80]}", param="expand")
        if path.count(".") >= MAX_EXPAND_DEPTH:
            raise InvalidRequest(
                f"Invalid expand path: {path[:80]}; expansions go at most "
                f"{MAX_EXPAND_DEPTH} levels deep",
                param="expand",
            )
    return paths


def _tree(paths: list[str]) -> ExpandTree:
    tree: ExpandTree = {}
    for path in paths:
        node = tree
        for segment in path.split("."):
            node = node.setdefault(segment, {})
    return tree


async def expand_object(ctx: Context, obj: dict[str, Any], paths: list[str]) -> None:
    """Expand `paths` in place inside `obj` (an API object or a list envelope)."""
    if paths:
        await _expand(ctx, obj, _tree(paths), "", "")


async def _expand(
    ctx: Context, node: dict[str, Any], tree: ExpandTree, relative: str, shown: str
) -> None:
    """`relative`: the path from the nearest enclosing API object, for its declarations;
    `shown`: the full path, for error messages."""
    resource = catalog.resource_for_object(str(node.get("object", "")))
    if node.get("object") == "search_result" and "total_count" in tree:
        # Stripe counts a search's matches only when asked to.
        if tree["total_count"]:
            raise _not_expandable(_join(shown, "total_count"))
        node["total_count"] = await search.total_count(ctx)
        tree = {segment: subtree for segment, subtree in tree.items() if segment != "total_count"}
    if node.get("object") in ("list", "search_result"):
        for segment, subtree in tree.items():
            if segment != "data":
                raise _not_expandable(_join(shown, segment))
            items = catalog.resource_for_url(str(node.get("url", "")).removesuffix("/search"))
            if items is not None:  # refuse what no item could expand, even on an empty page
                _check_declared(items, subtree, "", _join(shown, "data"))
            for item in node.get("data", []):
                await _expand(ctx, item, subtree, "", _join(shown, "data"))
        return
    if node.get("deleted") is True:
        # A deleted object's stub has nothing left to expand or include; the paths must
        # still make sense for its kind.
        if resource is not None:
            _check_declared(resource, tree, relative, shown)
        return
    for segment, subtree in tree.items():
        here = _join(relative, segment)
        full = _join(shown, segment)
        await _expand_field(ctx, node, node, resource, segment, subtree, here, full)


def _check_declared(resource: Resource, tree: ExpandTree, relative: str, shown: str) -> None:
    """Each path must start with what `resource` declares: an includable field, an expandable
    id, or a plain sub-hash on the way to one. What lies past an id depends on the object it
    names, and is checked when that object is expanded."""
    for segment, subtree in tree.items():
        here = _join(relative, segment)
        full = _join(shown, segment)
        if here in resource.includable or here in resource.expandable:
            continue
        if subtree and here in resource.embedded:
            _check_declared(catalog.embedded_resource(resource, here), subtree, "", full)
            continue
        declared = (*resource.expandable, *resource.embedded, *resource.includable)
        if subtree and any(path.startswith(here + ".") for path in declared):
            _check_declared(resource, subtree, here, full)
            continue
        raise _not_expandable(full)


async def _expand_field(
    ctx: Context,
    holder: dict[str, Any],
    node: dict[str, Any],
    resource: Resource | None,
    segment: str,
    subtree: ExpandTree,
    here: str,
    full: str,
) -> None:
    """`holder`: the API object `node` is (or lies in), which an includable field nested in a
    sub-hash (a promotion code's `restrictions.currency_options`) is worked out from."""
    owner = resource
    if owner is not None and here in owner.includable:
        node[segment] = await owner.includable[here](ctx, holder)
    elif owner is not None and here in owner.expandable:
        node[segment] = await _resolve(ctx, node.get(segment), owner.expandable[here])
    elif owner is not None and here in owner.embedded and subtree:
        await _expand_embedded(
            ctx, node.get(segment), catalog.embedded_resource(owner, here), subtree, full
        )
        return
    elif isinstance(node.get(segment), dict) and subtree:
        # A plain sub-hash such as invoice_settings: descend without changing owner.
        await _expand_plain(ctx, holder, node[segment], owner, subtree, here, full)
        return
    elif isinstance(node.get(segment), list) and subtree and owner is not None:
        await _expand_hashes(ctx, holder, node[segment], owner, subtree, here, full)
        return
    elif node.get(segment) is None and subtree and owner is not None:
        # A null sub-hash on the way to a declared path (an amount-only line's
        # `pricing.price_details`): nothing to expand there, and it stays null.
        _check_declared(owner, {segment: subtree}, _parent(here), _parent(full))
        return
    else:
        raise _not_expandable(full)
    value = node.get(segment)
    if subtree and isinstance(value, dict):
        await _expand(ctx, value, subtree, "", full)


async def _expand_plain(
    ctx: Context,
    holder: dict[str, Any],
    node: dict[str, Any],
    owner: Resource | None,
    tree: ExpandTree,
    relative: str,
    shown: str,
) -> None:
    for segment, subtree in tree.items():
        await _expand_field(
            ctx,
            holder,
            node,
            owner,
            segment,
            subtree,
            _join(relative, segment),
            _join(shown, segment),
        )


async def _expand_hashes(
    ctx: Context,
    holder: dict[str, Any],
    entries: list[Any],
    owner: Resource,
    tree: ExpandTree,
    relative: str,
    shown: str,
) -> None:
    """An array of plain hashes (`total_discount_amounts`): Stripe walks it element by
    element (`total_discount_amounts.discount`, no `data.`), each element by the
    declarations of the object holding the array; checked against those first, so that an
    empty array refuses the paths its elements could not expand."""
    segment = relative.rpartition(".")[2]
    _check_declared(owner, {segment: tree}, _parent(relative), _parent(shown))
    for entry in entries[:MAX_ARRAY_HASHES]:
        if isinstance(entry, dict):
            await _expand_plain(ctx, holder, entry, owner, tree, relative, shown)


async def _expand_embedded(
    ctx: Context, value: Any, resource: Resource, tree: ExpandTree, shown: str
) -> None:
    """Expand inside an API object embedded in full, or each of a list of them, by the
    declarations of their own kind; checked against those first, so that an empty list
    refuses the paths its items could not expand."""
    _check_declared(resource, tree, "", shown)
    entries = value if isinstance(value, list) else [value]
    for entry in entries[:MAX_EMBEDDED_OBJECTS]:
        if isinstance(entry, dict):
            await _expand(ctx, entry, tree, "", shown)


async def _resolve(ctx: Context, value: Any, target: ExpandTarget) -> Any:
    """The object `value` names, looked up as the declared `target` kind (ids the user
    chooses, such as coupon ids, carry no telling prefix); each of a list of ids
    (`discounts`)."""
    if isinstance(value, list):
        return [await _resolve(ctx, entry, target) for entry in value[:MAX_EXPANDED_IDS]]
    if not isinstance(value, str):
        return value  # null, or already an object
    resource = catalog.resource_for_target(target, value)
    if resource is None:
        return value
    found = await fetch_object(ctx, resource, value)
    return value if found is None else found


def _not_expandable(path: str) -> InvalidRequest:
    return InvalidRequest(f"This property cannot be expanded ({path}).", param="expand")


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _join(prefix: str, segment: str) -> str:
    return f"{prefix}.{segment}" if prefix else segment
