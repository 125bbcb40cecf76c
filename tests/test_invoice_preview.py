"""`POST /v1/invoices/create_preview` through the SDK on a real `kassa serve` (SQLite and
PostgreSQL), on test clocks: `discounts` sent empty, nothing to invoice (Stripe's 404
`invoice_upcoming_none`), `parent.subscription_details.subscription_proration_date`,
`next_payment_attempt` and `preview_mode=recurring`. Every preview writes nothing: no
event, no invoice, no invoice item (`untouched`).

A 30.00 monthly subscription from January 1, 2027 (a 31-day period to February 1), upgraded
to 60.00 in previews dated January 11, 12:00 (20.5 days left: -1984 and +3968).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import stripe

from tests.test_async_capture import customer_charges_posted
from tests.test_subscription_terms import price_of, utc
from tests.test_subscriptions import Client, advance, clock_customer, invoices_of, subscribe

JAN_1 = utc(2027, 1, 1)
FEB_1 = utc(2027, 2, 1)
UPGRADED_AT = utc(2027, 1, 11, 22)
"""January 11, 22:00: 20.5 of the period's 31 days left."""
HOUR = 3_600
ONE_OFF = 700


def preview(client: Client, **params: Any) -> stripe.Invoice:
    given: Any = params
    return client.v1.invoices.create_preview(params=given)


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def latest_event_id(client: Client) -> str | None:
    listed = client.v1.events.list(params={"limit": 1}).data
    return listed[0].id if listed else None


@contextmanager
def untouched(client: Client, customer_id: str) -> Iterator[None]:
    """What runs inside announces nothing and stores no invoice nor invoice item."""
    customer_charges_posted(client, customer_id)  # a payment's posting is not the preview's
    event = latest_event_id(client)
    invoices = client.v1.invoices.list(params={"customer": customer_id}).data
    items = client.v1.invoice_items.list(params={"customer": customer_id}).data
    yield
    assert latest_event_id(client) == event
    assert client.v1.invoices.list(params={"customer": customer_id}).data == invoices
    assert client.v1.invoice_items.list(params={"customer": customer_id}).data == items


def subscribed(client: Client, **params: Any) -> tuple[str, stripe.Subscription]:
    """The 30.00 monthly subscription from January 1, 2027 (created with `params`): its
    clock and itself."""
    clock_id, customer = clock_customer(client, frozen_time=JAN_1)
    return clock_id, subscribe(client, customer.id, price_of(client, 3000).id, **params)


def upgrade(client: Client, subscription: stripe.Subscription, **details: Any) -> dict[str, Any]:
    """`subscription_details` upgrading its one item to 60.00 on January 11, 22:00."""
    item = subscription["items"].data[0]
    new_price = price_of(client, 6000)
    changed: dict[str, Any] = {
        "items": [{"id": item.id, "price": new_price.id}],
        "proration_date": UPGRADED_AT,
    }
    return changed | details


def amounts(invoice: stripe.Invoice) -> list[int]:
    return sorted(line.amount for line in invoice.lines.data)


def test_discounts_sent_empty_inherit_none_of_the_subscription_s(client: Client) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    _, subscription = subscribed(client, discounts=[{"coupon": coupon.id}])
    with untouched(client, str(subscription.customer)):
        inherited = preview(client, subscription=subscription.id)
        none = preview(client, subscription=subscription.id, discounts="")
    assert (inherited.total, len(inherited.discounts)) == (2400, 1)
    assert (none.subtotal, none.total, none.discounts) == (3000, 3000, [])
    assert none.total_discount_amounts == []
    # The subscription keeps its discount, which the next preview inherits again.
    assert preview(client, subscription=subscription.id).total == 2400


