"""Stripe's Reporting API through the official SDK against a live server (SQLite and
PostgreSQL): the four report types, runs going pending -> succeeded through the `reporting`
job, their CSV downloaded from the result file's `url` and checked against the ledger
(`GET /v1/balance`, `GET /v1/balance_transactions`, what an automatic payout swept),
every check of `kassa ledger verify` after each test (in process), and bad parameters
answered 400 naming them.

The server runs on an injected clock the test sets (`ShiftedClockServer`): a report covers
whole days before today, so the activity is made on earlier days and the clock moved on.
"""

from __future__ import annotations

import csv
import datetime
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import stripe

from tests import loopback
from tests.conftest import module_server
from tests.harness import Account, assert_ledger_whole, create_account
from tests.test_balance import ShiftedClockServer, at, card_fee, idempotency, pay

RUN_POLLS_MAX = 200
RUN_POLL_SECONDS = 0.05
MONDAY = "2026-11-16"
TYPES = (
    "balance.summary.1",
    "balance_change_from_activity.itemized.3",
    "payouts.itemized.3",
    "payout_reconciliation.itemized.5",
)


reporting_server = module_server("reporting", ShiftedClockServer)


@pytest.fixture
def server(reporting_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    reporting_server.set_now(at(f"{MONDAY}T10:00:00"))
    yield reporting_server
    assert_ledger_whole(reporting_server.database_url)


@pytest.fixture
def account(server: ShiftedClockServer) -> Account:
    return create_account(server.database_url)


@pytest.fixture
def client(server: ShiftedClockServer, account: Account) -> stripe.StripeClient:
    return server.client(account.secret_key)


def unix(text: str) -> int:
    return int(at(text).timestamp())


def cents(text: str) -> int:
    """A report's major-unit decimal as USD cents (exactly: no float)."""
    return int(Decimal(text) * 100)


def run(
    client: stripe.StripeClient, report_type: str, **parameters: Any
) -> stripe.reporting.ReportRun:
    params: Any = {"report_type": report_type, "parameters": parameters}
    created = client.v1.reporting.report_runs.create(params=params, options=idempotency())
    assert (created.status, created.result, created.report_type) == ("pending", None, report_type)
    for _ in range(RUN_POLLS_MAX):
        found = client.v1.reporting.report_runs.retrieve(created.id)
        if found.status != "pending":
            return found
        time.sleep(RUN_POLL_SECONDS)
    raise AssertionError(f"report run {created.id} stayed pending")


def download(server: ShiftedClockServer, account: Account, url: str) -> list[dict[str, str]]:
    response = loopback.get(url, auth=(account.secret_key, ""), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(response.text)))


def report(
    server: ShiftedClockServer,
    account: Account,
    client: stripe.StripeClient,
    report_type: str,
    **parameters: Any,
) -> list[dict[str, str]]:
    finished = run(client, report_type, **parameters)
    assert finished.status == "succeeded", finished.error
    assert finished.result is not None and finished.result.purpose == "finance_report_run"
    assert finished.result.url is not None and finished.result.url.startswith(server.url)
    rows = download(server, account, finished.result.url)
    raw = loopback.get(finished.result.url, auth=(account.secret_key, ""), timeout=30)
    assert finished.result.size == len(raw.content)
    return rows


def activity(client: stripe.StripeClient) -> None:
    """Monday: two charges (one available at once), a refund and a manual payout; Tuesday:
    a charge and a canceled payout. Everything the summary and itemized reports show."""
    pay(client, 10_000, payment_method="pm_card_bypassPending")
    refunded = pay(client, 2_500)
    client.v1.refunds.create(
        params={"payment_intent": refunded.id, "amount": 1_000}, options=idempotency()
    )
    client.v1.payouts.create(params={"amount": 3_000, "currency": "usd"}, options=idempotency())


def tuesday(server: ShiftedClockServer, client: stripe.StripeClient) -> str:
    server.set_now(at("2026-11-17T09:30:00"))
    pay(client, 4_000, payment_method="pm_card_bypassPending")
    canceled = client.v1.payouts.create(
        params={"amount": 1_500, "currency": "usd", "description": "to be canceled"},
        options=idempotency(),
    )
    client.v1.payouts.cancel(canceled.id, options=idempotency())
    return canceled.id


