"""The bank accounts payouts go to: Stripe's external accounts of an account,
`/v1/accounts/{account}/external_accounts` (create, retrieve, update, delete, list).

Kassa is test mode only, so it takes Stripe's test account numbers and nothing else: each
decides how a payout to the account ends (`TEST_BANK_ACCOUNTS`). The number itself is never
stored, only its last four digits, a keyed fingerprint and the outcome it stands for.

A bank account added in a new currency enables settlement in it: the account's charges in
that currency stop being converted (`currency_conversion`).

An account always has a bank account for a currency it pays out in: the first time one is
needed (a payout, a list), Kassa adds Stripe's succeeding test account (`000123456789` at
`110000000`, "STRIPE TEST BANK") as the default for that currency, so payouts work out of
the box.

Adding, updating and deleting a bank account send Stripe's `account.external_account.*`
events with the bank account (a bank account that stops being its currency's default is
updated too, and so is one a failed payout turns `errored`). The default test account Kassa
adds by itself announces nothing: the caller did not add it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.ledger.views import DEFAULT_BALANCE_CURRENCY
from kassa.money import Currency
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    apply_metadata,
    parse_params,
)
from kassa.services import currency_conversion, events
from kassa.services.context import Context
from kassa.services.listing import (
    CURSOR_PARAMS,
    LIST_LIMIT_DEFAULT,
    could_be_object_id,
    list_page_with,
)
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EXTERNAL_ACCOUNTS, PRIVATE

SUCCEEDING_ACCOUNT_NUMBER: Final = "000123456789"
TEST_ROUTING_NUMBER: Final = "110000000"
TEST_BANK_NAME: Final = "STRIPE TEST BANK"

TEST_BANK_ACCOUNTS: Final = MappingProxyType(
    {
        SUCCEEDING_ACCOUNT_NUMBER: None,
        "000111111116": "no_account",
        "000111111113": "account_closed",
        "000222222227": "insufficient_funds",
        "000333333335": "debit_not_authorized",
        "000444444440": "invalid_currency",
    }
)
"""Stripe's test account numbers (docs.stripe.com/connect/testing#account-numbers) and the
`failure_code` a payout to each ends with (None: it is paid)."""

FAILURE_MESSAGES: Final = MappingProxyType(
    {
        "no_account": "The bank account details on file are probably incorrect. No bank "
        "account could be located with those details.",
        "account_closed": "The bank account has been closed.",
        "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
        "debit_not_authorized": "Debit transactions are not approved on the bank account. "
        "(Stripe requires bank accounts to be set up for both credit and debit payouts.)",
        "invalid_currency": "The bank was unable to process this payout because of its "
        "currency. This is probably because the bank account cannot accept payments in that "
        "currency.",
    }
)
"""Stripe's payout failure messages (docs.stripe.com/api/payouts/failures)."""

EXTERNAL_ACCOUNTS_PER_CURRENCY_MAX: Final = 100
"""Bank accounts one currency may have; also the page read when a default changes hands."""

_ROUTING = re.compile(r"[0-9]{9}")
_ACCOUNT_NUMBER = re.compile(r"[0-9]{4,17}")
FINGERPRINT_CHARS: Final = 16
CREATED: Final = "account.external_account.created"
UPDATED: Final = "account.external_account.updated"
DELETED: Final = "account.external_account.deleted"
NEW: Final = "new"
ERRORED: Final = "errored"
"""A bank account's `status`: Kassa has no verification, so `new` until a payout to it fails."""

BANK_ACCOUNT_PARAMS: dict[str, Param] = {
    "object": Enum(values=("bank_account",)),
    "account_number": String(max_chars=17),
    "routing_number": String(max_chars=9),
    "country": String(max_chars=2),
    "currency": Currency(),
    "account_holder_name": String(max_chars=255),
    "account_holder_type": Enum(values=("individual", "company")),
}
CREATE_PARAMS: dict[str, Param] = {
    "external_account": Struct(BANK_ACCOUNT_PARAMS, required=("object", "account_number")),
    "default_for_currency": Boolean(),
    "metadata": Metadata(),
}
UPDATE_PARAMS: dict[str, Param] = {
    "account_holder_name": String(max_chars=255),
    "account_holder_type": Enum(values=("individual", "company")),
    "default_for_currency": Boolean(),
    "metadata": Metadata(),
    "account_type": NotSupported(reason="Kassa's bank accounts have no account type."),
    "documents": NotSupported(reason="Kassa verifies no bank accounts."),
    **{
        name: NotSupported(reason="Kassa's external accounts are bank accounts, not cards.")
        for name in (
            "address_city",
            "address_country",
            "address_line1",
            "address_line2",
            "address_state",
            "address_zip",
            "exp_month",
            "exp_year",
            "name",
        )
    },
}
LIST_PARAMS: dict[str, Param] = {
    **CURSOR_PARAMS,
    "object": Enum(values=("bank_account", "card")),
}


