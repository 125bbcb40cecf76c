"""The report types Kassa runs, as Stripe documents them (docs.stripe.com/reports/report-types):
their ids, names, the columns each may show (in Stripe's order) and those shown by default,
and the run parameters each takes. `GET /v1/reporting/report_types` lists them, with the
data each can cover: whole UTC days, from the day of the account's first balance transaction
to the start of today (a report never covers a day still under way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kassa.clock import DAY_SECONDS
from kassa.errors import ResourceMissing
from kassa.params import parse_params
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    no_params,
)

BALANCE_SUMMARY: Final = "balance.summary.1"
BALANCE_CHANGE_FROM_ACTIVITY: Final = "balance_change_from_activity.itemized.3"
PAYOUTS_ITEMIZED: Final = "payouts.itemized.3"
PAYOUT_RECONCILIATION: Final = "payout_reconciliation.itemized.5"

PAYOUT_CATEGORIES: Final = ("payout", "payout_reversal")
"""The reporting categories of money leaving for the bank and coming back: Stripe's balance
reports show them as payouts, apart from the activity."""

METADATA_COLUMN: Final = re.compile(
    r"(payment|refund|transfer)_metadata\[([^\[\]\x00-\x1f\x7f]{1,40})\]"
)
"""`payment_metadata[key]`: one metadata value per row, for the key named in brackets."""

_CUSTOMER_AND_CHARGE_COLUMNS: Final = (
    "customer_id",
    "customer_email",
    "customer_name",
    "customer_description",
    "customer_shipping_address_line1",
    "customer_shipping_address_line2",
    "customer_shipping_address_city",
    "customer_shipping_address_state",
    "customer_shipping_address_postal_code",
    "customer_shipping_address_country",
    "customer_address_line1",
    "customer_address_line2",
    "customer_address_city",
    "customer_address_state",
    "customer_address_postal_code",
    "customer_address_country",
    "shipping_address_line1",
    "shipping_address_line2",
    "shipping_address_city",
    "shipping_address_state",
    "shipping_address_postal_code",
    "shipping_address_country",
    "card_address_line1",
    "card_address_line2",
    "card_address_city",
    "card_address_state",
    "card_address_postal_code",
    "card_address_country",
    "charge_id",
    "payment_intent_id",
    "charge_created_utc",
    "charge_created",
    "invoice_id",
    "invoice_number",
    "subscription_id",
    "payment_method_type",
    "is_link",
    "card_brand",
    "card_funding",
    "card_country",
    "statement_descriptor",
    "dispute_reason",
    "connected_account_id",
    "connected_account_name",
    "connected_account_country",
    "connected_account_direct_charge_id",
)


@dataclass(frozen=True)
class ReportType:
    id: str
    name: str
    columns: tuple[str, ...]
    """Every column a run may ask for, in the order a report shows them."""
    default_columns: tuple[str, ...]
    options: frozenset[str]
    """The optional run parameters besides `interval_start` and `interval_end` (both
    required by every type here) and `columns`."""
    metadata_columns: bool = False
    """Whether `payment_metadata[key]`-style columns may be asked for."""

    def allows(self, column: str) -> bool:
        if column in self.columns:
            return True
        return self.metadata_columns and METADATA_COLUMN.fullmatch(column) is not None

    def ordered(self, asked: list[str]) -> tuple[str, ...]:
        """The columns asked for, in the order the report shows them (metadata last, in
        the order asked), each once."""
        chosen = set(asked)
        known = tuple(column for column in self.columns if column in chosen)
        extra = tuple(dict.fromkeys(c for c in asked if c not in self.columns))
        return known + extra


SUMMARY_COLUMNS: Final = ("category", "description", "net_amount", "currency")
_TRANSACTION_COLUMNS: Final = (
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
    "regulatory_tag",
)
"""A balance transaction's own columns, in the order both itemized reports give them."""
_AUTOMATIC_PAYOUT_COLUMNS: Final = (
    "automatic_payout_id",
    "automatic_payout_effective_at_utc",
    "automatic_payout_effective_at",
)
ACTIVITY_COLUMNS: Final = (
    *_TRANSACTION_COLUMNS,
    *_AUTOMATIC_PAYOUT_COLUMNS,
    *_CUSTOMER_AND_CHARGE_COLUMNS,
)
ACTIVITY_DEFAULT_COLUMNS: Final = 14
"""The activity report's default columns are its first 14 (through the customer-facing
amount): Stripe's default set, the rest on request."""
PAYOUT_COLUMNS: Final = (
    "payout_id",
    "effective_at_utc",
    "effective_at",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "balance_transaction_id",
    "description",
    "payout_expected_arrival_date",
    "payout_status",
    "payout_reversed_at_utc",
    "payout_reversed_at",
    "payout_type",
    "payout_description",
    "payout_destination_id",
    "regulatory_tag",
    "trace_id",
    "trace_id_status",
)
PAYOUT_DEFAULT_COLUMNS: Final = 17
"""The payouts report's default columns are its first 17 (through the destination)."""

