"""`GET /v1/subscriptions` and its filters, through the SDK on a real `kassa serve` (SQLite
and PostgreSQL): `collection_method`, `created`, `current_period_end` and
`current_period_start` (the earliest item period end and the latest item period start, as
Stripe's reference words them), `price` and `plan` (an item on it), `automatic_tax[enabled]`,
each paged with `starting_after` and beside another filter, and the refusals naming the
parameter; and migration 0048's backfill of the columns these filters read."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.store import Store
from tests.direct_store import run_backfill, with_store
from tests.harness import Account, KassaServer
from tests.test_subscription_changes import at
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import Client, advance, clock_customer, monthly_price, subscribe

PAGES_MAX = 10
"""More pages than any test here lists (a page holds one subscription)."""


def listed(client: Client, **params: Any) -> list[str]:
    """The ids of every subscription the list shows for `params`, newest first, read one
    per page through `starting_after` (so each filter is paged as well)."""
    ids: list[str] = []
    first: Any = {"limit": 1, **params}
    page = client.v1.subscriptions.list(params=first)
    for _ in range(PAGES_MAX):
        ids.extend(s.id for s in page.data)
        if not page.has_more:
            return ids
        following: Any = {"limit": 1, "starting_after": ids[-1], **params}
        page = client.v1.subscriptions.list(params=following)
    raise AssertionError(f"more than {PAGES_MAX} subscriptions listed for {params}")


def test_collection_method_filters_and_pages(client: Client) -> None:
    price, other = monthly_price(client), monthly_price(client, 900)
    clock_id, customer = clock_customer(client)
    charged = subscribe(client, customer.id, price.id)
    invoiced = subscribe(
        client, customer.id, price.id, collection_method="send_invoice", days_until_due=30
    )
    charged_other = subscribe(client, customer.id, other.id)

    assert listed(client, test_clock=clock_id, collection_method="charge_automatically") == [
        charged_other.id,
        charged.id,
    ]
    assert listed(client, test_clock=clock_id, collection_method="send_invoice") == [invoiced.id]
    assert listed(
        client, test_clock=clock_id, collection_method="charge_automatically", price=price.id
    ) == [charged.id]


def test_created_filters_exactly_or_by_bounds(client: Client) -> None:
    price = monthly_price(client)
    times = [at(2027, 1, 1), at(2027, 2, 1), at(2027, 3, 1)]
    clock_id, customer = clock_customer(client, times[0])
    made = [subscribe(client, customer.id, price.id)]
    for frozen_time in times[1:]:
        advance(client, clock_id, frozen_time)
        made.append(subscribe(client, customer.id, price.id))
    first, second, third = made
    assert [s.created for s in made] == times

    def on_clock(**params: Any) -> list[str]:
        return listed(client, test_clock=clock_id, **params)

    assert on_clock(created=times[1]) == [second.id]
    assert on_clock(created={"gte": times[1]}) == [third.id, second.id]
    assert on_clock(created={"gt": times[0], "lt": times[2]}) == [second.id]
    assert on_clock(created={"lte": times[1]}) == [second.id, first.id]
    assert listed(client, created={"gte": times[1]}, customer=customer.id) == [
        third.id,
        second.id,
    ]


def test_current_period_filters_take_the_earliest_end_and_the_latest_start(
    client: Client,
) -> None:
    """A monthly and a yearly item from 1 January 2027, renewed on 1 February: its items'
    periods are (1 Feb, 1 Mar) and (1 Jan 2027, 1 Jan 2028), so the subscription's period
    end as the list filters it is 1 March (the earliest end) and its start 1 February (the
    latest start). Another subscription, monthly only, from 15 January (on the same clock)."""
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    mixed = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly.id}, {"price": yearly.id}]}
    )
    advance(client, clock_id, at(2027, 1, 15))
    single = subscribe(client, customer.id, monthly.id)
    advance(client, clock_id, at(2027, 2, 2))
    # single: (15 Jan, 15 Feb); mixed: earliest end 1 Mar, latest start 1 Feb.

    def on_clock(**params: Any) -> list[str]:
        return listed(client, test_clock=clock_id, **params)

    assert on_clock(current_period_end=at(2027, 3, 1)) == [mixed.id]
    assert on_clock(current_period_end={"gte": at(2027, 2, 15)}) == [single.id, mixed.id]
    assert on_clock(current_period_end={"lt": at(2027, 3, 1)}) == [single.id]
    # The yearly item ends on 1 January 2028, but the earliest end is what is filtered.
    assert on_clock(current_period_end={"gt": at(2027, 12, 1)}) == []
    assert on_clock(current_period_start=at(2027, 2, 1)) == [mixed.id]
    assert on_clock(current_period_start={"lte": at(2027, 1, 15)}) == [single.id]
    assert on_clock(current_period_start={"gte": at(2027, 1, 2)}) == [single.id, mixed.id]
    assert on_clock(current_period_start={"gte": at(2027, 1, 2)}, price=yearly.id) == [mixed.id]


def test_price_and_plan_find_subscriptions_with_an_item_on_it(client: Client) -> None:
    basic, extra = monthly_price(client, 1000), monthly_price(client, 300)
    clock_id, customer = clock_customer(client)
    only_basic = subscribe(client, customer.id, basic.id)
    both = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": basic.id}, {"price": extra.id}]}
    )
    only_extra = subscribe(client, customer.id, extra.id)

    assert listed(client, test_clock=clock_id, price=basic.id) == [both.id, only_basic.id]
    assert listed(client, test_clock=clock_id, plan=extra.id) == [only_extra.id, both.id]
    assert listed(client, test_clock=clock_id, price=basic.id, plan=extra.id) == [both.id]
    assert listed(client, test_clock=clock_id, price="price_nope") == []

    # An item removed no longer counts; a canceled subscription is left out unless asked.
    (extra_item,) = [i for i in both["items"].data if i.price.id == extra.id]
    client.v1.subscriptions.update(
        both.id, params={"items": [{"id": extra_item.id, "deleted": True}]}
    )
    assert listed(client, test_clock=clock_id, price=extra.id) == [only_extra.id]
    client.v1.subscriptions.cancel(only_basic.id)
    assert listed(client, test_clock=clock_id, price=basic.id) == [both.id]
    assert listed(client, test_clock=clock_id, price=basic.id, status="canceled") == [only_basic.id]
    assert listed(client, test_clock=clock_id, price=basic.id, status="all") == [
        both.id,
        only_basic.id,
    ]


def test_automatic_tax_enabled_matches_none_and_disabled_all(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    first = subscribe(client, customer.id, price.id)
    second = subscribe(client, customer.id, price.id)

    unset = {"enabled": False}
    assert listed(client, test_clock=clock_id, automatic_tax=unset) == [second.id, first.id]
    assert listed(client, test_clock=clock_id, automatic_tax={"enabled": True}) == []
    assert listed(client, automatic_tax={"enabled": False}, customer=customer.id) == [
        second.id,
        first.id,
    ]


def test_subscriptions_on_test_clocks_are_listed_only_by_clock_or_customer(
    client: Client,
) -> None:
    """Stripe's reference (`test_clock`): "The response will not include subscriptions with
    test clocks if this and the customer parameter is not set"."""
    price = monthly_price(client)
    clock_id, clocked = clock_customer(client)
    on_clock = subscribe(client, clocked.id, price.id)
    plain = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    real_time = subscribe(client, plain.id, price.id)

    assert listed(client) == [real_time.id]
    assert listed(client, status="all", price=price.id) == [real_time.id]
    assert listed(client, test_clock=clock_id) == [on_clock.id]
    assert listed(client, customer=clocked.id) == [on_clock.id]
    assert listed(client, customer=plain.id) == [real_time.id]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"created": {"gte": "soon"}}, "created[gte]"),
        ({"created": {"after": 1}}, "created[after]"),
        ({"current_period_end": {"lt": "x"}}, "current_period_end[lt]"),
        ({"current_period_start": "yesterday"}, "current_period_start"),
        ({"collection_method": "by_hand"}, "collection_method"),
        ({"automatic_tax": {"enabled": "maybe"}}, "automatic_tax[enabled]"),
        ({"customer_account": "acct_123"}, "customer_account"),
    ],
)
def test_refusals_name_the_parameter(client: Client, params: dict[str, Any], param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.list(params=params)  # type: ignore[arg-type]
    assert raised.value.param == param


LIST_FILTERS_MIGRATION = 48
"""`0048_subscription_list_filters`: added the subscriptions' `collection_method`,
`current_period_end` and `current_period_start` columns, and filled them in."""


def as_stored_before_the_list_filters(database_url: str, account_id: str) -> None:
    async def run(store: Store) -> None:
        async with store.write() as tx:
            await tx.run_script_statement(
                "UPDATE subscriptions SET collection_method = NULL, current_period_end = NULL, "
                f"current_period_start = NULL WHERE account_id = '{account_id}'"
            )

    with_store(database_url, run)


def test_the_upgrade_fills_the_columns_in_from_each_document(
    server: KassaServer, account: Account, client: Client
) -> None:
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    mixed = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly.id}, {"price": yearly.id}]}
    )
    invoiced = subscribe(
        client, customer.id, monthly.id, collection_method="send_invoice", days_until_due=30
    )
    as_stored_before_the_list_filters(server.database_url, account.id)
    assert listed(client, test_clock=clock_id, collection_method="send_invoice") == []

    run_backfill(server.database_url, LIST_FILTERS_MIGRATION)
    assert listed(client, test_clock=clock_id, collection_method="send_invoice") == [invoiced.id]
    assert listed(client, test_clock=clock_id, collection_method="charge_automatically") == [
        mixed.id
    ]
    assert listed(client, test_clock=clock_id, current_period_end={"gt": at(2027, 2, 1)}) == []
    assert listed(client, test_clock=clock_id, current_period_end=at(2027, 2, 1)) == [
        invoiced.id,
        mixed.id,
    ]
    assert listed(client, test_clock=clock_id, current_period_start=at(2027, 1, 1)) == [
        invoiced.id,
        mixed.id,
    ]
