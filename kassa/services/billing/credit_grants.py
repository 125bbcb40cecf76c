"""Billing credit grants (`/v1/billing/credit_grants`, `credgr_...`): create, retrieve,
update (`expires_at`, `metadata`), list (by `customer`), expire and void.

A grant gives its customer an amount of credit in one currency, which invoices of that
customer finalized while the grant is effective (from `effective_at`, before `expires_at`,
not voided) draw on for lines whose price is in its scope (`credit_application`). What is
left of it is Kassa's own fact (`PRIVATE.balance`), moved only together with a credit
balance transaction (`credit_balance_transactions`): granted in full at creation, less what
invoices take, plus what voided invoices give back, to zero on expiry or void.

Times follow the customer's test clock: `effective_at` defaults to the clock's now, and a
grant is expired once the clock reaches `expires_at`. Stripe records what was left as a
`credits_expired` debit when the grant expires; so does Kassa, as due work (`expire_when_due`):
the `invoices` job in real time (`expire_due_grants`), or the customer's test clock's advance
when it reaches `expires_at` (kind `credit_grant_expiry`). Every write that touches an
expired grant (an update, expire, void, or the finalization or voiding of one of the
customer's invoices) settles it first in the same way (`settle_expiry`, the one place the
debit is made), since it may come before the job's next run: the debit is dated `expires_at`
whoever writes it, and written once (it leaves nothing to debit). An expired grant counts for
nothing in the summary and in finalization from `expires_at` on, its debit written or not.

Where each rule comes from: fields and parameters, the installed SDK
(`stripe/billing/_credit_grant.py`, `params/billing/_credit_grant_*_params.py`): `category`
defaults to `paid`, `priority` to 50 (0 the highest, 100 the lowest), `name` up to 100
characters, `effective_at` to now; `price_type` and `prices` "cannot be used in
combination", and only metered prices (with a meter) are in a scope. Kassa's own choices:
`expires_at` must come after `effective_at` and (on update) after now; a voided or expired
grant is not changed again (its `metadata` excepted); a `prices` scope's prices must be in the
grant's currency. Events: `billing.credit_grant.created` and `.updated` (Stripe's list).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.clock import Clock
from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import (
    UNSET,
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    NotSupported,
    String,
    Struct,
    Timestamp,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing import credit_balance_transactions
from kassa.services.billing.credit_balance_transactions import Movement, monetary
from kassa.services.billing.meter_usage import is_metered
from kassa.services.context import Context, PaymentConfig
from kassa.services.customer_lookup import load_customer_named
from kassa.services.due_work import do_due_operations
from kassa.services.listing import CURSOR_PARAMS, list_page_with, list_query, load_live_object
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store import Store, Transaction
from kassa.store.tables import BILLING_CREDIT_GRANTS, PRICES, PRIVATE

OBJECT_NAME: Final = "billing.credit_grant"
NAME_CHARS_MAX: Final = 100
"""Stripe: the grant's name is "A descriptive name shown in the Dashboard", up to 100."""
PRIORITY_DEFAULT: Final = 50
PRIORITY_MAX: Final = 100
SCOPE_PRICES_MAX: Final = 100
"""The most prices one grant's scope names (Kassa's bound; Stripe's reference gives none)."""
ID_CHARS_MAX: Final = 255
CATEGORIES: Final = ("paid", "promotional")
EVENT_TYPES: Final = ("billing.credit_grant.created", "billing.credit_grant.updated")

log = logging.getLogger("kassa.credit_grants")

