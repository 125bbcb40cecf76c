"""Refunds: create (full, partial, several per charge; by `charge` or `payment_intent`),
retrieve, update, list, cancel. Each refund moves money back to the card through the
ledger; Kassa's card refunds succeed at once, so none is ever cancelable. A refund of a
charge made with Stripe's refund-failure test card fails some time later
(`kassa.services.refund_failures`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from kassa import money
from kassa.errors import AmountTooLarge, InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id
from kassa.ledger import postings
from kassa.params import (
    Boolean,
    Email,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    apply_metadata,
)
from kassa.services import (
    authorization_expiry,
    capture_postings,
    charge_processing,
    charges,
    currency_conversion,
    early_fraud_warnings,
    events,
    payment_intents,
    refund_failures,
)
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import DISPUTES, REFUNDS

DISPUTES_PER_CHARGE_MAX = 10
"""A charge has at most one dispute in practice; the bound keeps the lookup a single page."""

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CREATE_PARAMS: dict[str, Param] = {
    "amount": Integer(minimum=1, maximum=money.MAX_AMOUNT),
    "charge": String(max_chars=255),
    "currency": money.Currency(),
    "customer": String(max_chars=255),
    "instructions_email": Email(),
    "metadata": Metadata(),
    "origin": Enum(values=("customer_balance",)),
    "payment_intent": String(max_chars=255),
    "reason": Enum(values=REASONS),
    "refund_application_fee": Boolean(),
    "reverse_transfer": Boolean(),
}
UPDATE_PARAMS: dict[str, Param] = {"metadata": Metadata()}
LIST_FILTERS: dict[str, Param] = {
    "charge": String(max_chars=255),
    "payment_intent": String(max_chars=255),
}


@dataclass(frozen=True)
class CreateRefund:
    """A refund of `charge`, or of `payment_intent`'s successful charge; the whole
    unrefunded amount unless `amount` says less."""

    charge: str | None = None
    payment_intent: str | None = None
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None
    metadata: MetadataUpdate | None = None
    # Accepted as Stripe accepts them; no Kassa flow uses them yet.
    customer: str | None = None
    instructions_email: str | None = None
    origin: str | None = None
    refund_application_fee: bool | None = None
    reverse_transfer: bool | None = None


@dataclass(frozen=True)
class UpdateRefund:
    refund: str
    metadata: MetadataUpdate | None = None


async def _charge_to_refund(ctx: Context, request: CreateRefund) -> ApiObject:
    if request.charge is not None:
        charge = await load_live_object(ctx, charges.RESOURCE, request.charge, param="charge")
        if (
            request.payment_intent is not None
            and request.payment_intent != charge["payment_intent"]
        ):
            raise InvalidParameter(
                f"Charge {charge['id']} does not belong to PaymentIntent {request.payment_intent}.",
                param="payment_intent",
            )
        return charge
    if request.payment_intent is None:
        raise MissingParameter("charge")
    intent = await load_live_object(
        ctx, payment_intents.RESOURCE, request.payment_intent, param="payment_intent"
    )
    if intent["status"] != "succeeded" or intent["latest_charge"] is None:
        raise InvalidRequest(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return await charge_processing.load(ctx, intent["latest_charge"])


async def _charged_back(ctx: Context, charge: ApiObject) -> bool:
    """Disputed by a chargeback (an inquiry alone leaves the charge refundable)."""
    if not charge["disputed"]:
        return False
    page = await ctx.tx.list_objects(
        DISPUTES,
        ctx.account_id,
        ObjectListQuery(limit=DISPUTES_PER_CHARGE_MAX, equals={"charge": charge["id"]}),
    )
    return any(not dispute["is_charge_refundable"] for dispute in page.objects)


def _check_refundable(charge: ApiObject, amount: int, charged_back: bool) -> None:
    if charged_back:
        raise InvalidRequest(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    if not charge["captured"]:
        raise InvalidRequest(
            f"Charge {charge['id']} has not been captured; cancel its PaymentIntent to "
            "release the authorization.",
            code="charge_not_refundable",
        )
    remaining = charge_processing.refundable_amount(charge)
    if remaining == 0:
        raise InvalidRequest(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    if amount > remaining:
        currency = charge["currency"]
        raise AmountTooLarge(
            f"Refund amount ({money.format_amount(amount, currency)}) is greater than unrefunded "
            f"amount on charge ({money.format_amount(remaining, currency)})",
            param="amount",
        )


async def create_refund(ctx: Context, request: CreateRefund) -> ApiObject:
    charge = await _charge_to_refund(ctx, request)
    ctx = await ctx.governed_by(charge)
    # The money comes back out of the charge's posting: post it first if still to come.
    await capture_postings.post_for_charge(ctx, charge)
    if request.currency is not None and request.currency != charge["currency"]:
        raise InvalidParameter(
            f"The refund's currency must be the charge's ({charge['currency']}).",
            param="currency",
        )
    if _is_held_without_intent(charge):
        return await _release(ctx, charge, request)
    amount = (
        request.amount
        if request.amount is not None
        else charge_processing.refundable_amount(charge)
    )
    _check_refundable(charge, amount, await _charged_back(ctx, charge))
    refund_id = new_id("re")
    # A converted charge's refund converts back at today's rate (Stripe's rule).
    settled, currency, presented, rate = currency_conversion.settled_amounts(
        await currency_conversion.for_return(ctx, charge), amount, charge["currency"]
    )
    row = await postings.record_refund(
        ctx.tx,
        postings.Movement(
            account_id=ctx.account_id,
            created=ctx.now(),
            type="refund",
            reporting_category="refund",
            source=refund_id,
            currency=currency,
            description=_refund_description(charge),
            exchange_rate=rate,
        ),
        amount=settled,
        presented=presented,
    )
    refund = _new_refund(ctx, refund_id, charge, amount, row.id, request)
    await ctx.tx.insert_object(REFUNDS, ctx.account_id, refund)
    await refund_failures.schedule_if_card_says(ctx, charge, refund)
    await _refunded(ctx, charge, refund)
    return refund


def _is_held_without_intent(charge: ApiObject) -> bool:
    """An authorized charge not yet captured, made with `capture=false` on the Charges API
    (one made through a PaymentIntent is released by canceling the intent)."""
    return (
        charge["status"] == "succeeded"
        and not charge["captured"]
        and charge["payment_intent"] is None
    )


async def _release(ctx: Context, charge: ApiObject, request: CreateRefund) -> ApiObject:
    """Stripe: refunding an uncaptured charge releases its authorization, in full only. The
    charge is refunded, but no money had moved (only a capture posts to the ledger), so
    nothing is posted and the refund has no balance transaction."""
    if charge["refunded"]:
        raise InvalidRequest(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    if request.amount is not None and request.amount != charge["amount"]:
        raise InvalidParameter(
            "You cannot partially refund an uncaptured charge. Instead, capture the charge "
            "for an amount less than the original amount.",
            param="amount",
        )
    await authorization_expiry.end_hold_for_release(ctx, charge)
    refund = _new_refund(ctx, new_id("re"), charge, int(charge["amount"]), None, request)
    await ctx.tx.insert_object(REFUNDS, ctx.account_id, refund)
    await _refunded(ctx, charge, refund)
    return refund


def _new_refund(
    ctx: Context,
    refund_id: str,
    charge: ApiObject,
    amount: int,
    balance_transaction: str | None,
    request: CreateRefund,
) -> ApiObject:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge["id"],
        "created": ctx.now(),
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": None,
        "description": None,
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": apply_metadata({}, request.metadata or {}),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": request.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


async def _refunded(ctx: Context, charge: ApiObject, refund: ApiObject) -> None:
    """The charge refunded by `refund` (stored), and both announced."""
    before = copy.deepcopy(charge)
    charge["amount_refunded"] += refund["amount"]
    # An uncaptured charge is refunded whole (its authorization released).
    charge["refunded"] = not charge["captured"] or charge_processing.refundable_amount(charge) == 0
    await charge_processing.store(ctx, charge)
    await events.announce(ctx, "refund.created", refund)
    await events.announce(ctx, "charge.refunded", charge, previous=before)
    await early_fraud_warnings.charge_changed(ctx, charge)


def _refund_description(charge: ApiObject) -> str:
    described = f" ({charge['description']})" if charge["description"] else ""
    return f"REFUND FOR CHARGE{described}"


async def retrieve_refund(ctx: Context, refund_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, refund_id)


async def update_refund(ctx: Context, request: UpdateRefund) -> ApiObject:
    refund = await load_live_object(ctx, RESOURCE, request.refund)
    before = copy.deepcopy(refund)
    if request.metadata is not None:
        refund["metadata"] = apply_metadata(refund["metadata"], request.metadata)
    await ctx.tx.update_object(REFUNDS, ctx.account_id, refund)
    if refund != before:
        # Its charge's customer's test clock, if any, governs the announcement.
        ctx = await ctx.governed_by(await charge_processing.load(ctx, str(refund["charge"])))
        await events.announce(ctx, "refund.updated", refund, previous=before)
        await events.announce(ctx, "charge.refund.updated", refund, previous=before)
    return refund


async def cancel_refund(ctx: Context, refund_id: str) -> ApiObject:
    refund = await load_live_object(ctx, RESOURCE, refund_id)
    raise InvalidRequest(
        f"Refund {refund['id']} cannot be canceled because it has a status of "
        f"{refund['status']}. Only refunds with a status of requires_action can be canceled.",
    )


RESOURCE = Resource(
    object_name="refund",
    id_prefix="re",
    collection="refunds",
    table=REFUNDS,
    create=Operation(request_parser(CreateRefund, CREATE_PARAMS), create_refund, writes=True),
    retrieve=Operation(no_params, retrieve_refund, writes=False),
    update=Operation(
        request_parser(UpdateRefund, UPDATE_PARAMS, ids=("refund",)), update_refund, writes=True
    ),
    list_filters=LIST_FILTERS,
    actions={"cancel": Operation(no_params, cancel_refund, writes=True)},
    expandable={
        "balance_transaction": "balance_transaction",
        "charge": "charge",
        "failure_balance_transaction": "balance_transaction",
        "payment_intent": "payment_intent",
    },
    event_types=("refund.created", "refund.failed", "refund.updated", "charge.refund.updated"),
)
