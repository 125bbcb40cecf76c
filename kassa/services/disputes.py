"""Disputes: opened by the dispute test cards right after a successful charge; retrieve,
update (evidence, metadata), close, list. Opening one withdraws the disputed amount and the
dispute fee from the merchant's balance."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from kassa import money
from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidRequest
from kassa.ids import new_id
from kassa.ledger import postings
from kassa.ledger.views import balance_transaction_object
from kassa.params import (
    Boolean,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    apply_metadata,
)
from kassa.services import currency_conversion, events, files
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import CHARGES, DISPUTES

EVIDENCE_RESPONSE_DAYS = 21
"""Card networks give the merchant about three weeks to answer; Stripe's `due_by`."""
NETWORK_REASON_CODES = {"fraudulent": "10.4", "product_not_received": "13.1", "general": "13.2"}
EVIDENCE_TEXT_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
)
EVIDENCE_FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
UPDATE_PARAMS: dict[str, Param] = {
    "evidence": Struct(
        {name: String(max_chars=20_000) for name in EVIDENCE_TEXT_FIELDS + EVIDENCE_FILE_FIELDS}
    ),
    "metadata": Metadata(),
    "submit": Boolean(),
    "intended_submission_method": NotSupported(
        reason="Kassa's disputes are answered by evidence submitted through the API only."
    ),
}
LIST_FILTERS: dict[str, Param] = {
    "charge": String(max_chars=255),
    "payment_intent": String(max_chars=255),
}
Evidence = Mapping[str, str]
"""Validated `evidence`: field name (`EVIDENCE_TEXT_FIELDS`, `EVIDENCE_FILE_FIELDS`) -> text
or file id; an empty string clears the field."""
SUBMITTED_STATUSES = ("under_review", "warning_under_review")
TEST_OUTCOMES = {"winning_evidence": "won", "losing_evidence": "lost"}
"""Stripe's test evidence (`evidence[uncategorized_text]`): submitted, the dispute is decided
at once."""
OPEN_STATUSES = ("warning_needs_response", "needs_response", "under_review", "warning_under_review")


async def open_dispute(ctx: Context, charge: ApiObject, reason: str, *, inquiry: bool) -> ApiObject:
    """The cardholder disputes `charge`: a dispute, and (unless it is only an inquiry) the
    amount plus the dispute fee withdrawn from the merchant's balance."""
    dispute_id = new_id("dp")
    amount = int(charge["amount_captured"])
    transactions = []
    if not inquiry:
        # A converted charge's dispute converts back at today's rate (Stripe's rule); the
        # dispute fee is the settlement currency's.
        settled, currency, presented, rate = currency_conversion.settled_amounts(
            await currency_conversion.for_return(ctx, charge), amount, charge["currency"]
        )
        row = await postings.record_dispute_withdrawal(
            ctx.tx,
            postings.Movement(
                account_id=ctx.account_id,
                created=ctx.now(),
                type="adjustment",
                reporting_category="dispute",
                source=dispute_id,
                currency=currency,
                description=f"Chargeback withdrawal for {charge['id']}",
                fee_description="Dispute fee",
                exchange_rate=rate,
            ),
            amount=settled,
            fee=money.dispute_fee(currency),
            presented=presented,
        )
        transactions.append(balance_transaction_object(row))
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": transactions,
        "charge": charge["id"],
        "created": ctx.now(),
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": dict.fromkeys(EVIDENCE_TEXT_FIELDS + EVIDENCE_FILE_FIELDS)
        | {"enhanced_evidence": {}},
        "evidence_details": {
            "due_by": ctx.now() + EVIDENCE_RESPONSE_DAYS * DAY_SECONDS,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": inquiry,
        "livemode": ctx.livemode,
        "metadata": {},
        "network_reason_code": NETWORK_REASON_CODES.get(reason, NETWORK_REASON_CODES["general"]),
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "case_type": "inquiry" if inquiry else "chargeback",
                "network_reason_code": NETWORK_REASON_CODES.get(
                    reason, NETWORK_REASON_CODES["general"]
                ),
            },
            "type": "card",
        },
        "reason": reason,
        "status": "warning_needs_response" if inquiry else "needs_response",
    }
    await ctx.tx.insert_object(DISPUTES, ctx.account_id, dispute)
    charge["disputed"] = True
    await events.announce(ctx, "charge.dispute.created", dispute)
    if not inquiry:
        await events.announce(ctx, "charge.dispute.funds_withdrawn", dispute)
    return dispute


