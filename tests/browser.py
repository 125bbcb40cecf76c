"""What every browser test shares: Debian's Chromium driven by Playwright, a page per test,
and screenshots at laptop and phone widths for people to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.harness import Account, KassaServer, unavailable

CHROMIUM = Path("/usr/bin/chromium")
LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
ACTION_TIMEOUT_MS = 15_000


def require_chromium() -> None:
    """Skip without Chromium, except under CI=true, where the browser tests must run."""
    if CHROMIUM.exists():
        return
    unavailable(
        "browser", f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    )


def chromium_session() -> Iterator[Browser]:
    """A headless Chromium for a module's tests (`yield from` it in a module fixture)."""
    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@contextmanager
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (no cookies from other tests), laptop-sized."""
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot_folder(test_output_dir: Path, database_url: str, area: str) -> Path:
    """`test-output/<area>/<engine>/`."""
    engine = "postgres" if database_url.startswith("postgres") else "sqlite"
    folder = test_output_dir / area / engine
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Page, folder: Path, name: str) -> None:
    """Laptop and phone widths; the phone shot also proves nothing overflows sideways."""
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=str(folder / f"{name}-laptop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} is {overflow}px wider than a phone screen"
    page.set_viewport_size(LAPTOP)


def signed_in_dashboard(browser: Browser, server: KassaServer, account: Account) -> Iterator[Page]:
    """A page signed in to the dashboard with `account`'s secret key (`yield from` it)."""
    with fresh_page(browser) as page:
        page.goto(f"{server.url}/dashboard/")
        expect(page).to_have_url(re.compile(r"/dashboard/login$"))
        page.fill("#secret_key", account.secret_key)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/dashboard/$"))
        yield page
