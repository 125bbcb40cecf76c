"""`invoice.upcoming` through the SDK on a real `kassa serve` (SQLite and PostgreSQL), driven
by test clocks: sent `KASSA_UPCOMING_RENEWAL_DAYS` (default 7) days before each renewal
charged automatically, once per period, stamped with the clock's time at that moment, its
object the subscription's upcoming invoice as `create_preview` shows it (no id, Stripe's
Invoice fields only); none for a `send_invoice` subscription or one canceling at the
period's end; a changed setting applies from the next period, and `off` sends none.

The subscriptions start on 31 January 2027 at 10:00 UTC at 20.00 a month (renewals on
February 28, March 31, April 30, ... clamped from the anchor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import stripe

from kassa.clock import DAY_SECONDS
from tests.harness import KassaServer, create_account
from tests.test_subscription_preview_details import same_invoice
from tests.test_subscriptions import (
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    service_period,
    subscribe,
    utc,
)

UPCOMING = "invoice.upcoming"


def notices(client: Client) -> list[stripe.Event]:
    """The account's `invoice.upcoming` events, oldest first."""
    listed = client.v1.events.list(params={"type": UPCOMING, "limit": 100})
    return list(listed.auto_paging_iter())[::-1]


def announced(event: stripe.Event) -> dict[str, Any]:
    data: dict[str, Any] = event.data.object.to_dict()
    return data


def test_sent_seven_days_before_each_renewal_once_with_the_upcoming_invoice(
    client: Client, ledger_verified: None
) -> None:
    """February 21 at 10:00 (seven days before February 28), then March 24 (before March
    31): one each, however the clock steps over them, the object the preview of that time
    and then the invoice the renewal makes."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    feb_21 = utc(2027, 2, 21)
    advance(client, clock_id, feb_21 - 1)
    assert notices(client) == []
    advance(client, clock_id, feb_21 + HOUR)
    previewed = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    advance(client, clock_id, feb_21 + 2 * HOUR)  # again past it: still one
    (first,) = notices(client)
    assert first.created == feb_21
    invoice = announced(first)
    assert "id" not in invoice  # Stripe: "will not have an invoice ID"
    assert isinstance(first.data.object, stripe.Invoice)
    assert set(invoice) <= set(stripe.Invoice.__annotations__)
    assert set(invoice) == set(previewed.to_dict()) - {"id"}
    assert (invoice["billing_reason"], invoice["collection_method"]) == (
        "upcoming",
        "charge_automatically",
    )
    assert invoice["parent"]["subscription_details"]["subscription"] == subscription.id
    assert (invoice["amount_due"], invoice["total"]) == (2000, previewed.total)
    assert [line["invoice"] for line in invoice["lines"]["data"]] == [None]
    assert service_period(first.data.object) == (utc(2027, 2, 28), utc(2027, 3, 31))
    advance(client, clock_id, utc(2027, 3, 25))
    assert [event.created for event in notices(client)] == [feb_21, utc(2027, 3, 24)]
    renewal = invoices_of(client, subscription.id)[1]
    assert renewal.billing_reason == "subscription_cycle"
    same_invoice(renewal, first.data.object)
    # In clock order with the subscription's other work: the notice before the renewal.
    kinds = [k for k in all_event_types(client) if k in (UPCOMING, "invoice.created")]
    assert kinds == ["invoice.created", UPCOMING, "invoice.created", UPCOMING]


def test_its_object_is_the_preview_at_that_moment_without_its_id(client: Client) -> None:
    """Field for field what `create_preview` with the subscription answers at the notice's
    clock time (the same `created`), with a pending item, a discount, a customer balance and
    a tax id on it: the notice is worked out from the renewal work's documents rather than
    through the preview's request, and must show nothing else. Only the preview's random
    ids differ (its own, in the lines' url, and its lines' `il_tmp_`), and its lines name
    no invoice."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 350, "currency": "usd", "description": "Setup"}
    )
    client.v1.customers.balance_transactions.create(
        customer.id, params={"amount": -500, "currency": "usd"}
    )
    client.v1.customers.tax_ids.create(
        customer.id, params={"type": "eu_vat", "value": "DE123456789"}
    )
    feb_21 = utc(2027, 2, 21)
    advance(client, clock_id, feb_21)
    (notice,) = notices(client)
    previewed = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    expected = {k: v for k, v in previewed.to_dict().items() if k != "id"}
    for line in expected["lines"]["data"]:
        line["invoice"] = None
    invoice = announced(notice)
    assert invoice["created"] == feb_21
    assert len(invoice["lines"]["data"]) == 2  # the pending item and the next period
    # 10% off both lines (the subscription's discount applies to its pending items too).
    assert (invoice["starting_balance"], invoice["total"]) == (-500, 2115)
    assert [entry["value"] for entry in invoice["customer_tax_ids"]] == ["DE123456789"]
    assert _without_random_ids(invoice) == _without_random_ids(expected)


