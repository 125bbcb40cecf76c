"""Payouts: create (manual, from the available balance), retrieve, update, list, cancel; and
their life after creation, `pending` -> `in_transit` -> `paid` or `failed`, moved on the
installation's clock (payouts belong to the account, not to a customer, so no test clock
governs them).

A standard payout is `pending` until the bank's daily cut-off (the next 00:00 UTC), then
`in_transit` until its `arrival_date` (00:00 UTC of the `PAYOUT_ARRIVAL_BUSINESS_DAYS`-th
business day of the account's country after its creation day), when it is `paid`, or
`failed` if its bank account is one of Stripe's failing test accounts. An instant payout is
`in_transit` at once and arrives `INSTANT_PAYOUT_SECONDS` later. Only a pending manual payout
can be canceled. Each move is a posting (`kassa.ledger.payout_postings`).

The `payouts` job (`kassa.workers.payouts`) makes the moves that have come due; reading a
payout, or the list, makes the account's due moves first, so what a caller sees never lags
the clock (as reading the balance settles funds).
"""

from __future__ import annotations

import copy
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Final

from kassa import business_days
from kassa.clock import DAY_SECONDS, Clock
from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.ledger import accounts, payout_postings
from kassa.ledger.views import available_by_currency
from kassa.money import MAX_AMOUNT, Currency
from kassa.params import (
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    TimestampRange,
    apply_metadata,
    parse_params,
)
from kassa.services import balance, events, external_accounts, payout_schedules
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
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
    no_params,
    request_parser,
)
from kassa.store import Store, Transaction
from kassa.store.payout_queries import swept_window
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BALANCE_SETTINGS, EXTERNAL_ACCOUNTS, PAYOUTS, PRIVATE

PAYOUT_ARRIVAL_BUSINESS_DAYS: Final = 2
"""Stripe's standard payouts to US bank accounts arrive two business days on."""
INSTANT_PAYOUT_SECONDS: Final = 30 * 60
"""Stripe's instant payouts arrive within 30 minutes."""
MOVES_PER_READ_MAX: Final = 100
"""Due moves a read of an account's payouts makes first (the job does the rest)."""
MOVES_PER_PAYOUT_MAX: Final = 2
"""A payout moves at most twice (to in_transit, then to paid or failed)."""
STATEMENT_DESCRIPTOR_CHARS_MAX: Final = 22

log = logging.getLogger("kassa.payouts")

INSUFFICIENT_BALANCE_MESSAGE: Final = (
    "You have insufficient funds in your Stripe account for this transfer. Your card balance "
    "is too low. You can use the /v1/balance endpoint to view your Stripe balance (for more "
    "details, see stripe.com/docs/api#balance)."
)
METHODS = ("standard", "instant")
STATUSES = ("pending", "in_transit", "paid", "failed", "canceled")
ENDED_STATUSES = frozenset({"paid", "failed", "canceled"})

CREATE_PARAMS: dict[str, Param] = {
    "amount": Integer(minimum=1, maximum=MAX_AMOUNT),
    "currency": Currency(),
    "description": String(max_chars=1000),
    "destination": String(max_chars=255),
    "metadata": Metadata(),
    "method": Enum(values=METHODS),
    "source_type": Enum(values=("bank_account", "card", "fpx")),
    "statement_descriptor": String(max_chars=STATEMENT_DESCRIPTOR_CHARS_MAX),
    "payout_method": NotSupported(
        reason="Kassa pays out to the account's external accounts only (`destination`)."
    ),
}
UPDATE_PARAMS: dict[str, Param] = {"metadata": Metadata()}
LIST_FILTERS: dict[str, Param] = {
    "arrival_date": TimestampRange(),
    "destination": String(max_chars=255),
    "status": Enum(values=STATUSES),
}


@dataclass(frozen=True)
class CreatePayout:
    amount: int | None = None
    currency: str | None = None
    description: str | None = None
    destination: str | None = None
    metadata: MetadataUpdate | None = None
    method: str | None = None
    source_type: str | None = None
    statement_descriptor: str | None = None


@dataclass(frozen=True)
class UpdatePayout:
    payout: str
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class ListPayouts:
    params: dict[str, Any]


@dataclass(frozen=True)
class NewPayout:
    """What a payout is made of, whoever makes it (the API, or the automatic schedule)."""

    amount: int
    currency: str
    destination: ApiObject
    method: str = "standard"
    automatic: bool = False
    description: str | None = None
    statement_descriptor: str | None = None
    metadata: dict[str, str] | None = None


