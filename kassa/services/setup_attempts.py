"""SetupAttempts: Stripe's record of each try to set a card up. Every confirmation of a
SetupIntent that reaches the card makes one (`succeeded`, `failed`, or `requires_action`
until the 3-D Secure challenge is answered, or `abandoned` if the intent is canceled first);
the intent's `latest_attempt` names the newest. Listed at `GET /v1/setup_attempts`, whose
`setup_intent` filter is required, as on Stripe (which has no retrieve either).
"""

from __future__ import annotations

from typing import Any

from kassa.ids import new_id, random_base62
from kassa.invariants import InvariantViolated, ensure
from kassa.params import String
from kassa.services.context import Context
from kassa.services.listing import PAGINATION_PARAMS, ListRequest, list_objects
from kassa.services.resource import ApiObject, Operation, ParamsParser, Resource, RouteIds
from kassa.store.tables import SETUP_ATTEMPTS

TRANSACTION_ID_CHARS = 24
LIST_FILTERS = {"setup_intent": String(max_chars=255)}


def _card_details(payment_method: ApiObject) -> dict[str, Any]:
    card = payment_method["card"]
    return {
        "card": {
            "brand": card["brand"],
            "checks": card["checks"],
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "last4": card["last4"],
            "network": card["brand"],
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


def _three_d_secure(result: str) -> dict[str, Any]:
    return {
        "authentication_flow": "challenge",
        "electronic_commerce_indicator": "05" if result == "authenticated" else None,
        "result": result,
        "result_reason": None,
        "transaction_id": random_base62(TRANSACTION_ID_CHARS),
        "version": "2.2.0",
    }


async def record(
    ctx: Context,
    intent: ApiObject,
    payment_method: ApiObject,
    status: str,
    setup_error: ApiObject | None = None,
) -> None:
    """A new attempt of `intent` with `payment_method`, made the intent's latest (the caller
    saves the intent)."""
    attempt = {
        "id": new_id("setatt"),
        "object": "setup_attempt",
        "application": None,
        "attach_to_self": intent["attach_to_self"],
        "created": ctx.now(),
        "customer": intent["customer"],
        "customer_account": None,
        "flow_directions": intent["flow_directions"],
        "livemode": ctx.livemode,
        "on_behalf_of": None,
        "payment_method": payment_method["id"],
        "payment_method_details": _card_details(payment_method),
        "setup_error": setup_error,
        "setup_intent": intent["id"],
        "status": status,
        "usage": intent["usage"],
    }
    await ctx.tx.insert_object(SETUP_ATTEMPTS, ctx.account_id, attempt)
    intent["latest_attempt"] = attempt["id"]


async def finish(
    ctx: Context,
    intent: ApiObject,
    status: str,
    *,
    three_d_secure: str | None = None,
    setup_error: ApiObject | None = None,
) -> None:
    """End the intent's latest attempt, which waits for its 3-D Secure challenge:
    `three_d_secure` is the challenge's result (`authenticated`, `failed`), if answered."""
    found = await ctx.tx.get_object(SETUP_ATTEMPTS, ctx.account_id, str(intent["latest_attempt"]))
    if found is None:
        raise InvariantViolated(f"the latest attempt of {intent['id']} is not stored")
    attempt = found[0]
    ensure(attempt["status"] == "requires_action", "only an attempt awaiting 3-D Secure ends")
    attempt["status"] = status
    attempt["setup_error"] = setup_error
    if three_d_secure is not None:
        attempt["payment_method_details"]["card"]["three_d_secure"] = _three_d_secure(
            three_d_secure
        )
    await ctx.tx.update_object(SETUP_ATTEMPTS, ctx.account_id, attempt)


def _build_list(_ids: RouteIds, params: dict[str, Any]) -> ListRequest:
    return ListRequest(RESOURCE, params)


RESOURCE = Resource(
    object_name="setup_attempt",
    id_prefix="setatt",
    collection="setup_attempts",
    table=SETUP_ATTEMPTS,
    list_filters=LIST_FILTERS,
    lister=Operation(
        ParamsParser(
            {**PAGINATION_PARAMS, **LIST_FILTERS}, _build_list, required=("setup_intent",)
        ),
        list_objects,
        writes=False,
    ),
    expandable={
        "customer": "customer",
        "payment_method": "payment_method",
        "setup_intent": "setup_intent",
    },
)
