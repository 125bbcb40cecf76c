"""Stripe's balance settings (`GET`/`POST /v1/balance_settings`): the account's payout
schedule (`payments.payouts.schedule[interval|weekly_payout_days|monthly_payout_days]`) and
payout statement descriptor, which the automatic payouts follow (`payouts.pay_out_on_schedule`,
on the days `payout_schedules` computes).

Kassa's default schedule is `manual` (Stripe's is `daily`): nothing leaves an account's
balance unless asked, so balances stay where tests and integrations put them.
`settlement_timing.delay_days_override` (1 to 31 business days; an empty string removes it)
sets how many business days after a charge its funds become available, for charges made
after the change (`settlement_delay_days`, asked by every capture); `delay_days` shows the
delay in force: the override, else the installation's (`KASSA_SETTLEMENT_DELAY_DAYS`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
    Integer,
    ListOf,
    Param,
    String,
    Struct,
    parse_params,
)
from kassa.services import account_objects, events
from kassa.services.context import Context
from kassa.services.payout_schedules import INTERVALS, WEEKDAYS, next_payout_time
from kassa.services.resource import ApiObject, Form, Operation, Resource, RouteIds
from kassa.store.tables import BALANCE_SETTINGS, PRIVATE

DEFAULT_INTERVAL: Final = "manual"
STATEMENT_DESCRIPTOR_CHARS_MAX: Final = 22
DELAY_DAYS_MAX: Final = 31
"""Stripe's bound on `delay_days_override`."""
_DELAY_MEMO: Final = "balance_settings.settlement_delay_days"

SCHEDULE_PARAMS: dict[str, Param] = {
    "interval": Enum(values=INTERVALS),
    "weekly_payout_days": ListOf(item=Enum(values=WEEKDAYS), max_items=len(WEEKDAYS)),
    "monthly_payout_days": ListOf(item=Integer(minimum=1, maximum=31), max_items=31),
}
UPDATE_PARAMS: dict[str, Param] = {
    "payments": Struct(
        {
            "debit_negative_balances": Boolean(),
            "payouts": Struct(
                {
                    "schedule": Struct(SCHEDULE_PARAMS),
                    "statement_descriptor": String(max_chars=STATEMENT_DESCRIPTOR_CHARS_MAX),
                }
            ),
            "settlement_timing": Struct(
                {"delay_days_override": Integer(minimum=1, maximum=DELAY_DAYS_MAX, nullable=True)}
            ),
        }
    )
}


@dataclass(frozen=True)
class UpdateBalanceSettings:
    payments: dict[str, Any]


def _default(ctx: Context) -> ApiObject:
    return {
        "id": ctx.account_id,
        "object": "balance_settings",
        "created": ctx.now(),
        "payments": {
            "debit_negative_balances": True,
            "payouts": {
                "automatic_transfer_rules_by_currency": {},
                "minimum_balance_by_currency": None,
                "schedule": _shown_schedule({"interval": DEFAULT_INTERVAL}),
                "statement_descriptor": None,
                "status": "enabled",
            },
            "settlement_timing": {
                "delay_days": ctx.payments.settlement_delay_days,
                "delay_days_override": None,
                "start_of_day": None,
            },
        },
        PRIVATE: {"next_payout_at": None},
    }


def _shown_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
    """The days show only for the interval they belong to, as Stripe's do."""
    interval = schedule.get("interval")
    return {
        "interval": interval,
        "monthly_payout_days": schedule.get("monthly_payout_days")
        if interval == "monthly"
        else None,
        "weekly_payout_days": schedule.get("weekly_payout_days") if interval == "weekly" else None,
    }


def public(settings: ApiObject) -> ApiObject:
    return {k: v for k, v in settings.items() if k not in ("id", "created", PRIVATE)}


def _effective_delay_days(ctx: Context, settings: ApiObject) -> int:
    override = settings["payments"]["settlement_timing"].get("delay_days_override")
    return ctx.payments.settlement_delay_days if override is None else int(override)


def _shown(ctx: Context, settings: ApiObject) -> ApiObject:
    """The settings as the API shows them, `delay_days` the delay in force now (the
    installation's may have changed since they were stored)."""
    shown = copy.deepcopy(public(settings))
    shown["payments"]["settlement_timing"]["delay_days"] = _effective_delay_days(ctx, settings)
    return shown


async def settlement_delay_days(ctx: Context) -> int:
    """Business days from a charge of the account to its funds being available: its
    `delay_days_override`, else the installation's delay. Read once per unit of work."""
    remembered = ctx.memo.get(_DELAY_MEMO)
    if remembered is not None:
        return int(remembered)
    # Not locked: a capture only reads the settings, and must not take a row lock out of
    # the order the payment paths take theirs in.
    found = await ctx.tx.get_object(BALANCE_SETTINGS, ctx.account_id, ctx.account_id, lock=False)
    settings = _default(ctx) if found is None or found[1] else found[0]
    delay = _effective_delay_days(ctx, settings)
    ctx.memo[_DELAY_MEMO] = delay
    return delay