def test_nothing_to_invoice_is_stripe_s_404_invoice_upcoming_none(client: Client) -> None:
    _, customer = clock_customer(client, frozen_time=JAN_1)
    with untouched(client, customer.id):
        nothing = refused(lambda: preview(client, customer=customer.id))
    assert (nothing.http_status, nothing.code, nothing.param) == (
        404,
        "invoice_upcoming_none",
        None,
    )
    assert nothing.user_message == f"No upcoming invoices for customer: {customer.id}"
    given: Any = {"customer": customer.id, "amount": 1200, "currency": "usd"}
    client.v1.invoice_items.create(params=given)
    with untouched(client, customer.id):
        other_currency = refused(lambda: preview(client, customer=customer.id, currency="eur"))
        pending = preview(client, customer=customer.id)
    assert (other_currency.http_status, other_currency.code) == (404, "invoice_upcoming_none")
    assert (pending.currency, pending.total) == ("usd", 1200)


def test_a_subscription_that_bills_nothing_more_is_a_404_too(client: Client) -> None:
    _, subscription = subscribed(client)
    client.v1.subscriptions.cancel(subscription.id)
    with untouched(client, str(subscription.customer)):
        canceled = refused(lambda: preview(client, subscription=subscription.id))
    assert (canceled.http_status, canceled.code, canceled.param) == (
        404,
        "invoice_upcoming_none",
        None,
    )
    assert canceled.user_message is not None
    assert canceled.user_message.startswith(
        f"No upcoming invoices for subscription: {subscription.id}"
    )


def test_a_preview_of_prorations_names_the_time_they_count_from(client: Client) -> None:
    clock_id, subscription = subscribed(client)
    advance(client, clock_id, utc(2027, 1, 5))
    details = upgrade(client, subscription)
    undated = {name: value for name, value in details.items() if name != "proration_date"}
    with untouched(client, str(subscription.customer)):
        dated = preview(client, subscription=subscription.id, subscription_details=details)
        now = preview(client, subscription=subscription.id, subscription_details=undated)
        renewal = preview(client, subscription=subscription.id)
    assert dated.parent is not None and dated.parent.subscription_details is not None
    assert dated.parent.subscription_details.subscription_proration_date == UPGRADED_AT
    assert amounts(dated) == [-1984, 3968, 6000]
    assert now.to_dict()["parent"]["subscription_details"]["subscription_proration_date"] == utc(
        2027, 1, 5
    )
    # Without prorations, and on real invoices, Stripe leaves it out.
    assert "subscription_proration_date" not in renewal.to_dict()["parent"]["subscription_details"]
    (first,) = invoices_of(client, subscription.id)
    assert "subscription_proration_date" not in first.to_dict()["parent"]["subscription_details"]


def test_a_renewal_preview_says_when_its_payment_is_attempted(client: Client) -> None:
    clock_id, subscription = subscribed(client)
    with untouched(client, str(subscription.customer)):
        previewed = preview(client, subscription=subscription.id)
    assert previewed.next_payment_attempt == FEB_1 + HOUR
    advance(client, clock_id, FEB_1 + 60)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.status, renewal.billing_reason) == ("draft", "subscription_cycle")
    assert renewal.next_payment_attempt == previewed.next_payment_attempt
    _, sent = subscribed(client, collection_method="send_invoice", days_until_due=30)
    assert preview(client, subscription=sent.id).next_payment_attempt is None


def test_paused_collection_leaves_an_update_s_invoice_charged_at_once(client: Client) -> None:
    """`pause_collection` holds renewals and final invoices only: an `always_invoice`
    upgrade's invoice is charged when the update makes it, as its preview says."""
    clock_id, subscription = subscribed(client)
    paused: Any = {"pause_collection": {"behavior": "keep_as_draft"}}
    client.v1.subscriptions.update(subscription.id, params=paused)
    advance(client, clock_id, UPGRADED_AT)
    changed = upgrade(client, subscription, proration_behavior="always_invoice")
    del changed["proration_date"]
    with untouched(client, str(subscription.customer)):
        previewed = preview(client, subscription=subscription.id, subscription_details=changed)
        renewal = preview(client, subscription=subscription.id)
    assert (previewed.next_payment_attempt, renewal.next_payment_attempt) == (UPGRADED_AT, None)
    update: Any = changed
    client.v1.subscriptions.update(subscription.id, params=update)
    charged = invoices_of(client, subscription.id)[-1]
    assert (charged.billing_reason, charged.status, charged.attempted) == (
        "subscription_update",
        "paid",
        True,
    )
    assert charged.status_transitions.paid_at == previewed.next_payment_attempt


