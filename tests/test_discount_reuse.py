"""`discounts[][discount]` reuses only a discount on the object itself or on one of its
ancestors (Stripe: "ID of an existing discount on the object (or one of its ancestors) to
reuse"): a subscription's own, an item's own or its subscription's, an invoice's own or its
subscription's. Another subscription's or invoice's discount of the same customer is refused
with a 400 naming the entry, and nothing is written. Through the SDK on a real
`kassa serve` (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_invoices import customer, item
from tests.test_subscription_changes import change
from tests.test_subscription_terms import utc
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    monthly_price,
    subscribe,
)


def coupon(client: Client) -> stripe.Coupon:
    return client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})


def reusing(discount_id: object, **params: Any) -> Any:
    """Parameters with `discounts` reusing `discount_id` (typed loosely for the SDK's
    TypedDicts)."""
    return {**params, "discounts": [{"discount": discount_id}]}


def refused(call: Any, param: str) -> None:
    """`call()` answers 400 naming `param`."""
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert (raised.value.http_status, raised.value.param) == (400, param), raised.value


def two_subscriptions(client: Client) -> tuple[str, stripe.Subscription, stripe.Subscription]:
    """A clock customer with two subscriptions, each with a discount of its own."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    first = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon(client).id}])
    second = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon(client).id}])
    return clock_id, first, second


def draft_with_discount(client: Client, customer_id: str) -> stripe.Invoice:
    item(client, customer_id, 1000)
    return client.v1.invoices.create(
        params={
            "customer": customer_id,
            "pending_invoice_items_behavior": "include",
            "discounts": [{"coupon": coupon(client).id}],
        }
    )


def test_a_subscription_takes_no_other_subscriptions_or_invoices_discount(client: Client) -> None:
    """On update: the other subscription's discount and an invoice's are refused, even after
    a new coupon in the same list, which is then not redeemed, the discounts unchanged. On
    create: the same, and no subscription is made. Its own discount, removed, goes back."""
    _, first, second = two_subscriptions(client)
    (first_discount,) = first.discounts
    (second_discount,) = second.discounts
    invoice_discount = draft_with_discount(client, str(first.customer)).discounts[0]
    fresh = coupon(client)
    for foreign in (second_discount, invoice_discount):
        refused(
            lambda foreign=foreign: change(client, first.id, discounts=[{"discount": foreign}]),
            "discounts[0][discount]",
        )
        refused(
            lambda foreign=foreign: change(
                client, first.id, discounts=[{"coupon": fresh.id}, {"discount": foreign}]
            ),
            "discounts[1][discount]",
        )
    assert client.v1.subscriptions.retrieve(first.id).discounts == [first_discount]
    assert client.v1.coupons.retrieve(fresh.id).times_redeemed == 0
    price = monthly_price(client)
    refused(
        lambda: subscribe(
            client, str(first.customer), price.id, discounts=[{"discount": second_discount}]
        ),
        "discounts[0][discount]",
    )
    listed = client.v1.subscriptions.list(params={"customer": str(first.customer)})
    assert sorted(s.id for s in listed.data) == sorted([first.id, second.id])
    change(client, first.id, discounts="")
    put_back = change(client, first.id, discounts=[{"discount": first_discount}])
    assert put_back.discounts == [first_discount]


def test_an_item_takes_its_subscriptions_discount_not_anothers(client: Client) -> None:
    """`items[][discounts][][discount]`: the item's own subscription is its ancestor, the
    other subscription is not."""
    _, first, second = two_subscriptions(client)
    (first_item,) = first["items"].data
    refused(
        lambda: change(
            client,
            first.id,
            items=[{"id": first_item.id, "discounts": [{"discount": second.discounts[0]}]}],
        ),
        "items[0][discounts][0][discount]",
    )
    assert client.v1.subscription_items.retrieve(first_item.id).discounts == []
    changed = change(
        client,
        first.id,
        items=[{"id": first_item.id, "discounts": [{"discount": first.discounts[0]}]}],
    )
    assert changed["items"].data[0].discounts == [first.discounts[0]]


