"""A customer's payment sources: cards (`card_...`) saved on the customer, under
`/v1/customers/{id}/sources` (and Stripe's older alias `/v1/customers/{id}/cards`).

A card is saved from a token (`source=tok_...`, keeping the token card's id) or, as older
integrations send, from a hash of card details (`source[object]=card&source[number]=...`).
Stripe verifies a card with its issuer when it is saved, so a card that declines on attach
(4000000000000002) cannot be saved: 402 `card_error`.

`default_source` as Stripe keeps it: the first card saved becomes the customer's default;
deleting the default makes the most recently added remaining card the default (null when
none is left); a deleted card named as `invoice_settings.default_payment_method` is cleared
from it; each change announces `customer.updated`. The card itself announces
`customer.source.created`, `.updated` and `.deleted`.

Locks: the customer's row before its cards', in every path (adding, deleting, charging the
default), so PostgreSQL never deadlocks two of them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import cards
from kassa.errors import CardError, InvalidParameter, ResourceMissing
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    apply_metadata,
    parse_params,
)
from kassa.services import card_objects, events, tokens
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    could_be_object_id,
    included_list,
    list_page_with,
)
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
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CARDS, CUSTOMERS

SOURCES_INCLUDED_MAX: Final = 10
"""`expand[]=sources` on a customer shows this many cards, newest first (Stripe: the 10 most
recent, with `has_more`)."""
NEXT_DEFAULT_SCAN: Final = 1
"""Deleting the default source looks at this many of the remaining cards: the newest."""

CREATE_PARAMS: dict[str, Param] = {
    "source": card_objects.SourceParam(),
    "metadata": Metadata(),
    "validate": Boolean(),
}
UPDATE_PARAMS: dict[str, Param] = {
    **card_objects.HOLDER_FIELDS,
    "exp_month": Integer(minimum=1, maximum=12),
    "exp_year": Integer(minimum=1, maximum=9999),
    "metadata": Metadata(),
    **{
        name: NotSupported(reason="Kassa's sources are cards; this is a bank account's field.")
        for name in ("account_holder_name", "account_holder_type")
    },
    "owner": NotSupported(reason="Kassa's sources are cards, which have no source owner."),
}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "object": Enum(values=("card", "bank_account", "source")),
}

STORED_ONLY: Final = frozenset({"created"})
"""Stored, not shown: every stored object has a `created` for list order; Stripe's cards
show none."""

SourceReference = str | Mapping[str, Any]
"""A validated `source`: a token id, or card details (`card_objects.SOURCE_HASH_FIELDS`)."""


@dataclass(frozen=True, kw_only=True)
class CreateSource:
    customer: str
    source: SourceReference
    metadata: MetadataUpdate | None = None
    validate: bool | None = None
    """Accepted as Stripe accepts it: Kassa always verifies the card."""


@dataclass(frozen=True)
class SourceRef:
    customer: str
    card: str


@dataclass(frozen=True, kw_only=True)
class UpdateSource:
    customer: str
    card: str
    name: str | None = None
    address_city: str | None = None
    address_country: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_state: str | None = None
    address_zip: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class ListSources:
    customer: str
    params: Mapping[str, Any]


def public(card: ApiObject) -> ApiObject:
    """The saved card as the API shows it."""
    return {k: v for k, v in card.items() if k not in STORED_ONLY}


async def new_card(ctx: Context, source: SourceReference, *, param: str) -> ApiObject:
    """A card object from `source` (a token, or card details), not yet saved anywhere."""
    if isinstance(source, str):
        if not source.startswith("tok_"):
            raise ResourceMissing("source", source, param=param)
        return await tokens.use_token(ctx, source, param=param)
    if source.get("object", "card") != "card":
        raise InvalidParameter(
            "Only card sources can be made from details: `object` must be `card`.",
            param=f"{param}[object]",
        )
    card = card_objects.validated_card(ctx, source, param)
    return card_objects.new_card_object(ctx, card, source)


async def verified_card(
    ctx: Context, source: SourceReference, *, param: str, metadata: MetadataUpdate | None = None
) -> ApiObject:
    """A card from `source`, verified with its issuer as Stripe does before saving one (402
    `card_error` for a card that declines on attach); not yet stored."""
    card = await new_card(ctx, source, param=param)
    behavior = card_objects.behavior_of_card_object(ctx, card)
    if behavior.decline is not None and behavior.declines_on_attach:
        raise cards.decline_error(behavior.decline, CardError, param=param)
    if metadata is not None:
        card["metadata"] = apply_metadata(card["metadata"], metadata)
    return card


async def store_card(ctx: Context, customer: ApiObject, card: ApiObject) -> None:
    """Save a verified card on `customer` (loaded, locked), announcing
    `customer.source.created`; the first card becomes the default. The customer object is
    changed, not stored: the caller stores it (and announces `customer.updated`)."""
    card["customer"] = customer["id"]
    await ctx.tx.insert_object(CARDS, ctx.account_id, {**card, "created": ctx.now()})
    await events.announce(ctx, "customer.source.created", card)
    if customer["default_source"] is None:
        customer["default_source"] = card["id"]


async def delete_card_of(ctx: Context, customer: ApiObject, card: ApiObject) -> None:
    """Delete a saved card (the customer loaded and locked first); the default passes to the
    most recently added remaining card, and a card named as the default payment method
    (`invoice_settings`) is no longer one. The customer is changed, not stored."""
    await ctx.tx.mark_object_deleted(CARDS, ctx.account_id, card["id"])
    await events.announce(ctx, "customer.source.deleted", public(card))
    if customer["invoice_settings"]["default_payment_method"] == card["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
    if customer["default_source"] == card["id"]:
        remaining = await _cards_of(ctx, customer["id"], NEXT_DEFAULT_SCAN)
        customer["default_source"] = remaining[0]["id"] if remaining else None


async def card_of(ctx: Context, customer_id: str, card_id: str, *, param: str = "id") -> ApiObject:
    """The live card `card_id` saved on `customer_id`; missing for any other customer's."""
    found = (
        await ctx.tx.get_object(CARDS, ctx.account_id, card_id)
        if could_be_object_id(card_id)
        else None
    )
    if found is None or found[1] or found[0]["customer"] != customer_id:
        raise ResourceMissing("source", card_id, param=param)
    return found[0]


