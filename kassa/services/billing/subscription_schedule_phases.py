"""A subscription schedule's phases: their parameters (create and update), checked as Stripe
checks them and resolved into the phases the schedule stores (Stripe's phase object: each
with its `start_date` and `end_date`, its items, its settings), and the settings a phase
gives the subscription (the phase's own, else the schedule's `default_settings`).

Phases are contiguous: each starts where the one before ends ("the `end_date` of one phase
will always equal the `start_date` of the next phase"). A phase ends at its `end_date`, or
after its `duration` (calendar months and years counted as subscription periods are,
`periods.boundary`), or, with neither, after one billing interval of its first item's price
(Stripe's default of one iteration). Every refusal names the parameter in bracket form
(`phases[1][items][0][price]`) and is raised before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import ExclusiveParameters, InvalidParameter, MissingParameter
from kassa.params import (
    CONNECT_ONLY,
    UNSET,
    Enum,
    Integer,
    ListOf,
    Metadata,
    NotSupported,
    Param,
    String,
    Struct,
    Timestamp,
)
from kassa.services.billing import coupons, periods, subscription_settings
from kassa.services.billing.plan_params import item_with_plan, price_param
from kassa.services.billing.subscription_changes import (
    check_item_bills,
    check_prices_alike,
    check_prices_distinct,
    entry_price,
)
from kassa.services.billing.subscription_documents import ITEMS_MAX
from kassa.services.billing.subscription_params import PRORATION_BEHAVIORS, QUANTITY_MAX
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject

PHASES_MAX: Final = 10
"""Phases one schedule may hold (Kassa's bound: each is read on every transition)."""
DISCOUNTS_MAX: Final = 20
DURATION_COUNT_MAX: Final = 1_000
"""`duration[interval_count]` at most (a thousand days to a thousand years)."""
ID_CHARS_MAX: Final = 255
NO_TAX: Final = "Kassa calculates no tax."
COLLECTION_METHODS: Final = ("charge_automatically", "send_invoice")

INVOICE_SETTINGS = Struct(
    {
        "days_until_due": Integer(minimum=0, maximum=subscription_settings.DAYS_UNTIL_DUE_MAX),
        "account_tax_ids": NotSupported(reason="invoice tax ids are not implemented."),
        "custom_fields": NotSupported(reason="invoice custom fields are not implemented."),
        "description": NotSupported(reason="invoice descriptions are not implemented."),
        "footer": NotSupported(reason="invoice footers are not implemented."),
        "issuer": NotSupported(reason=CONNECT_ONLY),
    }
)
_SETTINGS_PARAMS: dict[str, Param] = {
    "application_fee_percent": NotSupported(reason=CONNECT_ONLY),
    "automatic_tax": NotSupported(reason=NO_TAX),
    "billing_cycle_anchor": NotSupported(
        reason="a phase keeps the subscription's billing cycle anchor (`automatic`)."
    ),
    "billing_thresholds": NotSupported(reason="billing thresholds are deprecated by Stripe."),
    "collection_method": Enum(values=COLLECTION_METHODS),
    "default_payment_method": String(max_chars=ID_CHARS_MAX),
    "description": NotSupported(reason="schedule and phase descriptions are not implemented."),
    "invoice_settings": INVOICE_SETTINGS,
    "on_behalf_of": NotSupported(reason=CONNECT_ONLY),
    "transfer_data": NotSupported(reason=CONNECT_ONLY),
}
DEFAULT_SETTINGS = Struct(_SETTINGS_PARAMS)
_ITEM = item_with_plan(
    Struct(
        {
            "price": String(max_chars=ID_CHARS_MAX),
            "quantity": Integer(minimum=0, maximum=QUANTITY_MAX),
            "metadata": Metadata(),
            "price_data": NotSupported(
                reason="a phase's items take prices by id; create the price first."
            ),
            "discounts": NotSupported(reason="discounts on a phase's items are not implemented."),
            "tax_rates": NotSupported(reason="tax rates on a phase's items are not implemented."),
            "billing_thresholds": NotSupported(reason="deprecated by Stripe."),
        },
        required=("price",),
    )
)
_DISCOUNT = Struct(
    {
        "coupon": String(max_chars=ID_CHARS_MAX),
        "promotion_code": NotSupported(reason="a phase takes coupons by id only."),
        "discount": NotSupported(reason="a phase takes coupons by id only."),
    },
    required=("coupon",),
)
_DURATION = Struct(
    {
        "interval": Enum(values=("day", "week", "month", "year")),
        "interval_count": Integer(minimum=1, maximum=DURATION_COUNT_MAX),
    },
    required=("interval",),
)
_PHASE_PARAMS: dict[str, Param] = {
    **_SETTINGS_PARAMS,
    "add_invoice_items": NotSupported(
        reason="one-off charges on a phase are not implemented; add them to the "
        "subscription (`add_invoice_items` on its update)."
    ),
    "currency": String(max_chars=3),
    "default_tax_rates": NotSupported(reason="tax rates on a phase are not implemented."),
    "discounts": ListOf(item=_DISCOUNT, max_items=DISCOUNTS_MAX),
    "duration": _DURATION,
    "end_date": Timestamp(),
    "items": ListOf(item=_ITEM, max_items=ITEMS_MAX),
    "metadata": Metadata(),
    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
    "trial": NotSupported(
        reason="a phase counted whole as a trial is not implemented; give the first phase "
        "of a schedule that starts a subscription a trial_end."
    ),
    "trial_end": Timestamp(),
}
MOMENT_CHARS_MAX: Final = 20
"""A unix time or `now`."""
CREATE_PHASES = ListOf(item=Struct(_PHASE_PARAMS, required=("items",)), max_items=PHASES_MAX)
UPDATE_PHASES = ListOf(
    item=Struct(
        {
            **_PHASE_PARAMS,
            "start_date": String(max_chars=MOMENT_CHARS_MAX),
            "end_date": String(max_chars=MOMENT_CHARS_MAX),
            "trial_end": String(max_chars=MOMENT_CHARS_MAX),
        },
        required=("items",),
    ),
    max_items=PHASES_MAX,
)


def moment(value: str, path: str, now: int) -> int:
    """A unix time or `now` sent as a string (`start_date`, an update's phase times)."""
    return now if value == "now" else Timestamp().parse(value, path)


async def resolve_phases(
    ctx: Context,
    sent: list[dict[str, Any]],
    start: int,
    *,
    anchor_day: int,
    currency: str | None = None,
) -> list[ApiObject]:
    """The phases as stored, the first starting at `start`, each checked: its items' prices
    (active, recurring, one currency across the schedule: its subscription has one), its
    end after its start, `end_date` or `duration` but not both, its coupons. Calendar
    durations end on `anchor_day` of the month (clamped to the month's length), as the
    subscription's periods do: after a Jan 31 start a month ends Feb 28 and the next Mar 31,
    not Mar 28 in the middle of a period. Nothing is stored here."""
    if not sent:
        raise MissingParameter("phases")
    resolved: list[ApiObject] = []
    at = start
    for index, phase in enumerate(sent):
        path = f"phases[{index}]"
        items, prices = await _items(ctx, phase.get("items") or [], path)
        currency = currency or str(prices[0]["currency"])
        check_prices_alike(
            prices,
            currency,
            [price_param(entry, f"{path}[items][{i}]") for i, entry in enumerate(phase["items"])],
            classic=False,
        )
        _check_currency(phase.get("currency"), currency, path)
        end = _end(phase, at, prices[0], path, anchor_day)
        await _check_discounts(ctx, phase.get("discounts") or [], path)
        resolved.append(stored_phase(phase, items, currency, (at, end)))
        at = end
    return resolved


async def _items(
    ctx: Context, sent: list[dict[str, Any]], path: str
) -> tuple[list[ApiObject], list[ApiObject]]:
    if not sent:
        raise InvalidParameter(f"Missing required param: {path}[items].", param=f"{path}[items]")
    items, prices = [], []
    for index, entry in enumerate(sent):
        item_path = f"{path}[items][{index}]"
        price = await entry_price(ctx, entry, item_path)
        if price is None:
            raise MissingParameter(f"{item_path}[price]")
        quantity = int(entry.get("quantity", 1))
        check_item_bills(price, quantity, entry, item_path)
        metadata = {k: "" if v is UNSET else v for k, v in (entry.get("metadata") or {}).items()}
        items.append(phase_item(str(price["id"]), quantity, metadata))
        prices.append(price)
    try:
        check_prices_distinct(prices)
    except InvalidParameter as refused:
        raise InvalidParameter(refused.message, param=f"{path}[items]") from refused
    return items, prices


def phase_item(price_id: str, quantity: int, metadata: Mapping[str, str]) -> ApiObject:
    return {
        "billing_thresholds": None,
        "discounts": [],
        "metadata": dict(metadata),
        "plan": price_id,
        "price": price_id,
        "quantity": quantity,
        "tax_rates": [],
    }


def _check_currency(sent: str | None, currency: str, path: str) -> None:
    if sent is not None and sent.lower() != currency:
        raise InvalidParameter(
            f"The phase's currency {sent} differs from its prices' ({currency}).",
            param=f"{path}[currency]",
        )


def _end(
    phase: Mapping[str, Any], start: int, price: Mapping[str, Any], path: str, anchor_day: int
) -> int:
    end_date, duration = phase.get("end_date"), phase.get("duration")
    if end_date is not None and duration is not None:
        raise ExclusiveParameters(("end_date", "duration"), param=f"{path}[duration]")
    if end_date is not None:
        end = int(end_date)
        param = f"{path}[end_date]"
    else:
        recurring = duration or price["recurring"]
        interval, count = str(recurring["interval"]), int(recurring.get("interval_count", 1))
        end = periods.boundary(start, interval, count, 1, day=anchor_day)
        param = f"{path}[duration]" if duration is not None else f"{path}[end_date]"
    if end <= start:
        raise InvalidParameter(
            f"The phase ends at {end}, not after its start {start}: phases must be in order "
            "and each must end after it starts.",
            param=param,
        )
    return end


async def _check_discounts(ctx: Context, sent: list[dict[str, Any]], path: str) -> None:
    for index, discount in enumerate(sent):
        param = f"{path}[discounts][{index}][coupon]"
        coupon = await load_live_object(ctx, coupons.RESOURCE, str(discount["coupon"]), param=param)
        if not coupon.get("valid", True):
            raise InvalidParameter(f"Coupon {coupon['id']} is no longer valid.", param=param)


def stored_phase(
    phase: Mapping[str, Any], items: list[ApiObject], currency: str, span: tuple[int, int]
) -> ApiObject:
    settings = phase.get("invoice_settings")
    metadata = phase.get("metadata") or {}
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": phase.get("collection_method"),
        "currency": currency,
        "default_payment_method": phase.get("default_payment_method"),
        "default_tax_rates": [],
        "description": None,
        "discounts": [
            {"coupon": d["coupon"], "discount": None, "promotion_code": None}
            for d in phase.get("discounts") or []
        ],
        "end_date": span[1],
        "invoice_settings": None
        if settings is None
        else {
            "account_tax_ids": None,
            "days_until_due": settings.get("days_until_due"),
            "issuer": None,
        },
        "items": items,
        "metadata": {k: "" if v is UNSET else v for k, v in metadata.items()},
        "on_behalf_of": None,
        "proration_behavior": phase.get("proration_behavior", "create_prorations"),
        "start_date": span[0],
        "transfer_data": None,
        "trial_end": phase.get("trial_end"),
    }


