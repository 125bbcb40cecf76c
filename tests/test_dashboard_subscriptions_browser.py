"""The dashboard's subscriptions pages in real headless Chromium (Debian's `chromium`, driven by
Playwright) against a real `kassa serve`: the list (by default, as Stripe's, without canceled
subscriptions; the status filter's "All" with them), one subscription with its items, its
paid first invoice and its events, its schedule and phases when it has one, the customer
page's subscriptions, canceling from the page,
and the refusals (a subscription canceled behind the page's back, one of no one's). Prices,
customers and subscriptions are made through the official SDK, and the cancel is checked
through it too. Screenshots land in test-output/dashboard-subscriptions/<engine>/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.harness import Account, KassaServer
from tests.test_subscriptions import advance

Client = stripe.StripeClient

UNIT_AMOUNT = 2000
QUANTITY = 2
ITEMS_TEXT = f"{QUANTITY} \u00d7 Pro plan"
"""The list's summary of the subscription's one item (the times sign, as Stripe writes it)."""
TRIAL_DAYS = 14


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser, server: KassaServer, account: Account) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, account)


@pytest.fixture
def shots(test_output_dir: Path, database_url: str) -> Path:
    return screenshot_folder(test_output_dir, database_url, "dashboard-subscriptions")


def _testid(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


def _monthly_price(
    client: Client, unit_amount: int = UNIT_AMOUNT, name: str = "Pro plan"
) -> stripe.Price:
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": "month"},
            "product_data": {"name": name},
        }
    )


def _paying_customer(client: Client, name: str = "Ada Subscriber") -> stripe.Customer:
    """A customer whose default card pays the first invoice at once."""
    return client.v1.customers.create(
        params={
            "name": name,
            "email": "ada@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )


def _subscribe(
    client: Client, customer_id: str, price_id: str, **params: Any
) -> stripe.Subscription:
    item = {"price": price_id, "quantity": QUANTITY}
    create: Any = {"customer": customer_id, "items": [item], **params}
    return client.v1.subscriptions.create(params=create)


def _utc(seconds: int) -> str:
    """As the dashboard's `when` filter writes a time."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _period_end(subscription: stripe.Subscription) -> int:
    (item,) = subscription["items"].data
    return int(item.current_period_end)


def _open_subscription(page: Page, server: KassaServer, subscription_id: str) -> None:
    page.goto(f"{server.url}/dashboard/subscriptions/{subscription_id}")
    expect(_testid(page, "subscription-id")).to_have_text(subscription_id)


def _show_status(page: Page, status: str) -> None:
    _testid(page, "filter-status").select_option(status)
    _testid(page, "filter-submit").click()


def _active_subscription(client: Client) -> stripe.Subscription:
    """A monthly Pro plan subscription, its first invoice paid with the customer's card."""
    price = _monthly_price(client)
    subscription = _subscribe(client, _paying_customer(client).id, price.id)
    assert subscription.status == "active"
    return subscription


def test_list_detail_invoice_and_customer_page(
    page: Page, server: KassaServer, client: Client, shots: Path
) -> None:
    subscription = _active_subscription(client)
    (item,) = subscription["items"].data
    first_invoice = str(subscription.latest_invoice)

    # The list: the customer, the status, what it bills, when the period ends.
    page.get_by_role("link", name="Subscriptions", exact=True).click()
    row = _testid(page, "subscriptions-table").get_by_test_id(f"row-{subscription.id}")
    expect(row).to_contain_text("Ada Subscriber")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text(ITEMS_TEXT)
    expect(row).to_contain_text(_utc(_period_end(subscription)))
    screenshot(page, shots, "subscriptions")

    # One subscription: its facts, its item, its paid first invoice and its events.
    row.get_by_role("link", name="Ada Subscriber").click()
    expect(_testid(page, "subscription-id")).to_have_text(subscription.id)
    expect(_testid(page, "subscription-status")).to_contain_text("active")
    expect(_testid(page, "subscription-collection")).to_have_text("charge automatically")
    expect(_testid(page, "subscription-cancel-at-period-end")).to_have_text("no")
    expect(_testid(page, "subscription-period")).to_contain_text(_utc(_period_end(subscription)))
    item_row = _testid(page, "items-table").get_by_test_id(f"row-{item.id}")
    expect(item_row).to_contain_text("Pro plan")
    expect(item_row).to_contain_text("$20.00 / month")
    expect(item_row).to_contain_text(item.price.id)
    expect(item_row.locator("td.num")).to_have_text(str(QUANTITY))
    invoices = _testid(page, "subscription-invoices-table")
    invoice_row = invoices.get_by_test_id(f"row-{first_invoice}")
    expect(invoice_row).to_contain_text("subscription create")
    expect(invoice_row).to_contain_text("paid")
    expect(invoice_row).to_contain_text("$40.00")
    expect(_testid(page, "events-table")).to_contain_text("customer.subscription.created")
    expect(_testid(page, "schedule-facts")).to_have_count(0)  # no schedule, no section
    screenshot(page, shots, "subscription-active")

    # The invoice link opens the invoice page.
    invoice_row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/dashboard/invoices/{first_invoice}$"))
    expect(_testid(page, "invoice-status")).to_contain_text("paid")
    expect(_testid(page, "invoice-amount-paid")).to_have_text("$40.00")

    # The customer page lists the subscription and links back to it.
    _open_subscription(page, server, subscription.id)
    _testid(page, "customer-link").click()
    expect(_testid(page, "customer-id")).to_have_text(str(subscription.customer))
    on_customer = _testid(page, "customer-subscriptions-table").get_by_test_id(
        f"row-{subscription.id}"
    )
    expect(on_customer).to_contain_text(ITEMS_TEXT)
    expect(on_customer).to_contain_text("active")
    on_customer.get_by_role("link", name=ITEMS_TEXT).click()
    expect(_testid(page, "subscription-id")).to_have_text(subscription.id)