def public(payout: ApiObject) -> ApiObject:
    """The payout as the API shows it: without Kassa's own facts."""
    return {k: v for k, v in payout.items() if k != PRIVATE}


def arrival_date(created: int, country: str) -> int:
    """00:00 UTC of the day a standard payout made at `created` arrives: funds leave as
    charges' funds come in, so the same business-day rule (`business_days.available_on`)."""
    return business_days.available_on(created, PAYOUT_ARRIVAL_BUSINESS_DAYS, country)


def _timeline(now: int, method: str, country: str) -> tuple[str, int, int]:
    """(status at creation, when it next moves, arrival date)."""
    if method == "instant":
        arrives = now + INSTANT_PAYOUT_SECONDS
        return "in_transit", arrives, arrives
    cut_off = (now // DAY_SECONDS + 1) * DAY_SECONDS
    arrives = arrival_date(now, country)
    ensure(cut_off <= arrives, "a standard payout leaves before it arrives")
    return "pending", cut_off, arrives


async def make_payout(ctx: Context, new: NewPayout) -> ApiObject:
    """Post and store a payout (the caller checked the balance), announce `payout.created`."""
    now = ctx.now()
    payout_id = new_id("po")
    row = await payout_postings.record_payout(
        ctx.tx,
        ctx.account_id,
        payout_id,
        amount=new.amount,
        currency=new.currency,
        created=now,
        description=new.description,
    )
    status, due_at, arrives = _timeline(now, new.method, ctx.payments.account_country)
    payout = {
        "id": payout_id,
        "object": "payout",
        "amount": new.amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrives,
        "automatic": new.automatic,
        "balance_transaction": row.id,
        "created": now,
        "currency": new.currency,
        "description": new.description,
        "destination": new.destination["id"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": ctx.livemode,
        "metadata": new.metadata or {},
        "method": new.method,
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "in_progress" if new.automatic else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": new.statement_descriptor,
        "status": status,
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
        PRIVATE: {"due_at": due_at, "swept": None},
    }
    await ctx.tx.insert_object(PAYOUTS, ctx.account_id, payout)
    await events.announce(ctx, "payout.created", public(payout))
    return payout


async def create_payout(ctx: Context, request: CreatePayout) -> ApiObject:
    if request.amount is None:
        raise MissingParameter("amount")
    if request.currency is None:
        raise MissingParameter("currency")
    await balance.settle(ctx)
    destination = (
        await external_accounts.default_for(ctx, request.currency)
        if request.destination is None
        else await external_accounts.load_destination(ctx, request.destination)
    )
    if destination["currency"] != request.currency:
        raise InvalidParameter(
            f"The destination bank account's currency ({destination['currency']}) does not "
            f"match the payout's ({request.currency}).",
            param="destination",
        )
    if request.amount > await _locked_available(ctx, request.currency):
        raise InvalidRequest(INSUFFICIENT_BALANCE_MESSAGE, code="balance_insufficient")
    new = NewPayout(
        amount=request.amount,
        currency=request.currency,
        destination=destination,
        method=request.method or "standard",
        description=request.description,
        statement_descriptor=request.statement_descriptor,
        metadata=apply_metadata({}, request.metadata or {}),
    )
    return public(await make_payout(ctx, new))


async def _locked_available(ctx: Context, currency: str) -> int:
    """The available balance in `currency`, locked until the unit ends (locks in the order
    every payout path takes them: the bank account, then the balance)."""
    available = accounts.merchant(ctx.account_id, accounts.AVAILABLE, currency)
    return await ctx.tx.locked_balance(available.name)


# -- moving on the clock ------------------------------------------------------------------


async def _load(ctx: Context, payout_id: str) -> ApiObject:
    found = (
        await ctx.tx.get_object(PAYOUTS, ctx.account_id, payout_id)
        if could_be_object_id(payout_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("payout", payout_id)
    return found[0]


def _due_at(payout: ApiObject) -> int | None:
    due = payout.get(PRIVATE, {}).get("due_at")
    return None if due is None else int(due)


async def advance_payout(ctx: Context, payout: ApiObject) -> bool:
    """Make the moves due on `payout` (loaded locked) at `ctx.now()`; whether any was."""
    moved = False
    for _ in range(MOVES_PER_PAYOUT_MAX):
        due = _due_at(payout)
        if due is None or due > ctx.now():
            break
        before = public(copy.deepcopy(payout))
        if payout["status"] == "pending":
            payout["status"] = "in_transit"
            payout[PRIVATE]["due_at"] = payout["arrival_date"]
            await _save(ctx, payout, before, "payout.updated")
        else:
            await _arrive(ctx, payout, before)
        moved = True
    return moved


async def _arrive(ctx: Context, payout: ApiObject, before: ApiObject) -> None:
    """At its arrival date: paid, or failed back into the balance (the bank account's test
    number decides)."""
    ensure(payout["status"] == "in_transit", "only a payout in transit arrives")
    destination = await ctx.tx.get_object(
        EXTERNAL_ACCOUNTS, ctx.account_id, payout["destination"], lock=False
    )
    failure = None if destination is None else external_accounts.failure_code(destination[0])
    payout[PRIVATE]["due_at"] = None
    if failure is None:
        await payout_postings.record_payout_paid(
            ctx.tx,
            ctx.account_id,
            payout["id"],
            amount=payout["amount"],
            currency=payout["currency"],
            at=ctx.now(),
        )
        payout["status"] = "paid"
        payout["trace_id"] = {"status": "supported", "value": _trace_value()}
        if payout["automatic"]:
            payout["reconciliation_status"] = "completed"
        await _save(ctx, payout, before, "payout.paid")
        if payout["automatic"]:
            # What it swept was recorded when it was made: it can be listed now.
            await events.announce(ctx, "payout.reconciliation_completed", public(payout))
        return
    # The bank account before the balance, the order every payout path locks them in.
    await external_accounts.mark_errored(ctx, payout["destination"])
    row = await _give_back(ctx, payout, payout_postings.PAYOUT_FAILURE_TYPE)
    payout["status"] = "failed"
    payout["failure_balance_transaction"] = row
    payout["failure_code"] = failure
    payout["failure_message"] = external_accounts.FAILURE_MESSAGES[failure]
    payout["trace_id"] = {"status": "unsupported", "value": None}
    await _save(ctx, payout, before, "payout.failed")


def _trace_value() -> str:
    """A bank's trace number (an ACH trace is 15 digits)."""
    return "".join(secrets.choice("0123456789") for _ in range(15))


async def _give_back(ctx: Context, payout: ApiObject, kind: str) -> str:
    row = await payout_postings.record_payout_return(
        ctx.tx,
        ctx.account_id,
        payout["id"],
        amount=payout["amount"],
        currency=payout["currency"],
        at=ctx.now(),
        kind=kind,
        description=payout["description"],
    )
    return row.id


async def _save(ctx: Context, payout: ApiObject, before: ApiObject, event_type: str) -> None:
    """Store the payout and announce the change (`payout.updated` with what changed, and
    the status's own event)."""
    await ctx.tx.update_object(PAYOUTS, ctx.account_id, payout)
    shown = public(payout)
    if event_type != "payout.updated":
        await events.announce(ctx, event_type, shown)
    await events.announce(ctx, "payout.updated", shown, previous=before)


async def advance_account_payouts(ctx: Context) -> int:
    """Make the account's due moves (a bounded batch); how many payouts moved."""
    moved = 0
    for due in await ctx.tx.payouts_due(ctx.now(), None, MOVES_PER_READ_MAX, ctx.account_id):
        if await advance_payout(ctx, await _load(ctx, due.object_id)):
            moved += 1
    return moved


# -- automatic payouts ------------------------------------------------------------------------


async def pay_out_on_schedule(ctx: Context) -> int:
    """The account's automatic payouts, if its schedule has one due at `ctx.now()`: one per
    currency with a positive available balance, sweeping all of it, unless the currency's
    bank account is `errored` (a payout to it failed; Stripe sends no scheduled payouts to it
    until its details are updated). How many were made."""
    found = await ctx.tx.get_object(BALANCE_SETTINGS, ctx.account_id, ctx.account_id)
    if found is None or found[1]:
        return 0
    settings = found[0]
    facts = settings[PRIVATE]
    now = ctx.now()
    if facts.get("next_payout_at") is None or int(facts["next_payout_at"]) > now:
        return 0
    country = ctx.payments.account_country
    deferred = payout_schedules.deferred_to_a_business_day(now, country)
    if deferred is not None:
        facts["next_payout_at"] = deferred
        await ctx.tx.update_object(BALANCE_SETTINGS, ctx.account_id, settings)
        return 0
    await balance.settle(ctx)
    payouts_settings = settings["payments"]["payouts"]
    made = 0
    for currency, seen in sorted((await available_by_currency(ctx.tx, ctx.account_id)).items()):
        if seen <= 0:
            continue  # nothing to pay out; what is available waits for the next payout
        destination = await external_accounts.default_for(ctx, currency)
        if not external_accounts.takes_scheduled_payouts(destination):
            continue  # a payout to it failed: the balance waits for its details to change
        amount = await _locked_available(ctx, currency)
        if amount <= 0:
            continue
        new = NewPayout(
            amount=amount,
            currency=currency,
            destination=destination,
            automatic=True,
            description=payout_schedules.AUTOMATIC_PAYOUT_DESCRIPTION,
            statement_descriptor=payouts_settings.get("statement_descriptor"),
        )
        await _sweep(ctx, await make_payout(ctx, new))
        made += 1
    facts["next_payout_at"] = payout_schedules.next_payout_time(
        now, payouts_settings["schedule"], country
    )
    await ctx.tx.update_object(BALANCE_SETTINGS, ctx.account_id, settings)
    return made


async def _sweep(ctx: Context, payout: ApiObject) -> None:
    """Record what the automatic `payout` pays out: the available transactions no earlier
    one swept (under the balance's lock `_locked_available` took), which sum to it. Recorded
    now, not derived later, so what its list shows never changes.

    They sum to it whenever every earlier payout's sweep is whole, which this code keeps but
    data from before sweeps were recorded may not (a transaction paid out by a payout that
    names none): the payout still pays the available balance, sweeps what is unswept, and
    is logged; `kassa ledger verify` reports it (`PAYOUT_DISAGREES_WITH_SWEPT`). A refusal
    here would fail every read that brings payouts up to date, and stop them for good."""
    await ctx.tx.sweep_into_payout(ctx.account_id, payout["currency"], payout["id"])
    payout[PRIVATE]["swept"] = {"account_id": ctx.account_id}
    await ctx.tx.update_object(PAYOUTS, ctx.account_id, payout)
    window = swept_window(payout, limit=0)
    ensure(window is not None, "an automatic payout names what it swept")
    swept = 0 if window is None else await ctx.tx.swept_total(window)
    if swept != payout["amount"]:
        log.warning(
            "automatic payout %s of account %s pays out %d %s but swept %d: earlier sweeps "
            "are not whole (run `kassa ledger verify`)",
            payout["id"],
            ctx.account_id,
            payout["amount"],
            payout["currency"],
            swept,
        )


# -- the API's other operations ------------------------------------------------------------


async def retrieve_payout(ctx: Context, payout_id: str) -> ApiObject:
    payout = await _load(ctx, payout_id)
    await advance_payout(ctx, payout)
    return public(payout)


async def update_payout(ctx: Context, request: UpdatePayout) -> ApiObject:
    payout = await _load(ctx, request.payout)
    await advance_payout(ctx, payout)
    before = public(copy.deepcopy(payout))
    if request.metadata is not None:
        payout["metadata"] = apply_metadata(payout["metadata"], request.metadata)
    if public(payout) != before:
        await _save(ctx, payout, before, "payout.updated")
    return public(payout)


async def cancel_payout(ctx: Context, payout_id: str) -> ApiObject:
    payout = await _load(ctx, payout_id)
    await advance_payout(ctx, payout)
    if payout["automatic"]:
        raise InvalidRequest(
            f"Payout {payout['id']} cannot be canceled because it was created automatically. "
            "Only manual payouts can be canceled."
        )
    if payout["status"] != "pending":
        raise InvalidRequest(
            f"Payout {payout['id']} cannot be canceled because it has a status of "
            f"{payout['status']}. Only pending payouts can be canceled."
        )
    before = public(copy.deepcopy(payout))
    row = await _give_back(ctx, payout, payout_postings.PAYOUT_CANCEL_TYPE)
    payout["status"] = "canceled"
    payout["failure_balance_transaction"] = row
    payout["trace_id"] = {"status": "unsupported", "value": None}
    payout[PRIVATE]["due_at"] = None
    await _save(ctx, payout, before, "payout.canceled")
    return public(payout)


async def arrive_now(ctx: Context, payout_id: str) -> ApiObject:
    """Kassa test helper (`POST /v1/test_helpers/payouts/{id}/arrive`): the payout's bank
    answers now rather than on its arrival date, so a test need not wait business days: a
    pending payout goes in transit, then it is paid, or fails as its bank account's test
    number says, with the events and postings of the scheduled arrival."""
    payout = await _load(ctx, payout_id)
    await advance_payout(ctx, payout)
    if payout["status"] not in ("pending", "in_transit"):
        raise InvalidRequest(
            f"Payout {payout['id']} has already arrived or ended ({payout['status']}).",
            param="id",
        )
    if payout["status"] == "pending":
        before = public(copy.deepcopy(payout))
        payout["status"] = "in_transit"
        await _save(ctx, payout, before, "payout.updated")
    await _arrive(ctx, payout, public(copy.deepcopy(payout)))
    return public(payout)


async def list_payouts(ctx: Context, request: ListPayouts) -> ApiObject:
    await pay_out_on_schedule(ctx)
    await advance_account_payouts(ctx)
    params = request.params
    equals: dict[str, Any] = {
        name: params[name] for name in ("destination", "status") if name in params
    }
    query = ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals=equals,
        created=params.get("created", {}),
        ranges={"arrival_date": params["arrival_date"]} if "arrival_date" in params else {},
    )
    page = await list_page_with(ctx, RESOURCE, params, query)
    page.data[:] = [public(payout) for payout in page.data]
    return list_envelope(page, RESOURCE.url)


async def fetch_payout(ctx: Context, payout_id: str) -> ApiObject | None:
    """For expansion (a balance transaction's `source`)."""
    if not could_be_object_id(payout_id):
        return None
    found = await ctx.tx.get_object(PAYOUTS, ctx.account_id, payout_id, lock=False)
    return None if found is None else public(found[0])


def _parse_list(ids: RouteIds, form: Form) -> ListPayouts:
    return ListPayouts(params=parse_params({**PAGINATION_PARAMS, **LIST_FILTERS}, form))


RESOURCE = Resource(
    object_name="payout",
    id_prefix="po",
    collection="payouts",
    table=PAYOUTS,
    create=Operation(request_parser(CreatePayout, CREATE_PARAMS), create_payout, writes=True),
    # Reading brings the payout up to date with the clock first: it writes.
    retrieve=Operation(no_params, retrieve_payout, writes=True),
    update=Operation(
        request_parser(UpdatePayout, UPDATE_PARAMS, ids=("payout",)), update_payout, writes=True
    ),
    lister=Operation(_parse_list, list_payouts, writes=True),
    actions={"cancel": Operation(no_params, cancel_payout, writes=True)},
    test_helpers={"arrive": Operation(no_params, arrive_now, writes=True)},
    expandable={
        "balance_transaction": "balance_transaction",
        "destination": "bank_account",
        "failure_balance_transaction": "balance_transaction",
        "original_payout": "payout",
        "reversed_by": "payout",
    },
    event_types=(
        "payout.canceled",
        "payout.created",
        "payout.failed",
        "payout.paid",
        "payout.reconciliation_completed",
        "payout.updated",
    ),
    fetch=fetch_payout,
)


# -- the payouts job's steps -----------------------------------------------------------------------


async def advance_due_payouts(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's due moves, each payout in a unit of work of its own, bounded per run
    (`due_work.do_due_operations`); how many moved. On PostgreSQL two workers may find the
    same payout: the second, reading it under its row lock, finds nothing due any more and
    does nothing. A move that fails is rolled back and its `due_at` column moved an hour on
    (`due_work.FAILED_WORK_RETRY_SECONDS`), not marked failed: a payout fails only as its
    bank says, and giving its money back for a fault of Kassa's would pay it out twice once
    the fault is fixed."""
    jobs = (Transaction.payouts_due, Transaction.postpone_payout_move)
    failed = (log, "payout %s could not move: %s")
    return await do_due_operations(store, clock, payments, jobs, _advance_due_payout, failed)


async def _advance_due_payout(ctx: Context, payout_id: str) -> bool:
    return await advance_payout(ctx, await _load(ctx, payout_id))


async def make_due_automatic_payouts(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's automatic payouts due now, each account in a unit of its own, bounded
    per run (`due_work.do_due_operations`); how many payouts were made. A second worker
    finding the same account reads its settings under the row lock and finds the payout no
    longer due. An account whose payout fails is rolled back and its `next_payout_at`
    column moved an hour on (`due_work.FAILED_WORK_RETRY_SECONDS`) rather than to its
    schedule's next day: once fixed, its balance goes out within the hour, and what it
    sweeps starts where the last payout made stopped either way."""
    jobs = (Transaction.automatic_payouts_due, Transaction.postpone_automatic_payout)
    failed = (log, "automatic payout of account %s failed: %s")
    return await do_due_operations(store, clock, payments, jobs, _pay_out_due, failed)


async def _pay_out_due(ctx: Context, _balance_settings_id: str) -> int:
    """The account's automatic payouts due (its balance settings' id is the account's)."""
    return await pay_out_on_schedule(ctx)
