"""The rate graph (`kassa.fx`): the chain rule, consistency checks and conversions into minor
units, with no server and no store."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa import fx, money

D = Decimal


def graph(**rates: str) -> fx.RateGraph:
    """`graph(eur_usd="1.1")`: one unit of eur buys 1.1 usd."""
    return fx.RateGraph({tuple(pair.split("_")): D(rate) for pair, rate in rates.items()})  # type: ignore[misc]


# -- the chain rule -----------------------------------------------------------------------


def test_a_direct_rate_is_used_as_given() -> None:
    chain = graph(eur_usd="1.1").best_chain("eur", "usd")
    assert chain == fx.Chain(("eur", "usd"), D("1.1"))


def test_an_inverse_rate_converts_the_other_way() -> None:
    chain = graph(usd_eur="0.8").best_chain("eur", "usd")
    assert chain is not None
    assert chain.currencies == ("eur", "usd")
    assert chain.rate == D("1.25")


def test_a_given_rate_wins_over_the_inverse_of_the_opposite_one() -> None:
    both = graph(usd_eur="0.8", eur_usd="1.2")
    assert both.best_chain("eur", "usd") == fx.Chain(("eur", "usd"), D("1.2"))
    assert both.best_chain("usd", "eur") == fx.Chain(("usd", "eur"), D("0.8"))


def test_a_pair_without_a_rate_converts_through_a_third_currency() -> None:
    chain = graph(jpy_eur="0.0062", eur_usd="1.08").best_chain("jpy", "usd")
    assert chain == fx.Chain(("jpy", "eur", "usd"), D("0.006696"))


def test_fewest_hops_win_over_a_better_rate() -> None:
    rates = graph(jpy_usd="0.006", jpy_eur="0.0062", eur_usd="1.2")  # via eur: 0.00744
    assert rates.best_chain("jpy", "usd") == fx.Chain(("jpy", "usd"), D("0.006"))


def test_among_chains_of_equal_length_the_best_rate_wins() -> None:
    rates = graph(jpy_eur="0.0062", eur_usd="1.08", jpy_gbp="0.0055", gbp_usd="1.25")
    # via eur: 0.006696; via gbp: 0.006875
    assert rates.best_chain("jpy", "usd") == fx.Chain(("jpy", "gbp", "usd"), D("0.006875"))


def test_equal_rates_and_lengths_take_the_alphabetically_first_chain() -> None:
    rates = graph(jpy_gbp="0.005", gbp_usd="1.2", jpy_eur="0.005", eur_usd="1.2")
    chain = rates.best_chain("jpy", "usd")
    assert chain is not None
    assert chain.currencies == ("jpy", "eur", "usd")


def test_unreachable_and_too_far_pairs_have_no_chain() -> None:
    assert graph(eur_usd="1.1", gbp_jpy="190").best_chain("eur", "jpy") is None
    line = {f"{a}_{b}": "2" for a, b in itertools.pairwise(LINE)}
    far = graph(**line)
    assert far.best_chain(LINE[0], LINE[fx.CHAIN_HOPS_MAX]) is not None
    assert far.best_chain(LINE[0], LINE[fx.CHAIN_HOPS_MAX + 1]) is None


LINE = ("aud", "cad", "chf", "dkk", "eur", "gbp", "hkd", "jpy", "nok")


def test_a_currency_converts_to_itself_at_one() -> None:
    assert graph(eur_usd="1.1").best_chain("eur", "eur") == fx.Chain(("eur",), D(1))


def test_rates_that_are_not_positive_are_refused() -> None:
    for bad in ("0", "-1", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            graph(eur_usd=bad)
    with pytest.raises(ValueError):
        fx.parse_rate("1,1")


# -- consistency --------------------------------------------------------------------------


def test_the_built_in_table_is_consistent_and_connected() -> None:
    found = fx.check(fx.RateGraph(fx.BUILT_IN_RATES))
    assert found.ok, found


def test_the_built_in_table_converts_every_supported_currency() -> None:
    """Conversion is on for every account, so a charge in any currency Kassa takes must
    reach USD, in one hop."""
    graph = fx.RateGraph(fx.BUILT_IN_RATES)
    assert set(graph.currencies) == set(money.SUPPORTED_CURRENCIES)
    for currency in money.SUPPORTED_CURRENCIES - {"usd"}:
        chain = graph.best_chain(currency, "usd")
        assert chain is not None and chain.hops == 1, currency


def test_a_cycle_off_by_more_than_the_tolerance_is_named() -> None:
    found = fx.check(graph(usd_eur="0.9", eur_gbp="0.9", gbp_usd="1.3"))
    assert [c.currencies for c in found.cycles] == [("gbp", "usd", "eur", "gbp")]
    assert found.cycles[0].product == D("1.053")
    assert "gbp -> usd -> eur -> gbp" in str(found.cycles[0])
    assert found.unreachable == []


def test_a_cycle_within_the_tolerance_passes() -> None:
    # 0.9 * (1/0.8) * (0.8/0.9 + a little) = 1 + 0.00005
    found = fx.check(graph(usd_eur="0.9", gbp_eur="1.125", usd_gbp="0.80004"))
    assert found.ok, found


def test_both_directions_given_must_agree() -> None:
    found = fx.check(graph(usd_eur="0.9", eur_usd="1.2"))
    assert [c.currencies for c in found.cycles] == [("usd", "eur", "usd")]


def test_unreachable_pairs_are_reported_both_ways() -> None:
    found = fx.check(graph(eur_usd="1.1", gbp_jpy="190"))
    pairs = {(p.base, p.quote) for p in found.unreachable}
    assert ("eur", "jpy") in pairs and ("jpy", "eur") in pairs
    assert ("eur", "usd") not in pairs
    assert len(pairs) == 8


# -- conversion into minor units ----------------------------------------------------------


def test_conversions_respect_each_currencys_exponent() -> None:
    assert fx.convert(1000, "eur", "usd", D("1.1")) == 1100  # €10.00 -> $11.00
    assert fx.convert(1000, "jpy", "usd", D("0.0067")) == 670  # ¥1000 -> $6.70
    assert fx.convert(1000, "usd", "jpy", D("150")) == 1500  # $10.00 -> ¥1500
    assert fx.convert(1000, "kwd", "usd", D("3.25")) == 325  # 1.000 KWD -> $3.25


def test_half_a_minor_unit_rounds_to_even() -> None:
    assert fx.convert(5, "eur", "usd", D("1.1")) == 6  # 5.5
    assert fx.convert(25, "eur", "usd", D("1.1")) == 28  # 27.5
    assert fx.convert(15, "eur", "usd", D("1.1")) == 16  # 16.5


# -- properties ---------------------------------------------------------------------------

CURRENCIES = ("aud", "cad", "eur", "gbp", "jpy", "usd")
rate_values = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=4).filter(
    lambda rate: rate > 0
)
rate_tables = st.dictionaries(
    st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES)).filter(
        lambda pair: pair[0] != pair[1]
    ),
    rate_values,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(rate_tables, st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES))
def test_the_best_chain_is_shortest_and_best_among_all_simple_chains(
    rates: dict[tuple[str, str], Decimal], source: str, target: str
) -> None:
    rate_graph = fx.RateGraph(rates)
    chain = rate_graph.best_chain(source, target)
    every = list(_simple_chains(rate_graph, source, target))
    if source == target:
        assert chain == fx.Chain((source,), D(1))
        return
    if not every:
        assert chain is None
        return
    assert chain is not None
    shortest = min(len(path) for path, _ in every)
    assert len(chain.currencies) == shortest
    contenders = [(path, rate) for path, rate in every if len(path) == shortest]
    best_rate = max(rate for _, rate in contenders)
    first = min(path for path, rate in contenders if rate == best_rate)
    assert chain.currencies == first
    assert chain.rate == best_rate


def _simple_chains(
    rate_graph: fx.RateGraph, source: str, target: str
) -> list[tuple[tuple[str, ...], Decimal]]:
    """Every chain without repeated currencies, by brute force (six currencies at most)."""
    found = []
    stack: list[fx.Chain] = [fx.Chain((source,), D(1))]
    while stack:
        chain = stack.pop()
        here = chain.currencies[-1]
        if here == target:
            found.append((chain.currencies, chain.rate))
            continue
        if chain.hops >= fx.CHAIN_HOPS_MAX:
            continue
        for other in rate_graph.currencies:
            if other not in chain.currencies and _has_edge(rate_graph, here, other):
                stack.append(chain.then(other, rate_graph.edge(here, other)))
    return found


def _has_edge(rate_graph: fx.RateGraph, base: str, quote: str) -> bool:
    try:
        rate_graph.edge(base, quote)
    except KeyError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(CURRENCIES[:-1]), rate_values, min_size=1))
def test_a_table_quoted_against_one_currency_is_always_consistent(
    against_usd: dict[str, Decimal],
) -> None:
    """A star has no cycles; adding every derived cross rate keeps it consistent."""
    star = {(currency, "usd"): rate for currency, rate in against_usd.items()}
    found = fx.check(fx.RateGraph(star))
    assert found.ok, found
    derived = fx.RateGraph(star)
    crosses = dict(star)
    for base in against_usd:
        for quote in against_usd:
            chain = derived.best_chain(base, quote)
            if base != quote and chain is not None:
                crosses[(base, quote)] = chain.rate
    assert fx.check(fx.RateGraph(crosses)).cycles == []


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=99_999_999),
    st.sampled_from(("eur", "jpy", "kwd", "usd")),
    st.sampled_from(("eur", "jpy", "kwd", "usd")),
    rate_values,
)
def test_a_conversion_is_within_half_a_minor_unit_of_the_exact_value(
    amount: int, source: str, target: str, rate: Decimal
) -> None:
    from kassa import money

    exact = D(amount) * rate * D(10) ** (money.exponent(target) - money.exponent(source))
    assert abs(D(fx.convert(amount, source, target, rate)) - exact) <= D("0.5")