@dataclass(frozen=True, kw_only=True)
class UpdateDispute:
    dispute: str
    evidence: Evidence | None = None
    metadata: MetadataUpdate | None = None
    submit: bool | None = None
    """True: submit the dispute's evidence (staged before, and any sent now) to the issuer;
    False: stage `evidence` only. Unset: as true when `evidence` is sent."""


async def retrieve_dispute(ctx: Context, dispute_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, dispute_id)


def _require_open(dispute: ApiObject, action: str) -> None:
    if dispute["status"] not in OPEN_STATUSES:
        raise InvalidRequest(
            f"This dispute is already closed ({dispute['status']}) and cannot be {action}.",
            code="dispute_already_closed" if action != "updated" else None,
        )


async def update_dispute(ctx: Context, request: UpdateDispute) -> ApiObject:
    dispute = await load_live_object(ctx, RESOURCE, request.dispute)
    ctx = await _governed_by_charge(ctx, dispute)
    before = copy.deepcopy(dispute)
    submit = _submits(request)
    if request.evidence is not None or submit:
        _require_open(dispute, "updated")
        _require_not_submitted(dispute, "evidence" if request.evidence is not None else "submit")
    if request.evidence is not None:
        for name in EVIDENCE_FILE_FIELDS:
            if request.evidence.get(name):
                await files.require_file(ctx, request.evidence[name], f"evidence[{name}]")
        for name, value in request.evidence.items():
            dispute["evidence"][name] = None if value == "" else value
        dispute["evidence_details"]["has_evidence"] = True
    if submit and not _has_evidence(dispute):
        raise InvalidRequest(
            "This dispute has no evidence to submit: send `evidence` with this request, or "
            "stage it first with `submit=false`.",
            param="evidence",
        )
    if request.metadata is not None:
        dispute["metadata"] = apply_metadata(dispute["metadata"], request.metadata)
    if submit:
        dispute["evidence_details"]["submission_count"] += 1
        dispute["status"] = (
            "warning_under_review" if dispute["status"].startswith("warning") else "under_review"
        )
    await ctx.tx.update_object(DISPUTES, ctx.account_id, dispute)
    if dispute != before:
        await events.announce(ctx, "charge.dispute.updated", dispute, previous=before)
    outcome = TEST_OUTCOMES.get(str(dispute["evidence"].get("uncategorized_text")))
    if submit and outcome is not None:
        await _decide(ctx, dispute, won=outcome == "won")
    return dispute


def _submits(request: UpdateDispute) -> bool:
    """Whether this update submits the dispute's evidence to the issuer: `submit=true` does,
    whatever the evidence was staged with (Stripe: staged evidence "can be submitted to the
    bank by making another request with this attribute set to `true`"), and so does evidence
    sent without `submit` (it defaults to true). An update of metadata alone submits
    nothing."""
    if request.submit is not None:
        return request.submit
    return request.evidence is not None


def _require_not_submitted(dispute: ApiObject, param: str) -> None:
    if dispute["status"] in SUBMITTED_STATUSES:
        raise InvalidRequest(
            "This dispute's evidence has already been submitted to the card issuer and "
            "cannot be changed.",
            param=param,
        )