_SCOPE: Final = Struct(
    {
        "price_type": Enum(values=("metered",)),
        "prices": ListOf(
            item=Struct({"id": String(max_chars=ID_CHARS_MAX)}, required=("id",)),
            max_items=SCOPE_PRICES_MAX,
        ),
    }
)
CREATE_PARAMS: Final = {
    "amount": Struct(
        {
            "type": Enum(values=("monetary",)),
            "monetary": Struct(
                {"currency": money.Currency(), "value": Integer(minimum=1)},
                required=("currency", "value"),
            ),
        },
        required=("type",),
    ),
    "applicability_config": Struct({"scope": _SCOPE}, required=("scope",)),
    "category": Enum(values=CATEGORIES),
    "customer": String(max_chars=ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa grants credits to customers (`customer`)."),
    "effective_at": Timestamp(),
    "expires_at": Timestamp(),
    "metadata": Metadata(),
    "name": String(max_chars=NAME_CHARS_MAX),
    "priority": Integer(minimum=0, maximum=PRIORITY_MAX),
}
UPDATE_PARAMS: Final = {"expires_at": Timestamp(nullable=True), "metadata": Metadata()}
LIST_PARAMS: Final = {
    **CURSOR_PARAMS,
    "customer": String(max_chars=ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa grants credits to customers (`customer`)."),
}


@dataclass(frozen=True, kw_only=True)
class CreateGrant:
    amount: dict[str, Any]
    applicability_config: dict[str, Any]
    customer: str | None = None
    category: str = "paid"
    effective_at: int | None = None
    expires_at: int | None = None
    metadata: MetadataUpdate | None = None
    name: str | None = None
    priority: int = PRIORITY_DEFAULT


@dataclass(frozen=True, kw_only=True)
class UpdateGrant:
    grant: str
    expires_at: Any = None
    """A time, UNSET (`expires_at=""`: never expires), or None (not sent)."""
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class GrantAction:
    grant: str


# --- reading ----------------------------------------------------------------------------------


def currency_of(grant: Mapping[str, Any]) -> str:
    return str(grant["amount"]["monetary"]["currency"])


def balance_of(grant: Mapping[str, Any]) -> int:
    """What is left of the grant (Kassa's own fact): moved with every transaction."""
    return int(grant[PRIVATE]["balance"])


def expired_at(grant: Mapping[str, Any], now: int) -> bool:
    expires = grant["expires_at"]
    return expires is not None and expires <= now


def available_at(grant: Mapping[str, Any], now: int) -> int:
    """What the grant gives at `now`: its balance while it is effective, unexpired and not
    voided; nothing otherwise."""
    effective = grant["effective_at"] is None or grant["effective_at"] <= now
    if grant["voided_at"] is not None or expired_at(grant, now) or not effective:
        return 0
    return balance_of(grant)


def view(grant: Mapping[str, Any]) -> ApiObject:
    return {k: v for k, v in grant.items() if k != PRIVATE}


async def load_grant(ctx: Context, grant_id: str, *, param: str = "id") -> ApiObject:
    """The stored grant, its context's time its customer's clock's (`ctx.governed_by`)."""
    return await load_live_object(ctx, RESOURCE, grant_id, param=param)


# --- balance moves ----------------------------------------------------------------------------


async def move(ctx: Context, grant: ApiObject, movement: Movement) -> ApiObject:
    """Record `movement` and move the grant's balance by it (the caller stores the grant);
    the transaction."""
    sign = 1 if movement.kind in credit_balance_transactions.CREDIT_TYPES else -1
    left = balance_of(grant) + sign * movement.amount
    if left < 0:
        raise InvalidRequest(f"The credit grant {grant['id']} has not enough left.")
    transaction = await credit_balance_transactions.record(ctx, grant, movement)
    grant[PRIVATE]["balance"] = left
    return transaction


async def settle_expiry(ctx: Context, grant: ApiObject) -> bool:
    """An expired grant with something left: that is debited (`credits_expired`, dated when
    it expired). Whether it was (the caller stores the grant). The one place an expiry's
    debit is made, for the due work (`expire_when_due`) and every other write: it leaves
    nothing, so whichever comes first writes it and the others find nothing to do."""
    if not expired_at(grant, ctx.now()) or grant["voided_at"] is not None:
        return False
    left = balance_of(grant)
    if left == 0:
        return False
    await move(ctx, grant, Movement("credits_expired", left, int(grant["expires_at"])))
    return True


async def save(ctx: Context, grant: ApiObject) -> None:
    await ctx.tx.update_object(BILLING_CREDIT_GRANTS, ctx.account_id, grant)


# --- expiry as due work -----------------------------------------------------------------------


async def expire_due_grants(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """The `invoices` job's step: write the expiry of every grant no test clock governs
    whose `expires_at` has come, each in a unit of work of its own, bounded per run
    (`due_work.do_due_operations`); how many."""
    jobs = (Transaction.credit_grants_due, Transaction.postpone_credit_grant_expiry)
    failed = (log, "credit grant %s could not expire: %s")
    return await do_due_operations(store, clock, payments, jobs, expire_when_due, failed)


async def expire_when_due(ctx: Context, grant_id: str) -> bool:
    """The grant's expiry written if it has come at its customer's time (the real-time
    job's, or a test clock's advance at `expires_at`): what is left debited
    (`settle_expiry`) and the grant stored, which clears its due time (`expires_due`: it has
    nothing left). Whether it was: a grant voided, used up or already settled by another
    write (or by an earlier run, the job's after a crash) writes nothing. No
    `billing.credit_grant.updated`: no field the grant shows changes (its `expires_at` was
    already there), and the debit's transaction announces the move, as an invoice's do."""
    found = await ctx.tx.get_object(BILLING_CREDIT_GRANTS, ctx.account_id, grant_id)
    if found is None or found[1]:
        return False
    grant = copy.deepcopy(found[0])
    ctx = await ctx.governed_by(grant)
    if not await settle_expiry(ctx, grant):
        return False
    # Nothing left clears the grant's due time as it is stored: a clock finding the same
    # expiry due again would stop (`internal_failure`), the job would try it at every run.
    ensure(balance_of(grant) == 0, "an expired grant's debit leaves nothing of it")
    await save(ctx, grant)
    return True


# --- create -----------------------------------------------------------------------------------


async def create_grant(ctx: Context, request: CreateGrant) -> ApiObject:
    if request.customer is None:
        raise InvalidParameter("Missing required param: customer.", param="customer")
    customer = await load_customer_named(ctx, request.customer, param="customer")
    ctx = await ctx.governed_by(customer)
    now = ctx.now()
    currency, value = _amount(request.amount)
    scope = await _scope(ctx, request.applicability_config["scope"], currency)
    effective_at = now if request.effective_at is None else request.effective_at
    if request.expires_at is not None and request.expires_at <= max(effective_at, now):
        raise InvalidParameter(
            "expires_at must be after effective_at and in the future.", param="expires_at"
        )
    grant: ApiObject = {
        "id": new_id("credgr"),
        "object": OBJECT_NAME,
        "amount": monetary(currency, value),
        "applicability_config": {"scope": scope},
        "category": request.category,
        "created": now,
        "customer": customer["id"],
        "customer_account": None,
        "effective_at": effective_at,
        "expires_at": request.expires_at,
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, request.metadata or {}),
        "name": request.name,
        "priority": request.priority,
        "test_clock": customer.get("test_clock"),
        "updated": now,
        "voided_at": None,
        PRIVATE: {"balance": 0},
    }
    await move(ctx, grant, Movement("credits_granted", value, effective_at))
    await ctx.tx.insert_object(BILLING_CREDIT_GRANTS, ctx.account_id, grant)
    shown = view(grant)
    await events.announce(ctx, "billing.credit_grant.created", shown)
    return shown


def _amount(amount: Mapping[str, Any]) -> tuple[str, int]:
    monetary_amount = amount.get("monetary")
    if monetary_amount is None:
        raise InvalidParameter(
            "Missing required param: amount[monetary].", param="amount[monetary]"
        )
    value = int(monetary_amount["value"])
    if value > money.MAX_AMOUNT:
        raise InvalidParameter(
            f"amount[monetary][value] must be at most {money.MAX_AMOUNT}.",
            param="amount[monetary][value]",
        )
    return str(monetary_amount["currency"]), value


async def _scope(ctx: Context, scope: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """`price_type=metered`, or metered prices of the grant's currency: one of the two."""
    param = "applicability_config[scope]"
    if ("price_type" in scope) == ("prices" in scope):
        raise InvalidParameter(
            "Exactly one of price_type or prices must be given in the scope.", param=param
        )
    if "price_type" in scope:
        return {"price_type": scope["price_type"], "prices": None}
    ids = [str(entry["id"]) for entry in scope["prices"]]
    if not ids:
        raise InvalidParameter("prices cannot be empty.", param=f"{param}[prices]")
    found = await ctx.tx.objects_by_ids(PRICES, ctx.account_id, ids)
    for index, price_id in enumerate(ids):
        where = f"{param}[prices][{index}][id]"
        price = found.get(price_id)
        if price is None:
            raise ResourceMissing("price", price_id, param=where)
        if not is_metered(price):
            raise InvalidParameter(
                f"The price {price_id} is not metered: a credit grant applies only to "
                "prices with a Billing Meter.",
                param=where,
            )
        if price["currency"] != currency:
            raise InvalidParameter(
                f"The price {price_id} is in {price['currency']}, the grant in {currency}.",
                param=where,
            )
    return {"price_type": None, "prices": [{"id": price_id} for price_id in dict.fromkeys(ids)]}


# --- retrieve, update, list -------------------------------------------------------------------


async def retrieve_grant(ctx: Context, grant_id: str) -> ApiObject:
    return view(await load_grant(ctx, grant_id))


async def _governed(ctx: Context, grant_id: str) -> tuple[Context, ApiObject]:
    grant = await load_grant(ctx, grant_id)
    return await ctx.governed_by(grant), grant


async def update_grant(ctx: Context, request: UpdateGrant) -> ApiObject:
    ctx, grant = await _governed(ctx, request.grant)
    before = view(copy.deepcopy(grant))
    settled = await settle_expiry(ctx, grant)
    if request.expires_at is not None:
        _check_open(ctx, grant, "expires_at")
        expires_at = None if request.expires_at is UNSET else int(request.expires_at)
        if expires_at is not None and expires_at <= max(ctx.now(), grant["effective_at"] or 0):
            raise InvalidParameter(
                "expires_at must be after effective_at and in the future.", param="expires_at"
            )
        grant["expires_at"] = expires_at
    if request.metadata is not None:
        grant["metadata"] = apply_metadata(grant["metadata"], request.metadata)
    return await _store_change(ctx, grant, before, changed=settled)


def _check_open(ctx: Context, grant: Mapping[str, Any], param: str | None) -> None:
    """A voided or expired grant stays as it is."""
    if grant["voided_at"] is not None:
        raise InvalidRequest(f"The credit grant {grant['id']} is voided.", param=param)
    if expired_at(grant, ctx.now()):
        raise InvalidRequest(f"The credit grant {grant['id']} has expired.", param=param)


async def _store_change(
    ctx: Context, grant: ApiObject, before: ApiObject, *, changed: bool = False
) -> ApiObject:
    """Store the grant and announce `billing.credit_grant.updated` when its shown fields
    changed (or its balance moved: `changed`)."""
    shown = view(grant)
    if shown == before and not changed:
        return shown
    grant["updated"] = ctx.now()
    await save(ctx, grant)
    shown = view(grant)
    previous = {k: v for k, v in before.items() if shown.get(k) != v}
    await events.announce(ctx, "billing.credit_grant.updated", shown, previous=previous)
    return shown


@dataclass(frozen=True)
class ListGrants:
    params: Mapping[str, Any]


def _parse_list(_ids: RouteIds, params: dict[str, Any]) -> ListGrants:
    return ListGrants(params)


async def list_grants(ctx: Context, request: ListGrants) -> ApiObject:
    params = request.params
    equals = {"customer": params["customer"]} if "customer" in params else {}
    page = await list_page_with(ctx, RESOURCE, params, list_query(params, {}, equals=equals))
    return list_envelope(ListPage([view(g) for g in page.data], page.has_more), RESOURCE.url)


# --- expire, void -----------------------------------------------------------------------------


async def expire_grant(ctx: Context, request: GrantAction) -> ApiObject:
    """Expire the grant now: what is left is debited (`credits_expired`)."""
    ctx, grant = await _governed(ctx, request.grant)
    before = view(copy.deepcopy(grant))
    _check_open(ctx, grant, None)
    now = ctx.now()
    grant["expires_at"] = now
    if balance_of(grant) > 0:
        await move(ctx, grant, Movement("credits_expired", balance_of(grant), now))
    return await _store_change(ctx, grant, before, changed=True)


async def void_grant(ctx: Context, request: GrantAction) -> ApiObject:
    """Void the grant now: what is left is debited (`credits_voided`)."""
    ctx, grant = await _governed(ctx, request.grant)
    before = view(copy.deepcopy(grant))
    if grant["voided_at"] is not None:
        raise InvalidRequest(f"The credit grant {grant['id']} is already voided.")
    now = ctx.now()
    await settle_expiry(ctx, grant)
    if balance_of(grant) > 0:
        await move(ctx, grant, Movement("credits_voided", balance_of(grant), now))
    grant["voided_at"] = now
    return await _store_change(ctx, grant, before, changed=True)


async def _fetch_view(ctx: Context, grant_id: str) -> ApiObject | None:
    found = await ctx.tx.get_object(BILLING_CREDIT_GRANTS, ctx.account_id, grant_id, lock=False)
    return None if found is None else view(found[0])


RESOURCE = Resource(
    object_name=OBJECT_NAME,
    id_prefix="credgr",
    collection="billing/credit_grants",
    table=BILLING_CREDIT_GRANTS,
    create=Operation(
        request_parser(
            CreateGrant,
            CREATE_PARAMS,
            required=("amount", "applicability_config", "customer"),
        ),
        create_grant,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_grant, writes=False),
    update=Operation(
        request_parser(UpdateGrant, UPDATE_PARAMS, ids=("grant",)), update_grant, writes=True
    ),
    lister=Operation(ParamsParser(LIST_PARAMS, _parse_list), list_grants, writes=False),
    actions={
        "expire": Operation(
            request_parser(GrantAction, {}, ids=("grant",)), expire_grant, writes=True
        ),
        "void": Operation(request_parser(GrantAction, {}, ids=("grant",)), void_grant, writes=True),
    },
    expandable={"customer": "customer", "test_clock": "test_helpers.test_clock"},
    event_types=EVENT_TYPES,
    fetch=_fetch_view,
)