def transactions(client: stripe.StripeClient) -> list[stripe.BalanceTransaction]:
    listed = client.v1.balance_transactions.list(params={"limit": 100})
    return list(listed.auto_paging_iter())


# --- report types ----------------------------------------------------------------------------


def test_report_types_cover_whole_days_of_the_accounts_data(
    server: ShiftedClockServer, client: stripe.StripeClient
) -> None:
    activity(client)
    server.set_now(at("2026-11-18T15:00:00"))
    listed = client.v1.reporting.report_types.list()
    assert [t.id for t in listed.data] == list(TYPES)
    for shown in listed.data:
        assert shown.object == "reporting.report_type"
        assert shown.data_available_start == unix(f"{MONDAY}T00:00:00")
        assert shown.data_available_end == unix("2026-11-18T00:00:00")
        assert shown.version == int(shown.id.rsplit(".", 1)[1])
        assert shown.livemode is False and shown.default_columns
    summary = client.v1.reporting.report_types.retrieve("balance.summary.1")
    assert summary.name == "Balance summary"
    assert summary.default_columns == ["category", "description", "net_amount", "currency"]
    itemized = client.v1.reporting.report_types.retrieve("balance_change_from_activity.itemized.3")
    assert itemized.default_columns is not None
    assert itemized.default_columns[:3] == ["balance_transaction_id", "created_utc", "created"]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.reporting.report_types.retrieve("balance.summary.9")
    assert missing.value.http_status == 404


# --- balance.summary.1 -----------------------------------------------------------------------


def summary_figures(rows: list[dict[str, str]]) -> dict[str, int]:
    assert {row["currency"] for row in rows} == {"usd"}
    return {row["category"]: cents(row["net_amount"]) for row in rows}


