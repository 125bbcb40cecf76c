"""Concurrent writes racing for one unique key answer as if they had run one after the other:
one wins, the others get Stripe's 400, never a 500 (on PostgreSQL the loser's unit meets a
unique violation; Kassa runs it again and it then sees the winner's row)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe

from kassa.store import Store
from kassa.store.tables import CUSTOMERS
from tests.direct_store import with_store
from tests.harness import Account, KassaServer

RACERS = 8


def race(create: Callable[[], Any]) -> tuple[list[Any], list[stripe.StripeError]]:
    """Run `create` from RACERS threads at once: (results, Stripe errors)."""

    def attempt(_: int) -> Any:
        try:
            return create()
        except stripe.StripeError as error:
            return error

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = list(pool.map(attempt, range(RACERS)))
    errors = [o for o in outcomes if isinstance(o, stripe.StripeError)]
    return [o for o in outcomes if not isinstance(o, stripe.StripeError)], errors


def assert_one_winner(results: list[Any], errors: list[stripe.StripeError], code: str) -> None:
    assert len(results) == 1, [str(e) for e in errors]
    assert len(errors) == RACERS - 1
    for error in errors:
        assert isinstance(error, stripe.InvalidRequestError), repr(error)
        assert error.http_status == 400
        assert error.code == code


def test_one_custom_coupon_id_wins(client: stripe.StripeClient) -> None:
    results, errors = race(
        lambda: client.v1.coupons.create(
            params={"id": "RACE", "percent_off": 10, "duration": "once"}
        )
    )
    assert_one_winner(results, errors, "resource_already_exists")
    assert client.v1.coupons.retrieve("RACE").percent_off == 10


def test_one_active_promotion_code_wins(client: stripe.StripeClient) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 5, "duration": "once"})
    results, errors = race(
        lambda: client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "RACE5"}
        )
    )
    assert len(results) == 1, [str(e) for e in errors]
    assert all(isinstance(e, stripe.InvalidRequestError) for e in errors)
    listed = client.v1.promotion_codes.list(params={"code": "RACE5"})
    assert [p.id for p in listed.data] == [results[0].id]


def test_one_lookup_key_wins(client: stripe.StripeClient) -> None:
    product = client.v1.products.create(params={"name": "Race"})
    results, errors = race(
        lambda: client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": 100,
                "lookup_key": "race_key",
            }
        )
    )
    assert len(results) == 1, [str(e) for e in errors]
    assert all(isinstance(e, stripe.InvalidRequestError) for e in errors)
    listed = client.v1.prices.list(params={"lookup_keys": ["race_key"]})
    assert [p.id for p in listed.data] == [results[0].id]


def test_a_deadlock_postgresql_breaks_is_a_write_conflict_to_run_again(
    server: KassaServer, client: stripe.StripeClient, account: Account
) -> None:
    """Two units locking the same two rows in opposite orders: PostgreSQL fails one to break
    the deadlock, and the store reports it as `WriteConflict` (the API runs such a unit
    again) instead of letting it become a 500. SQLite's single writer cannot deadlock."""
    if not server.database_url.startswith("postgres"):
        pytest.skip("SQLite serializes writers: there is no deadlock to break")
    first, second = (client.v1.customers.create().id for _ in range(2))

    async def lock_both(store: Store) -> tuple[BaseException | None, ...]:
        locked = {first: asyncio.Event(), second: asyncio.Event()}

        async def unit(mine: str, theirs: str) -> None:
            async with store.write() as tx:
                await tx.get_object(CUSTOMERS, account.id, mine)
                locked[mine].set()
                await locked[theirs].wait()
                await tx.get_object(CUSTOMERS, account.id, theirs)

        return await asyncio.gather(
            unit(first, second), unit(second, first), return_exceptions=True
        )

    outcomes = with_store(server.database_url, lock_both)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "WriteConflict"]