async def card_named(ctx: Context, card_id: str, *, param: str) -> ApiObject:
    """A live saved card, whichever customer it is saved on."""
    found = (
        await ctx.tx.get_object(CARDS, ctx.account_id, card_id)
        if could_be_object_id(card_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("source", card_id, param=param)
    return found[0]


async def _cards_of(ctx: Context, customer_id: str, limit: int) -> list[ApiObject]:
    page = await ctx.tx.list_objects(
        CARDS, ctx.account_id, ObjectListQuery(limit=limit, equals={"customer": customer_id})
    )
    return page.objects


async def _locked_customer(ctx: Context, customer_id: str) -> tuple[Context, ApiObject]:
    customer = await load_customer_named(ctx, customer_id, param="customer")
    return await ctx.governed_by(customer), customer


async def _store_customer(ctx: Context, customer: ApiObject, before: ApiObject) -> None:
    if customer != before:
        await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
        await events.announce(ctx, "customer.updated", customer, previous=before)


async def create_source(ctx: Context, request: CreateSource) -> ApiObject:
    ctx, customer = await _locked_customer(ctx, request.customer)
    before = copy.deepcopy(customer)
    card = await verified_card(ctx, request.source, param="source", metadata=request.metadata)
    await store_card(ctx, customer, card)
    await _store_customer(ctx, customer, before)
    return card


async def retrieve_source(ctx: Context, request: SourceRef) -> ApiObject:
    await load_customer_named(ctx, request.customer, param="customer")
    return public(await card_of(ctx, request.customer, request.card))


async def update_source(ctx: Context, request: UpdateSource) -> ApiObject:
    ctx, _ = await _locked_customer(ctx, request.customer)
    card = await card_of(ctx, request.customer, request.card)
    before = copy.deepcopy(card)
    for name in ("name", *card_objects.ADDRESS_PARAMS):
        value = getattr(request, name)
        if value is not None:
            card[name] = value or None  # an empty string clears a holder field
    if request.exp_month is not None or request.exp_year is not None:
        _apply_expiry(ctx, card, request)
    if request.metadata is not None:
        card["metadata"] = apply_metadata(card["metadata"], request.metadata)
    if card != before:
        await ctx.tx.update_object(CARDS, ctx.account_id, card)
        await events.announce(ctx, "customer.source.updated", public(card), previous=public(before))
    return public(card)


def _apply_expiry(ctx: Context, card: ApiObject, request: UpdateSource) -> None:
    """A new expiry, refused as a new card's would be (a token's `invalid_expiry_year` or
    `invalid_expiry_month`, 402) when it is already past, naming the update's parameter."""
    month = request.exp_month if request.exp_month is not None else card["exp_month"]
    year = request.exp_year if request.exp_year is not None else card["exp_year"]
    card["exp_month"], card["exp_year"] = cards.validated_expiry(
        month, year, today=ctx.today(), month_param="exp_month", year_param="exp_year"
    )


async def delete_source(ctx: Context, request: SourceRef) -> ApiObject:
    ctx, customer = await _locked_customer(ctx, request.customer)
    card = await card_of(ctx, request.customer, request.card)
    before = copy.deepcopy(customer)
    await delete_card_of(ctx, customer, card)
    await _store_customer(ctx, customer, before)
    return {"id": card["id"], "object": "card", "customer": customer["id"], "deleted": True}


async def list_sources(ctx: Context, request: ListSources) -> ApiObject:
    """The customer's cards, newest first; `object=bank_account` (or `source`) lists none, as
    Kassa saves only cards."""
    await load_customer_named(ctx, request.customer, param="customer")
    params = request.params
    url = f"/v1/customers/{request.customer}/sources"
    if params.get("object", "card") != "card":
        return {"object": "list", "data": [], "has_more": False, "url": url}
    query = ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals={"customer": request.customer},
        created=params.get("created", {}),
    )
    page = await list_page_with(ctx, SOURCES, params, query)
    return list_envelope(ListPage([public(c) for c in page.data], page.has_more), url)


async def sources_included(ctx: Context, customer: ApiObject) -> Any:
    """`expand[]=sources` on a customer: its most recent cards, in Stripe's list envelope,
    with `total_count` counting them all."""
    return await included_list(
        ctx,
        CARDS,
        ObjectListQuery(limit=SOURCES_INCLUDED_MAX, equals={"customer": customer["id"]}),
        url=f"/v1/customers/{customer['id']}/sources",
        view=public,
    )


async def _fetch(ctx: Context, card_id: str) -> ApiObject | None:
    """A saved card for `expand[]=default_source` (a deleted one as Stripe's stub)."""
    found = await ctx.tx.get_object(CARDS, ctx.account_id, card_id, lock=False)
    if found is None:
        return None
    card, deleted = found
    return {"id": card["id"], "object": "card", "deleted": True} if deleted else public(card)


async def as_payment_method(ctx: Context, card_id: str, *, param: str) -> ApiObject:
    """A saved card as a card PaymentMethod, as Stripe lets one be used wherever a
    PaymentMethod is (a PaymentIntent's `payment_method`, an invoice's default source). A
    view: updates go through the card's own routes."""
    card = await card_named(ctx, card_id, param=param)
    return card_objects.as_payment_method(public(card)) | {
        "allow_redisplay": card["allow_redisplay"],
        "created": card["created"],
        "customer_account": None,
        "livemode": ctx.livemode,
        "metadata": dict(card["metadata"]),
    }


def _parse_reference(ids: RouteIds, form: Form) -> SourceRef:
    parse_params({}, form)
    return SourceRef(route_id(ids, 0), route_id(ids, 1))


def _parse_list(ids: RouteIds, form: Form) -> ListSources:
    return ListSources(route_id(ids), parse_params(LIST_PARAMS, form))


def _declared(collection: str, *, routes_only: bool = False) -> Resource:
    return Resource(
        routes_only=routes_only,
        object_name="card",
        id_prefix="card",
        collection=collection,
        table=CARDS,
        create=Operation(
            request_parser(CreateSource, CREATE_PARAMS, ids=("customer",), required=("source",)),
            create_source,
            writes=True,
        ),
        retrieve=Operation(_parse_reference, retrieve_source, writes=False),
        update=Operation(
            request_parser(UpdateSource, UPDATE_PARAMS, ids=("customer", "card")),
            update_source,
            writes=True,
        ),
        delete=Operation(_parse_reference, delete_source, writes=True),
        lister=Operation(_parse_list, list_sources, writes=False),
        expandable={"customer": "customer"},
        fetch=_fetch,
        event_types=(
            "customer.source.created",
            "customer.source.deleted",
            "customer.source.expiring",
            "customer.source.updated",
        ),
    )


SOURCES = _declared("sources", routes_only=True)
"""Nested under the customer (`customers.RESOURCE.nested`): its routes carry both ids."""
CARDS_ALIAS = _declared("cards")
"""Stripe's older routes for the same cards: `/v1/customers/{id}/cards[/{card}]`."""
