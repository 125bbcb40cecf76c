"""A charge's refunds under the charge, as Stripe serves them: `/v1/charges/{charge}/refunds`
(create, list) and `/v1/charges/{charge}/refunds/{refund}` (retrieve, update), and the older
`POST /v1/charges/{charge}/refund`, which refunds the charge and answers with the charge.

Every route is a view on `kassa.services.refunds`: the same checks, ledger postings and
events as `/v1/refunds`, the charge coming from the path. This module imports both
`charges` and `refunds` (`refunds` imports `charges`), so the routes are declared here, on a
charge resource of their own (as `external_accounts.ACCOUNTS` holds the account's routes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa.errors import ResourceMissing
from kassa.params import MetadataUpdate, Param, parse_params
from kassa.services import charges, refunds
from kassa.services.context import Context
from kassa.services.listing import PAGINATION_PARAMS, list_page, load_live_object
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
from kassa.store.tables import REFUNDS

CREATE_PARAMS: dict[str, Param] = {
    name: param for name, param in refunds.CREATE_PARAMS.items() if name != "charge"
}
"""What `/v1/refunds` takes, but the charge: the path names it."""
LEGACY_REFUND_PARAMS: dict[str, Param] = {
    name: refunds.CREATE_PARAMS[name]
    for name in (
        "amount",
        "instructions_email",
        "metadata",
        "payment_intent",
        "reason",
        "refund_application_fee",
        "reverse_transfer",
    )
}
"""Stripe's parameters of `POST /v1/charges/{charge}/refund` (no currency, customer or
origin there)."""
LIST_PARAMS: dict[str, Param] = {
    name: PAGINATION_PARAMS[name] for name in ("limit", "starting_after", "ending_before")
}


@dataclass(frozen=True)
class RefundOfCharge:
    charge: str
    refund: str


@dataclass(frozen=True)
class UpdateRefundOfCharge:
    charge: str
    refund: str
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class ListRefundsOfCharge:
    charge: str
    params: dict[str, Any]
    """Pagination only: `limit`, `starting_after`, `ending_before`."""


async def _charge_named(ctx: Context, charge_id: str) -> ApiObject:
    return await load_live_object(ctx, charges.RESOURCE, charge_id, param="charge")


async def _refund_of(ctx: Context, charge_id: str, refund_id: str) -> ApiObject:
    """The refund, if it refunds this charge: another charge's is missing here, as Stripe
    answers for an object out of the path's scope."""
    charge = await _charge_named(ctx, charge_id)
    refund = await refunds.retrieve_refund(ctx, refund_id)
    if refund["charge"] != charge["id"]:
        raise ResourceMissing("refund", refund_id)
    return refund


async def retrieve_refund_of_charge(ctx: Context, request: RefundOfCharge) -> ApiObject:
    return await _refund_of(ctx, request.charge, request.refund)


async def update_refund_of_charge(ctx: Context, request: UpdateRefundOfCharge) -> ApiObject:
    refund = await _refund_of(ctx, request.charge, request.refund)
    return await refunds.update_refund(
        ctx, refunds.UpdateRefund(refund=refund["id"], metadata=request.metadata)
    )


async def list_refunds_of_charge(ctx: Context, request: ListRefundsOfCharge) -> ApiObject:
    charge = await _charge_named(ctx, request.charge)
    # `/v1/refunds?charge=` is the same list; only its envelope's url differs.
    page = await list_page(ctx, refunds.RESOURCE, {**request.params, "charge": charge["id"]})
    return list_envelope(page, f"/v1/charges/{charge['id']}/refunds")


async def refund_charge(ctx: Context, request: refunds.CreateRefund) -> ApiObject:
    """Stripe's older call: the refund made as `/v1/refunds` makes it, answered with the
    charge it changed (`amount_refunded`, `refunded`; `refunds` when expanded)."""
    refund = await refunds.create_refund(ctx, request)
    return await _charge_named(ctx, refund["charge"])


def _parse_list(ids: RouteIds, form: Form) -> ListRefundsOfCharge:
    return ListRefundsOfCharge(route_id(ids), parse_params(LIST_PARAMS, form))


REFUNDS_OF_CHARGE = Resource(
    routes_only=True,
    object_name="refund",
    id_prefix="re",
    collection="refunds",
    table=REFUNDS,
    create=Operation(
        request_parser(refunds.CreateRefund, CREATE_PARAMS, ids=("charge",)),
        refunds.create_refund,
        writes=True,
    ),
    retrieve=Operation(
        request_parser(RefundOfCharge, {}, ids=("charge", "refund")),
        retrieve_refund_of_charge,
        writes=False,
    ),
    update=Operation(
        request_parser(UpdateRefundOfCharge, refunds.UPDATE_PARAMS, ids=("charge", "refund")),
        update_refund_of_charge,
        writes=True,
    ),
    lister=Operation(_parse_list, list_refunds_of_charge, writes=False),
    expandable=refunds.RESOURCE.expandable,
)
"""Nested under `CHARGES`: its routes carry both ids."""

CHARGES = Resource(
    routes_only=True,
    object_name="charge",
    id_prefix="ch",
    collection="charges",
    table=None,
    actions={
        "refund": Operation(
            request_parser(refunds.CreateRefund, LEGACY_REFUND_PARAMS, ids=("charge",)),
            refund_charge,
            writes=True,
        )
    },
    nested=(REFUNDS_OF_CHARGE,),
)
"""Only the charge routes that refund (`routes_only`): the rest are `charges.RESOURCE`'s,
which alone stands for charge objects (expansion, includes)."""
