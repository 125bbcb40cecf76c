"""Parameters at their edges, through a live server on SQLite and PostgreSQL: timestamps past
the largest Kassa turns into dates (`kassa.params.TIMESTAMP_MAX`) refused where they are
sent, naming the parameter; a test clock's advance bounded in span; a price twice in a new
subscription refused as on update; and errors that name the parameter the request sent
(`items[0][quantity]`, not `quantity`). None of them may answer 500."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest
import stripe

from kassa.params import TIMESTAMP_MAX
from kassa.services.test_clocks import ADVANCE_SPAN_SECONDS_MAX, ADVANCE_SPAN_YEARS_MAX
from tests import loopback
from tests.harness import Account, KassaServer

Client = stripe.StripeClient
FAR = 99_999_999_999_999
"""The reviewer's due date: the year 3170843, which Python's calendar cannot hold."""
START = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY = 86_400


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def post(server: KassaServer, account: Account, path: str, data: dict[str, Any]) -> httpx.Response:
    with server.http(account.secret_key) as http:
        return http.post(path, data=data)


def assert_refused(response: httpx.Response, param: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    return error


def recurring_price(client: Client, unit_amount: int = 1000) -> stripe.Price:
    product = client.v1.products.create(params={"name": "Seat"})
    return client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": "month"},
        }
    )


def paying_customer(client: Client) -> stripe.Customer:
    return client.v1.customers.create(
        params={
            "email": "edges@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )


def subscribed(client: Client, price_id: str) -> stripe.Subscription:
    return client.v1.subscriptions.create(
        params={"customer": paying_customer(client).id, "items": [{"price": price_id}]}
    )


# -- timestamps ------------------------------------------------------------------------------


def test_a_due_date_past_the_largest_timestamp_is_refused_where_it_is_sent(
    client: Client,
) -> None:
    """Before: accepted, then finalizing the invoice answered 500 (its reminders' days)."""
    who = client.v1.customers.create(params={"email": "due@example.com"})
    for due_date in (FAR, TIMESTAMP_MAX + 1):
        params: Any = {"customer": who.id, "collection_method": "send_invoice"}
        params["due_date"] = due_date
        error = refused(partial(client.v1.invoices.create, params=params))
        assert (error.http_status, error.param) == (400, "due_date")
        assert error.user_message is not None
        assert "Invalid timestamp" in error.user_message
        assert str(TIMESTAMP_MAX) in error.user_message
    draft = client.v1.invoices.create(
        params={"customer": who.id, "collection_method": "send_invoice", "days_until_due": 3}
    )
    error = refused(lambda: client.v1.invoices.update(draft.id, params={"due_date": FAR}))
    assert error.param == "due_date"


def test_the_largest_timestamp_itself_finalizes_and_renders(
    server: KassaServer, account: Account, client: Client
) -> None:
    """Due at 9899-12-31T23:59:59Z, its reminders 7, 14 and 30 days on still have dates."""
    who = client.v1.customers.create(params={"email": "last@example.com"})
    client.v1.invoice_items.create(
        params={
            "customer": who.id,
            "amount": 1500,
            "currency": "usd",
            "period": {"start": TIMESTAMP_MAX, "end": TIMESTAMP_MAX},
        }
    )
    draft = client.v1.invoices.create(
        params={
            "customer": who.id,
            "collection_method": "send_invoice",
            "due_date": TIMESTAMP_MAX,
            "pending_invoice_items_behavior": "include",
        }
    )
    final = client.v1.invoices.finalize_invoice(draft.id)
    assert (final.status, final.due_date, final.amount_due) == ("open", TIMESTAMP_MAX, 1500)
    assert final.hosted_invoice_url is not None and final.invoice_pdf is not None
    assert loopback.get(final.hosted_invoice_url, timeout=30).status_code == 200
    assert loopback.get(final.invoice_pdf, timeout=60).status_code == 200


def test_an_invoice_item_period_past_the_largest_timestamp_is_refused(client: Client) -> None:
    """Before: accepted, then the hosted page and the PDF of its invoice answered 500."""
    who = client.v1.customers.create(params={"email": "period@example.com"})
    for side in ("start", "end"):
        period = {"start": START, "end": START, side: FAR}
        params: Any = {"customer": who.id, "amount": 500, "currency": "usd", "period": period}
        error = refused(partial(client.v1.invoice_items.create, params=params))
        assert (error.http_status, error.param) == (400, f"period[{side}]")
    kept = client.v1.invoice_items.create(
        params={"customer": who.id, "amount": 500, "currency": "usd"}
    )
    error = refused(
        lambda: client.v1.invoice_items.update(
            kept.id, params={"period": {"start": START, "end": FAR}}
        )
    )
    assert error.param == "period[end]"


TOO_FAR = str(TIMESTAMP_MAX + 1)


@pytest.mark.parametrize(
    ("what", "data", "param"),
    [
        ("coupon", {"percent_off": "10", "redeem_by": TOO_FAR}, "redeem_by"),
        ("clock", {"frozen_time": TOO_FAR}, "frozen_time"),
        ("invoice", {"automatically_finalizes_at": TOO_FAR}, "automatically_finalizes_at"),
        ("invoice", {"effective_at": TOO_FAR}, "effective_at"),
        ("subscription", {"cancel_at": TOO_FAR}, "cancel_at"),
        ("subscription", {"billing_cycle_anchor": TOO_FAR}, "billing_cycle_anchor"),
        ("subscription_update", {"cancel_at": TOO_FAR}, "cancel_at"),
        ("subscription_update", {"proration_date": TOO_FAR}, "proration_date"),
        (
            "subscription_update",
            {"pause_collection[behavior]": "void", "pause_collection[resumes_at]": TOO_FAR},
            "pause_collection[resumes_at]",
        ),
        ("promotion_code", {"expires_at": TOO_FAR}, "expires_at"),
        (
            "preview",
            {
                "invoice_items[0][amount]": "100",
                "invoice_items[0][currency]": "usd",
                "invoice_items[0][period][start]": str(START),
                "invoice_items[0][period][end]": TOO_FAR,
            },
            "invoice_items[0][period][end]",
        ),
    ],
)
def test_every_timestamp_parameter_is_bounded(
    server: KassaServer,
    account: Account,
    client: Client,
    what: str,
    data: dict[str, str],
    param: str,
) -> None:
    """Before: each of these was taken (up to 2**63 - 1) and left for a date to fail on."""
    price = recurring_price(client)
    if what == "coupon":
        path = "/v1/coupons"
    elif what == "clock":
        path = "/v1/test_helpers/test_clocks"
    elif what == "invoice":
        who = client.v1.customers.create(params={"email": "inv@example.com"})
        path, data = "/v1/invoices", {"customer": who.id, **data}
    elif what == "subscription":
        who = paying_customer(client)
        path, data = "/v1/subscriptions", {"customer": who.id, "items[0][price]": price.id, **data}
    elif what == "subscription_update":
        path = f"/v1/subscriptions/{subscribed(client, price.id).id}"
    elif what == "promotion_code":
        coupon = client.v1.coupons.create(params={"percent_off": 10})
        path = "/v1/promotion_codes"
        data = {"promotion[type]": "coupon", "promotion[coupon]": coupon.id, **data}
    else:
        who = client.v1.customers.create(params={"email": "preview@example.com"})
        path, data = "/v1/invoices/create_preview", {"customer": who.id, **data}
    error = assert_refused(post(server, account, path, data), param)
    assert "Invalid timestamp" in error["message"]


# -- test clocks -----------------------------------------------------------------------------


def test_one_advance_may_move_a_clock_a_century_and_no_further(client: Client) -> None:
    """Before: any span, up to 9999 (a monthly subscription billed ~95,000 invoices)."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    # The bound is 100 years of 366 days: one second past it is refused, the bound itself
    # (36,600 days, more than the 36,525 of the century from 2027-01-15) is not.
    error = refused(
        lambda: client.v1.test_helpers.test_clocks.advance(
            clock.id, params={"frozen_time": START + ADVANCE_SPAN_SECONDS_MAX + 1}
        )
    )
    assert (error.http_status, error.param) == (400, "frozen_time")
    assert error.user_message is not None
    assert f"at most {ADVANCE_SPAN_YEARS_MAX} years" in error.user_message
    advanced = client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + ADVANCE_SPAN_SECONDS_MAX}
    )
    assert advanced.status == "advancing"


# -- subscription items ----------------------------------------------------------------------


def test_a_new_subscription_takes_each_price_once(client: Client) -> None:
    """Before: 200 with two items of one price (update and subscription_items refused it)."""
    price = recurring_price(client)
    who = paying_customer(client)
    error = refused(
        lambda: client.v1.subscriptions.create(
            params={"customer": who.id, "items": [{"price": price.id}, {"price": price.id}]}
        )
    )
    assert (error.http_status, error.param) == (400, "items")
    assert error.user_message == "Cannot add multiple subscription items with the same price."
    listed = client.v1.subscriptions.list(params={"customer": who.id, "status": "all"})
    assert listed.data == []


# -- errors name the parameter sent ----------------------------------------------------------


def test_an_item_quantity_too_large_names_the_item_quantity(client: Client) -> None:
    """$10.00 x 1,000,000,000 = 1,000,000,000,000 cents, above the 99,999,999 an item may
    bill. Before: param `quantity` (update) and `subscription_details[quantity]` (preview)."""
    price = recurring_price(client, unit_amount=1000)
    subscription = subscribed(client, price.id)
    item_id = subscription["items"].data[0].id
    too_many: Any = {"id": item_id, "quantity": 1_000_000_000}
    error = refused(
        lambda: client.v1.subscriptions.update(subscription.id, params={"items": [too_many]})
    )
    assert (error.http_status, error.code, error.param) == (
        400,
        "amount_too_large",
        "items[0][quantity]",
    )
    error = refused(
        lambda: client.v1.invoices.create_preview(
            params={
                "subscription": subscription.id,
                "subscription_details": {"items": [too_many]},
            }
        )
    )
    assert (error.code, error.param) == (
        "amount_too_large",
        "subscription_details[items][0][quantity]",
    )
    error = refused(
        lambda: client.v1.subscription_items.update(item_id, params={"quantity": 1_000_000_000})
    )
    assert (error.code, error.param) == ("amount_too_large", "quantity")


def test_a_price_data_currency_unlike_the_item_names_price_data_currency(
    client: Client,
) -> None:
    """Before: param `pricing[price]`, which the request did not send."""
    who = client.v1.customers.create(params={"email": "cur@example.com"})
    product = client.v1.products.create(params={"name": "Widget"})
    kept = client.v1.invoice_items.create(
        params={"customer": who.id, "amount": 500, "currency": "usd"}
    )
    error = refused(
        lambda: client.v1.invoice_items.update(
            kept.id,
            params={"price_data": {"currency": "eur", "product": product.id, "unit_amount": 300}},
        )
    )
    assert (error.http_status, error.param) == (400, "price_data[currency]")


def test_a_new_subscription_item_quantity_too_large_names_it(client: Client) -> None:
    """$10.00 x 1,000,000,000 on create: refused naming `items[0][quantity]`."""
    price = recurring_price(client, unit_amount=1000)
    who = paying_customer(client)
    error = refused(
        lambda: client.v1.subscriptions.create(
            params={"customer": who.id, "items": [{"price": price.id, "quantity": 1_000_000_000}]}
        )
    )
    assert (error.code, error.param) == ("amount_too_large", "items[0][quantity]")


def test_a_balance_too_large_to_collect_names_no_parameter(client: Client) -> None:
    """Three balance transactions of 99,999,999 make a balance of 299,999,997 owed; with
    the first month's $10.00 the invoice is due 299,999,997 + 1,000 = 300,000,997 cents,
    over the 99,999,999 one payment may take. Before: param `amount`, which
    `POST /v1/subscriptions` has not."""
    price = recurring_price(client, unit_amount=1000)
    who = paying_customer(client)
    for _ in range(3):
        client.v1.customers.balance_transactions.create(
            who.id, params={"amount": 99_999_999, "currency": "usd"}
        )
    error = refused(
        lambda: client.v1.subscriptions.create(
            params={"customer": who.id, "items": [{"price": price.id}]}
        )
    )
    assert (error.http_status, error.code, error.param) == (400, "amount_too_large", None)
    assert error.user_message is not None
    assert "$3,000,009.97 usd" in error.user_message
    assert client.v1.customers.retrieve(who.id).balance == 299_999_997
    listed = client.v1.subscriptions.list(params={"customer": who.id, "status": "all"})
    assert listed.data == []