def _without_random_ids(invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice with the ids a preview draws at random blanked: its lines' url (which
    names the preview's own id) and its lines' ids."""
    shown = {**invoice, "lines": {**invoice["lines"], "url": None}}
    shown["lines"]["data"] = [{**line, "id": None} for line in invoice["lines"]["data"]]
    return shown


def all_event_types(client: Client) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    return [str(event.type) for event in listed][::-1]


def test_a_trial_announces_its_first_paid_invoice_before_its_end(client: Client) -> None:
    """A 14-day trial to February 14: the first paid period's invoice is announced on
    February 7, before the trial's own notice (February 11)."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14)
    advance(client, clock_id, utc(2027, 2, 12))
    (notice,) = notices(client)
    assert notice.created == JAN_31_2027 + 7 * DAY_SECONDS
    assert announced(notice)["amount_due"] == 2000
    trial_notice = "customer.subscription.trial_will_end"
    assert events_of(client, subscription.id).count(trial_notice) == 1
    kinds = [k for k in all_event_types(client) if k in (UPCOMING, trial_notice)]
    assert kinds == [UPCOMING, trial_notice]


def test_none_for_send_invoice_nor_for_a_subscription_ending_at_period_end(
    client: Client,
) -> None:
    """Stripe's event is for "an invoice that is automatically charged": a `send_invoice`
    subscription renews with none; one set to cancel at the period's end has no renewal."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscribe(client, customer.id, price.id, collection_method="send_invoice", days_until_due=30)
    subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    advance(client, clock_id, utc(2027, 3, 25))
    assert notices(client) == []


def test_off_sends_none_and_a_changed_setting_applies_from_the_next_period(
    private_database_url: str, tmp_path: Path
) -> None:
    """`off` from January 31: no notice, the February 28 renewal made all the same (its
    period, to March 31, begun under `off`); the server restarted with ten days: the period
    already begun keeps none, the next (to April 30) is announced on April 20 (Stripe:
    "changing the number of days takes effect on the next billing period")."""
    account = create_account(private_database_url)

    def served(days: str) -> KassaServer:
        env = {"KASSA_UPCOMING_RENEWAL_DAYS": days}
        return KassaServer(private_database_url, tmp_path / f"kassa-{days}.log", env).start()

    server = served("off")
    try:
        client = server.client(account.secret_key)
        clock_id, customer = clock_customer(client)
        subscription = subscribe(client, customer.id, monthly_price(client).id)
        advance(client, clock_id, utc(2027, 3, 1))
        assert notices(client) == []
        assert len(invoices_of(client, subscription.id)) == 2
    finally:
        server.stop()
    server = served("10")
    try:
        client = server.client(account.secret_key)
        advance(client, clock_id, utc(2027, 4, 21))
        assert [event.created for event in notices(client)] == [utc(2027, 4, 20)]
    finally:
        server.stop()
