"""Stripe's test clocks (`/v1/test_helpers/test_clocks`): create, retrieve, list, delete,
advance.

A clock holds a frozen time. Customers created with `test_clock` (or attached at the clock's
creation with `customer`, if nothing of theirs is still scheduled in real time:
`_IN_REAL_TIME`) and everything that hangs off them live at that time
(`Context.governed_by`). `advance` answers at once with `status=advancing` and the target in
`status_details`; the `test_clocks` background job (`kassa.services.clock_advance`) then
does the work that falls due on the clock's objects, in time order, and makes the clock
`ready` at the target. Kassa goes further than Stripe: no limit of three customers per
clock, and one advance may cross up to `ADVANCE_SPAN_YEARS_MAX` years (Stripe: two
billing intervals).

Deleting a clock deletes the customers on it, as Stripe does (their other objects stay, as
after a customer's own deletion).

Stripe deletes a clock by itself 30 days after its creation (`deletes_after`), in real time,
whatever the clock's frozen time: the `retention` background job does the same
(`delete_expired_test_clock`), as `DELETE /v1/test_helpers/test_clocks/{id}` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import TIMESTAMP_MAX, Param, String, Timestamp
from kassa.services import customers, events
from kassa.services.billing import subscription_documents
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.services.wakeups import CLOCKS_TO_ADVANCE
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import (
    CUSTOMERS,
    INVOICES,
    PAYMENT_INTENTS,
    SUBSCRIPTIONS,
    TEST_CLOCKS,
    ObjectTable,
)

NAME_CHARS_MAX = 300
DELETES_AFTER_SECONDS = 30 * 24 * 60 * 60
"""Stripe deletes a clock 30 days after its creation (the `deletes_after` it reports)."""
FROZEN_TIME_MAX = TIMESTAMP_MAX
"""A clock's time is a timestamp like any other: its objects' dates must render."""
ADVANCE_SPAN_YEARS_MAX = 100
"""How far one advance may move a clock: Kassa goes further than Stripe (two billing
intervals), a century is more than any test of a subscription's life needs, and the advance's
work stays bounded (a monthly subscription bills 1,200 invoices over it, not the about 94,000 an
advance to the year 9899 would)."""
ADVANCE_SPAN_SECONDS_MAX = ADVANCE_SPAN_YEARS_MAX * 366 * 24 * 60 * 60
"""The span in seconds, counting every year as a leap year (so 100 calendar years always fit)."""
CUSTOMERS_DELETED_PER_CLOCK_MAX = 10_000
"""Customers one clock's deletion deletes with it (a clock is a test fixture)."""

_FROZEN_TIME = Timestamp()
CREATE_PARAMS: dict[str, Param] = {
    "frozen_time": _FROZEN_TIME,
    "name": String(max_chars=NAME_CHARS_MAX),
    "customer": String(max_chars=255),
}
ADVANCE_PARAMS: dict[str, Param] = {"frozen_time": _FROZEN_TIME}
LIST_FILTERS: dict[str, Param] = {}

EVENT_TYPES = (
    "test_helpers.test_clock.created",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.ready",
    "test_helpers.test_clock.deleted",
    "test_helpers.test_clock.internal_failure",
)


@dataclass(frozen=True, kw_only=True)
class CreateTestClock:
    frozen_time: int
    name: str | None = None
    customer: str | None = None


@dataclass(frozen=True, kw_only=True)
class AdvanceTestClock:
    test_clock: str
    frozen_time: int


async def create_test_clock(ctx: Context, request: CreateTestClock) -> ApiObject:
    created = ctx.now()
    clock: ApiObject = {
        "id": new_id("clock"),
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + DELETES_AFTER_SECONDS,
        "frozen_time": request.frozen_time,
        "livemode": False,
        "name": request.name,
        "status": "ready",
        "status_details": {},
    }
    if request.customer:
        await _attach_customer(ctx, clock["id"], request.customer)
    await ctx.tx.insert_object(TEST_CLOCKS, ctx.account_id, clock)
    await events.announce(ctx, "test_helpers.test_clock.created", clock)
    return clock


async def _attach_customer(ctx: Context, clock_id: str, customer_id: str) -> None:
    """Stripe's `customer` at creation: an existing customer moves onto the new clock, for
    good. One already on a clock cannot move, nor one with work still to come in real time
    (`_split_from_clock`)."""
    customer = await load_live_object(ctx, customers.RESOURCE, customer_id, param="customer")
    if customer.get("test_clock"):
        raise InvalidRequest(
            f"Customer {customer_id} is already attached to test clock "
            f"{customer['test_clock']}; a customer's test clock cannot change.",
            param="customer",
        )
    split = await _split_from_clock(ctx, customer_id)
    if split is not None:
        raise InvalidRequest(
            f"Customer {customer_id} has {split}, which runs in real time: it cannot be "
            "attached to a test clock. Create a new customer on the test clock instead "
            "(`test_clock` on customer creation).",
            param="customer",
        )
    customer["test_clock"] = clock_id
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)


