"""Exchange rates as a graph, and conversions between currencies' minor units. Pure: no
store, no clock; the services feed it the rate table in force.

A rate `(base, quote) -> r` says one unit of `base` buys `r` units of `quote` (major units,
as Stripe's `exchange_rate` objects and balance transactions count them). Each known rate is
an edge; its inverse `1/r` is an edge the other way unless the table gives that direction
too. A pair with no direct rate converts along the best chain of edges:

1. the fewest hops;
2. among those, the highest product of rates (the most `quote` for one `base`);
3. among those, the chain whose list of currencies comes first in alphabetical order.

Derived rates (inverses, chain products) are computed to `RATE_DIGITS` significant digits;
only `kassa.money.to_minor_units` turns a converted amount into minor units.
"""

from __future__ import annotations

import decimal
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from kassa import money

RATE_DIGITS: Final = 28
"""Significant digits of derived rates: far beyond what any amount in minor units needs."""
CHAIN_HOPS_MAX: Final = 6
"""The longest chain a conversion may take; farther pairs count as unreachable."""
CYCLE_TOLERANCE: Final = Decimal("0.0001")
"""`kassa fx check` calls a cycle inconsistent when the product of its rates is off 1 by more
than this (a hundredth of a percent, about what rounding published rates to six significant
digits can explain)."""
FINDINGS_MAX: Final = 100
"""`check` reports at most this many cycles and this many unreachable pairs."""
CONVERSION_DIGITS: Final = 60
"""Digits for an amount times a rate before rounding: exact for any amount and rate here."""
RATE_MAX: Final = Decimal("1e9")
RATE_MIN: Final = Decimal("1e-9")
"""The range of a rate Kassa takes: a unit of the dearest currency buys about 10^6 of the
cheapest (a Kuwaiti dinar, some 300,000 Lebanese pounds), so these leave room while keeping
every chain's product, and every amount converted along it, finite and exact."""
RATE_SIGNIFICANT_DIGITS_MAX: Final = 20
"""Significant digits of a rate as given (published rates have about six)."""
CONVERTED_MINOR_UNITS_MAX: Final = 10**18
"""A converted amount past this (near a 64-bit integer's range: the ledger's amounts are
BIGINT on both engines) is not rounded at all, and its caller refuses it. Nothing smaller is:
Stripe's maximum amount holds for the `amount` asked, in its own currency, not for what it
settles as."""
CONVERSION_ROUNDING: Final = decimal.ROUND_HALF_EVEN
"""A converted amount's half minor unit goes to the even neighbour: over many conversions
neither the merchant nor the platform gains from rounding."""


def _quoted_in_usd(table: str) -> Mapping[tuple[str, str], Decimal]:
    """`table`: pairs of a currency and what one unit of it buys in US dollars."""
    words = table.split()
    return MappingProxyType(
        {(quote, "usd"): Decimal(rate) for quote, rate in zip(words[::2], words[1::2], strict=True)}
    )


