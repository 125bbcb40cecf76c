"""Accounts and their API keys. Only SHA-256 hashes of keys are stored.

Accounts are made one at a time (`kassa serve`'s first start) or in batches of up to
ACCOUNTS_PER_BATCH_MAX in one transaction, one statement per table (`kassa accounts create
--count N`). Kassa's extension `POST /v1/test_helpers/accounts` makes one for any caller
holding a secret key of the installation: accounts are test tenants, and whoever may call the
API may make another to test in (a test suite makes one per test). The response carries the
new account's keys, shown only there. Resetting an account and its snapshots are
`kassa.services.account_snapshots`, nested under the same path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kassa.clock import Clock, unix_seconds
from kassa.errors import InvalidParameter
from kassa.ids import new_id, new_secret
from kassa.invariants import ensure
from kassa.params import Param, String
from kassa.services import account_snapshots
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Operation, Resource, request_parser
from kassa.store import Transaction
from kassa.store.statements import dumps_doc

SECRET_KEY_PREFIX = "sk_test"
PUBLISHABLE_KEY_PREFIX = "pk_test"
ACCOUNT_NAME_MAX_CHARS = 100
DEFAULT_COUNTRY = "US"
DEFAULT_CURRENCY = "usd"
DEFAULT_TIME_ZONE = "Etc/UTC"
ACCOUNTS_PER_BATCH_MAX = 1_000
"""Accounts one transaction makes, in two statements however many: a bound on its memory and
on how long it holds SQLite's writer (about 50 ms, bench/accounts.py)."""


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
    return (await create_accounts(tx, clock, 1, name, timezone))[0]


async def create_accounts(
    tx: Transaction,
    clock: Clock,
    count: int,
    name: str | None = None,
    timezone: str = DEFAULT_TIME_ZONE,
) -> list[NewAccount]:
    """`count` new accounts (at most ACCOUNTS_PER_BATCH_MAX), each with its pair of test keys,
    written with one statement per table."""
    ensure(0 < count <= ACCOUNTS_PER_BATCH_MAX, f"a batch makes 1 to {ACCOUNTS_PER_BATCH_MAX}")
    if name is not None and len(name) > ACCOUNT_NAME_MAX_CHARS:
        raise InvalidParameter(
            f"Account names can have at most {ACCOUNT_NAME_MAX_CHARS} characters", param="name"
        )
    _check_time_zone(timezone)
    created = unix_seconds(clock)
    made = [_new_account(created, name, timezone) for _ in range(count)]
    await tx.insert_accounts([(new.account["id"], created, dumps_doc(new.account)) for new in made])
    await tx.insert_api_keys(
        [
            (hash_api_key(key), new.account["id"], kind, created)
            for new in made
            for key, kind in ((new.secret_key, "secret"), (new.publishable_key, "publishable"))
        ]
    )
    return made


def _new_account(created: int, name: str | None, timezone: str) -> NewAccount:
    account: dict[str, Any] = {
        "id": new_id("acct"),
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
    return NewAccount(account, new_secret(SECRET_KEY_PREFIX), new_secret(PUBLISHABLE_KEY_PREFIX))


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


# -- the API: `/v1/test_helpers/accounts` (Kassa's extension) ---------------------------------

CREATE_PARAMS: dict[str, Param] = {
    "name": String(max_chars=ACCOUNT_NAME_MAX_CHARS),
    "timezone": String(max_chars=64),
}


@dataclass(frozen=True, kw_only=True)
class CreateAccount:
    name: str | None = None
    timezone: str = DEFAULT_TIME_ZONE


async def create_account_for_caller(ctx: Context, request: CreateAccount) -> ApiObject:
    """The new account, with its keys as `secret_key` and `publishable_key` (only here)."""
    new = await create_account(ctx.tx, ctx.clock, request.name, request.timezone)
    return {**new.account, "secret_key": new.secret_key, "publishable_key": new.publishable_key}


RESOURCE = Resource(
    object_name="account",
    id_prefix="acct",
    collection="test_helpers/accounts",
    table=None,
    create=Operation(
        request_parser(CreateAccount, CREATE_PARAMS),
        create_account_for_caller,
        writes=True,
        secret_fields=("secret_key", "publishable_key"),
    ),
    actions={
        "reset": Operation(
            account_snapshots.parse_account, account_snapshots.reset_account, writes=True
        )
    },
    nested=(account_snapshots.RESOURCE,),
)


def public_name(account: Mapping[str, Any]) -> str | None:
    """The name the account shows its customers (an invoice's `account_name`, the sender of
    its emails): its dashboard display name, else its business name; None without one."""
    dashboard = (account.get("settings") or {}).get("dashboard") or {}
    name = dashboard.get("display_name") or (account.get("business_profile") or {}).get("name")
    return name if isinstance(name, str) and name else None