_IN_REAL_TIME: tuple[tuple[ObjectTable, tuple[str, ...], str], ...] = (
    (SUBSCRIPTIONS, subscription_documents.LISTED_BY_DEFAULT, "a subscription that has not ended"),
    (INVOICES, ("draft", "open"), "a draft or open invoice"),
    (PAYMENT_INTENTS, ("requires_capture",), "a payment intent awaiting capture"),
)
"""The customer's objects whose future is scheduled in real time, by the statuses in which it
still is, and how the refusal names them.

Subscriptions and invoices carry their own `test_clock` (null for these), and the due work
on them (renewals, finalization, payment retries, reminders, overdue marking) is found by
it, while every API operation on them runs at their customer's time: once the customer is on
a clock, a subscription would never renew and a change to it lands outside its period (a
proration 500s), an invoice would be finalized or paid before it was created. An
uncaptured payment's authorization expires in real time (its expiry row has no clock) while
its capture happens at the clock's time. Stripe never leaves a customer and its objects on
two clocks, and does not say what it does with them: Kassa refuses rather than guess.

Not refused: what is over (ended subscriptions, paid, void or uncollectible invoices,
settled payments), and the account's pending funds and refunds still to fail, which settle
and fail in real time, as they do once a clock is deleted (they are the account's balance,
not the customer's life: nothing about the customer's clock reads them)."""


async def _split_from_clock(ctx: Context, customer_id: str) -> str | None:
    """How the refusal names the first of the customer's objects that would stay in real
    time (`_IN_REAL_TIME`); None if it has none."""
    for table, statuses, named in _IN_REAL_TIME:
        query = ObjectListQuery(
            limit=1, equals={"customer": customer_id}, any_of={"status": statuses}
        )
        if (await ctx.tx.list_objects(table, ctx.account_id, query)).objects:
            return named
    return None


async def retrieve_test_clock(ctx: Context, clock_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, clock_id)


async def advance_test_clock(ctx: Context, request: AdvanceTestClock) -> ApiObject:
    clock = await load_live_object(ctx, RESOURCE, request.test_clock)
    if clock["status"] != "ready":
        raise InvalidRequest(
            f"Test clock {clock['id']} is {clock['status']}: it can advance again once its "
            "status is ready.",
        )
    if request.frozen_time <= clock["frozen_time"]:
        raise InvalidParameter(
            f"The frozen_time {request.frozen_time} must be after the test clock's current "
            f"frozen_time {clock['frozen_time']}.",
            param="frozen_time",
        )
    if request.frozen_time - clock["frozen_time"] > ADVANCE_SPAN_SECONDS_MAX:
        raise InvalidParameter(
            f"The frozen_time {request.frozen_time} is too far ahead: one advance may move a "
            f"test clock at most {ADVANCE_SPAN_YEARS_MAX} years (to "
            f"{clock['frozen_time'] + ADVANCE_SPAN_SECONDS_MAX}); advance it again from there.",
            param="frozen_time",
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": request.frozen_time}}
    await ctx.tx.update_object(TEST_CLOCKS, ctx.account_id, clock)
    await events.announce(ctx, "test_helpers.test_clock.advancing", clock)
    ctx.tx.after_commit(CLOCKS_TO_ADVANCE.notify)
    return clock


async def delete_expired_test_clock(ctx: Context, clock_id: str) -> bool:
    """Delete the clock if its `deletes_after` has come at `ctx.now()` (the installation's
    time: a clock's own frozen time does not govern it) and it is still there; whether it
    was deleted."""
    found = await ctx.tx.get_object(TEST_CLOCKS, ctx.account_id, clock_id)
    if found is None or found[1] or found[0]["deletes_after"] > ctx.now():
        return False
    await delete_test_clock(ctx, clock_id)
    return True


async def delete_test_clock(ctx: Context, clock_id: str) -> ApiObject:
    clock = await load_live_object(ctx, RESOURCE, clock_id)
    on_clock = await ctx.tx.list_objects(
        CUSTOMERS,
        ctx.account_id,
        ObjectListQuery(limit=CUSTOMERS_DELETED_PER_CLOCK_MAX, equals={"test_clock": clock_id}),
    )
    for customer in on_clock.objects:
        await customers.delete_customer(ctx, customer["id"])
    # Its customers' pending funds stay the merchant's: they settle in real time from now,
    # their refunds still to fail fail, their captures still to post post, and their held
    # authorizations expire, in real time.
    await ctx.tx.release_clock_funds(ctx.account_id, clock_id)
    await ctx.tx.release_clock_refund_failures(ctx.account_id, clock_id)
    await ctx.tx.release_clock_capture_postings(ctx.account_id, clock_id)
    await ctx.tx.release_clock_authorization_expiries(ctx.account_id, clock_id)
    await ctx.tx.mark_object_deleted(TEST_CLOCKS, ctx.account_id, clock_id)
    await events.announce(ctx, "test_helpers.test_clock.deleted", clock)
    return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}


RESOURCE = Resource(
    object_name="test_helpers.test_clock",
    id_prefix="clock",
    collection="test_helpers/test_clocks",
    table=TEST_CLOCKS,
    create=Operation(
        request_parser(CreateTestClock, CREATE_PARAMS, required=("frozen_time",)),
        create_test_clock,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_test_clock, writes=False),
    delete=Operation(no_params, delete_test_clock, writes=True),
    actions={
        "advance": Operation(
            request_parser(
                AdvanceTestClock, ADVANCE_PARAMS, ids=("test_clock",), required=("frozen_time",)
            ),
            advance_test_clock,
            writes=True,
        )
    },
    list_filters=LIST_FILTERS,
    # Stripe's list takes only `ending_before`, `expand`, `limit` and `starting_after`.
    list_created=False,
    event_types=EVENT_TYPES,
)
