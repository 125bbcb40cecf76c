"""The dashboard's test clocks pages in real headless Chromium (Debian's `chromium`, driven by
Playwright) against a real `kassa serve`: the list, one clock with the customers on it and
its events, advancing it from the page (by a step, by calendar months, to a typed UTC time)
until the background job makes it ready, and the refusals (a time not ahead of the clock, a
page showing a time the clock has since left, a clock of no one's). Clocks and customers are
made through the official SDK and every advance is checked through it too. Screenshots land
in test-output/dashboard-test-clocks/<engine>/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.harness import Account, KassaServer

Client = stripe.StripeClient
Clock = stripe.test_helpers.TestClock

FROZEN = 1_798_761_600
"""2027-01-01 00:00:00 UTC."""
FROZEN_TEXT = "2027-01-01 00:00:00 UTC"
DAY = 86_400
HOUR = 3_600
READY_WAIT_SECONDS = 30.0
READY_POLL_SECONDS = 0.1
READY_POLLS_MAX = int(READY_WAIT_SECONDS / READY_POLL_SECONDS)
"""An advance with nothing due is one step of the `test_clocks` job (it looks every 0.2 s);
the bound only stops a broken job from hanging the test."""
EVENTS_PAGE = 100


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser, server: KassaServer, account: Account) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, account)


@pytest.fixture
def shots(test_output_dir: Path, database_url: str) -> Path:
    return screenshot_folder(test_output_dir, database_url, "dashboard-test-clocks")


def _testid(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


def _clock(client: Client, frozen_time: int = FROZEN, **params: Any) -> Clock:
    create: Any = {"frozen_time": frozen_time, **params}
    return client.v1.test_helpers.test_clocks.create(params=create)


def _customer_on(client: Client, clock_id: str, name: str = "Ada Clock") -> stripe.Customer:
    return client.v1.customers.create(
        params={"test_clock": clock_id, "name": name, "email": "ada@example.com"}
    )


def _ready(client: Client, clock_id: str) -> Clock:
    """The clock once it is no longer advancing (bounded polling through the SDK)."""
    for _ in range(READY_POLLS_MAX):
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status != "advancing":
            return clock
        time.sleep(READY_POLL_SECONDS)
    pytest.fail(f"test clock {clock_id} was still advancing after {READY_WAIT_SECONDS}s")


def _event_types(client: Client, clock_id: str) -> list[str]:
    """The clock's event types. One page is all of them: each test has an account of its own
    with a handful of events."""
    events = client.v1.events.list(params={"limit": EVENTS_PAGE}).data
    return [e.type for e in events if e.data.object.to_dict().get("id") == clock_id]


def _open_clock(page: Page, server: KassaServer, clock_id: str) -> None:
    page.goto(f"{server.url}/dashboard/test_clocks/{clock_id}")
    expect(_testid(page, "clock-id")).to_have_text(clock_id)


def test_list_detail_and_advance_a_day(
    page: Page, server: KassaServer, client: Client, shots: Path
) -> None:
    clock = _clock(client, name="Renewals")
    customer = _customer_on(client, clock.id)
    off_clock = client.v1.customers.create(params={"name": "Bea Realtime"})

    page.get_by_role("link", name="Test clocks", exact=True).click()
    row = _testid(page, "test-clocks-table").get_by_test_id(f"row-{clock.id}")
    expect(row).to_contain_text("Renewals")
    expect(row).to_contain_text(clock.id)
    expect(row).to_contain_text(FROZEN_TEXT)
    expect(row).to_contain_text("ready")
    screenshot(page, shots, "test-clocks")

    row.get_by_role("link", name="Renewals").click()
    expect(_testid(page, "clock-name")).to_have_text("Renewals")
    expect(_testid(page, "clock-frozen-time")).to_have_text(FROZEN_TEXT)
    expect(_testid(page, "clock-status")).to_contain_text("ready")
    customers = _testid(page, "clock-customers-table")
    expect(customers.get_by_test_id(f"row-{customer.id}")).to_contain_text("Ada Clock")
    expect(customers.get_by_test_id(f"row-{off_clock.id}")).to_have_count(0)
    events = _testid(page, "events-table")
    expect(events).to_contain_text("test_helpers.test_clock.created")
    screenshot(page, shots, "test-clock-ready")

    _testid(page, "advance-by").select_option("day")
    _testid(page, "advance-by-button").click()
    expect(page.locator(".flash.notice")).to_contain_text(
        "Advancing Renewals to 2027-01-02 00:00:00 UTC"
    )
    expect(page).to_have_url(re.compile(rf"/dashboard/test_clocks/{clock.id}$"))
    ready = _ready(client, clock.id)
    assert ready.status == "ready"
    assert ready.frozen_time == FROZEN + DAY

    page.reload()
    expect(_testid(page, "clock-frozen-time")).to_have_text("2027-01-02 00:00:00 UTC")
    expect(_testid(page, "clock-status")).to_contain_text("ready")
    expect(events).to_contain_text("test_helpers.test_clock.advancing")
    expect(events).to_contain_text("test_helpers.test_clock.ready")
    expect(_testid(page, "advance-by-button")).to_be_visible()  # ready: it can go on
    screenshot(page, shots, "test-clock-advanced")

    customers.get_by_role("link", name="Ada Clock").click()
    expect(_testid(page, "customer-title")).to_have_text("Ada Clock")
    expect(_testid(page, "customer-id")).to_have_text(customer.id)
    # ... and back from the customer to its clock.
    _testid(page, "customer-test-clock").click()
    expect(page).to_have_url(re.compile(f"/test_clocks/{clock.id}$"))


def test_advance_by_calendar_month_and_to_a_typed_time(
    page: Page, server: KassaServer, client: Client
) -> None:
    end_of_january = 1_801_396_800  # 2027-01-31 12:00:00 UTC
    clock = _clock(client, end_of_january)
    _open_clock(page, server, clock.id)
    expect(_testid(page, "clock-name")).to_have_text("Test clock")  # unnamed

    _testid(page, "advance-by").select_option("month")
    _testid(page, "advance-by-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("2027-02-28 12:00:00 UTC")
    assert _ready(client, clock.id).frozen_time == end_of_january + 28 * DAY  # February's last

    page.reload()
    expect(_testid(page, "clock-frozen-time")).to_have_text("2027-02-28 12:00:00 UTC")
    _testid(page, "advance-to").fill("2027-03-01T08:30:15")  # read as UTC
    _testid(page, "advance-to-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("2027-03-01 08:30:15 UTC")
    march_first = 1_803_889_815  # 2027-03-01 08:30:15 UTC
    assert _ready(client, clock.id).frozen_time == march_first
    page.reload()
    expect(_testid(page, "clock-frozen-time")).to_have_text("2027-03-01 08:30:15 UTC")


def test_a_time_not_ahead_of_the_clock_is_refused(
    page: Page, server: KassaServer, client: Client
) -> None:
    clock = _clock(client)
    _open_clock(page, server, clock.id)

    _testid(page, "advance-to").fill("2026-12-31T00:00:00")
    _testid(page, "advance-to-button").click()
    expect(page.locator(".flash.error")).to_contain_text(
        f"must be after the test clock's current frozen_time {FROZEN}"
    )
    expect(page).to_have_url(re.compile(rf"/dashboard/test_clocks/{clock.id}$"))
    expect(_testid(page, "clock-frozen-time")).to_have_text(FROZEN_TEXT)
    unchanged = client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert (unchanged.status, unchanged.frozen_time) == ("ready", FROZEN)
    assert "test_helpers.test_clock.advancing" not in _event_types(client, clock.id)


def test_a_step_from_a_time_the_clock_has_left_is_refused(
    page: Page, server: KassaServer, client: Client
) -> None:
    """ "+1 day" means a day after the time the page showed: once the clock has moved behind
    the page's back, the page refuses and shows the new time instead of going further."""
    clock = _clock(client)
    _open_clock(page, server, clock.id)
    client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": FROZEN + HOUR})
    assert _ready(client, clock.id).frozen_time == FROZEN + HOUR

    _testid(page, "advance-by-button").click()
    expect(page.locator(".flash.error")).to_contain_text(
        f"The clock is now at 2027-01-01 01:00:00 UTC, not at the {FROZEN_TEXT} this page showed"
    )
    expect(_testid(page, "clock-frozen-time")).to_have_text("2027-01-01 01:00:00 UTC")
    unchanged = client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert (unchanged.status, unchanged.frozen_time) == ("ready", FROZEN + HOUR)


def test_an_unknown_clock_is_missing(page: Page, server: KassaServer) -> None:
    response = page.goto(f"{server.url}/dashboard/test_clocks/clock_not_in_this_account")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("No such test clock in this account.")