@dataclass(frozen=True)
class CreateExternalAccount:
    account: str
    external_account: dict[str, Any] | None = None
    default_for_currency: bool | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class UpdateExternalAccount:
    account: str
    external_account: str
    account_holder_name: str | None = None
    account_holder_type: str | None = None
    default_for_currency: bool | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class ExternalAccountRef:
    account: str
    external_account: str


@dataclass(frozen=True)
class ListExternalAccounts:
    account: str
    params: dict[str, Any]


HIDDEN_FIELDS: Final = frozenset({PRIVATE, "created"})
"""Stored, not shown: Kassa's own facts, and `created` (every stored object has one for list
order; Stripe's bank accounts show none)."""


def public(bank_account: ApiObject) -> ApiObject:
    """The bank account as the API shows it."""
    return {k: v for k, v in bank_account.items() if k not in HIDDEN_FIELDS}


def failure_code(bank_account: ApiObject) -> str | None:
    """How a payout to this bank account ends: None (paid) or Stripe's failure code."""
    code = bank_account.get(PRIVATE, {}).get("failure_code")
    return None if code is None else str(code)


def takes_scheduled_payouts(bank_account: ApiObject) -> bool:
    """Whether automatic payouts go to the bank account: not once a payout to it failed,
    until its details are updated (Stripe's `errored` status)."""
    return bool(bank_account["status"] != ERRORED)  # a doc field is Any to mypy


async def mark_errored(ctx: Context, bank_account_id: str) -> None:
    """A payout to the bank account failed: Stripe sets its status to `errored` and announces
    the change, at `ctx.now()` (the payout's failure governs its time)."""
    found = await ctx.tx.get_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account_id)
    if found is None or found[1] or found[0]["status"] == ERRORED:
        return  # gone, deleted since the payout, or already errored: nothing changes
    bank_account = found[0]
    before = public(copy.deepcopy(bank_account))
    bank_account["status"] = ERRORED
    await ctx.tx.update_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account)
    await events.announce(ctx, UPDATED, public(bank_account), previous=before)


def _own_account(ctx: Context, account_id: str) -> None:
    """Kassa has no Connect: an account manages only its own bank accounts."""
    if account_id != ctx.account_id:
        raise ResourceMissing("account", account_id, param="account")


def _fingerprint(ctx: Context, routing: str, number: str) -> str:
    # Keyed, as card fingerprints are: account numbers have little entropy.
    key = ctx.payments.card_fingerprint_key or ctx.account_id.encode()
    digest = hmac.new(key, f"bank:{routing}:{number}".encode(), hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_CHARS]


def _test_outcome(number: str) -> str | None:
    if number not in TEST_BANK_ACCOUNTS:
        raise InvalidParameter(
            "You must use a test bank account number in test mode. Try "
            f"{SUCCEEDING_ACCOUNT_NUMBER} or see more options at "
            "https://stripe.com/docs/connect/testing#account-numbers.",
            param="external_account[account_number]",
            code="account_number_invalid",
        )
    return TEST_BANK_ACCOUNTS[number]


