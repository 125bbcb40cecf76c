"""Home: balance per currency, gross volume and payments per day, recent payments and
failures."""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from kassa import money
from kassa.dashboard.app import Page, View
from kassa.dashboard.charts import Chart, bar_chart
from kassa.dashboard.views import home as view_model
from kassa.dashboard.views.home import DayVolume


async def home(view: View) -> Response:
    async with view.reading() as ctx:
        overview = await view_model.overview(ctx)
    charts = {
        currency: _charts(currency, overview.volume[currency]) for currency in overview.currencies
    }
    return view.render("home.html", overview=overview, charts=charts)


def _charts(currency: str, days: list[DayVolume]) -> tuple[Chart, Chart]:
    labels = [_short_day(d.day) for d in days]
    amounts = [d.succeeded_amount for d in days]
    gross = bar_chart(
        amounts,
        labels,
        [money.format_amount(a, currency) for a in amounts],
        money.format_amount(max(amounts, default=0), currency),
    )
    counts = [d.succeeded_count + d.failed_count for d in days]
    payments = bar_chart(
        counts,
        labels,
        [f"{d.succeeded_count} succeeded, {d.failed_count} failed" for d in days],
        str(max(counts, default=0)),
    )
    return gross, payments


def _short_day(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%d")


PAGES = (Page("/", home),)