def test_balance_summary_ties_out_to_the_balance_and_the_ledger(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    activity(client)
    tuesday(server, client)
    server.set_now(at("2026-11-18T08:00:00"))
    balance = client.v1.balance.retrieve()
    total = sum(f.amount for f in balance.available) + sum(f.amount for f in balance.pending)

    both = summary_figures(
        report(
            server,
            account,
            client,
            "balance.summary.1",
            interval_start=unix(f"{MONDAY}T00:00:00"),
            interval_end=unix("2026-11-18T00:00:00"),
        )
    )
    every = transactions(client)
    paid_out = [t for t in every if t.reporting_category in ("payout", "payout_reversal")]
    rest = [t for t in every if t not in paid_out]
    assert both["starting_balance"] == 0
    assert both["activity_gross"] == sum(t.amount for t in rest)
    assert both["activity_fee"] == -sum(t.fee for t in rest)
    assert (
        both["activity"]
        == sum(t.net for t in rest)
        == both["activity_gross"] + both["activity_fee"]
    )
    assert both["payouts"] == sum(t.net for t in paid_out) == -3_000
    assert both["ending_balance"] == both["starting_balance"] + both["activity"] + both["payouts"]
    assert both["ending_balance"] == total

    monday = summary_figures(
        report(
            server,
            account,
            client,
            "balance.summary.1",
            interval_start=unix(f"{MONDAY}T00:00:00"),
            interval_end=unix("2026-11-17T00:00:00"),
        )
    )
    tue = summary_figures(
        report(
            server,
            account,
            client,
            "balance.summary.1",
            interval_start=unix("2026-11-17T00:00:00"),
            interval_end=unix("2026-11-18T00:00:00"),
        )
    )
    assert tue["starting_balance"] == monday["ending_balance"]
    assert tue["ending_balance"] == both["ending_balance"]
    assert tue["payouts"] == 0  # a payout and its cancellation
    assert tue["activity"] == 4_000 - card_fee(4_000, "usd")


def test_balance_summary_descriptions_dates_and_currency_filter(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    activity(client)
    server.set_now(at("2026-11-20T12:00:00"))
    rows = report(
        server,
        account,
        client,
        "balance.summary.1",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-20T00:00:00"),
        currency="usd",
        timezone="America/New_York",
    )
    descriptions = {row["category"]: row["description"] for row in rows}
    # In New York the interval runs from Sunday 19:00 to Thursday 19:00.
    assert descriptions["starting_balance"] == "Starting balance (2026-11-15)"
    assert descriptions["ending_balance"] == "Ending balance (2026-11-19)"
    assert [row["category"] for row in rows] == [
        "starting_balance",
        "activity_gross",
        "activity_fee",
        "activity",
        "payouts",
        "ending_balance",
    ]
    eur = report(
        server,
        account,
        client,
        "balance.summary.1",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-20T00:00:00"),
        currency="eur",
    )
    assert eur == []


# --- balance_change_from_activity.itemized.3 -------------------------------------------------


def test_itemized_activity_is_every_balance_transaction_but_payouts(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    activity(client)
    tuesday(server, client)
    server.set_now(at("2026-11-18T08:00:00"))
    rows = report(
        server,
        account,
        client,
        "balance_change_from_activity.itemized.3",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-18T00:00:00"),
    )
    expected = {
        t.id: t
        for t in transactions(client)
        if t.reporting_category not in ("payout", "payout_reversal")
    }
    assert sorted(row["balance_transaction_id"] for row in rows) == sorted(expected)
    created = [expected[row["balance_transaction_id"]].created for row in rows]
    assert created == sorted(created)  # oldest first
    assert set(rows[0]) == {
        "balance_transaction_id",
        "created_utc",
        "created",
        "available_on_utc",
        "available_on",
        "currency",
        "gross",
        "fee",
        "net",
        "reporting_category",
        "source_id",
        "description",
        "customer_facing_amount",
        "customer_facing_currency",
    }
    for row in rows:
        txn = expected[row["balance_transaction_id"]]
        assert (cents(row["gross"]), cents(row["fee"]), cents(row["net"])) == (
            txn.amount,
            txn.fee,
            txn.net,
        )
        assert (row["reporting_category"], row["source_id"]) == (txn.reporting_category, txn.source)
        made = datetime.datetime.fromtimestamp(txn.created, datetime.UTC)
        assert row["created_utc"] == row["created"] == made.strftime("%Y-%m-%d %H:%M:%S")
        assert cents(row["customer_facing_amount"]) == txn.amount
    refund = next(row for row in rows if row["reporting_category"] == "refund")
    assert refund["gross"] == "-10.00" and refund["customer_facing_amount"] == "-10.00"


def test_itemized_columns_filters_and_time_zone(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        params={"email": "reports@example.com", "name": "Report Reader"}, options=idempotency()
    )
    intent = pay(
        client,
        7_700,
        payment_method="pm_card_bypassPending",
        customer=customer.id,
        metadata={"order": "A-1"},
    )
    activity(client)
    server.set_now(at("2026-11-17T12:00:00"))
    window = {
        "interval_start": unix(f"{MONDAY}T00:00:00"),
        "interval_end": unix("2026-11-17T00:00:00"),
    }
    columns = [
        "net",
        "balance_transaction_id",
        "created",
        "created_utc",
        "customer_email",
        "payment_intent_id",
        "card_brand",
        "payment_metadata[order]",
    ]
    rows = report(
        server,
        account,
        client,
        "balance_change_from_activity.itemized.3",
        columns=columns,
        timezone="Asia/Tokyo",
        **window,
    )
    # Columns come in the report's own order, metadata last.
    assert list(rows[0]) == [
        "balance_transaction_id",
        "created_utc",
        "created",
        "net",
        "customer_email",
        "payment_intent_id",
        "card_brand",
        "payment_metadata[order]",
    ]
    first = rows[0]
    # The server's clock runs on from 10:00:00 while the test pays: a loaded machine may
    # take a second or more, so the expected times are the balance transaction's own.
    created = client.v1.balance_transactions.retrieve(first["balance_transaction_id"]).created
    in_utc = datetime.datetime.fromtimestamp(created, datetime.UTC)
    assert at(f"{MONDAY}T10:00:00").timestamp() <= created < at(f"{MONDAY}T10:01:00").timestamp()
    assert first["created_utc"] == in_utc.strftime("%Y-%m-%d %H:%M:%S")
    tokyo = in_utc + datetime.timedelta(hours=9)  # Tokyo is nine hours ahead, no DST
    assert first["created"] == tokyo.strftime("%Y-%m-%d %H:%M:%S")
    assert (first["customer_email"], first["payment_intent_id"]) == (
        "reports@example.com",
        intent.id,
    )
    assert (first["card_brand"], first["payment_metadata[order]"]) == ("visa", "A-1")
    assert all(row["customer_email"] == "" for row in rows[1:])

    refunds = report(
        server,
        account,
        client,
        "balance_change_from_activity.itemized.3",
        reporting_category="refund",
        **window,
    )
    assert [row["reporting_category"] for row in refunds] == ["refund"]
    assert (
        report(
            server,
            account,
            client,
            "balance_change_from_activity.itemized.3",
            currency="eur",
            **window,
        )
        == []
    )


def test_itemized_rows_name_the_invoice_and_subscription_a_charge_paid(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    """Since the 2025 API a charge names no invoice: Stripe's reports find it through the
    invoice payment of the charge's PaymentIntent, with its number and its subscription;
    the refund of such a charge names them too."""
    customer = client.v1.customers.create(
        params={"payment_method": "pm_card_visa", "email": "billed@example.com"},
        options=idempotency(),
    )
    card = client.v1.customers.payment_methods.list(customer.id).data[0].id
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 999, "currency": "usd"}, options=idempotency()
    )
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "default_payment_method": card,
        },
        options=idempotency(),
    )
    assert draft.id is not None
    client.v1.invoices.finalize_invoice(draft.id, options=idempotency())
    paid = client.v1.invoices.pay(draft.id, options=idempotency())
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1_500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Reports monthly"},
        },
        options=idempotency(),
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "default_payment_method": card,
        },
        options=idempotency(),
    )
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (paid.status, first.status) == ("paid", "paid")
    charged = {
        t.source: t.amount
        for t in transactions(client)
        if t.type == "charge" and isinstance(t.source, str)
    }
    refunded = [c for c, amount in charged.items() if amount == 999]
    client.v1.refunds.create(
        params={"charge": str(refunded[0]), "amount": 100}, options=idempotency()
    )
    pay(client, 2_000)  # no invoice
    server.set_now(at("2026-11-17T12:00:00"))
    rows = report(
        server,
        account,
        client,
        "balance_change_from_activity.itemized.3",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-17T00:00:00"),
        columns=["reporting_category", "gross", "invoice_id", "invoice_number", "subscription_id"],
    )
    shown = sorted(
        (
            r["reporting_category"],
            r["gross"],
            r["invoice_id"],
            r["invoice_number"],
            r["subscription_id"],
        )
        for r in rows
    )
    assert shown == sorted(
        [
            ("charge", "9.99", paid.id, paid.number, ""),
            ("refund", "-1.00", paid.id, paid.number, ""),
            ("charge", "15.00", first.id, first.number, subscription.id),
            ("charge", "20.00", "", "", ""),
        ]
    )