def _bank_account(
    ctx: Context, details: dict[str, Any], *, default: bool, created: int
) -> ApiObject:
    number = str(details["account_number"])
    routing = str(details.get("routing_number") or TEST_ROUTING_NUMBER)
    if not _ROUTING.fullmatch(routing):
        raise InvalidParameter(
            f"Invalid routing number: {routing}",
            param="external_account[routing_number]",
            code="routing_number_invalid",
        )
    if not _ACCOUNT_NUMBER.fullmatch(number):
        raise InvalidParameter("Invalid account number", param="external_account[account_number]")
    outcome = _test_outcome(number)
    return {
        "id": new_id("ba"),
        "object": "bank_account",
        "account": ctx.account_id,
        "account_holder_name": details.get("account_holder_name"),
        "account_holder_type": details.get("account_holder_type"),
        "account_type": None,
        "available_payout_methods": ["standard", "instant"],
        "bank_name": TEST_BANK_NAME,
        "country": str(details.get("country") or ctx.payments.account_country).upper(),
        "created": created,
        "currency": details.get("currency") or DEFAULT_BALANCE_CURRENCY,
        "customer": None,
        "default_for_currency": default,
        "fingerprint": _fingerprint(ctx, routing, number),
        "future_requirements": _no_requirements(),
        "last4": number[-4:],
        "metadata": {},
        "requirements": _no_requirements(),
        "routing_number": routing,
        "status": NEW,
        PRIVATE: {"failure_code": outcome},
    }


def _no_requirements() -> dict[str, list[Any]]:
    return {"currently_due": [], "errors": [], "past_due": [], "pending_verification": []}


async def _of_currency(ctx: Context, currency: str) -> list[ApiObject]:
    page = await ctx.tx.list_objects(
        EXTERNAL_ACCOUNTS,
        ctx.account_id,
        ObjectListQuery(limit=EXTERNAL_ACCOUNTS_PER_CURRENCY_MAX, equals={"currency": currency}),
    )
    return page.objects


async def _make_default(ctx: Context, bank_account: ApiObject) -> None:
    """`bank_account` becomes its currency's default; the previous default stops being."""
    for other in await _of_currency(ctx, bank_account["currency"]):
        if other["id"] != bank_account["id"] and other["default_for_currency"]:
            locked = await _load(ctx, other["id"])
            before = public(copy.deepcopy(locked))
            locked["default_for_currency"] = False
            await ctx.tx.update_object(EXTERNAL_ACCOUNTS, ctx.account_id, locked)
            await events.announce(ctx, UPDATED, public(locked), previous=before)
    bank_account["default_for_currency"] = True


async def default_for(ctx: Context, currency: str) -> ApiObject:
    """The currency's default bank account, adding Stripe's succeeding test account when
    the account has none in that currency yet."""
    existing = await _of_currency(ctx, currency)
    for bank_account in existing:
        if bank_account["default_for_currency"]:
            return await _load(ctx, bank_account["id"])
    if existing:
        return await _load(ctx, existing[0]["id"])
    details = {"account_number": SUCCEEDING_ACCOUNT_NUMBER, "currency": currency}
    created = _bank_account(ctx, details, default=True, created=ctx.now())
    await ctx.tx.insert_object(EXTERNAL_ACCOUNTS, ctx.account_id, created)
    return created


async def _load(ctx: Context, bank_account_id: str, *, param: str = "id") -> ApiObject:
    found = (
        await ctx.tx.get_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account_id)
        if could_be_object_id(bank_account_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("bank_account", bank_account_id, param=param)
    return found[0]


async def load_destination(ctx: Context, bank_account_id: str) -> ApiObject:
    """A payout's `destination`: one of this account's bank accounts."""
    return await _load(ctx, bank_account_id, param="destination")


async def create_external_account(ctx: Context, request: CreateExternalAccount) -> ApiObject:
    _own_account(ctx, request.account)
    # The account's default test bank account exists before any the caller adds.
    await default_for(ctx, DEFAULT_BALANCE_CURRENCY)
    details = request.external_account or {}
    currency = details.get("currency") or DEFAULT_BALANCE_CURRENCY
    first = not await _of_currency(ctx, currency)
    bank_account = _bank_account(ctx, details, default=first, created=ctx.now())
    bank_account["metadata"] = apply_metadata({}, request.metadata or {})
    if request.default_for_currency and not first:
        await _make_default(ctx, bank_account)
    await ctx.tx.insert_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account)
    await events.announce(ctx, CREATED, public(bank_account))
    if first:
        # Stripe settles a currency only where it can pay it out: a bank account in a new
        # currency lets the account keep that currency's charges unconverted.
        await currency_conversion.enable_settlement_currency(ctx, currency)
    return public(bank_account)


async def retrieve_external_account(ctx: Context, ref: ExternalAccountRef) -> ApiObject:
    _own_account(ctx, ref.account)
    return public(await _load(ctx, ref.external_account))


