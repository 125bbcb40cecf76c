"""A promotion code's restrictions on the purchase (`minimum_amount`, `first_time_transaction`)
are checked when the purchase is known: an invoice's when it is finalized, a subscription's
when the code is applied to it. A preview (`POST /v1/invoices/create_preview`) refuses what
the real call would, with the same error naming the parameter that gave the code. Through the
SDK on a real `kassa serve` (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from tests.test_invoices import customer, invoice_of, item, refused
from tests.test_subscriptions import monthly_price, subscribe

Client = stripe.StripeClient


def code_for(client: Client, percent_off: int = 50, **restrictions: Any) -> stripe.PromotionCode:
    coupon: Any = {"percent_off": percent_off}
    params: Any = {
        "promotion": {"type": "coupon", "coupon": client.v1.coupons.create(params=coupon).id},
        "restrictions": restrictions,
    }
    return client.v1.promotion_codes.create(params=params)


def at_least(client: Client, minimum: int) -> stripe.PromotionCode:
    return code_for(client, minimum_amount=minimum, minimum_amount_currency="usd")


def refusal_of(call: Callable[[], object]) -> tuple[int | None, str | None, str]:
    """(status, param, message) of the 400 `call()` answers."""
    error = refused(call)
    return error.http_status, error.param, str(error.user_message)


def preview(client: Client, **params: Any) -> stripe.Invoice:
    given: Any = params
    return client.v1.invoices.create_preview(params=given)


def test_an_item_s_own_code_counts_the_line_before_its_discount(client: Client) -> None:
    """An item's code with a 10.00 minimum, half off a 10.00 item: the purchase is 10.00
    (what the lines come to before any discount, not the subtotal, which is net of the
    item's own discount), so finalizing takes it."""
    who = customer(client)
    code = at_least(client, 1000)
    draft = client.v1.invoices.create(params={"customer": who.id})
    item(client, who.id, 1000, invoice=draft.id, discounts=[{"promotion_code": code.id}])
    finalized = client.v1.invoices.finalize_invoice(draft.id)
    assert (finalized.status, finalized.subtotal, finalized.total) == ("open", 500, 500)


def check_refused_alike(client: Client, customer_id: str, code: stripe.PromotionCode) -> None:
    """Finalizing a 10.00 invoice with `code` is refused naming `discounts[0][promotion_code]`;
    previewing the same purchase (a pending 10.00 item) refuses it alike, and names
    `invoice_items[0][discounts][0][promotion_code]` for a new item's."""
    draft = invoice_of(client, customer_id, 1000, discounts=[{"promotion_code": code.id}])
    finalizing = refusal_of(lambda: client.v1.invoices.finalize_invoice(draft.id))
    assert finalizing[:2] == (400, "discounts[0][promotion_code]")
    client.v1.invoices.delete(draft.id)
    # The deleted draft's item is pending again: gone too, for a purchase of 10.00 below.
    pending_again: Any = {"customer": customer_id, "pending": True}
    (returned,) = client.v1.invoice_items.list(params=pending_again).data
    client.v1.invoice_items.delete(returned.id)
    pending = item(client, customer_id, 1000)
    given: Any = [{"promotion_code": code.id}]
    previewing = refusal_of(lambda: preview(client, customer=customer_id, discounts=given))
    assert previewing == finalizing
    new_item = [{"amount": 500, "currency": "usd", "discounts": given}]
    on_item = refusal_of(lambda: preview(client, customer=customer_id, invoice_items=new_item))
    assert on_item == (400, "invoice_items[0][discounts][0][promotion_code]", finalizing[2])
    client.v1.invoice_items.delete(pending.id)


def test_a_preview_refuses_an_invoice_s_code_as_finalizing_does(client: Client) -> None:
    """A code with a 50.00 minimum on a 10.00 purchase, and a first-time code for a customer
    who has paid: the preview refuses each as finalizing the invoice does; a code the
    purchase meets is previewed."""
    who = customer(client)
    client.v1.invoices.pay(invoice_of(client, who.id, 700).id)
    check_refused_alike(client, who.id, at_least(client, 5000))
    check_refused_alike(client, who.id, code_for(client, first_time_transaction=True))
    item(client, who.id, 1000)
    met = preview(
        client, customer=who.id, discounts=[{"promotion_code": at_least(client, 1000).id}]
    )
    assert met.total == 500


def test_a_subscription_preview_refuses_a_code_as_the_update_does(client: Client) -> None:
    """A code with a 50.00 minimum on a 20.00 subscription: `create_preview` with the
    subscription refuses it as `Subscription.modify` does, for the subscription
    (`discounts`) and for an item (`subscription_details[items][0][discounts]`, the update's
    `items[0][discounts]`)."""
    who = customer(client)
    subscription = subscribe(client, who.id, monthly_price(client).id)
    (first_item,) = subscription["items"].data
    code = at_least(client, 5000)
    given: Any = [{"promotion_code": code.id}]
    updating = refusal_of(
        lambda: client.v1.subscriptions.update(subscription.id, params={"discounts": given})
    )
    assert updating[:2] == (400, "discounts[0][promotion_code]")
    previewing = refusal_of(lambda: preview(client, subscription=subscription.id, discounts=given))
    assert previewing == updating
    on_item: Any = {"items": [{"id": first_item.id, "discounts": given}]}
    item_update = refusal_of(
        lambda: client.v1.subscriptions.update(subscription.id, params=on_item)
    )
    assert item_update == (400, "items[0][discounts][0][promotion_code]", updating[2])
    item_preview = refusal_of(
        lambda: preview(client, subscription=subscription.id, subscription_details=on_item)
    )
    assert item_preview == (
        400,
        "subscription_details[items][0][discounts][0][promotion_code]",
        updating[2],
    )


def test_finalizing_names_an_item_s_code_by_the_item_s_own_parameter(client: Client) -> None:
    """An invoice with a discount of its own and an item whose second discount is a code
    with a 50.00 minimum: finalizing refuses it naming the item's `discounts[1][promotion_code]`
    (the parameter that gave it), not a position counted across invoice and items."""
    who = customer(client)
    plain = client.v1.coupons.create(params={"percent_off": 5})
    draft = client.v1.invoices.create(
        params={"customer": who.id, "discounts": [{"coupon": plain.id}]}
    )
    code = at_least(client, 5000)
    other = client.v1.coupons.create(params={"percent_off": 1})
    item(
        client,
        who.id,
        1000,
        invoice=draft.id,
        discounts=[{"coupon": other.id}, {"promotion_code": code.id}],
    )
    finalizing = refusal_of(lambda: client.v1.invoices.finalize_invoice(draft.id))
    assert finalizing[:2] == (400, "discounts[1][promotion_code]")
    assert client.v1.invoices.retrieve(draft.id).status == "draft"
