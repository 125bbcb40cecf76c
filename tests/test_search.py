"""Stripe's Search API (`/v1/customers/search`, `/v1/charges/search`,
`/v1/payment_intents/search`) through the official SDK against a live server, on SQLite and
PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import pytest
import stripe

from kassa.services.billing.prices import NOT_INLINE
from kassa.store import Store
from kassa.store.search_queries import (
    Comparison,
    FieldCondition,
    ObjectSearch,
    SearchPage,
    ValueKind,
)
from kassa.store.tables import CUSTOMERS, PRICES, ObjectTable
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, create_account

Customer = stripe.Customer


def _search(client: stripe.StripeClient, query: str, **params: Any) -> Any:
    sent: Any = {"query": query, **params}
    return client.v1.customers.search(params=sent)


def _emails(client: stripe.StripeClient, query: str, **params: Any) -> list[str | None]:
    return [c.email for c in _search(client, query, **params).data]


def _refused(client: stripe.StripeClient, query: str) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _search(client, query)
    error = raised.value
    assert error.http_status == 400
    assert error.error is not None and error.error.type == "invalid_request_error"
    assert error.param == "query"
    return error


def _create(client: stripe.StripeClient, **params: Any) -> Customer:
    sent: Any = params
    return client.v1.customers.create(params=sent)


def test_the_envelope_is_stripes_search_result(client: stripe.StripeClient) -> None:
    created = _create(client, email="ada@example.com")
    found = _search(client, 'email:"ada@example.com"')
    assert found.to_dict() == {
        "object": "search_result",
        "data": [created.to_dict()],
        "has_more": False,
        "next_page": None,
        "url": "/v1/customers/search",
    }
    counted = _search(client, 'email:"ada@example.com"', expand=["total_count"])
    assert counted.to_dict()["total_count"] == 1


def test_exact_match_ignores_case_and_substring_match_finds_parts(
    client: stripe.StripeClient,
) -> None:
    _create(client, email="Grace.Hopper@Navy.example", name="Grace Hopper")
    _create(client, email="ada@example.com", name="Ada Lovelace")
    _create(client, email="percent@example.com", name="100% Done_ok")
    assert _emails(client, 'email:"grace.hopper@navy.example"') == ["Grace.Hopper@Navy.example"]
    assert _emails(client, "email:'ADA@EXAMPLE.COM'") == ["ada@example.com"]
    assert _emails(client, 'email:"ada@example"') == []  # exact means the whole value
    assert _emails(client, 'name~"LOVE"') == ["ada@example.com"]
    assert _emails(client, 'email~"example"') == [
        "percent@example.com",
        "ada@example.com",
        "Grace.Hopper@Navy.example",
    ]
    # LIKE wildcards in a substring are plain characters.
    assert _emails(client, 'name~"0% D"') == ["percent@example.com"]
    assert _emails(client, 'name~"e_o"') == ["percent@example.com"]
    assert _emails(client, 'name~"%%%"') == []


def test_case_is_ignored_beyond_ascii_as_on_postgresql(client: stripe.StripeClient) -> None:
    """Both engines fold case as PostgreSQL's lower() does, letter by letter: accented and
    other non-ASCII letters too, and ß stays ß (it is not folded to ss)."""
    _create(client, name="José Ñandú", email="jose@example.com")
    _create(client, name="Straße", email="MÜLLER@beispiel.de")
    assert _emails(client, 'name~"JOSÉ"') == ["jose@example.com"]
    assert _emails(client, 'name:"josé ñandú"') == ["jose@example.com"]
    assert _emails(client, 'email:"müller@beispiel.de"') == ["MÜLLER@beispiel.de"]
    assert _emails(client, 'email~"ÜLLER@"') == ["MÜLLER@beispiel.de"]
    assert _emails(client, 'name:"STRAẞE"') == ["MÜLLER@beispiel.de"]
    assert _emails(client, 'name:"strasse"') == []


def test_a_post_to_search_is_an_unrecognized_url(client: stripe.StripeClient) -> None:
    """`POST /v1/customers/search` is no update of a customer named "search"."""
    _create(client, email="ada@example.com")
    sent: Any = {"query": 'email:"ada@example.com"'}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update("search", params=sent)
    assert raised.value.http_status == 404
    assert (raised.value.user_message or "").startswith(
        "Unrecognized request URL (POST: /v1/customers/search)"
    )


def test_quoted_values_with_escaped_quotes(client: stripe.StripeClient) -> None:
    _create(client, name='Ada "The Countess" Lovelace', email="ada@example.com")
    _create(client, name="O'Brien", email="ob@example.com")
    assert _emails(client, r'name:"Ada \"The Countess\" Lovelace"') == ["ada@example.com"]
    assert _emails(client, r"name:'O\'Brien'") == ["ob@example.com"]
    assert _emails(client, 'name:"O\'Brien"') == ["ob@example.com"]


def test_metadata_by_key(client: stripe.StripeClient) -> None:
    _create(client, email="a@example.com", metadata={"order": "6735", "odd.key": "x"})
    _create(client, email="b@example.com", metadata={"order": "6736", 'q"uote': "y"})
    _create(client, email="c@example.com")
    assert _emails(client, 'metadata["order"]:"6735"') == ["a@example.com"]
    assert _emails(client, "metadata['order']:'6736'") == ["b@example.com"]
    assert _emails(client, "metadata['order']:6736") == ["b@example.com"]
    assert _emails(client, 'metadata["odd.key"]:"X"') == ["a@example.com"]
    assert _emails(client, r'metadata["q\"uote"]:"y"') == ["b@example.com"]
    assert _emails(client, 'metadata["order"]:null') == ["c@example.com"]
    assert _emails(client, '-metadata["order"]:"6735"') == ["c@example.com", "b@example.com"]


def test_numeric_ranges_on_created(client: stripe.StripeClient) -> None:
    first = _create(client, email="first@example.com")
    created = first.created
    assert _emails(client, f"created:{created}") == ["first@example.com"]
    assert _emails(client, f"created>={created}") == ["first@example.com"]
    assert _emails(client, f'created<="{created}"') == ["first@example.com"]
    assert _emails(client, f"created>{created}") == []
    assert _emails(client, f"created<{created}") == []
    assert _emails(client, f"created>{created - 1} AND created<{created + 1}") == [
        "first@example.com"
    ]


def test_negation_and_null(client: stripe.StripeClient) -> None:
    _create(client, email="phone@example.com", phone="+15550100")
    _create(client, email="nophone@example.com")
    _create(client, name="No Email")
    assert _emails(client, "phone:null") == [None, "nophone@example.com"]
    assert _emails(client, "-phone:null") == ["phone@example.com"]
    # A negated clause keeps the objects that have no value at all.
    assert _emails(client, '-email:"phone@example.com"') == [None, "nophone@example.com"]
    assert _emails(client, '-name:"No Email"') == ["nophone@example.com", "phone@example.com"]


def test_and_or(client: stripe.StripeClient) -> None:
    _create(client, email="a@example.com", name="Alpha", metadata={"tier": "gold"})
    _create(client, email="b@example.com", name="Beta", metadata={"tier": "gold"})
    _create(client, email="c@example.com", name="Gamma", metadata={"tier": "silver"})
    gold_alpha = 'metadata["tier"]:"gold" {} name:"Alpha"'
    assert _emails(client, gold_alpha.format("AND")) == ["a@example.com"]
    assert _emails(client, gold_alpha.format("and")) == ["a@example.com"]
    assert _emails(client, gold_alpha.format("")) == ["a@example.com"]  # a space is AND
    assert _emails(client, 'name:"Alpha" OR name:"Gamma" or email:"zzz@example.com"') == [
        "c@example.com",
        "a@example.com",
    ]


def test_malformed_queries_are_400s_naming_query(client: stripe.StripeClient) -> None:
    mixed = _refused(client, 'name:"a" OR name:"b" AND email:"c@d.e"')
    assert "AND and OR" in (mixed.user_message or "")
    implicit = _refused(client, 'name:"a" OR name:"b" email:"c@d.e"')
    assert "AND and OR" in (implicit.user_message or "")
    unknown = _refused(client, 'nickname:"ada"')
    assert "nickname" in (unknown.user_message or "")
    assert "unsupported search field" in (unknown.user_message or "")
    for query, words in (
        ('name~"ab"', "3 characters"),
        ("email>5", "'>'"),
        ('metadata:"x"', "by key"),
        ('email["k"]:"x"', "no keys"),
        ("name:ada", "quote string values"),
        ('name:"ada', "no closing"),
        ('name:"a" AND', "ends with AND"),
        ('created:"yesterday"', "not an integer"),
        ("created>null", "null"),
        ('(name:"a")', "Parentheses"),
        ('name="a"', "operator"),
        ("", None),
    ):
        if not query:
            with pytest.raises(stripe.InvalidRequestError) as raised:
                _search(client, query)
            assert raised.value.param == "query"
            continue
        error = _refused(client, query)
        assert words in (error.user_message or ""), (query, error.user_message)


def test_paging_with_next_page_has_no_duplicates_or_gaps(client: stripe.StripeClient) -> None:
    batch = secrets.token_hex(4)
    made = [_create(client, metadata={"batch": batch}).id for _ in range(23)]
    _create(client, metadata={"batch": "other"})
    query = f'metadata["batch"]:"{batch}"'
    seen: list[str] = []
    page = _search(client, query, limit=5)
    pages = 1
    while True:
        seen.extend(c.id for c in page.data)
        if not page.has_more:
            assert page.next_page is None
            break
        assert isinstance(page.next_page, str) and len(page.data) == 5
        page = _search(client, query, limit=5, page=page.next_page)
        pages += 1
    assert pages == 5
    assert seen == list(reversed(made))  # newest first, each once
    via_sdk = [c.id for c in _search(client, query, limit=7).auto_paging_iter()]
    assert via_sdk == seen


def test_another_accounts_objects_are_never_found(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    other = server.client(create_account(server.database_url).secret_key)
    other.v1.customers.create(params={"email": "shared@example.com", "metadata": {"k": "v"}})
    mine = _create(client, email="shared@example.com")
    assert [c.id for c in _search(client, 'email:"shared@example.com"').data] == [mine.id]
    assert _search(client, 'metadata["k"]:"v"').data == []
    counted = _search(client, 'email~"shared"', expand=["total_count"])
    assert counted.to_dict()["total_count"] == 1


def test_deleted_customers_are_not_found(client: stripe.StripeClient) -> None:
    gone = _create(client, email="gone@example.com")
    kept = _create(client, email="kept@example.com")
    client.v1.customers.delete(gone.id)
    assert [c.id for c in _search(client, 'email~"@example.com"').data] == [kept.id]


def test_page_limit_and_unknown_parameters(client: stripe.StripeClient) -> None:
    _create(client, email="a@example.com")
    for params, param in (
        ({"page": "not-a-token"}, "page"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"starting_after": "cus_x"}, "starting_after"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            _search(client, 'email:"a@example.com"', **params)
        assert raised.value.http_status == 400
        assert raised.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _search(client, 'email:"a@example.com"', expand=["total_count.x"])
    assert raised.value.param == "expand"


def test_expanding_inside_search_results(client: stripe.StripeClient) -> None:
    customer = _create(client, email="pay@example.com")
    client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    found = client.v1.charges.search(
        params={"query": f'customer:"{customer.id}"', "expand": ["data.customer"]}
    )
    assert [c.customer.id for c in found.data] == [customer.id]  # type: ignore[union-attr]


def _pay(client: stripe.StripeClient, amount: int, card: str, **params: Any) -> Any:
    sent: Any = {
        "amount": amount,
        "currency": params.pop("currency", "usd"),
        "payment_method": card,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **params,
    }
    return client.v1.payment_intents.create(params=sent)


def test_charges_search(client: stripe.StripeClient) -> None:
    visa = _pay(client, 1000, "pm_card_visa", metadata={"order": "1"})
    master = _pay(client, 2500, "pm_card_mastercard", currency="eur")
    refunded = _pay(client, 4000, "pm_card_visa")
    client.v1.refunds.create(params={"payment_intent": refunded.id})

    def charges(query: str) -> list[str]:
        found = client.v1.charges.search(params={"query": query})
        return [c.payment_intent for c in found.data]  # type: ignore[misc]

    assert charges("payment_method_details.card.last4:4242") == [refunded.id, visa.id]
    assert charges('payment_method_details.card.brand:"mastercard"') == [master.id]
    assert charges('refunded:"true"') == [refunded.id]
    assert charges("refunded:false AND disputed:false") == [master.id, visa.id]
    assert charges("amount>1000 amount<=4000") == [refunded.id, master.id]
    assert charges('currency:"EUR"') == [master.id]
    assert charges('status:"succeeded" metadata["order"]:"1"') == [visa.id]
    assert charges("payment_method_details.card.exp_month>=1") == [
        refunded.id,
        master.id,
        visa.id,
    ]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.search(params={"query": 'status~"succ"'})
    assert raised.value.param == "query"
    assert "substring" in (raised.value.user_message or "")


def test_payment_intents_search(client: stripe.StripeClient) -> None:
    customer = _create(client, email="pi@example.com")
    paid = _pay(client, 1200, "pm_card_visa", customer=customer.id)
    open_intent = client.v1.payment_intents.create(
        params={"amount": 800, "currency": "usd", "metadata": {"cart": "42"}}
    )

    def intents(query: str) -> list[str]:
        return [pi.id for pi in client.v1.payment_intents.search(params={"query": query}).data]

    assert intents('status:"succeeded"') == [paid.id]
    assert intents('status:"requires_payment_method"') == [open_intent.id]
    assert intents(f'customer:"{customer.id}"') == [paid.id]
    assert intents("amount<1000") == [open_intent.id]
    assert intents('metadata["cart"]:"42" OR amount:1200') == [open_intent.id, paid.id]
    assert intents('-currency:"usd"') == []


def test_a_page_examines_a_bounded_window(server: KassaServer, account: Account) -> None:
    """When the rows a page may examine hold fewer matches than its limit, the page says
    where it stopped and the next one goes on from there: nothing is skipped. (Driven
    through Kassa's own store with a small window; the API's window is 10,000 rows.)"""
    client = server.client(account.secret_key)
    made = [_create(client, name="match" if i in (1, 9) else "other").id for i in range(12)]
    condition = FieldCondition(("name",), ValueKind.TEXT, Comparison.EQUALS, "MATCH")

    found = _windowed_pages(server.database_url, CUSTOMERS, account.id, condition, {})
    # Windows of three, newest first: [11 10 9] [8 7 6] [5 4 3] [2 1 0]; the last one is
    # full, but nothing lies below it, so it is the last page.
    assert found == [[made[9]], [], [], [made[1]]]


def _windowed_pages(
    database_url: str,
    table: ObjectTable,
    account_id: str,
    condition: FieldCondition,
    nulls: Mapping[str, bool],
) -> list[list[str]]:
    """The ids on each page of a search examining three rows a page, two results at most,
    page after page until the last."""

    async def pages(store: Store) -> list[SearchPage]:
        found: list[SearchPage] = []
        before: int | None = None
        for _ in range(PAGES_MAX):
            search = ObjectSearch(
                (condition,),
                match_all=True,
                limit=2,
                rows_scanned_max=3,
                before_seq=before,
                nulls=nulls,
            )
            async with store.read() as tx:
                page = await tx.search_objects(table, account_id, search)
            found.append(page)
            before = page.next_before_seq
            if before is None:
                break
        return found

    return [[o["id"] for o in page.objects] for page in with_store(database_url, pages)]


PAGES_MAX = 10


def test_products_and_prices_are_searchable(client: stripe.StripeClient) -> None:
    shirt = client.v1.products.create(
        params={"name": "Blue shirt", "metadata": {"line": "summer"}, "shippable": True}
    )
    client.v1.products.create(params={"name": "Red hat", "active": False})
    found = client.v1.products.search(params={"query": 'name~"shirt" AND active:"true"'})
    assert [p.id for p in found.data] == [shirt.id]
    found = client.v1.products.search(params={"query": "metadata['line']:'summer'"})
    assert [p.id for p in found.data] == [shirt.id]

    tiered = client.v1.prices.create(
        params={
            "product": shirt.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 10, "unit_amount": 500}, {"up_to": "inf", "unit_amount": 400}],
            "recurring": {"interval": "month"},
            "lookup_key": "shirt_monthly",
        }
    )
    client.v1.prices.create(params={"product": shirt.id, "currency": "eur", "unit_amount": 900})
    prices = client.v1.prices.search(params={"query": f'product:"{shirt.id}" AND type:"recurring"'})
    assert [p.id for p in prices.data] == [tiered.id]
    # As in lists and retrieves, `tiers` is returned only when expanded.
    assert "tiers" not in prices.data[0].to_dict()
    prices = client.v1.prices.search(params={"query": 'lookup_key:"shirt_monthly"'})
    assert [p.id for p in prices.data] == [tiered.id]


def test_a_price_search_page_counts_the_inline_prices_it_passes(
    server: KassaServer, account: Account
) -> None:
    """Inline prices are never found, but they are among the account's objects a page
    examines: a page over nothing but inline prices finds nothing and says where the next
    one starts, rather than reading past all of them. (A small window, as above.)"""
    client = server.client(account.secret_key)
    product = client.v1.products.create(params={"name": "Window"})
    listed = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 100}
    )
    customer = _create(client, email="inline@example.com")
    for amount in range(101, 105):
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "price_data": {"currency": "usd", "product": product.id, "unit_amount": amount},
            }
        )
    condition = FieldCondition(("product",), ValueKind.TEXT, Comparison.EQUALS, product.id)
    found = _windowed_pages(server.database_url, PRICES, account.id, condition, NOT_INLINE)
    # Newest first: [inline inline inline] [inline listed]: the first window holds no match.
    assert found == [[], [listed.id]]