async def update_external_account(ctx: Context, request: UpdateExternalAccount) -> ApiObject:
    _own_account(ctx, request.account)
    bank_account = await _load(ctx, request.external_account)
    before = public(copy.deepcopy(bank_account))
    for name in ("account_holder_name", "account_holder_type"):
        value = getattr(request, name)
        if value is not None:
            bank_account[name] = None if value is UNSET else value
    if request.metadata is not None:
        bank_account["metadata"] = apply_metadata(bank_account["metadata"], request.metadata)
    if request.account_holder_name is not None or request.account_holder_type is not None:
        # Its details updated: scheduled payouts may go to it again.
        bank_account["status"] = NEW
    if request.default_for_currency and not bank_account["default_for_currency"]:
        await _make_default(ctx, bank_account)
    await ctx.tx.update_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account)
    shown = public(bank_account)
    if shown != before:
        await events.announce(ctx, UPDATED, shown, previous=before)
    return shown


async def delete_external_account(ctx: Context, ref: ExternalAccountRef) -> ApiObject:
    _own_account(ctx, ref.account)
    bank_account = await _load(ctx, ref.external_account)
    if bank_account["default_for_currency"]:
        raise InvalidRequest(
            "You cannot delete the default external account for your default currency. "
            "Please make another external account the default using the "
            "`default_for_currency` param, and then delete this one."
        )
    await ctx.tx.mark_object_deleted(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account["id"])
    await events.announce(ctx, DELETED, public(bank_account))
    return {"id": bank_account["id"], "object": "bank_account", "deleted": True}


async def list_external_accounts(ctx: Context, request: ListExternalAccounts) -> ApiObject:
    _own_account(ctx, request.account)
    await default_for(ctx, DEFAULT_BALANCE_CURRENCY)
    url = f"/v1/accounts/{ctx.account_id}/external_accounts"
    if request.params.get("object") == "card":
        # Kassa pays out to bank accounts only.
        return {"object": "list", "data": [], "has_more": False, "url": url}
    query = ObjectListQuery(limit=request.params.get("limit", LIST_LIMIT_DEFAULT))
    page = await list_page_with(ctx, EXTERNAL_ACCOUNTS_RESOURCE, request.params, query)
    page.data[:] = [public(copy.deepcopy(obj)) for obj in page.data]
    return list_envelope(page, url)


async def fetch_external_account(ctx: Context, bank_account_id: str) -> ApiObject | None:
    """For expansion (a payout's `destination`)."""
    if not could_be_object_id(bank_account_id):
        return None
    found = await ctx.tx.get_object(EXTERNAL_ACCOUNTS, ctx.account_id, bank_account_id, lock=False)
    return None if found is None else public(found[0])


def _parse_ref(ids: RouteIds, form: Form) -> ExternalAccountRef:
    parse_params({}, form)
    return ExternalAccountRef(account=route_id(ids, 0), external_account=route_id(ids, 1))


def _parse_list(ids: RouteIds, form: Form) -> ListExternalAccounts:
    return ListExternalAccounts(account=route_id(ids, 0), params=parse_params(LIST_PARAMS, form))


EXTERNAL_ACCOUNTS_RESOURCE = Resource(
    object_name="bank_account",
    id_prefix="ba",
    collection="external_accounts",
    table=EXTERNAL_ACCOUNTS,
    create=Operation(
        request_parser(
            CreateExternalAccount, CREATE_PARAMS, ids=("account",), required=("external_account",)
        ),
        create_external_account,
        writes=True,
    ),
    retrieve=Operation(_parse_ref, retrieve_external_account, writes=False),
    update=Operation(
        request_parser(UpdateExternalAccount, UPDATE_PARAMS, ids=("account", "external_account")),
        update_external_account,
        writes=True,
    ),
    delete=Operation(_parse_ref, delete_external_account, writes=True),
    # Listing adds the default test bank account the first time: it writes.
    lister=Operation(_parse_list, list_external_accounts, writes=True),
    fetch=fetch_external_account,
    event_types=(CREATED, UPDATED, DELETED),
)
"""Nested under the account (`ACCOUNTS.nested`): its routes carry both ids."""

ACCOUNTS = Resource(
    routes_only=True,
    object_name="account",
    id_prefix="acct",
    collection="accounts",
    table=None,
    nested=(EXTERNAL_ACCOUNTS_RESOURCE,),
)
"""Only what Kassa serves of Stripe's accounts: their external accounts."""