def test_cancel_from_the_page(page: Page, server: KassaServer, client: Client, shots: Path) -> None:
    subscription = _active_subscription(client)
    _open_subscription(page, server, subscription.id)

    # Canceling from the page: the notice, the canceled status, no more cancel button.
    _testid(page, "cancel-button").click()
    expect(page.locator(".flash.notice")).to_contain_text(
        f"Subscription {subscription.id} canceled"
    )
    expect(page).to_have_url(re.compile(rf"/dashboard/subscriptions/{subscription.id}$"))
    expect(_testid(page, "subscription-status")).to_contain_text("canceled")
    expect(_testid(page, "subscription-canceled-at")).to_contain_text("cancellation requested")
    expect(_testid(page, "cancel-button")).to_have_count(0)
    expect(_testid(page, "ended-note")).to_be_visible()
    expect(_testid(page, "events-table")).to_contain_text("customer.subscription.deleted")
    screenshot(page, shots, "subscription-canceled")
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"

    # The default list leaves it out, as Stripe's does; "All" shows it, canceled.
    page.get_by_role("link", name="Subscriptions", exact=True).click()
    table = _testid(page, "subscriptions-table")
    expect(table.get_by_test_id(f"row-{subscription.id}")).to_have_count(0)
    expect(table).to_contain_text("No current subscriptions")
    _show_status(page, "all")
    expect(page).to_have_url(re.compile(r"/dashboard/subscriptions\?status=all"))
    every = table.get_by_test_id(f"row-{subscription.id}")
    expect(every).to_contain_text("canceled")
    expect(every).to_contain_text(ITEMS_TEXT)
    screenshot(page, shots, "subscriptions-all")

    # The customer page still tells the whole story.
    page.goto(f"{server.url}/dashboard/customers/{subscription.customer}")
    expect(
        _testid(page, "customer-subscriptions-table").get_by_test_id(f"row-{subscription.id}")
    ).to_contain_text("canceled")