BUILT_IN_RATES: Final = _quoted_in_usd(
    """
    aed 0.272 afn 0.0143 all 0.011 amd 0.0026
    ang 0.56 aoa 0.0011 ars 0.001 aud 0.65
    awg 0.56 azn 0.59 bam 0.56 bbd 0.50
    bdt 0.0083 bgn 0.56 bhd 2.66 bif 0.00034
    bmd 1.00 bnd 0.74 bob 0.145 brl 0.18
    bsd 1.00 bwp 0.074 byn 0.31 bzd 0.50
    cad 0.74 cdf 0.00035 chf 1.12 clp 0.00105
    cny 0.14 cop 0.00025 crc 0.002 cve 0.01
    czk 0.044 djf 0.0056 dkk 0.15 dop 0.0167
    dzd 0.0075 egp 0.02 etb 0.0077 eur 1.10
    fjd 0.44 fkp 1.25 gbp 1.25 gel 0.37
    gip 1.25 gmd 0.014 gnf 0.000116 gtq 0.129
    gyd 0.0048 hkd 0.128 hnl 0.039 htg 0.0076
    huf 0.0028 idr 0.0000625 ils 0.27 inr 0.012
    isk 0.0072 jmd 0.0064 jod 1.41 jpy 0.0067
    kes 0.0078 kgs 0.0115 khr 0.00025 kmf 0.0022
    krw 0.00075 kwd 3.26 kyd 1.20 kzt 0.002
    lak 0.000046 lbp 0.0000112 lkr 0.0033 lrd 0.0053
    lsl 0.055 mad 0.10 mdl 0.056 mga 0.00022
    mkd 0.018 mmk 0.00048 mnt 0.00029 mop 0.125
    mur 0.022 mvr 0.065 mwk 0.00058 mxn 0.055
    myr 0.22 mzn 0.0156 nad 0.055 ngn 0.00065
    nio 0.0273 nok 0.095 npr 0.0073 nzd 0.60
    omr 2.60 pab 1.00 pen 0.27 pgk 0.25
    php 0.0175 pkr 0.0036 pln 0.25 pyg 0.000128
    qar 0.275 ron 0.22 rsd 0.0093 rub 0.011
    rwf 0.00071 sar 0.267 sbd 0.12 scr 0.071
    sek 0.095 sgd 0.74 shp 1.25 sle 0.044
    sos 0.00175 srd 0.028 std 0.000045 szl 0.055
    thb 0.0285 tjs 0.092 tnd 0.32 top 0.425
    try 0.027 ttd 0.1475 twd 0.031 tzs 0.00038
    uah 0.024 ugx 0.00027 uyu 0.025 uzs 0.000079
    vnd 0.00004 vuv 0.0084 wst 0.364 xaf 0.00168
    xcd 0.37 xcg 0.56 xof 0.00168 xpf 0.0092
    yer 0.004 zar 0.055 zmw 0.04
    """
)
"""Kassa's default table: fixed test values, not market data. Round figures near the rates
of the mid-2020s, each quoted in US dollars (one unit of the currency buys this many
dollars), so the table is a star around USD: no cycles, every pair reachable in two hops.
It has a rate for every currency Kassa charges in (`money.SUPPORTED_CURRENCIES`), so an
account converts any charge into its settlement currency out of the box. Operators replace
it with `kassa fx load FILE`."""


@dataclass(frozen=True)
class Chain:
    """How one currency converts to another: the currencies passed through, first to last,
    and the rate of the whole chain (the product of its steps)."""

    currencies: tuple[str, ...]
    rate: Decimal

    @property
    def hops(self) -> int:
        return len(self.currencies) - 1

    def then(self, currency: str, rate: Decimal) -> Chain:
        return Chain((*self.currencies, currency), _derived(self.rate * rate))


def _derived(value: Decimal) -> Decimal:
    with decimal.localcontext() as context:
        context.prec = RATE_DIGITS
        return +value


def _inverse(rate: Decimal) -> Decimal:
    with decimal.localcontext() as context:
        context.prec = RATE_DIGITS
        return Decimal(1) / rate


def _better(candidate: Chain, current: Chain) -> bool:
    """Same number of hops: the higher rate, then the alphabetically first chain."""
    if candidate.rate != current.rate:
        return candidate.rate > current.rate
    return candidate.currencies < current.currencies