def _has_evidence(dispute: ApiObject) -> bool:
    """Whether any evidence field holds something. Submitting none is refused rather than
    counted: a submission moves the dispute under review, and there is typically one
    (Stripe's `submission_count`), so an empty one would spend it on nothing."""
    evidence = dispute["evidence"]
    return any(evidence.get(name) for name in EVIDENCE_TEXT_FIELDS + EVIDENCE_FILE_FIELDS)


async def _decide(ctx: Context, dispute: ApiObject, *, won: bool) -> None:
    """The issuer's decision on submitted evidence, as Stripe's test mode makes it at once
    for `winning_evidence` and `losing_evidence`: won, the withdrawal comes back (amount
    and dispute fee, `charge.dispute.funds_reinstated`); lost, the funds stay withdrawn.
    An inquiry (no funds moved) just closes."""
    before = copy.deepcopy(dispute)
    inquiry = dispute["status"].startswith("warning")
    if inquiry:
        dispute["status"] = "warning_closed"
    else:
        dispute["status"] = "won" if won else "lost"
    if won and not inquiry:
        dispute["balance_transactions"].append(await _reinstate(ctx, dispute))
    await ctx.tx.update_object(DISPUTES, ctx.account_id, dispute)
    if won and not inquiry:
        await events.announce(ctx, "charge.dispute.funds_reinstated", dispute)
    await events.announce(ctx, "charge.dispute.closed", dispute, previous=before)


async def _reinstate(ctx: Context, dispute: ApiObject) -> ApiObject:
    """The withdrawal's balance transaction undone, in its currency and amounts."""
    withdrawal = dispute["balance_transactions"][0]
    currency = str(withdrawal["currency"])
    converted = currency != dispute["currency"]
    row = await postings.record_dispute_reinstatement(
        ctx.tx,
        postings.Movement(
            account_id=ctx.account_id,
            created=ctx.now(),
            type="adjustment",
            reporting_category="dispute_reversal",
            source=dispute["id"],
            currency=currency,
            description=f"Chargeback reversal for {dispute['charge']}",
            fee_description="Dispute fee refund",
            exchange_rate=Decimal(str(withdrawal["exchange_rate"])) if converted else None,
        ),
        amount=-int(withdrawal["amount"]),
        fee=int(withdrawal["fee"]),
        presented=postings.Presentment(int(dispute["amount"]), dispute["currency"])
        if converted
        else None,
    )
    return balance_transaction_object(row)


async def close_dispute(ctx: Context, dispute_id: str) -> ApiObject:
    """Accept the dispute: the funds already withdrawn stay with the cardholder."""
    dispute = await load_live_object(ctx, RESOURCE, dispute_id)
    _require_open(dispute, "closed")
    ctx = await _governed_by_charge(ctx, dispute)
    before = copy.deepcopy(dispute)
    dispute["status"] = "warning_closed" if dispute["status"].startswith("warning") else "lost"
    await ctx.tx.update_object(DISPUTES, ctx.account_id, dispute)
    await events.announce(ctx, "charge.dispute.closed", dispute, previous=before)
    return dispute


async def _governed_by_charge(ctx: Context, dispute: ApiObject) -> Context:
    """This context, governed by the disputed charge's customer's test clock if it has one
    (what a decision writes, its reinstatement and events, happens at that clock's time)."""
    found = await ctx.tx.get_object(CHARGES, ctx.account_id, str(dispute["charge"]), lock=False)
    return ctx if found is None else await ctx.governed_by(found[0])


RESOURCE = Resource(
    object_name="dispute",
    id_prefix="dp",
    collection="disputes",
    table=DISPUTES,
    retrieve=Operation(no_params, retrieve_dispute, writes=False),
    update=Operation(
        request_parser(UpdateDispute, UPDATE_PARAMS, ids=("dispute",)), update_dispute, writes=True
    ),
    list_filters=LIST_FILTERS,
    actions={"close": Operation(no_params, close_dispute, writes=True)},
    expandable={"charge": "charge", "payment_intent": "payment_intent"},
    event_types=(
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.dispute.funds_reinstated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
    ),
)