def test_the_upcoming_invoice_and_a_prorated_cancel_with_a_final_invoice(
    page: Page, server: KassaServer, client: Client, shots: Path
) -> None:
    """On a test clock: January 2027 has 31 days; ten days into it, 2 x $20.00 a month
    leaves 21 of 31 days unused, $40.00 * 21/31 = $27.10 (27.096... rounded half up)."""
    jan_1 = int(dt.datetime(2027, 1, 1, 10, tzinfo=dt.UTC).timestamp())
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": jan_1})
    customer = client.v1.customers.create(
        params={
            "name": "Clocked Ada",
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = _subscribe(client, customer.id, _monthly_price(client).id)
    advance(client, clock.id, jan_1 + 10 * 86_400)
    _open_subscription(page, server, subscription.id)

    # The upcoming invoice: the February renewal, 2 x $20.00.
    expect(_testid(page, "upcoming-summary")).to_contain_text("$40.00")
    # The service it bills, February 1 to March 1, from its line: not the invoice's own
    # period_start/period_end, which look back on January (Stripe: "Use the line item
    # period to get the service period for each price").
    expect(_testid(page, "upcoming-summary")).to_contain_text(_utc(_period_end(subscription)))
    mar_1 = int(dt.datetime(2027, 3, 1, 10, tzinfo=dt.UTC).timestamp())
    expect(_testid(page, "upcoming-summary")).to_contain_text(_utc(mar_1))
    expect(_testid(page, "upcoming-lines")).to_contain_text(ITEMS_TEXT)
    screenshot(page, shots, "subscription-upcoming")

    # Canceling with both options: the unused time credited on a final invoice, at once.
    _testid(page, "cancel-prorate").check()
    _testid(page, "cancel-invoice-now").check()
    _testid(page, "cancel-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("Final invoice: in_")
    expect(_testid(page, "upcoming-none")).to_be_visible()
    canceled = client.v1.subscriptions.retrieve(subscription.id)
    final = client.v1.invoices.retrieve(str(canceled.latest_invoice))
    assert (canceled.status, final.total, final.billing_reason) == (
        "canceled",
        -2710,
        "subscription_update",
    )
    assert client.v1.customers.retrieve(customer.id).balance == -2710
    row = _testid(page, "subscription-invoices-table").get_by_test_id(f"row-{final.id}")
    expect(row).to_contain_text("subscription update")
    screenshot(page, shots, "subscription-canceled-prorated")


def test_a_subscription_on_a_schedule_shows_its_phases(
    page: Page, server: KassaServer, client: Client, shots: Path
) -> None:
    """Two monthly phases from now, Pro plan then Basic plan, then cancel: the section shows
    the schedule, its end behavior and each phase's dates and items, the first current."""
    pro, basic = _monthly_price(client), _monthly_price(client, 1000, "Basic plan")
    month: Any = {"interval": "month"}
    created: Any = {
        "customer": _paying_customer(client).id,
        "start_date": "now",
        "end_behavior": "cancel",
        "phases": [
            {"items": [{"price": pro.id, "quantity": QUANTITY}], "duration": month},
            {"items": [{"price": basic.id}], "duration": month},
        ],
    }
    schedule = client.v1.subscription_schedules.create(params=created)
    assert schedule.status == "active" and schedule.subscription is not None
    _open_subscription(page, server, str(schedule.subscription))

    expect(_testid(page, "schedule-id")).to_have_text(schedule.id)
    expect(_testid(page, "schedule-status")).to_have_text("active")
    expect(_testid(page, "schedule-end-behavior")).to_contain_text("cancel")
    first, second = schedule.phases
    phases = _testid(page, "schedule-phases-table")
    expect(phases.locator("tbody tr")).to_have_count(2)
    current, then = phases.get_by_test_id("phase-1"), phases.get_by_test_id("phase-2")
    expect(current).to_contain_text("current")
    expect(current).to_have_attribute("aria-current", "true")
    expect(current).to_contain_text(_utc(first.start_date))
    expect(current).to_contain_text(_utc(first.end_date))
    expect(current).to_contain_text(f"{ITEMS_TEXT} ($20.00 / month)")
    expect(current).to_contain_text(pro.id)
    expect(then).not_to_contain_text("current")
    expect(then).to_contain_text(_utc(second.start_date))
    expect(then).to_contain_text(_utc(second.end_date))
    expect(then).to_contain_text("1 \u00d7 Basic plan ($10.00 / month)")
    screenshot(page, shots, "subscription-schedule")

    then.get_by_role("link", name=basic.id).click()
    expect(page).to_have_url(re.compile(rf"/dashboard/prices/{basic.id}$"))


def test_the_status_filter_and_a_trial(page: Page, server: KassaServer, client: Client) -> None:
    price = _monthly_price(client)
    paying = _subscribe(client, _paying_customer(client).id, price.id)
    trial = _subscribe(
        client,
        _paying_customer(client, "Bea Trial").id,
        price.id,
        trial_period_days=TRIAL_DAYS,
    )
    assert (paying.status, trial.status) == ("active", "trialing")

    page.goto(f"{server.url}/dashboard/subscriptions")
    table = _testid(page, "subscriptions-table")
    expect(table.get_by_test_id(f"row-{paying.id}")).to_contain_text("active")
    expect(table.get_by_test_id(f"row-{trial.id}")).to_contain_text("trialing")

    _show_status(page, "trialing")
    expect(table.get_by_test_id(f"row-{trial.id}")).to_contain_text("Bea Trial")
    expect(table.get_by_test_id(f"row-{paying.id}")).to_have_count(0)
    _show_status(page, "canceled")
    expect(table).to_contain_text("No subscriptions match these filters.")

    response = page.goto(f"{server.url}/dashboard/subscriptions/{trial.id}")
    assert response is not None
    assert response.status == 200
    assert trial.trial_start is not None
    assert trial.trial_end is not None
    trial_dates = _testid(page, "subscription-trial")
    expect(trial_dates).to_contain_text(_utc(trial.trial_start))
    expect(trial_dates).to_contain_text(_utc(trial.trial_end))


def test_canceling_a_subscription_already_canceled_is_refused(
    page: Page, server: KassaServer, client: Client
) -> None:
    """The page still offers to cancel a subscription the API canceled since: the refusal is
    shown on the page, in Stripe's words, and nothing changes."""
    subscription = _subscribe(client, _paying_customer(client).id, _monthly_price(client).id)
    _open_subscription(page, server, subscription.id)
    canceled = client.v1.subscriptions.cancel(subscription.id)

    _testid(page, "cancel-button").click()
    expect(page.locator(".flash.error")).to_contain_text("is already canceled")
    expect(page).to_have_url(re.compile(rf"/dashboard/subscriptions/{subscription.id}$"))
    expect(_testid(page, "subscription-status")).to_contain_text("canceled")
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert (after.status, after.canceled_at) == ("canceled", canceled.canceled_at)


def test_an_unknown_subscription_is_missing(page: Page, server: KassaServer) -> None:
    response = page.goto(f"{server.url}/dashboard/subscriptions/sub_not_in_this_account")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("No such subscription in this account.")
