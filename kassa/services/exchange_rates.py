"""Exchange rates: the installation's rate table (versioned in the store, built-in fixed test
rates until the first change), Stripe's `GET /v1/exchange_rates[/{currency}]`, and Kassa's
extension `POST /v1/test_helpers/exchange_rates` that changes the table. `kassa fx load` and
`kassa fx check` call `load_rates` and `check_rates`.

Rates are the installation's, not an account's, as Stripe's are: any secret key may change
them through the test helper (a Kassa installation is a test environment).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kassa import fx
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.ledger.views import wire_rate
from kassa.money import SUPPORTED_CURRENCIES, Currency
from kassa.params import Boolean, ListOf, Param, String, Struct, parse_params
from kassa.services.context import Context
from kassa.services.listing import LIST_LIMIT_DEFAULT, PAGINATION_PARAMS
from kassa.services.resource import (
    ApiObject,
    Form,
    ListPage,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store import Transaction
from kassa.store.fx_queries import RATES_PER_VERSION_MAX

BUILT_IN_ORIGIN = "built-in fixed test rates (kassa.fx.BUILT_IN_RATES)"
BUILT_IN_VERSION = 0
CSV_HEADER = ("base", "quote", "rate")
RATE_TEXT_MAX_CHARS = 40
CHANGES_MAX = 500
"""Rates one test helper call may set: a request stays small; `kassa fx load` takes more."""


@dataclass(frozen=True)
class RateTable:
    """The rates in force, and which change made them."""

    version: int
    """0: the built-in table (no change recorded yet)."""
    created: int
    origin: str
    graph: fx.RateGraph


def _graph(rows: list[tuple[str, str, str]]) -> fx.RateGraph:
    return fx.RateGraph({(base, quote): Decimal(rate) for base, quote, rate in rows})


@functools.cache
def _built_in_table() -> RateTable:
    # Built once per process: the graph of every supported currency takes about a
    # millisecond to build, and the built-in table never changes.
    return RateTable(BUILT_IN_VERSION, 0, BUILT_IN_ORIGIN, fx.RateGraph(fx.BUILT_IN_RATES))


async def rate_table(tx: Transaction, at: int | None = None) -> RateTable:
    """The table in force at `at` (None: now, the newest change)."""
    found = await tx.rate_version_at(at)
    if found is None:
        return _built_in_table()
    return RateTable(found.version, found.created, found.origin, _graph(found.rates))


def _checked(rates: Mapping[tuple[str, str], Decimal]) -> list[tuple[str, str, str]]:
    """The rows to store, once the graph accepts them (ValueError otherwise)."""
    if len(rates) > RATES_PER_VERSION_MAX:
        raise ValueError(f"a rate table holds at most {RATES_PER_VERSION_MAX} rates")
    for base, quote in rates:
        for currency in (base, quote):
            if currency not in SUPPORTED_CURRENCIES:
                raise ValueError(f"unknown currency {currency[:20]!r}")
    fx.RateGraph(rates)
    return [(base, quote, str(rate)) for (base, quote), rate in sorted(rates.items())]


async def load_rates(
    tx: Transaction, rates: Mapping[tuple[str, str], Decimal], created: int, origin: str
) -> int:
    """Replace the whole table with `rates`, as a new version; its number."""
    return await tx.insert_rate_version(created, origin, _checked(rates))


def parse_rates_csv(text: str) -> dict[tuple[str, str], Decimal]:
    """`base,quote,rate` lines (a header line naming those columns is skipped; blank lines
    and lines starting with `#` too). ValueError names the line at fault."""
    rates: dict[tuple[str, str], Decimal] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if tuple(cell.lower() for cell in cells) == CSV_HEADER:
            continue
        if len(cells) != len(CSV_HEADER):
            raise ValueError(f"line {number}: expected base,quote,rate, got {','.join(cells)[:80]}")
        base, quote = cells[0].lower(), cells[1].lower()
        try:
            rates[(base, quote)] = fx.parse_rate(cells[2])
        except ValueError as error:
            raise ValueError(f"line {number}: {error}") from None
        if len(rates) > RATES_PER_VERSION_MAX:
            raise ValueError(f"more than {RATES_PER_VERSION_MAX} rates")
    return rates


async def check_rates(tx: Transaction) -> tuple[RateTable, fx.RateCheck]:
    """The table in force and what `kassa fx check` finds in it."""
    table = await rate_table(tx)
    return table, fx.check(table.graph)


# -- Stripe's exchange_rate objects -------------------------------------------------------


def exchange_rate_object(graph: fx.RateGraph, base: str) -> ApiObject:
    """Stripe's `exchange_rate`: what one unit of `base` buys of every currency it reaches
    (directly or along the best chain)."""
    chains = graph.chains_from(base)
    rates = {quote: wire_rate(str(chain.rate)) for quote, chain in sorted(chains.items())}
    rates.pop(base, None)
    return {"id": base, "object": "exchange_rate", "rates": rates}


def parse_currency_id(ids: RouteIds, form: Form) -> str:
    parse_params({}, form)
    return route_id(ids).lower()


async def retrieve_exchange_rate(ctx: Context, currency: str) -> ApiObject:
    graph = (await rate_table(ctx.tx)).graph
    if currency not in graph.currencies:
        raise ResourceMissing("exchange_rate", currency)
    return exchange_rate_object(graph, currency)


@dataclass(frozen=True)
class ListExchangeRates:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    """Accepted as every list accepts it; rates have no creation time to filter on."""


async def list_exchange_rates(ctx: Context, request: ListExchangeRates) -> ApiObject:
    graph = (await rate_table(ctx.tx)).graph
    return list_envelope(_page(graph, request), RESOURCE.url)


def _page(graph: fx.RateGraph, request: ListExchangeRates) -> ListPage:
    """Currencies in alphabetical order, paged by currency as Stripe pages them."""
    currencies = graph.currencies
    limit = request.limit if request.limit is not None else LIST_LIMIT_DEFAULT
    for cursor, name in (
        (request.starting_after, "starting_after"),
        (request.ending_before, "ending_before"),
    ):
        if cursor is not None and cursor not in currencies:
            raise ResourceMissing("exchange_rate", cursor, param=name)
    if request.starting_after is not None:
        chosen = [c for c in currencies if c > request.starting_after]
        shown, more = chosen[:limit], len(chosen) > limit
    elif request.ending_before is not None:
        chosen = [c for c in currencies if c < request.ending_before]
        shown, more = chosen[-limit:], len(chosen) > limit
    else:
        shown, more = currencies[:limit], len(currencies) > limit
    return ListPage([exchange_rate_object(graph, c) for c in shown], has_more=more)


# -- Kassa's extension: changing the table ----------------------------------------------

RATE_CHANGE: dict[str, Param] = {
    "rates": ListOf(
        Struct(
            {
                "base": Currency(),
                "quote": Currency(),
                "rate": String(max_chars=RATE_TEXT_MAX_CHARS),
            },
            required=("base", "quote", "rate"),
        ),
        max_items=CHANGES_MAX,
    ),
    "replace": Boolean(),
}


@dataclass(frozen=True)
class ChangeRates:
    """Set these rates (`rates[0][base]=eur&rates[0][quote]=usd&rates[0][rate]=1.1`) in the
    table in force, or, with `replace`, make them the whole table."""

    rates: list[dict[str, Any]] = field(default_factory=list)
    replace: bool | None = None


def _requested_rates(request: ChangeRates) -> dict[tuple[str, str], Decimal]:
    rates = {}
    for index, item in enumerate(request.rates):
        try:
            rate = fx.parse_rate(item["rate"])
        except ValueError as error:
            raise InvalidParameter(str(error), param=f"rates[{index}][rate]") from None
        if item["base"] == item["quote"]:
            raise InvalidParameter(
                "A rate converts between two different currencies.", param=f"rates[{index}]"
            )
        rates[(item["base"], item["quote"])] = rate
    return rates


async def change_rates(ctx: Context, request: ChangeRates) -> ApiObject:
    changes = _requested_rates(request)
    current = await rate_table(ctx.tx)
    merged = changes if request.replace else {**current.graph.rates, **changes}
    try:
        rows = _checked(merged)
    except ValueError as error:
        raise InvalidParameter(str(error), param="rates") from None
    origin = f"POST /v1/test_helpers/exchange_rates by {ctx.account_id}"
    version = await ctx.tx.insert_rate_version(ctx.now(), origin, rows)
    return rate_table_object(version, ctx.now(), origin, rows)


def rate_table_object(
    version: int, created: int, origin: str, rows: list[tuple[str, str, str]]
) -> ApiObject:
    """Kassa's `exchange_rate_table`: one version of the table, rates as exact text."""
    return {
        "id": f"fxv_{version}",
        "object": "exchange_rate_table",
        "created": created,
        "origin": origin,
        "rates": [{"base": b, "quote": q, "rate": r} for b, q, r in rows],
        "version": version,
    }


RESOURCE = Resource(
    object_name="exchange_rate",
    id_prefix="exchange_rate",
    collection="exchange_rates",
    table=None,
    retrieve=Operation(parse_currency_id, retrieve_exchange_rate, writes=False),
    lister=Operation(
        request_parser(ListExchangeRates, PAGINATION_PARAMS), list_exchange_rates, writes=False
    ),
)
TABLE_CHANGES = Resource(
    object_name="exchange_rate_table",
    id_prefix="fxv",
    collection="test_helpers/exchange_rates",
    table=None,
    create=Operation(request_parser(ChangeRates, RATE_CHANGE), change_rates, writes=True),
)
"""`POST /v1/test_helpers/exchange_rates`: a Kassa extension (Stripe's rates are its own)."""
