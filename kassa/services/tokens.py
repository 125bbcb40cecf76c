"""Card tokens: `POST /v1/tokens` (what Stripe.js sends with the publishable key, or a server
with its secret key) and `GET /v1/tokens/{id}`.

A token carries a card object (`card_...`) made from the card's details; the number goes no
further than `kassa.cards`. A token is used once: as a charge's `source`, to save the card
on a customer (which keeps the token card's id), or to make a card PaymentMethod
(`card[token]`). Stripe's test tokens (`tok_visa`,
`tok_chargeDeclined`, ...) stand for a new card each time they are used and are never used up.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id
from kassa.params import CONNECT_ONLY, NotSupported, Param, String, Struct
from kassa.services import card_objects
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import TOKENS

CREATE_PARAMS: dict[str, Param] = {
    "card": Struct(card_objects.CARD_FIELDS),
    "customer": String(max_chars=255),
    "account": NotSupported(reason=CONNECT_ONLY),
    "person": NotSupported(reason=CONNECT_ONLY),
    "bank_account": NotSupported(reason="Kassa makes tokens of cards only."),
    "cvc_update": NotSupported(reason="Kassa makes tokens of cards only."),
    "pii": NotSupported(reason="Kassa makes tokens of cards only."),
}


@dataclass(frozen=True, kw_only=True)
class CreateToken:
    card: Mapping[str, Any] | None = None
    customer: str | None = None
    """Refused: a token of a customer's saved card is a Connect feature Kassa does not have."""


async def create_token(ctx: Context, request: CreateToken) -> ApiObject:
    if request.customer is not None:
        raise InvalidParameter(
            "Kassa does not make tokens of a customer's saved card (a Connect feature); send "
            "the card's details in `card` instead.",
            param="customer",
        )
    if request.card is None:
        raise MissingParameter("card")
    card = card_objects.validated_card(ctx, request.card, "card")
    token = {
        "id": new_id("tok"),
        "object": "token",
        "card": card_objects.new_card_object(ctx, card, request.card),
        "client_ip": ctx.client_ip,
        "created": ctx.now(),
        "livemode": ctx.livemode,
        "type": "card",
        "used": False,
    }
    await ctx.tx.insert_object(TOKENS, ctx.account_id, token)
    return token


async def retrieve_token(ctx: Context, token_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, token_id)


async def use_token(ctx: Context, token_id: str, *, param: str) -> ApiObject:
    """The card object `token_id` carries, using the token up (a second use is refused with
    Stripe's `token_already_used`). A test token gives a new card every time."""
    test_card = card_objects.test_token_card(ctx, token_id)
    if test_card is not None:
        return card_objects.new_card_object(ctx, test_card)
    token = await load_live_object(ctx, RESOURCE, token_id, param=param)
    if token["used"]:
        raise InvalidRequest(
            f"You cannot use a Stripe token more than once: {token_id}.",
            param=param,
            code="token_already_used",
        )
    token["used"] = True
    await ctx.tx.update_object(TOKENS, ctx.account_id, token)
    return copy.deepcopy(token["card"])


RESOURCE = Resource(
    object_name="token",
    id_prefix="tok",
    collection="tokens",
    table=TOKENS,
    create=Operation(
        request_parser(CreateToken, CREATE_PARAMS),
        create_token,
        writes=True,
        publishable_key_allowed=True,
    ),
    retrieve=Operation(no_params, retrieve_token, writes=False),
)
