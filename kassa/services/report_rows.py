"""A report run's CSV, computed from the ledger: the balance summary from per-currency totals
(one statement), the itemized reports a page of balance transactions at a time, each row
filled in from the transaction and the objects it names (its charge, refund, dispute or
payout, and their customer). Memory holds one page and the CSV, which stops at
FILE_BYTES_MAX.

The CSV is written as Stripe writes its reports: a header of column names, every value
quoted, empty for what does not apply; amounts in major units as decimals (`10.00`,
`-0.59`, `1000` for JPY); times `YYYY-MM-DD HH:MM:SS` (in UTC for `_utc` columns, else in
the run's `timezone`).

What counts when: a transaction belongs to the interval its `created` falls in, the moment it
changed the balance (Kassa's balance, as Stripe's balance reports, includes pending funds).
Payouts (`payout`, `payout_reversal`) are apart from the activity; an automatic payout leaves
the balance when Kassa makes it.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from kassa import money
from kassa.invariants import InvariantViolated
from kassa.services import report_types
from kassa.services.files import FILE_BYTES_MAX
from kassa.services.report_types import METADATA_COLUMN, PAYOUT_CATEGORIES, ReportType
from kassa.store import Store, Transaction
from kassa.store.ledger_queries import LedgerTransactionRow
from kassa.store.payout_queries import swept_window
from kassa.store.reporting_queries import (
    ArrivalCursor,
    CurrencyTotals,
    PaidInvoice,
    ReportCursor,
    ReportWindow,
)
from kassa.store.tables import (
    CHARGES,
    CUSTOMERS,
    DISPUTES,
    PAYMENT_INTENTS,
    PAYOUTS,
    REFUNDS,
    ObjectTable,
)

REPORT_PAGE_ROWS: Final = 500
"""Balance transactions read per statement."""
REPORT_PAGES_MAX: Final = 10_000
"""Pages one report reads at most: five million rows, past FILE_BYTES_MAX long before."""
PAYOUTS_PAGE: Final = 100
"""Automatic payouts read per statement by the payout reconciliation."""
SOURCE_TABLES: Final[Mapping[str, ObjectTable]] = {
    "ch": CHARGES,
    "py": CHARGES,
    "re": REFUNDS,
    "pyr": REFUNDS,
    "dp": DISPUTES,
    "du": DISPUTES,
    "po": PAYOUTS,
}
"""Which table holds a balance transaction's source, by its id's prefix."""
UTC: Final = ZoneInfo("UTC")
NO_CATEGORY: Final = ""
"""A reporting category no balance transaction has."""


class ReportTooLarge(Exception):
    """The report would be larger than FILE_BYTES_MAX."""


@dataclass(frozen=True)
class RunSpec:
    """What one run reports: parsed and checked when it was created."""

    account_id: str
    report_type: ReportType
    columns: tuple[str, ...]
    start: int
    end: int
    zone: ZoneInfo
    currency: str | None = None
    reporting_category: str | None = None


# -- formatting ------------------------------------------------------------------------------


def moment(unix_seconds: int | None, zone: ZoneInfo) -> str | None:
    if unix_seconds is None:
        return None
    when = datetime.datetime.fromtimestamp(unix_seconds, zone)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def day(unix_seconds: int, zone: ZoneInfo) -> str:
    return datetime.datetime.fromtimestamp(unix_seconds, zone).strftime("%Y-%m-%d")


class CsvBuilder:
    """The report's text, refusing to grow past FILE_BYTES_MAX."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.parts: list[str] = []
        self.size = 0
        self.rows = 0
        self._append([*columns])

    def add(self, values: Mapping[str, Any]) -> None:
        self._append([values.get(column) for column in self.columns])
        self.rows += 1

    def _append(self, values: list[Any]) -> None:
        line = ",".join(_quoted(value) for value in values) + "\n"
        self.size += len(line.encode())
        if self.size > FILE_BYTES_MAX:
            raise ReportTooLarge(
                f"The report is larger than Kassa's file limit ({FILE_BYTES_MAX} bytes); "
                "run it over a shorter interval, or with fewer columns."
            )
        self.parts.append(line)

    def text(self) -> str:
        return "".join(self.parts)