class RateGraph:
    """The known rates, with every inverse, ready to find chains."""

    def __init__(self, rates: Mapping[tuple[str, str], Decimal]) -> None:
        self.rates = dict(rates)
        for (base, quote), rate in self.rates.items():
            if base == quote or not rate.is_finite() or rate <= 0:
                raise ValueError(f"not a usable rate: {base}->{quote} = {rate}")
        self._edges: dict[str, dict[str, Decimal]] = {}
        for (base, quote), rate in sorted(self.rates.items()):
            self._edges.setdefault(base, {})[quote] = rate
            if (quote, base) not in self.rates:
                self._edges.setdefault(quote, {})[base] = _inverse(rate)

    @property
    def currencies(self) -> list[str]:
        return sorted(self._edges)

    def edge(self, base: str, quote: str) -> Decimal:
        return self._edges[base][quote]

    def chains_from(self, source: str, until: str | None = None) -> dict[str, Chain]:
        """The best chain from `source` to every currency it reaches in `CHAIN_HOPS_MAX`
        hops (with `until`: stop after the layer that reaches it, whose chain no later
        layer can beat, having more hops). One breadth-first layer at a time: a best chain
        of `d` hops extends a best chain of `d - 1` hops (rates are positive, so a higher
        prefix gives a higher product, and equal-length prefixes compare alphabetically as
        the whole chain)."""
        best = {source: Chain((source,), Decimal(1))}
        frontier = [source]
        for _ in range(CHAIN_HOPS_MAX):
            reached: dict[str, Chain] = {}
            for currency in frontier:
                for target, rate in sorted(self._edges.get(currency, {}).items()):
                    if target in best:
                        continue
                    candidate = best[currency].then(target, rate)
                    current = reached.get(target)
                    if current is None or _better(candidate, current):
                        reached[target] = candidate
            if not reached:
                break
            best.update(reached)
            if until in reached:
                break
            frontier = sorted(reached)
        return best

    def best_chain(self, source: str, target: str) -> Chain | None:
        """The chain a conversion from `source` to `target` takes; None: unreachable."""
        return self.chains_from(source, until=target).get(target)


# -- consistency ------------------------------------------------------------------------


@dataclass(frozen=True)
class InconsistentCycle:
    currencies: tuple[str, ...]
    """First and last the same: `("usd", "eur", "gbp", "usd")`."""
    product: Decimal

    def __str__(self) -> str:
        deviation = _derived(abs(self.product - 1))
        return (
            f"inconsistent cycle {' -> '.join(self.currencies)}: the rates multiply to "
            f"{self.product:.6f}, off 1 by {deviation:.6f} (tolerance {CYCLE_TOLERANCE})"
        )


@dataclass(frozen=True)
class UnreachablePair:
    base: str
    quote: str

    def __str__(self) -> str:
        return (
            f"unreachable pair {self.base} -> {self.quote}: no chain of known rates "
            f"within {CHAIN_HOPS_MAX} hops"
        )


@dataclass(frozen=True)
class RateCheck:
    cycles: list[InconsistentCycle]
    unreachable: list[UnreachablePair]

    @property
    def ok(self) -> bool:
        return not self.cycles and not self.unreachable


def check(graph: RateGraph, currencies: Iterable[str] = ()) -> RateCheck:
    """Inconsistent cycles and unreachable pairs among the table's currencies (and
    `currencies`, those that must be convertible: settlement currencies, say).

    Cycles: a spanning tree of the given rates (breadth first from each component's
    alphabetically first currency) leaves one cycle per rate outside it; every cycle of the
    graph is a combination of these, so they are all consistent when these are."""
    wanted = sorted(set(graph.currencies) | set(currencies))
    return RateCheck(_inconsistent_cycles(graph)[:FINDINGS_MAX], _unreachable(graph, wanted))


def _spanning_tree(graph: RateGraph) -> tuple[dict[str, str | None], set[tuple[str, str]]]:
    """Each currency's parent in the tree, and the given rates the tree uses."""
    neighbours: dict[str, set[str]] = {}
    for base, quote in graph.rates:
        neighbours.setdefault(base, set()).add(quote)
        neighbours.setdefault(quote, set()).add(base)
    parent: dict[str, str | None] = {}
    used: set[tuple[str, str]] = set()
    for root in sorted(neighbours):
        if root in parent:
            continue
        parent[root] = None
        queue = deque([root])
        while queue:
            currency = queue.popleft()
            for other in sorted(neighbours[currency]):
                if other in parent:
                    continue
                parent[other] = currency
                used.add(
                    (currency, other) if (currency, other) in graph.rates else (other, currency)
                )
                queue.append(other)
    return parent, used