TYPES: Final = (
    ReportType(
        id=BALANCE_SUMMARY,
        name="Balance summary",
        columns=SUMMARY_COLUMNS,
        default_columns=SUMMARY_COLUMNS,
        options=frozenset({"currency", "timezone"}),
    ),
    ReportType(
        id=BALANCE_CHANGE_FROM_ACTIVITY,
        name="Itemized balance change from activity",
        columns=ACTIVITY_COLUMNS,
        default_columns=ACTIVITY_COLUMNS[:ACTIVITY_DEFAULT_COLUMNS],
        options=frozenset({"currency", "reporting_category", "timezone"}),
        metadata_columns=True,
    ),
    ReportType(
        id=PAYOUTS_ITEMIZED,
        name="Itemized payouts",
        columns=PAYOUT_COLUMNS,
        default_columns=PAYOUT_COLUMNS[:PAYOUT_DEFAULT_COLUMNS],
        options=frozenset({"currency", "reporting_category", "timezone"}),
    ),
    ReportType(
        id=PAYOUT_RECONCILIATION,
        name="Itemized payout reconciliation",
        columns=(
            *_AUTOMATIC_PAYOUT_COLUMNS,
            *_TRANSACTION_COLUMNS,
            *_CUSTOMER_AND_CHARGE_COLUMNS,
            "destination_payment_id",
            "order_id",
            "trace_id",
            "trace_id_status",
        ),
        default_columns=(
            "automatic_payout_id",
            "automatic_payout_effective_at",
            "balance_transaction_id",
            "created",
            "available_on",
            "currency",
            "gross",
            "fee",
            "net",
            "reporting_category",
            "description",
        ),
        options=frozenset({"currency", "reporting_category", "timezone"}),
        metadata_columns=True,
    ),
)
BY_ID: Final = {report_type.id: report_type for report_type in TYPES}


@dataclass(frozen=True)
class DataAvailability:
    start: int
    end: int


async def availability(ctx: Context) -> DataAvailability:
    """Whole UTC days: from 00:00 of the day of the account's first balance transaction
    (today's when it has none) to 00:00 today."""
    today = ctx.now() // DAY_SECONDS * DAY_SECONDS
    first = await ctx.tx.first_balance_transaction_at(ctx.account_id)
    start = today if first is None else min(today, first // DAY_SECONDS * DAY_SECONDS)
    return DataAvailability(start=start, end=today)


def report_type_object(
    report_type: ReportType, data: DataAvailability, livemode: bool
) -> ApiObject:
    return {
        "id": report_type.id,
        "object": "reporting.report_type",
        "data_available_end": data.end,
        "data_available_start": data.start,
        "default_columns": list(report_type.default_columns),
        "livemode": livemode,
        "name": report_type.name,
        # Kassa's data is refreshed as it is written: the type was last updated when the
        # data it covers last grew, at the end of the last whole day.
        "updated": data.end,
        "version": int(report_type.id.rsplit(".", 1)[1]),
    }


def report_type_named(report_type_id: str, *, param: str = "id") -> ReportType:
    found = BY_ID.get(report_type_id) if could_be_object_id(report_type_id) else None
    if found is None:
        raise ResourceMissing("reporting.report_type", report_type_id, param=param)
    return found


async def retrieve_report_type(ctx: Context, report_type_id: str) -> ApiObject:
    report_type = report_type_named(report_type_id)
    return report_type_object(report_type, await availability(ctx), ctx.livemode)


def _parse_list(ids: RouteIds, form: Form) -> None:
    """Stripe lists every report type at once: the list takes no parameters."""
    parse_params({}, form)


async def list_report_types(ctx: Context, _request: None = None) -> ApiObject:
    data = await availability(ctx)
    return {
        "object": "list",
        "data": [report_type_object(t, data, ctx.livemode) for t in TYPES],
        "has_more": False,
        "url": RESOURCE.url,
    }


RESOURCE = Resource(
    object_name="reporting.report_type",
    id_prefix="reporting.report_type",
    collection="reporting/report_types",
    table=None,
    retrieve=Operation(no_params, retrieve_report_type, writes=False),
    lister=Operation(_parse_list, list_report_types, writes=False),
)
