"""Ephemeral keys (`/v1/ephemeral_keys`): create and delete, as Stripe's mobile integrations
(PaymentSheet's customer configuration) ask for them on every checkout. Object
`ephemeral_key`, id `ephkey_...`, secret `ek_test_...`; no retrieve, update or list.

A key is made for one customer of the account (`customer`); Kassa models no Issuing cards
nor Identity verification sessions, so `issuing_card`, `nonce` and `verification_session`
are refused naming the parameter. The request must name the API version the key is for
(`Stripe-Version`, checked at the edge: `Operation.api_version_required`), as Stripe's
does, since the key serves a client SDK pinned to its own version.

The secret is in the create's answer only (`Operation.secret_fields`: neither the request
log nor the idempotency record keeps it) and is stored nowhere: Kassa authenticates no
request with it (an `ek_test_...` bearer is refused as any unknown key is), so it has
nothing to check it against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kassa.errors import MissingParameter
from kassa.ids import new_id, new_secret
from kassa.params import NotSupported, Param, String
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import EPHEMERAL_KEYS

LIFETIME_SECONDS: Final = 60 * 60
"""Stripe's customer ephemeral keys expire an hour after they are made."""
SECRET_PREFIX: Final = "ek_test"
"""Kassa is test mode only, as its API keys are (`sk_test_...`)."""

CREATE_PARAMS: dict[str, Param] = {
    "customer": String(max_chars=5000),
    "issuing_card": NotSupported(reason="Kassa has no Issuing cards."),
    "nonce": NotSupported(reason="Kassa has no Issuing cards, for which Stripe.js makes nonces."),
    "verification_session": NotSupported(reason="Kassa has no Identity verification sessions."),
}


@dataclass(frozen=True, kw_only=True)
class CreateEphemeralKey:
    customer: str | None = None


async def create_ephemeral_key(ctx: Context, request: CreateEphemeralKey) -> ApiObject:
    if request.customer is None:
        # The associated object Kassa models is the only one that can be sent.
        raise MissingParameter("customer")
    customer = await load_customer_named(ctx, request.customer, param="customer")
    ctx = await ctx.governed_by(customer)
    created = ctx.now()
    key: ApiObject = {
        "id": new_id("ephkey"),
        "object": "ephemeral_key",
        "created": created,
        "expires": created + LIFETIME_SECONDS,
        "livemode": ctx.livemode,
    }
    await ctx.tx.insert_object(EPHEMERAL_KEYS, ctx.account_id, key)
    return {**key, "secret": new_secret(SECRET_PREFIX)}


async def delete_ephemeral_key(ctx: Context, key_id: str) -> ApiObject:
    """The key, as Stripe answers a delete (the object itself, without its secret); a key
    deleted already, or never made, is missing."""
    key = await load_live_object(ctx, RESOURCE, key_id)
    await ctx.tx.mark_object_deleted(EPHEMERAL_KEYS, ctx.account_id, key_id)
    return key


RESOURCE = Resource(
    object_name="ephemeral_key",
    id_prefix="ephkey",
    collection="ephemeral_keys",
    table=EPHEMERAL_KEYS,
    create=Operation(
        request_parser(CreateEphemeralKey, CREATE_PARAMS),
        create_ephemeral_key,
        writes=True,
        secret_fields=("secret",),
        api_version_required=True,
    ),
    delete=Operation(no_params, delete_ephemeral_key, writes=True),
)
