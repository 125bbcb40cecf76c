"""`GET /v1/account`: the caller's own account, in Stripe's shape.

Kassa accounts are test tenants, always able to charge and pay out: nothing is required of
them, so `requirements` lists nothing and `capabilities` are active. What the account has
set elsewhere shows here as Stripe shows it: its bank accounts (`external_accounts`, the
first page) and its payout schedule (`settings.payouts.schedule`, from the balance
settings). Scripts use it to learn their account id (`kassa trigger payout.failed` does).
"""

from __future__ import annotations

import copy
from typing import Any

from kassa.errors import InvalidRequest
from kassa.params import parse_params
from kassa.services import balance_settings, external_accounts
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Form, Operation, Resource, RouteIds


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


def parse_retrieve(ids: RouteIds, form: Form) -> None:
    """The account takes no parameters and no id: a key belongs to one account."""
    parse_params({}, form)


async def retrieve_own_account(ctx: Context, _request: None = None) -> ApiObject:
    stored = await ctx.tx.get_account(ctx.account_id)
    if stored is None:  # reset or removed while its key was cached
        raise InvalidRequest("This API key's account no longer exists.")
    banks = await external_accounts.list_external_accounts(
        ctx, external_accounts.ListExternalAccounts(account=ctx.account_id, params={})
    )
    settings = await balance_settings.retrieve_balance_settings(ctx)
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
    shown.setdefault("settings", {})["payouts"] = {
        "debit_negative_balances": True,
        "schedule": settings["payments"]["payouts"]["schedule"],
        "statement_descriptor": None,
    }
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


RESOURCE = Resource(
    routes_only=True,
    object_name="account",
    id_prefix="acct",
    collection="account",
    table=None,
    # Listing the bank accounts adds the default test one the first time: it writes.
    retrieve=Operation(parse_retrieve, retrieve_own_account, writes=True),
    singleton=True,
)