def test_an_invoice_takes_its_own_and_its_subscriptions_discounts_only(client: Client) -> None:
    """A renewal draft of the first subscription takes that subscription's discount, not the
    second's nor another draft's; a new invoice and an invoice item take no other invoice's,
    and the item takes its own invoice's."""
    clock_id, first, second = two_subscriptions(client)
    customer_id = str(first.customer)
    advance(client, clock_id, utc(2027, 2, 28) + 60)
    renewal_id = str(client.v1.subscriptions.retrieve(first.id).latest_invoice)
    other = draft_with_discount(client, customer_id)
    for foreign in (second.discounts[0], other.discounts[0]):
        refused(
            lambda foreign=foreign: client.v1.invoices.update(renewal_id, params=reusing(foreign)),
            "discounts[0][discount]",
        )
    renewal = client.v1.invoices.retrieve(renewal_id)
    assert (renewal.status, renewal.discounts) == ("draft", [first.discounts[0]])
    kept = client.v1.invoices.update(renewal_id, params=reusing(first.discounts[0]))
    assert kept.discounts == [first.discounts[0]]
    before = client.v1.invoices.list(params={"customer": customer_id}).data
    refused(
        lambda: client.v1.invoices.create(params=reusing(other.discounts[0], customer=customer_id)),
        "discounts[0][discount]",
    )
    refused(
        lambda: item(client, customer_id, 500, discounts=[{"discount": other.discounts[0]}]),
        "discounts[0][discount]",
    )
    assert client.v1.invoices.list(params={"customer": customer_id}).data == before
    pending = client.v1.invoice_items.list(params={"customer": customer_id, "pending": True})
    assert pending.data == []
    on_other = item(
        client, customer_id, 500, invoice=other.id, discounts=[{"discount": other.discounts[0]}]
    )
    assert on_other.discounts == [other.discounts[0]]


def test_a_preview_takes_its_subscriptions_discount_not_anothers(client: Client) -> None:
    """The preview of the first subscription's next invoice takes that subscription's
    discount, not the second's, nor (for its `invoice_items`) a draft invoice's."""
    _, first, second = two_subscriptions(client)
    other = draft_with_discount(client, str(first.customer))

    def preview(**params: Any) -> stripe.Invoice:
        given: Any = {"subscription": first.id, **params}
        return client.v1.invoices.create_preview(params=given)

    refused(
        lambda: preview(discounts=[{"discount": second.discounts[0]}]), "discounts[0][discount]"
    )
    refused(
        lambda: preview(
            invoice_items=[
                {"amount": 500, "currency": "usd", "discounts": [{"discount": other.discounts[0]}]}
            ]
        ),
        "invoice_items[0][discounts][0][discount]",
    )
    own = preview(discounts=[{"discount": first.discounts[0]}])
    assert own.discounts == [first.discounts[0]]


def amount_off(client: Client, amount: int) -> stripe.Coupon:
    params: Any = {"amount_off": amount, "currency": "usd", "duration": "once"}
    return client.v1.coupons.create(params=params)


def taken_off(invoice: stripe.Invoice) -> list[tuple[object, int]]:
    """The invoice's `total_discount_amounts`, as (discount, amount)."""
    return [(taken.discount, taken.amount) for taken in invoice.total_discount_amounts or []]


def check_own_discount_kept(
    client: Client,
    update: Any,
    invoice_id: str,
    owner_discounts: Any,
    own: str,
) -> None:
    """`update(params)` changes the discounts of an object holding only its own discount
    `own` (10% of 50.00 on invoice `invoice_id`); `owner_discounts()` reads them back.
    Reusing `own` next to a new coupon keeps the same `di_`; a request failing on the new
    coupon changes nothing; leaving `own` out discards it."""
    refused_coupon: Any = {"discounts": [{"discount": own}, {"coupon": "no_such_coupon"}]}
    with pytest.raises(stripe.InvalidRequestError):
        update(refused_coupon)
    assert owner_discounts() == [own]
    assert taken_off(client.v1.invoices.retrieve(invoice_id)) == [(own, 500)]

    second = amount_off(client, 100)
    update({"discounts": [{"discount": own}, {"coupon": second.id}]})
    kept, added = owner_discounts()
    assert kept == own and added != own
    assert taken_off(client.v1.invoices.retrieve(invoice_id)) == [(own, 500), (added, 100)]

    update({"discounts": [{"discount": added}]})
    assert owner_discounts() == [added]
    assert taken_off(client.v1.invoices.retrieve(invoice_id)) == [(added, 100)]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        update(reusing(own))
    assert (gone.value.http_status, gone.value.param) == (404, "discounts[0][discount]")