def check_trials(phases: list[ApiObject], *, first_starts_subscription: bool) -> None:
    """A trial only in the first phase of a schedule that starts its subscription (what
    creating the subscription with `trial_end` does), ending inside it: a trial added to a
    running subscription at a later phase's start is not implemented."""
    for index, phase in enumerate(phases):
        trial_end = phase["trial_end"]
        if trial_end is None:
            continue
        param = f"phases[{index}][trial_end]"
        if index > 0 or not first_starts_subscription:
            raise InvalidParameter(
                "Kassa takes a trial_end on the first phase of a schedule that has not "
                "started its subscription only (a trial added at a later phase is not "
                "implemented).",
                param=param,
            )
        if not phase["start_date"] < int(trial_end) < phase["end_date"]:
            raise InvalidParameter(
                f"The trial must end inside its phase ({phase['start_date']} to "
                f"{phase['end_date']}).",
                param=param,
            )


# -- what a phase sets on the subscription ----------------------------------------------------


def collection_method(schedule: Mapping[str, Any], phase: Mapping[str, Any]) -> str:
    found = phase["collection_method"] or schedule["default_settings"]["collection_method"]
    return str(found or "charge_automatically")


def days_until_due(schedule: Mapping[str, Any], phase: Mapping[str, Any]) -> int | None:
    for settings in (phase["invoice_settings"], schedule["default_settings"]["invoice_settings"]):
        if settings is not None and settings.get("days_until_due") is not None:
            return int(settings["days_until_due"])
    return None


def default_payment_method(schedule: Mapping[str, Any], phase: Mapping[str, Any]) -> str | None:
    found = (
        phase["default_payment_method"] or schedule["default_settings"]["default_payment_method"]
    )
    return None if found is None else str(found)


def metadata_update(phase: Mapping[str, Any]) -> dict[str, Any] | None:
    """The phase's metadata as an update of the subscription's (Stripe: "adding new keys
    and replacing existing keys ... unset by posting an empty value")."""
    metadata = phase["metadata"]
    return {k: UNSET if v == "" else v for k, v in metadata.items()} or None


def item_metadata_update(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: UNSET if v == "" else v for k, v in item["metadata"].items()}