def _quoted(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return '"' + str(value).replace('"', '""') + '"'


# -- the balance summary ---------------------------------------------------------------------


def summary_rows(spec: RunSpec, totals: CurrencyTotals) -> list[dict[str, str]]:
    """One currency's rows: starting + activity + payouts = ending."""
    c = totals.currency
    ending = totals.starting + totals.activity_net + totals.payouts
    ending_day = day(spec.end - 1, spec.zone)
    lines = (
        ("starting_balance", f"Starting balance ({day(spec.start, spec.zone)})", totals.starting),
        ("activity_gross", "Activity before fees", totals.activity_gross),
        ("activity_fee", "Less fees", -totals.activity_fee),
        ("activity", "Activity", totals.activity_net),
        ("payouts", "Total payouts", totals.payouts),
        ("ending_balance", f"Ending balance ({ending_day})", ending),
    )
    return [
        {
            "category": category,
            "description": text,
            "net_amount": money.major_units(amount, c),
            "currency": c,
        }
        for category, text, amount in lines
    ]


async def balance_summary(store: Store, spec: RunSpec, upto_seq: int) -> str:
    csv = CsvBuilder(spec.columns)
    async with store.read() as tx:
        totals = await tx.balance_summary_totals(_window(spec, upto_seq), PAYOUT_CATEGORIES)
    for figures in totals:
        for row in summary_rows(spec, figures):
            csv.add(row)
    return csv.text()


def _window(spec: RunSpec, upto_seq: int) -> ReportWindow:
    chosen = () if spec.reporting_category is None else (spec.reporting_category,)
    if spec.report_type.id == report_types.PAYOUTS_ITEMIZED:
        # Payout categories only: a `reporting_category` that is none of them matches
        # nothing (no transaction has the category NO_CATEGORY).
        categories = tuple(c for c in PAYOUT_CATEGORIES if not chosen or c in chosen)
        return ReportWindow(
            spec.account_id,
            spec.start,
            spec.end,
            upto_seq,
            spec.currency,
            categories=categories or (NO_CATEGORY,),
        )
    excluded = PAYOUT_CATEGORIES if spec.report_type.id != report_types.BALANCE_SUMMARY else ()
    return ReportWindow(
        spec.account_id,
        spec.start,
        spec.end,
        upto_seq,
        spec.currency,
        categories=chosen,
        excluded=excluded,
    )


# -- itemized reports ------------------------------------------------------------------------


async def itemized(store: Store, spec: RunSpec, upto_seq: int) -> str:
    csv = CsvBuilder(spec.columns)
    window = _window(spec, upto_seq)
    cursor: ReportCursor | None = None
    for _ in range(REPORT_PAGES_MAX):
        async with store.read() as tx:
            page = await tx.report_transactions(window, cursor, REPORT_PAGE_ROWS)
            for values in await page_values(tx, spec, [row for _seq, row in page]):
                csv.add(values)
        if len(page) < REPORT_PAGE_ROWS:
            return csv.text()
        cursor = ReportCursor(page[-1][1].created, page[-1][0])
    raise ReportTooLarge(f"The report reads at most {REPORT_PAGES_MAX} pages of transactions.")


async def payout_reconciliation(store: Store, spec: RunSpec, upto_seq: int) -> str:
    """The transactions each automatic payout arriving in the interval swept, payout by
    payout (by arrival date), each transaction once."""
    csv = CsvBuilder(spec.columns)
    scope = _window(spec, upto_seq)
    async for payout in _automatic_payouts(store, spec):
        window = swept_window(payout, REPORT_PAGE_ROWS)
        if window is None:
            raise InvariantViolated(f"automatic payout {payout['id']} does not know what it swept")
        after = 0
        for _ in range(REPORT_PAGES_MAX):
            async with store.read() as tx:
                page = await tx.swept_transactions_after(window, after, REPORT_PAGE_ROWS, scope)
                swept = _automatic_payout_values(payout, spec.zone)
                for values in await page_values(tx, spec, [row for _seq, row in page]):
                    csv.add({**values, **swept})
            if len(page) < REPORT_PAGE_ROWS:
                break
            after = page[-1][0]
    return csv.text()


async def _automatic_payouts(store: Store, spec: RunSpec) -> AsyncIterator[dict[str, Any]]:
    """The account's automatic payouts whose arrival date is in the interval (of the run's
    currency), oldest arrival first, read from the store in that order a page at a time."""
    after: ArrivalCursor | None = None
    for _ in range(REPORT_PAGES_MAX):
        async with store.read() as tx:
            page = await tx.payouts_by_arrival(
                spec.account_id, spec.start, spec.end, after, PAYOUTS_PAGE
            )
        for _cursor, payout in page:
            if _reported_payout(payout, spec):
                yield payout
        if len(page) < PAYOUTS_PAGE:
            return
        after = page[-1][0]
    raise ReportTooLarge(f"The report reads at most {REPORT_PAGES_MAX} pages of payouts.")


def _reported_payout(payout: Mapping[str, Any], spec: RunSpec) -> bool:
    if not payout.get("automatic") or payout.get("status") in ("failed", "canceled"):
        return False
    return spec.currency is None or payout["currency"] == spec.currency


def _automatic_payout_values(payout: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    effective = int(payout["arrival_date"])
    trace = payout.get("trace_id") or {}
    return {
        "automatic_payout_id": payout["id"],
        "automatic_payout_effective_at_utc": moment(effective, UTC),
        "automatic_payout_effective_at": moment(effective, zone),
        "trace_id": trace.get("value"),
        "trace_id_status": trace.get("status"),
    }


# -- one row ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A balance transaction with the objects its report row is filled from."""

    transaction: LedgerTransactionRow
    source: dict[str, Any] | None
    charge: dict[str, Any] | None


async def page_values(
    tx: Transaction, spec: RunSpec, page: list[LedgerTransactionRow]
) -> list[dict[str, Any]]:
    """Every column each transaction of a page can fill (the CSV keeps those asked for).
    The invoices the page's charges paid are read in one statement for the whole page."""
    rows = []
    for row in page:
        source = await _source(tx, spec.account_id, row.source)
        rows.append(_Row(row, source, await _charge_of(tx, spec, source)))
    intents = {
        row.charge["payment_intent"]
        for row in rows
        if row.charge is not None and isinstance(row.charge.get("payment_intent"), str)
    }
    invoices = await tx.invoices_paid_by(spec.account_id, tuple(sorted(intents)))
    return [await _transaction_values(tx, spec, row, invoices) for row in rows]


async def _transaction_values(
    tx: Transaction, spec: RunSpec, row: _Row, invoices: Mapping[str, PaidInvoice]
) -> dict[str, Any]:
    t = row.transaction
    c = t.currency
    values: dict[str, Any] = {
        "balance_transaction_id": t.id,
        "created_utc": moment(t.created, UTC),
        "created": moment(t.created, spec.zone),
        "available_on_utc": moment(t.available_on, UTC),
        "available_on": moment(t.available_on, spec.zone),
        "currency": c,
        "gross": money.major_units(t.amount, c),
        "fee": money.major_units(t.fee, c),
        "net": money.major_units(t.net, c),
        "reporting_category": t.reporting_category,
        "source_id": t.source,
        "description": t.description,
    }
    if row.source is not None:
        values.update(await _source_values(tx, spec, row, row.source, invoices))
    return values


async def _source(tx: Transaction, account_id: str, source_id: str | None) -> dict[str, Any] | None:
    if not source_id:
        return None
    table = SOURCE_TABLES.get(source_id.rpartition("_")[0])
    if table is None:
        return None
    found = await tx.get_object(table, account_id, source_id, lock=False)
    return None if found is None else found[0]


async def _charge_of(
    tx: Transaction, spec: RunSpec, source: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The charge a row concerns: its source, or the charge its refund or dispute is of."""
    if source is None or source.get("object") == "payout":
        return None
    if source.get("object") == "charge":
        return source
    if not isinstance(source.get("charge"), str):
        return None
    found = await tx.get_object(CHARGES, spec.account_id, source["charge"], lock=False)
    return None if found is None else found[0]


async def _source_values(
    tx: Transaction,
    spec: RunSpec,
    row: _Row,
    source: dict[str, Any],
    invoices: Mapping[str, PaidInvoice],
) -> dict[str, Any]:
    charge = row.charge
    kind = source.get("object")
    if kind == "payout":
        return await _payout_values(tx, spec, row.transaction, source)
    values = _facing_values(row.transaction, source)
    if charge is not None:
        values.update(_charge_values(charge, spec.zone))
        values.update(_invoice_values(invoices.get(str(charge.get("payment_intent")))))
        values.update(await _customer_values(tx, spec.account_id, charge.get("customer")))
    if kind == "dispute":
        values["dispute_reason"] = source.get("reason")
    if spec.report_type.metadata_columns:
        payment = await _payment_metadata_holder(tx, spec, charge)
        values.update(_metadata_values(spec.columns, payment, source if kind == "refund" else None))
    return values


def _invoice_values(invoice: PaidInvoice | None) -> dict[str, Any]:
    """The invoice a charge paid (its PaymentIntent is one of the invoice's payments: since
    the 2025 API a charge names no invoice) and the subscription the invoice is of."""
    if invoice is None:
        return {}
    return {
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "subscription_id": invoice.subscription,
    }


async def _payment_metadata_holder(
    tx: Transaction, spec: RunSpec, charge: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """Whose metadata `payment_metadata[key]` shows: the PaymentIntent's, else (when it has
    none) the charge's, as Stripe's reports do."""
    if charge is None or not any(METADATA_COLUMN.fullmatch(c) for c in spec.columns):
        return charge
    intent_id = charge.get("payment_intent")
    if isinstance(intent_id, str):
        found = await tx.get_object(PAYMENT_INTENTS, spec.account_id, intent_id, lock=False)
        if found is not None and found[0].get("metadata"):
            return found[0]
    return charge


def _facing_values(row: LedgerTransactionRow, source: Mapping[str, Any]) -> dict[str, Any]:
    """What the customer saw: the charge, refund or dispute in its own currency, signed as
    the transaction moves the balance."""
    amount, currency = source.get("amount"), source.get("currency")
    if not isinstance(amount, int) or not isinstance(currency, str):
        return {}
    signed = -amount if row.amount < 0 else amount
    return {
        "customer_facing_amount": money.major_units(signed, currency),
        "customer_facing_currency": currency,
    }


def _charge_values(charge: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    billing = (charge.get("billing_details") or {}).get("address") or {}
    shipping = (charge.get("shipping") or {}).get("address") or {}
    values: dict[str, Any] = {
        "charge_id": charge["id"],
        "payment_intent_id": charge.get("payment_intent"),
        "charge_created_utc": moment(charge.get("created"), UTC),
        "charge_created": moment(charge.get("created"), zone),
        "payment_method_type": (charge.get("payment_method_details") or {}).get("type"),
        "card_brand": card.get("brand"),
        "card_funding": card.get("funding"),
        "card_country": card.get("country"),
        "statement_descriptor": charge.get("statement_descriptor"),
    }
    for part in ("line1", "line2", "city", "state", "postal_code", "country"):
        values[f"card_address_{part}"] = billing.get(part)
        values[f"shipping_address_{part}"] = shipping.get(part)
    return values


async def _customer_values(tx: Transaction, account_id: str, customer_id: Any) -> dict[str, Any]:
    if not isinstance(customer_id, str):
        return {}
    found = await tx.get_object(CUSTOMERS, account_id, customer_id, lock=False)
    values: dict[str, Any] = {"customer_id": customer_id}
    if found is None:
        return values
    customer = found[0]
    values.update(
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        customer_description=customer.get("description"),
    )
    for prefix, address in (
        ("customer_address", customer.get("address") or {}),
        ("customer_shipping_address", (customer.get("shipping") or {}).get("address") or {}),
    ):
        for part in ("line1", "line2", "city", "state", "postal_code", "country"):
            values[f"{prefix}_{part}"] = address.get(part)
    return values


def _metadata_values(
    columns: tuple[str, ...], charge: Mapping[str, Any] | None, refund: Mapping[str, Any] | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in columns:
        matched = METADATA_COLUMN.fullmatch(column)
        if matched is None:
            continue
        kind, key = matched.groups()
        holder = charge if kind == "payment" else refund if kind == "refund" else None
        values[column] = None if holder is None else (holder.get("metadata") or {}).get(key)
    return values


async def _payout_values(
    tx: Transaction, spec: RunSpec, row: LedgerTransactionRow, payout: Mapping[str, Any]
) -> dict[str, Any]:
    reversed_at = None
    if payout.get("failure_balance_transaction"):
        failure = await tx.get_ledger_transaction(
            spec.account_id, str(payout["failure_balance_transaction"])
        )
        reversed_at = None if failure is None else failure.created
    trace = payout.get("trace_id") or {}
    return {
        "payout_id": payout["id"],
        "effective_at_utc": moment(row.created, UTC),
        "effective_at": moment(row.created, spec.zone),
        "payout_expected_arrival_date": day(int(payout["arrival_date"]), UTC),
        "payout_status": payout.get("status"),
        "payout_reversed_at_utc": moment(reversed_at, UTC),
        "payout_reversed_at": moment(reversed_at, spec.zone),
        "payout_type": payout.get("type"),
        "payout_description": payout.get("description"),
        "payout_destination_id": payout.get("destination"),
        "trace_id": trace.get("value"),
        "trace_id_status": trace.get("status"),
    }


# -- the whole report ------------------------------------------------------------------------


async def report_csv(store: Store, spec: RunSpec) -> str:
    """The run's CSV; ReportTooLarge past FILE_BYTES_MAX."""
    async with store.read() as tx:
        upto_seq = await tx.newest_balance_transaction_seq(spec.account_id)
    kind = spec.report_type.id
    if kind == report_types.BALANCE_SUMMARY:
        return await balance_summary(store, spec, upto_seq)
    if kind == report_types.PAYOUT_RECONCILIATION:
        return await payout_reconciliation(store, spec, upto_seq)
    return await itemized(store, spec, upto_seq)
