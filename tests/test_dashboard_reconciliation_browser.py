"""The dashboard's reconciliation pages in real headless Chromium (Debian's `chromium`, driven
by Playwright) against a real `kassa serve`: runs recorded by `kassa reconcile --record` (a
real subprocess) listed newest first, and one run's counts and sampled breaks. Screenshots
land in test-output/dashboard-reconciliation/<engine>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.conftest import module_server
from tests.harness import KassaServer, create_account
from tests.test_reconcile import reconcile_json, write_csv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


# The module's own server and database: `kassa reconcile --record` writes to the database
# beside it, and no other module's tests share it. (In one CI run the session server
# refused a key made a moment before; not reproduced alone, so not shared.)
server = module_server("reconciliation-server", KassaServer)


def test_reconciliation_pages(
    browser: Browser, server: KassaServer, tmp_path: Path, test_output_dir: Path
) -> None:
    shots = screenshot_folder(test_output_dir, server.database_url, "dashboard-reconciliation")
    account = create_account(server.database_url)
    other = create_account(server.database_url)
    rows = [["txn_a", 100, "usd", "2026-11-02"], ["txn_b", 250, "eur", "2026-11-02"]]
    ledger = write_csv(tmp_path / "ledger.csv", [*rows, ["txn_c", 75, "usd", "2026-11-03"]])
    bank = write_csv(tmp_path / "bank.csv", [rows[0], ["txn_b", 260, "eur", "2026-11-02"]])
    same = write_csv(tmp_path / "same.csv", rows)
    record = ["--record", "--database", server.database_url, "--json"]
    _, clean = reconcile_json(same, same, *record, "--account", account.id, "--out", tmp_path / "1")
    code, broken = reconcile_json(
        ledger, bank, *record, "--account", account.id, "--out", tmp_path / "2"
    )
    assert code == 1
    reconcile_json(ledger, bank, *record, "--account", other.id, "--out", tmp_path / "3")

    pages: Any = signed_in_dashboard(browser, server, account)
    page = next(pages)
    page.goto(f"{server.url}/dashboard/")
    page.get_by_role("link", name="Reconciliation").click()
    table = page.get_by_test_id("runs-table")
    expect(table.locator("tbody tr")).to_have_count(2)  # not the other account's run
    expect(table.locator("tbody tr").first).to_have_attribute("data-testid", f"row-{broken['run']}")
    expect(table.get_by_test_id(f"row-{clean['run']}")).to_contain_text("none")
    expect(table.get_by_test_id(f"row-{broken['run']}")).to_contain_text("2")
    screenshot(page, shots, "runs")

    table.get_by_role("link", name=broken["run"]).click()
    expect(page.get_by_test_id("run-verdict")).to_have_text("2 breaks")
    expect(page.get_by_test_id("run-facts")).to_contain_text(str(ledger))
    expect(page.get_by_test_id("count-matched")).to_contain_text("1")
    expect(page.get_by_test_id("count-discrepant")).to_contain_text("1")
    discrepant = page.get_by_test_id("breaks-discrepant")
    expect(discrepant).to_contain_text("txn_b")
    expect(discrepant).to_contain_text("amount differs")
    expect(page.get_by_test_id("breaks-missing_in_bank")).to_contain_text("txn_c")
    screenshot(page, shots, "run")

    page.goto(f"{server.url}/dashboard/reconciliation/recon_nope")
    expect(page.locator("main")).to_contain_text("No such reconciliation run in this account")
    pages.close()
