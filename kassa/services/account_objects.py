"""The caller's own account as `GET /v1/account` shows it, in Stripe's shape.

Kassa accounts are test tenants, always able to charge and pay out: nothing is required of
them, so `requirements` lists nothing and `capabilities` are active. What the account has
set elsewhere shows here as Stripe shows it: its bank accounts (`external_accounts`, the
first page) and its payout settings (`settings.payouts`, from the balance settings: the
schedule with its `delay_days` and anchors, the payout statement descriptor, whether negative
balances are debited).

The object is built from the balance settings it is given, so that a change of them can
show the account before and after it (`account.updated`, sent by `balance_settings`) and
`GET /v1/account` (`own_account`) can read them, without a cycle of imports.
"""

from __future__ import annotations

import copy
from typing import Any

from kassa.errors import InvalidRequest
from kassa.services import external_accounts
from kassa.services.context import Context
from kassa.services.payout_schedules import WEEKDAYS
from kassa.services.resource import ApiObject


def _requirements() -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def account_payouts(settings: ApiObject) -> ApiObject:
    """`settings.payouts` of the account as Stripe derives it from the balance settings
    (`settings` as `GET /v1/balance_settings` shows them): the schedule carries the delay in
    force, and an interval's days (with the first of them as its anchor) only for the
    interval they belong to, as Stripe's `transfer_schedule` does."""
    payments = settings["payments"]
    schedule = payments["payouts"]["schedule"]
    shown: dict[str, Any] = {
        "delay_days": payments["settlement_timing"]["delay_days"],
        "interval": schedule["interval"],
    }
    if schedule["interval"] == "weekly":
        days = schedule["weekly_payout_days"]
        shown["weekly_anchor"] = min(days, key=WEEKDAYS.index)
        shown["weekly_payout_days"] = days
    if schedule["interval"] == "monthly":
        shown["monthly_anchor"] = min(schedule["monthly_payout_days"])
        shown["monthly_payout_days"] = schedule["monthly_payout_days"]
    return {
        "debit_negative_balances": payments["debit_negative_balances"],
        "schedule": shown,
        "statement_descriptor": payments["payouts"]["statement_descriptor"],
    }


async def account_object(ctx: Context, settings: ApiObject) -> ApiObject:
    """The caller's account as `GET /v1/account` shows it, with `settings` its balance
    settings as `GET /v1/balance_settings` shows them."""
    stored = await ctx.tx.get_account(ctx.account_id)
    if stored is None:  # reset or removed while its key was cached
        raise InvalidRequest("This API key's account no longer exists.")
    banks = await external_accounts.list_external_accounts(
        ctx, external_accounts.ListExternalAccounts(account=ctx.account_id, params={})
    )
    shown = copy.deepcopy(stored)
    profile = shown.get("business_profile") or {}
    shown["business_profile"] = {
        "mcc": None,
        "name": profile.get("name"),
        "product_description": None,
        "support_address": None,
        "support_email": None,
        "support_phone": None,
        "support_url": None,
        "url": None,
    }
    shown.setdefault("settings", {})["payouts"] = account_payouts(settings)
    return {
        **shown,
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "controller": {"type": "account"},
        "email": None,
        "external_accounts": banks,
        "future_requirements": _requirements(),
        "metadata": shown.get("metadata", {}),
        "requirements": _requirements(),
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
    }
