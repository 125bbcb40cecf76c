"""A clean account per test (Kassa's extension, under `/v1/test_helpers/accounts/{id}`): reset
an account, and save its state under a name to restore later.

`POST .../reset` deletes every object, event, webhook delivery, email, ledger transaction and
balance of the account and keeps the account and its API keys. `POST .../snapshots` with
`name` saves the account's state (replacing a snapshot of that name); `POST
.../snapshots/{name}/restore` replaces the account's state with it; `GET .../snapshots`,
`GET` and `DELETE .../snapshots/{name}`. What belongs to an account's state, and how list
order survives a restore, is `kassa.store.account_queries`.

Only the account's own secret key may reset it or touch its snapshots: another account's id
is missing (404), as any other account's object is. A destructive call names its account in
the path as well as by its key, so a test holding the wrong key fails instead of wiping the
wrong account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.params import Param, String, parse_params
from kassa.services.context import Context
from kassa.services.resource import (
    ApiObject,
    Form,
    ListPage,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store import Transaction
from kassa.store.account_queries import SnapshotRow

SNAPSHOT_NAME_CHARS_MAX = 64
SNAPSHOT_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{SNAPSHOT_NAME_CHARS_MAX}}}")
"""Letters, digits, `_` and `-`: a name is a path segment, which `.` or `/` would change."""
SNAPSHOTS_PER_ACCOUNT_MAX = 100
"""Snapshots one account keeps (each a copy of its state): the list is one page."""
OBJECT_NAME = "account_snapshot"

_NAME = String(
    max_chars=SNAPSHOT_NAME_CHARS_MAX,
    pattern=SNAPSHOT_NAME,
    pattern_hint=f"; use 1 to {SNAPSHOT_NAME_CHARS_MAX} letters, digits, '_' or '-'",
)
SAVE_PARAMS: dict[str, Param] = {"name": _NAME}


@dataclass(frozen=True, kw_only=True)
class SaveSnapshot:
    account: str
    name: str


@dataclass(frozen=True, kw_only=True)
class SnapshotRef:
    account: str
    name: str


class AccountBusy(InvalidRequest):
    """The account's writers kept it past the wait (PostgreSQL): nothing was changed."""

    code = "lock_timeout"

    def __init__(self, account_id: str) -> None:
        super().__init__(
            f"Account {account_id} is busy with other writes; nothing was changed. "
            "Try again once they have finished."
        )


async def own_account(ctx: Context, account_id: str) -> ApiObject:
    """The account named in the path, which must be the caller's own."""
    account = await ctx.tx.get_account(account_id) if account_id == ctx.account_id else None
    if account is None:
        raise ResourceMissing("account", account_id)
    return account


async def reset_account(ctx: Context, account_id: str) -> ApiObject:
    account = await own_account(ctx, account_id)
    await reset_account_state(ctx.tx, account_id)
    return account


async def reset_account_state(tx: Transaction, account_id: str) -> None:
    """Empty the account's state, keeping the account and its keys (also `kassa accounts
    reset`, which names any account of the database)."""
    if await tx.get_account(account_id) is None:
        raise ResourceMissing("account", account_id)
    await _lock(tx, account_id)
    await tx.clear_account_state(account_id)


async def _lock(tx: Transaction, account_id: str) -> None:
    if not await tx.lock_account_writers(account_id):
        raise AccountBusy(account_id)


async def save_snapshot(ctx: Context, request: SaveSnapshot) -> ApiObject:
    await own_account(ctx, request.account)
    existing = await ctx.tx.account_snapshot(request.account, request.name)
    if existing is None and (
        await ctx.tx.count_account_snapshots(request.account) >= SNAPSHOTS_PER_ACCOUNT_MAX
    ):
        raise InvalidRequest(
            f"An account keeps at most {SNAPSHOTS_PER_ACCOUNT_MAX} snapshots: delete one, or "
            "save under the name of one to replace it.",
            param="name",
        )
    await _lock(ctx.tx, request.account)
    created = ctx.now()
    rows = await ctx.tx.save_account_snapshot(request.account, request.name, created)
    return _snapshot_object(SnapshotRow(request.account, request.name, created, rows))


async def restore_snapshot(ctx: Context, request: SnapshotRef) -> ApiObject:
    await own_account(ctx, request.account)
    snapshot = await _snapshot(ctx, request)
    await _lock(ctx.tx, request.account)
    restored = await ctx.tx.restore_account_snapshot(request.account, request.name)
    if restored is None:  # deleted since it was read (PostgreSQL)
        raise ResourceMissing(OBJECT_NAME, request.name, param="name")
    return _snapshot_object(snapshot)


async def retrieve_snapshot(ctx: Context, request: SnapshotRef) -> ApiObject:
    await own_account(ctx, request.account)
    return _snapshot_object(await _snapshot(ctx, request))


async def delete_snapshot(ctx: Context, request: SnapshotRef) -> ApiObject:
    await own_account(ctx, request.account)
    if not await ctx.tx.delete_account_snapshot(request.account, request.name):
        raise ResourceMissing(OBJECT_NAME, request.name, param="name")
    return {"object": OBJECT_NAME, "name": request.name, "deleted": True}


async def list_snapshots(ctx: Context, account_id: str) -> ApiObject:
    await own_account(ctx, account_id)
    rows = await ctx.tx.account_snapshots(account_id, SNAPSHOTS_PER_ACCOUNT_MAX)
    page = ListPage([_snapshot_object(row) for row in rows], has_more=False)
    return list_envelope(page, f"/v1/test_helpers/accounts/{account_id}/snapshots")


async def _snapshot(ctx: Context, request: SnapshotRef) -> SnapshotRow:
    found = await ctx.tx.account_snapshot(request.account, request.name)
    if found is None:
        raise ResourceMissing(OBJECT_NAME, request.name, param="name")
    return found


def _snapshot_object(row: SnapshotRow) -> ApiObject:
    return {
        "object": OBJECT_NAME,
        "name": row.name,
        "account": row.account_id,
        "created": row.created,
        "rows": row.row_count,
    }


def parse_account(ids: RouteIds, form: Form) -> str:
    parse_params({}, form)
    return route_id(ids)


def _parse_ref(ids: RouteIds, form: Form) -> SnapshotRef:
    """The name comes from the path, and is checked as the `name` parameter is."""
    parse_params({}, form)
    return SnapshotRef(account=route_id(ids, 0), name=_NAME.parse(route_id(ids, 1), "name"))


RESOURCE = Resource(
    object_name=OBJECT_NAME,
    id_prefix="",
    collection="snapshots",
    table=None,
    create=Operation(
        request_parser(SaveSnapshot, SAVE_PARAMS, ids=("account",), required=("name",)),
        save_snapshot,
        writes=True,
    ),
    retrieve=Operation(_parse_ref, retrieve_snapshot, writes=False),
    delete=Operation(_parse_ref, delete_snapshot, writes=True),
    lister=Operation(parse_account, list_snapshots, writes=False),
    actions={"restore": Operation(_parse_ref, restore_snapshot, writes=True)},
)
"""Nested under the accounts' test helpers (`kassa.services.accounts.RESOURCE`)."""