# --- payouts.itemized.3 ----------------------------------------------------------------------


def test_itemized_payouts_show_manual_payouts_and_their_reversals(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    activity(client)
    canceled_id = tuesday(server, client)
    server.set_now(at("2026-11-18T08:00:00"))
    rows = report(
        server,
        account,
        client,
        "payouts.itemized.3",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-18T00:00:00"),
    )
    paid_out = {
        t.id: t
        for t in transactions(client)
        if t.reporting_category in ("payout", "payout_reversal")
    }
    assert {row["balance_transaction_id"] for row in rows} == set(paid_out)
    assert sum(cents(row["net"]) for row in rows) == -3_000
    canceled = [row for row in rows if row["payout_id"] == canceled_id]
    assert sorted(row["reporting_category"] for row in canceled) == ["payout", "payout_reversal"]
    for row in canceled:
        assert row["payout_status"] == "canceled"
        assert row["payout_description"] == "to be canceled"
    assert {row["payout_reversed_at_utc"] for row in canceled} == {"2026-11-17 09:30:00"}
    assert {row["payout_reversed_at_utc"] for row in rows if row not in canceled} == {""}
    for row in rows:
        txn = paid_out[row["balance_transaction_id"]]
        assert row["payout_id"] == txn.source
        assert row["effective_at_utc"] == datetime.datetime.fromtimestamp(
            txn.created, datetime.UTC
        ).strftime("%Y-%m-%d %H:%M:%S")
        assert row["payout_type"] == "bank_account" and row["payout_destination_id"]
    window = {
        "interval_start": unix(f"{MONDAY}T00:00:00"),
        "interval_end": unix("2026-11-18T00:00:00"),
    }
    reversals = report(
        server,
        account,
        client,
        "payouts.itemized.3",
        reporting_category="payout_reversal",
        **window,
    )
    assert [(row["payout_id"], row["net"]) for row in reversals] == [(canceled_id, "15.00")]
    charges = report(
        server, account, client, "payouts.itemized.3", reporting_category="charge", **window
    )
    assert charges == []


# --- payout_reconciliation.itemized.5 --------------------------------------------------------


def test_payout_reconciliation_lists_what_each_automatic_payout_swept(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    server.set_now(at("2026-11-18T10:00:00"))  # a Wednesday
    pay(client, 10_000, payment_method="pm_card_bypassPending")
    refunded = pay(client, 3_000, payment_method="pm_card_bypassPending")
    client.v1.refunds.create(
        params={"payment_intent": refunded.id, "amount": 500}, options=idempotency()
    )
    params: Any = {"payments": {"payouts": {"schedule": {"interval": "daily"}}}}
    client.v1.balance_settings.update(params=params, options=idempotency())
    server.set_now(at("2026-11-19T00:00:05"))  # Thursday's automatic payout
    [automatic] = [p for p in client.v1.payouts.list().data if p.automatic]
    assert automatic.arrival_date == unix("2026-11-23T00:00:00")  # the next Monday
    server.set_now(at("2026-11-24T09:00:00"))
    rows = report(
        server,
        account,
        client,
        "payout_reconciliation.itemized.5",
        interval_start=unix("2026-11-23T00:00:00"),
        interval_end=unix("2026-11-24T00:00:00"),
    )
    swept = list(
        client.v1.balance_transactions.list(
            params={"payout": automatic.id, "limit": 100}
        ).auto_paging_iter()
    )
    assert sorted(row["balance_transaction_id"] for row in rows) == sorted(t.id for t in swept)
    assert {row["automatic_payout_id"] for row in rows} == {automatic.id}
    assert {row["automatic_payout_effective_at"] for row in rows} == {"2026-11-23 00:00:00"}
    assert sum(cents(row["net"]) for row in rows) == automatic.amount
    assert sorted(row["reporting_category"] for row in rows) == ["charge", "charge", "refund"]
    before = report(
        server,
        account,
        client,
        "payout_reconciliation.itemized.5",
        interval_start=unix("2026-11-18T00:00:00"),
        interval_end=unix("2026-11-23T00:00:00"),
    )
    assert before == []


# --- files and events ------------------------------------------------------------------------


def test_results_are_files_of_the_account_and_runs_announce_themselves(
    server: ShiftedClockServer, account: Account, client: stripe.StripeClient
) -> None:
    activity(client)
    server.set_now(at("2026-11-17T12:00:00"))
    finished = run(
        client,
        "balance.summary.1",
        interval_start=unix(f"{MONDAY}T00:00:00"),
        interval_end=unix("2026-11-17T00:00:00"),
    )
    assert finished.status == "succeeded" and finished.result is not None
    assert finished.succeeded_at is not None and finished.error is None
    assert finished.parameters.interval_start == unix(f"{MONDAY}T00:00:00")
    result = finished.result
    assert (result.type, result.filename, result.title) == (
        "csv",
        f"{finished.id}.csv",
        f"FinanceReportRun {finished.id}",
    )
    shown = client.v1.files.retrieve(result.id)
    assert shown.to_dict() == result.to_dict()
    listed = client.v1.files.list(params={"purpose": "finance_report_run"})
    assert [f.id for f in listed.data] == [result.id]
    assert client.v1.files.list(params={"purpose": "dispute_evidence"}).data == []
    runs = client.v1.reporting.report_runs.list()
    assert [r.id for r in runs.data] == [finished.id]
    events = client.v1.events.list(params={"type": "reporting.report_run.succeeded"})
    assert [e.data.object["id"] for e in events.data] == [finished.id]

    assert loopback.get(result.url or "", timeout=30).status_code == 401
    stranger = create_account(server.database_url)
    hidden = loopback.get(result.url or "", auth=(stranger.secret_key, ""), timeout=30)
    assert hidden.status_code == 404
    with pytest.raises(stripe.InvalidRequestError) as not_theirs:
        server.client(stranger.secret_key).v1.reporting.report_runs.retrieve(finished.id)
    assert not_theirs.value.http_status == 404


# --- bad parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report_type", "parameters", "param"),
    [
        ("balance.summary.9", {}, "report_type"),
        ("balance.summary.1", {"interval_end": "MON+1"}, "parameters[interval_start]"),
        ("balance.summary.1", {"interval_start": "MON"}, "parameters[interval_end]"),
        (
            "balance.summary.1",
            {"interval_start": "MON-1", "interval_end": "MON+1"},
            "parameters[interval_start]",
        ),
        (
            "balance.summary.1",
            {"interval_start": "MON", "interval_end": "MON+3"},
            "parameters[interval_end]",
        ),
        (
            "balance.summary.1",
            {"interval_start": "MON+1", "interval_end": "MON+1"},
            "parameters[interval_start]",
        ),
        (
            "balance.summary.1",
            {"interval_start": "MON", "interval_end": "MON+1", "reporting_category": "charge"},
            "parameters[reporting_category]",
        ),
        (
            "balance_change_from_activity.itemized.3",
            {"interval_start": "MON", "interval_end": "MON+1", "columns": ["net", "nonsense"]},
            "parameters[columns]",
        ),
        (
            "payout_reconciliation.itemized.5",
            {"interval_start": "MON", "interval_end": "MON+1", "payout": "po_123"},
            "parameters[payout]",
        ),
        (
            "payouts.itemized.3",
            {"interval_start": "MON", "interval_end": "MON+1", "timezone": "Mars/Olympus"},
            "parameters[timezone]",
        ),
        (
            "payouts.itemized.3",
            {"interval_start": "MON", "interval_end": "MON+1", "reporting_category": "lunch"},
            "parameters[reporting_category]",
        ),
        (
            "payouts.itemized.3",
            {"interval_start": "MON", "interval_end": "MON+1", "currency": "zzz"},
            "parameters[currency]",
        ),
        (
            "payouts.itemized.3",
            {"interval_start": "MON", "interval_end": "MON+1", "bogus": "1"},
            "parameters[bogus]",
        ),
    ],
)
def test_bad_parameters_are_refused_by_name(
    server: ShiftedClockServer,
    client: stripe.StripeClient,
    report_type: str,
    parameters: dict[str, Any],
    param: str,
) -> None:
    activity(client)  # data from Monday
    server.set_now(at("2026-11-18T12:00:00"))  # ... to Wednesday 00:00
    days = {"MON": 0, "MON-1": -1, "MON+1": 1, "MON+3": 3}
    monday = unix(f"{MONDAY}T00:00:00")
    sent = {
        name: monday + days[value] * 86_400 if isinstance(value, str) and value in days else value
        for name, value in parameters.items()
    }
    params: Any = {"report_type": report_type, "parameters": sent}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.reporting.report_runs.create(params=params, options=idempotency())
    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert client.v1.reporting.report_runs.list().data == []