def test_recurring_previews_leave_out_pending_items_and_prorations(client: Client) -> None:
    _, subscription = subscribed(client)
    customer_id = str(subscription.customer)
    given: Any = {"customer": customer_id, "amount": ONE_OFF, "currency": "usd"}
    client.v1.invoice_items.create(params=given)
    details = upgrade(client, subscription)
    with untouched(client, customer_id):
        everything = preview(client, subscription=subscription.id, subscription_details=details)
        recurring = preview(
            client,
            subscription=subscription.id,
            subscription_details=details,
            preview_mode="recurring",
        )
        at_once = preview(
            client,
            subscription=subscription.id,
            subscription_details=details | {"proration_behavior": "always_invoice"},
            preview_mode="recurring",
        )
        ending = refused(
            lambda: preview(
                client,
                subscription=subscription.id,
                subscription_details={"cancel_now": True},
                preview_mode="recurring",
            )
        )
        one_off_only = refused(
            lambda: preview(client, customer=customer_id, preview_mode="recurring")
        )
    assert amounts(everything) == [-1984, ONE_OFF, 3968, 6000]
    assert amounts(recurring) == [6000]
    assert (
        "subscription_proration_date" not in recurring.to_dict()["parent"]["subscription_details"]
    )
    # A change invoiced at once bills no period: the renewal after it recurs.
    assert (amounts(at_once), at_once.lines.data[0].period.start) == ([6000], FEB_1)
    assert (ending.http_status, ending.code) == (404, "invoice_upcoming_none")
    assert (one_off_only.http_status, one_off_only.code) == (404, "invoice_upcoming_none")


def test_a_new_subscription_s_first_invoice_is_previewed_as_creating_it_makes_it(
    client: Client,
) -> None:
    """Two of a 30.00 monthly price and one 15.00 price, previewed then created on January 1:
    the preview's lines, totals and payment attempt are the first invoice's."""
    _, customer = clock_customer(client, frozen_time=JAN_1)
    monthly, other = price_of(client, 3000), price_of(client, 1500)
    items = [{"price": monthly.id, "quantity": 2}, {"price": other.id}]
    with untouched(client, customer.id):
        previewed = preview(client, customer=customer.id, subscription_details={"items": items})
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert (previewed.subtotal, previewed.total, amounts(previewed)) == (7500, 7500, [1500, 6000])
    assert previewed.next_payment_attempt == JAN_1
    assert previewed.parent is not None and previewed.parent.subscription_details is not None
    assert previewed.parent.subscription_details.subscription is None
    created = subscribe(client, customer.id, monthly.id, items=items)
    (first,) = invoices_of(client, created.id)
    assert (first.subtotal, first.total, amounts(first)) == (7500, 7500, amounts(previewed))
    periods = sorted((line.period.start, line.period.end) for line in previewed.lines.data)
    assert periods == sorted((line.period.start, line.period.end) for line in first.lines.data)


def test_a_new_subscription_s_preview_refuses_what_it_does_not_preview(client: Client) -> None:
    _, customer = clock_customer(client, frozen_time=JAN_1)
    monthly = price_of(client, 3000)
    trial = refused(
        lambda: preview(
            client,
            customer=customer.id,
            subscription_details={"items": [{"price": monthly.id}], "trial_end": FEB_1},
        )
    )
    assert (trial.http_status, trial.param) == (400, "subscription_details[trial_end]")
    unknown = refused(
        lambda: preview(
            client, customer=customer.id, subscription_details={"items": [{"price": "price_x"}]}
        )
    )
    assert (unknown.http_status, unknown.param) == (404, "subscription_details[items][0][price]")
    alone = refused(
        lambda: preview(client, subscription_details={"items": [{"price": monthly.id}]})
    )
    assert (alone.http_status, alone.param) == (400, "customer")
