"""The ledger: this account's ledger accounts and their balances, and `kassa ledger verify`
on demand (it recomputes every balance from the whole journal, so it runs only when asked)."""

from __future__ import annotations

from starlette.responses import Response

from kassa.dashboard.app import Page, View
from kassa.dashboard.views import ledger as view_model
from kassa.dashboard.views.ledger import VerifyOutcome


async def ledger(view: View) -> Response:
    return await _page(view, None)


async def verify(view: View) -> Response:
    # Verify only reads, every ledger row: a scan unit, which holds no write lock and (on
    # SQLite) runs off the event loop. The result is this response (a re-run is one click),
    # not a redirect with nowhere to keep it.
    async with view.scanning() as ctx:
        outcome = await view_model.verify(ctx)
    return await _page(view, outcome)


async def _page(view: View, outcome: VerifyOutcome | None) -> Response:
    async with view.reading() as ctx:
        accounts = await view_model.ledger_accounts(ctx)
        rates = await view_model.exchange_rate_table(ctx)
    return view.render("ledger.html", accounts=accounts, outcome=outcome, rates=rates)


PAGES = (
    Page("/ledger", ledger),
    Page("/ledger/verify", verify, ("POST",)),
)