def test_an_invoice_keeps_its_own_discount_reused_on_update(client: Client) -> None:
    """`POST /v1/invoices/{id}` with `discounts[0][discount]` naming the invoice's own
    discount and a new coupon after it: the discount stays (it was answered 404, discarded
    before it was reused), both are taken off."""
    customer_id = client.v1.customers.create(params={"email": "own@example.com"}).id
    invoice = client.v1.invoices.create(
        params={"customer": customer_id, "discounts": [{"coupon": coupon(client).id}]}
    )
    item(client, customer_id, 5000, invoice=invoice.id)
    check_own_discount_kept(
        client,
        lambda params: client.v1.invoices.update(invoice.id, params=params),
        invoice.id,
        lambda: client.v1.invoices.retrieve(invoice.id).discounts,
        str(invoice.discounts[0]),
    )


def test_an_invoice_item_keeps_its_own_discount_reused_on_update(client: Client) -> None:
    """`POST /v1/invoiceitems/{id}` likewise, the item on a draft whose amounts show it."""
    customer_id = client.v1.customers.create(params={"email": "own@example.com"}).id
    invoice = client.v1.invoices.create(params={"customer": customer_id})
    on_invoice = item(
        client, customer_id, 5000, invoice=invoice.id, discounts=[{"coupon": coupon(client).id}]
    )
    assert on_invoice.discounts is not None
    own = on_invoice.discounts[0]
    check_own_discount_kept(
        client,
        lambda params: client.v1.invoice_items.update(on_invoice.id, params=params),
        invoice.id,
        lambda: client.v1.invoice_items.retrieve(on_invoice.id).discounts,
        str(own),
    )


# --- a reused discount is one application of its coupon ---------------------------------------


def line_discounts(invoice: stripe.Invoice) -> list[list[tuple[object, int]]]:
    """Each line's `discount_amounts`, as (discount, amount)."""
    return [
        [(d.discount, d.amount) for d in line.discount_amounts or []] for line in invoice.lines.data
    ]


def reused_by_its_first_item(
    client: Client, coupon_id: str, second_amount: int
) -> tuple[stripe.Invoice, str]:
    """A draft with a discount of `coupon_id`, a 10.00 item naming that discount and an item
    of `second_amount`; and the discount."""
    who = customer(client)
    invoice = client.v1.invoices.create(
        params={"customer": who.id, "discounts": [{"coupon": coupon_id}]}
    )
    (shared,) = invoice.discounts
    item(client, who.id, 1000, invoice=invoice.id, discounts=[{"discount": shared}])
    item(client, who.id, second_amount, invoice=invoice.id)
    return client.v1.invoices.retrieve(invoice.id), str(shared)


def test_an_item_reusing_its_invoices_amount_off_takes_it_once(
    client: Client, ledger_verified: None
) -> None:
    """An invoice item naming its invoice's 3.00 off takes it as its own, once: the invoice
    spreads it over no line again, and the other line gets nothing of it (3.00 in all).
    Paid, the charge is what the invoice says."""
    draft, shared = reused_by_its_first_item(client, amount_off(client, 300).id, 500)
    assert line_discounts(draft) == [[(shared, 300)], [(shared, 0)]]
    assert taken_off(draft) == [(shared, 300)]
    assert draft.total == 1200
    paid = client.v1.invoices.pay(draft.id)
    assert (paid.status, paid.amount_paid) == ("paid", 1200)


def test_an_item_reusing_its_invoices_percentage_takes_it_once(
    client: Client, ledger_verified: None
) -> None:
    """10% of the invoice, named again by one of its two items: 10% of each line, never 19%
    of one."""
    draft, shared = reused_by_its_first_item(client, coupon(client).id, 1000)
    assert line_discounts(draft) == [[(shared, 100)], [(shared, 100)]]
    assert taken_off(draft) == [(shared, 200)]
    assert draft.total == 1800
    paid = client.v1.invoices.pay(draft.id)
    assert (paid.status, paid.amount_paid) == ("paid", 1800)


def test_a_subscription_item_reusing_its_subscriptions_discount_takes_it_once(
    client: Client,
) -> None:
    """The preview of a subscription whose item names the subscription's 10%: 10% of the
    period (20.00), not 19%."""
    price = monthly_price(client)
    _, who = clock_customer(client)
    subscription = subscribe(client, who.id, price.id, discounts=[{"coupon": coupon(client).id}])
    (shared,) = subscription.discounts
    (first_item,) = subscription["items"].data
    params: Any = {
        "subscription": subscription.id,
        "subscription_details": {
            "items": [{"id": first_item.id, "discounts": [{"discount": shared}]}]
        },
    }
    preview = client.v1.invoices.create_preview(params=params)
    assert taken_off(preview) == [(shared, 200)]
    assert preview.total == 1800