def _path_to_root(parent: Mapping[str, str | None], currency: str) -> list[str]:
    path = [currency]
    while (up := parent[path[-1]]) is not None:
        path.append(up)
    return path


def _tree_path(parent: Mapping[str, str | None], start: str, end: str) -> list[str]:
    """The tree's path from `start` to `end` (both in one component)."""
    up_from_start = _path_to_root(parent, start)
    up_from_end = _path_to_root(parent, end)
    on_end_side = set(up_from_end)
    meeting = next(currency for currency in up_from_start if currency in on_end_side)
    down = up_from_end[: up_from_end.index(meeting)]
    return up_from_start[: up_from_start.index(meeting) + 1] + list(reversed(down))


def _inconsistent_cycles(graph: RateGraph) -> list[InconsistentCycle]:
    parent, used = _spanning_tree(graph)
    found = []
    for base, quote in sorted(set(graph.rates) - used):
        # The rate base -> quote, then back along the tree from quote to base.
        cycle = [base, *_tree_path(parent, quote, base)]
        product = Decimal(graph.rates[(base, quote)])
        for here, there in itertools.pairwise(cycle[1:]):
            product = _derived(product * graph.edge(here, there))
        if abs(product - 1) > CYCLE_TOLERANCE:
            found.append(InconsistentCycle(tuple(cycle), product))
    return found


def _unreachable(graph: RateGraph, currencies: list[str]) -> list[UnreachablePair]:
    found: list[UnreachablePair] = []
    for base in currencies:
        reached = graph.chains_from(base)
        for quote in currencies:
            if quote != base and quote not in reached:
                found.append(UnreachablePair(base, quote))
                if len(found) >= FINDINGS_MAX:
                    return found
    return found


# -- conversion -------------------------------------------------------------------------


class ConvertedAmountTooLarge(ValueError):
    """A converted amount beyond `CONVERTED_MINOR_UNITS_MAX` minor units."""


def convert(amount: int, source: str, target: str, rate: Decimal) -> int:
    """`amount` minor units of `source` in minor units of `target` at `rate` (per major
    unit, as Stripe's `exchange_rate`): ¥1000 at 0.0067 is $6.70, 670. Raises
    `ConvertedAmountTooLarge` past `CONVERTED_MINOR_UNITS_MAX`."""
    shift = money.exponent(target) - money.exponent(source)
    with decimal.localcontext() as context:
        context.prec = CONVERSION_DIGITS
        value = Decimal(amount) * rate.scaleb(shift)
    if abs(value) >= CONVERTED_MINOR_UNITS_MAX:
        raise ConvertedAmountTooLarge(f"{amount} {source} converts to {value:.3e} {target}")
    return money.to_minor_units(value, CONVERSION_ROUNDING)


def parse_rate(text: str) -> Decimal:
    """A rate as written in a file or a request: a positive decimal number between
    `RATE_MIN` and `RATE_MAX`, of at most `RATE_SIGNIFICANT_DIGITS_MAX` significant digits."""
    try:
        rate = Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError(f"not a number: {text[:40]!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"a rate is a positive number, not {text[:40]!r}")
    if not RATE_MIN <= rate <= RATE_MAX:
        raise ValueError(f"a rate is between {RATE_MIN} and {RATE_MAX}, not {text[:40]!r}")
    if len(rate.normalize().as_tuple().digits) > RATE_SIGNIFICANT_DIGITS_MAX:
        raise ValueError(
            f"a rate has at most {RATE_SIGNIFICANT_DIGITS_MAX} significant digits, "
            f"not {text[:40]!r}"
        )
    return rate
