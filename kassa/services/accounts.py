"""Accounts and their API keys. Only SHA-256 hashes of keys are stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kassa.clock import Clock, unix_seconds
from kassa.errors import InvalidParameter
from kassa.ids import new_id, new_secret
from kassa.store import Transaction

SECRET_KEY_PREFIX = "sk_test"
PUBLISHABLE_KEY_PREFIX = "pk_test"
ACCOUNT_NAME_MAX_CHARS = 100
DEFAULT_COUNTRY = "US"
DEFAULT_CURRENCY = "usd"
DEFAULT_TIME_ZONE = "Etc/UTC"


@dataclass(frozen=True)
class NewAccount:
    account: dict[str, Any]
    secret_key: str
    publishable_key: str


@dataclass(frozen=True)
class ApiKeyOwner:
    account_id: str
    kind: str
    """`secret` or `publishable`."""


def hash_api_key(key: str) -> str:
    # Keys carry ~190 random bits, so a fast unsalted hash is enough to make a stolen
    # database useless for calling the API.
    return hashlib.sha256(key.encode()).hexdigest()


async def create_account(
    tx: Transaction, clock: Clock, name: str | None = None, timezone: str = DEFAULT_TIME_ZONE
) -> NewAccount:
    """A new account with a pair of test keys. `timezone` (an IANA zone, Stripe's
    `settings.dashboard.timezone`) is where the account's local days begin: payment reminders
    go out at 09:00 there."""
    if name is not None and len(name) > ACCOUNT_NAME_MAX_CHARS:
        raise InvalidParameter(
            f"Account names can have at most {ACCOUNT_NAME_MAX_CHARS} characters", param="name"
        )
    _check_time_zone(timezone)
    created = unix_seconds(clock)
    account_id = new_id("acct")
    account: dict[str, Any] = {
        "id": account_id,
        "object": "account",
        "business_profile": {"name": name},
        "charges_enabled": True,
        "country": DEFAULT_COUNTRY,
        "created": created,
        "default_currency": DEFAULT_CURRENCY,
        "details_submitted": True,
        "payouts_enabled": True,
        "settings": {"dashboard": {"display_name": name, "timezone": timezone}},
        "type": "standard",
    }
    secret_key = new_secret(SECRET_KEY_PREFIX)
    publishable_key = new_secret(PUBLISHABLE_KEY_PREFIX)
    await tx.insert_account(account)
    await tx.insert_api_key(hash_api_key(secret_key), account_id, "secret", created)
    await tx.insert_api_key(hash_api_key(publishable_key), account_id, "publishable", created)
    return NewAccount(account, secret_key, publishable_key)


def _check_time_zone(timezone: str) -> None:
    """Only a zone Python's time zone database knows: an unknown one would silently mean UTC
    wherever the account's local time is needed."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParameter(
            f"Unknown time zone {timezone[:80]!r}: give an IANA name such as "
            "'Europe/Berlin' or 'America/New_York'",
            param="timezone",
        ) from None


async def find_key_owner(tx: Transaction, key: str) -> ApiKeyOwner | None:
    found = await tx.find_api_key(hash_api_key(key))
    return None if found is None else ApiKeyOwner(account_id=found[0], kind=found[1])


async def count_accounts(tx: Transaction) -> int:
    return await tx.count_accounts()