async def _load(ctx: Context) -> tuple[ApiObject, bool]:
    """The account's settings (its defaults until first changed), and whether stored."""
    found = await ctx.tx.get_object(BALANCE_SETTINGS, ctx.account_id, ctx.account_id)
    if found is None or found[1]:
        return _default(ctx), False
    return found[0], True


def parse_retrieve(ids: RouteIds, form: Form) -> None:
    parse_params({}, form)


def parse_update(ids: RouteIds, form: Form) -> UpdateBalanceSettings:
    params = parse_params(UPDATE_PARAMS, form)
    payments = params.get("payments")
    return UpdateBalanceSettings(payments=payments if isinstance(payments, dict) else {})


async def retrieve_balance_settings(ctx: Context, _request: None = None) -> ApiObject:
    return _shown(ctx, (await _load(ctx))[0])


async def _announce_account_change(ctx: Context, before: ApiObject, after: ApiObject) -> None:
    """Stripe sends `account.updated` when a change shows on the account object: here its
    `settings.payouts` (schedule, delay, descriptor, negative balances)."""
    payouts_before = account_objects.account_payouts(before)
    if payouts_before == account_objects.account_payouts(after):
        return
    account = await account_objects.account_object(ctx, after)
    previous = copy.deepcopy(account)
    previous["settings"]["payouts"] = payouts_before
    await events.announce(ctx, "account.updated", account, previous=previous)


def _new_schedule(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The schedule after `change`, checked as Stripe checks it: weekly needs its days,
    monthly its days."""
    merged = {**current, **{k: v for k, v in change.items() if v is not UNSET}}
    interval = merged.get("interval")
    prefix = "payments[payouts][schedule]"
    if interval == "weekly" and not merged.get("weekly_payout_days"):
        raise InvalidParameter(
            "weekly_payout_days is required when interval is weekly.",
            param=f"{prefix}[weekly_payout_days]",
        )
    if interval == "monthly" and not merged.get("monthly_payout_days"):
        raise InvalidParameter(
            "monthly_payout_days is required when interval is monthly.",
            param=f"{prefix}[monthly_payout_days]",
        )
    return _shown_schedule(merged)


def _apply(ctx: Context, settings: ApiObject, payments: dict[str, Any]) -> None:
    shown = settings["payments"]
    if "debit_negative_balances" in payments:
        shown["debit_negative_balances"] = payments["debit_negative_balances"]
    payouts = payments.get("payouts") or {}
    if payouts is not UNSET and "schedule" in payouts:
        schedule = payouts["schedule"] if payouts["schedule"] is not UNSET else {}
        shown["payouts"]["schedule"] = _new_schedule(shown["payouts"]["schedule"], schedule)
        settings[PRIVATE]["next_payout_at"] = next_payout_time(
            ctx.now(), shown["payouts"]["schedule"], ctx.payments.account_country
        )
    if payouts is not UNSET and "statement_descriptor" in payouts:
        value = payouts["statement_descriptor"]
        shown["payouts"]["statement_descriptor"] = None if value is UNSET else value
    timing = payments.get("settlement_timing") or {}
    if timing is not UNSET and "delay_days_override" in timing:
        value = timing["delay_days_override"]
        shown["settlement_timing"]["delay_days_override"] = None if value is UNSET else value


async def update_balance_settings(ctx: Context, request: UpdateBalanceSettings) -> ApiObject:
    settings, stored = await _load(ctx)
    before = _shown(ctx, copy.deepcopy(settings))
    _apply(ctx, settings, request.payments)
    if stored:
        await ctx.tx.update_object(BALANCE_SETTINGS, ctx.account_id, settings)
    else:
        await ctx.tx.insert_object(BALANCE_SETTINGS, ctx.account_id, settings)
    ctx.memo.pop(_DELAY_MEMO, None)  # later captures in this unit see the new delay
    shown = _shown(ctx, settings)
    if shown != before:
        await events.announce(ctx, "balance_settings.updated", shown, previous=before)
        await _announce_account_change(ctx, before, shown)
    return shown


RESOURCE = Resource(
    object_name="balance_settings",
    id_prefix="balance_settings",
    collection="balance_settings",
    table=None,
    retrieve=Operation(parse_retrieve, retrieve_balance_settings, writes=False),
    update=Operation(parse_update, update_balance_settings, writes=True),
    singleton=True,
    event_types=("balance_settings.updated",),
)
