"""The dashboard's payouts pages in real headless Chromium (Debian's `chromium`, driven by
Playwright) against a real `kassa serve` whose clock the test sets: the list with its status
filter, an automatic payout with the balance transactions it swept, and a payout to a failing
test bank account with its failure and the transaction that gave the money back. Payouts are
made through the official SDK. Screenshots land in test-output/dashboard-payouts/<engine>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.harness import create_account
from tests.test_balance import ShiftedClockServer, at
from tests.test_payouts import bank_account, fund, payout, payout_server, set_schedule

__all__ = ["payout_server"]  # the module's server fixture, shared with tests/test_payouts.py


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def shots(test_output_dir: Path, payout_server: ShiftedClockServer) -> Path:
    return screenshot_folder(test_output_dir, payout_server.database_url, "dashboard-payouts")


def test_payouts_pages(browser: Browser, payout_server: ShiftedClockServer, shots: Path) -> None:
    server = payout_server
    server.set_now(at("2026-11-18T10:00:00"))  # a Wednesday
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    net = fund(client, 10_000)
    failing = bank_account(client, account.id, "000111111113")
    manual = payout(client, amount=1_000, destination=failing.id, description="To closed")
    set_schedule(client, interval="daily")
    server.set_now(at("2026-11-20T00:00:05"))  # the manual one fails; the schedule pays out

    pages: Any = signed_in_dashboard(browser, server, account)
    page = next(pages)
    page.goto(f"{server.url}/dashboard/payouts")
    table = page.get_by_test_id("payouts-table")
    expect(table.get_by_test_id(f"row-{manual.id}")).to_contain_text("failed")
    [automatic] = [p for p in client.v1.payouts.list().data if p.automatic]
    assert automatic.amount == net - 1_000
    expect(table.get_by_test_id(f"row-{automatic.id}")).to_contain_text("automatic")
    screenshot(page, shots, "payouts")

    page.get_by_test_id("filter-status").select_option("failed")
    page.get_by_test_id("filter-submit").click()
    expect(page.get_by_test_id("payouts-table").locator("tbody tr")).to_have_count(1)

    page.goto(f"{server.url}/dashboard/payouts/{manual.id}")
    expect(page.get_by_test_id("payout-status")).to_have_text("failed")
    expect(page.get_by_test_id("payout-failure")).to_contain_text("account_closed")
    moved = page.get_by_test_id("payout-transactions")
    expect(moved).to_contain_text("payout failure")
    expect(moved.locator("tbody tr")).to_have_count(2)
    screenshot(page, shots, "payout-failed")

    page.goto(f"{server.url}/dashboard/payouts/{automatic.id}")
    swept = page.get_by_test_id("payout-swept")
    expect(swept).to_contain_text("charge")
    expect(swept.locator("tbody tr")).to_have_count(2)  # the charge and the manual payout
    screenshot(page, shots, "payout-automatic")
    pages.close()
