"""Charge attempts on Kassa's simulated card network, and the money they move.

A charge is created by confirming a PaymentIntent, or directly through the Charges API. The
test card behind the payment method decides the outcome (approved, declined with Stripe's
codes, disputed, available at once); capturing posts the charge and its fee to the ledger,
at once or, for a PaymentIntent's asynchronous capture, a moment later (`capture_postings`).
Shared by payment intents, charges, refunds and disputes; no resource is declared here.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from kassa.cards import Decline, TestBehavior, decline_error
from kassa.errors import CardDeclined
from kassa.ids import new_id, random_base62
from kassa.invariants import InvariantViolated, ensure
from kassa.services import (
    authorization_expiry,
    capture_postings,
    disputes,
    early_fraud_warnings,
    events,
    hooks,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import CHARGES

RECEIPT_PATH = "/kassa/receipts"
AUTHORIZATION_CODE_DIGITS = 6
NETWORK_ID_CHARS = 15
"""Network transaction and 3-D Secure ids: opaque strings of about this length."""
DEFAULT_STATEMENT_DESCRIPTOR = "KASSA"
"""What statements say of an account's payments unless the payment says otherwise."""
STATEMENT_DESCRIPTOR_CHARS = 22
"""Stripe's limit on the whole descriptor a statement shows."""
RISK_SCORES = {"normal": 20, "elevated": 70, "highest": 95}
SELLER_MESSAGE_APPROVED = "Payment complete."
SELLER_MESSAGE_BLOCKED = "Kassa blocked this payment as too risky."
AUTHENTICATION_REQUIRED = Decline(
    code="authentication_required",
    decline_code="authentication_required",
    message="Your card was declined. This transaction requires authentication.",
    outcome_type="issuer_declined",
    network_status="declined_by_network",
    reason="authentication_required",
)
"""How a card that asks for 3-D Secure declines where nobody can answer the challenge
(off-session, or the Charges API, which has no such step)."""


def _outcome_approved(behavior: TestBehavior) -> dict[str, Any]:
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": "elevated_risk_level" if behavior.risk_level == "elevated" else None,
        "risk_level": behavior.risk_level,
        "risk_score": behavior.risk_score,
        "seller_message": SELLER_MESSAGE_APPROVED,
        "type": "authorized",
    }


def _outcome_declined(decline: Decline) -> dict[str, Any]:
    blocked = decline.outcome_type == "blocked"
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": decline.network_status,
        "reason": decline.reason,
        "risk_level": decline.risk_level,
        "risk_score": RISK_SCORES.get(decline.risk_level, RISK_SCORES["normal"]),
        "seller_message": SELLER_MESSAGE_BLOCKED
        if blocked
        else "The bank did not return any further details with this decline."
        if decline.reason == "generic_decline"
        else f"The bank returned the decline code `{decline.reason}`.",
        "type": decline.outcome_type,
    }


def _card_details(
    payment_method: ApiObject, amount: int, authenticated: bool, approved: bool
) -> dict[str, Any]:
    card = payment_method["card"]
    return {
        "card": {
            "amount_authorized": amount if approved else None,
            "authorization_code": _authorization_code() if approved else None,
            "brand": card["brand"],
            "checks": card["checks"],
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "extended_authorization": {"status": "disabled"},
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": card["last4"],
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": card["brand"],
            "network_token": {"used": False},
            "network_transaction_id": random_base62(NETWORK_ID_CHARS) if approved else None,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": {
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "exemption_indicator": None,
                "result": "authenticated",
                "result_reason": None,
                "transaction_id": random_base62(NETWORK_ID_CHARS),
                "version": "2.2.0",
            }
            if authenticated
            else None,
            "wallet": None,
        },
        "type": "card",
    }


def _authorization_code() -> str:
    return str(secrets.randbelow(10**AUTHORIZATION_CODE_DIGITS)).zfill(AUTHORIZATION_CODE_DIGITS)


def new_charge(
    ctx: Context,
    intent: ApiObject,
    payment_method: ApiObject,
    behavior: TestBehavior,
    *,
    authenticated: bool,
) -> ApiObject:
    """A charge attempt for `intent` with `payment_method`: authorized, or failed with the
    test card's decline. Not yet stored, not yet captured."""
    decline = behavior.decline
    charge_id = new_id("ch")
    charge: ApiObject = {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": payment_method["billing_details"],
        "calculated_statement_descriptor": calculated_statement_descriptor(
            intent.get("statement_descriptor"), intent.get("statement_descriptor_suffix")
        ),
        "captured": False,
        "created": ctx.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if decline is None else decline.code,
        "failure_message": None if decline is None else decline.message,
        "fraud_details": {},
        "livemode": ctx.livemode,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome_approved(behavior) if decline is None else _outcome_declined(decline),
        "paid": decline is None,
        "payment_intent": intent["id"],
        "payment_method": payment_method["id"],
        "payment_method_details": _card_details(
            payment_method, intent["amount"], authenticated, decline is None
        ),
        "radar_options": {},
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"{ctx.payments.public_url}{RECEIPT_PATH}/{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": intent["shipping"],
        "source": None,
        "source_transfer": None,
        "statement_descriptor": intent.get("statement_descriptor"),
        "statement_descriptor_suffix": intent.get("statement_descriptor_suffix"),
        "status": "failed" if decline is not None else "succeeded",
        "transfer_data": None,
        "transfer_group": intent.get("transfer_group"),
    }
    return charge


def calculated_statement_descriptor(prefix: str | None, suffix: str | None) -> str:
    """What the customer's statement says of a charge (Stripe's
    `calculated_statement_descriptor`): the prefix (the account's, Kassa's default, unless the
    payment gave one) or, with a suffix, the prefix, "* ", then the suffix; cut to Stripe's
    22 characters."""
    shown = prefix or DEFAULT_STATEMENT_DESCRIPTOR
    if suffix:
        shown = f"{shown}* {suffix}"
    return shown[:STATEMENT_DESCRIPTOR_CHARS]


def card_suffix(descriptor: str | None, suffix: str | None) -> str | None:
    """The suffix a card charge's statement shows: Stripe ignores a card charge's
    `statement_descriptor` "unless you don't specify a `statement_descriptor_suffix`, in
    which case this value is used as the suffix" (on create and on capture alike)."""
    return suffix if suffix is not None else descriptor


def declined(decline: Decline) -> CardDeclined:
    """The error a declined attempt answers with (402 `card_error`)."""
    return decline_error(decline, CardDeclined)


async def attempt(
    ctx: Context,
    charge: ApiObject,
    behavior: TestBehavior,
    *,
    capture: bool,
    capture_async: bool = False,
) -> None:
    """Carry out a new charge attempt (`new_charge`): captured at once when `capture` (else
    held for capture), stored and announced. With `capture_async` (a PaymentIntent's
    `automatic_async`) the capture's posting may come a moment later (`capture_postings`).
    A captured charge then meets what the test card does after a payment (a dispute, an
    early fraud warning). A declined attempt is kept as a failed charge; the caller raises
    its error (`declined`)."""
    posts_later = (
        charge["paid"]
        and capture
        and capture_async
        and await capture_postings.posts_later(ctx, charge, behavior)
    )
    if posts_later:
        capture_postings.capture_now_post_later(charge, charge["amount"])
    elif charge["paid"] and capture:
        await capture_funds(ctx, charge, charge["amount"], behavior)
    elif charge["paid"]:
        authorization_expiry.hold(ctx, charge)
    await store_new(ctx, charge)
    if posts_later:
        await capture_postings.schedule(ctx, charge)
    if charge["paid"] and not capture:
        await authorization_expiry.schedule_expiry(ctx, charge)
    if not charge["paid"]:
        await events.announce(ctx, "charge.failed", charge)
        return
    await events.announce(ctx, "charge.succeeded", charge)
    if charge["captured"]:
        await dispute_if_test_card_says(ctx, charge, behavior)
        if behavior.early_fraud_warning:
            await early_fraud_warnings.warn(ctx, charge)


async def capture_held(
    ctx: Context, charge: ApiObject, amount: int, behavior: TestBehavior, *, previous: ApiObject
) -> None:
    """Capture `amount` of a charge held for capture, store it and announce
    `charge.captured` (against `previous`, the charge before this request changed it).
    Refused once the authorization has expired; the capture ends the hold."""
    await authorization_expiry.end_hold_for_capture(ctx, charge)
    await capture_funds(ctx, charge, amount, behavior)
    await store(ctx, charge)
    await events.announce(ctx, "charge.captured", charge, previous=previous)
    await dispute_if_test_card_says(ctx, charge, behavior)


async def dispute_if_test_card_says(
    ctx: Context, charge: ApiObject, behavior: TestBehavior
) -> None:
    if behavior.dispute_reason is not None:
        before = copy.deepcopy(charge)
        await disputes.open_dispute(
            ctx, charge, behavior.dispute_reason, inquiry=behavior.dispute_is_inquiry
        )
        await store(ctx, charge)
        await events.announce(ctx, "charge.updated", charge, previous=before)


async def capture_funds(
    ctx: Context, charge: ApiObject, amount: int, behavior: TestBehavior
) -> None:
    """Capture `amount` of an authorized charge: post it and its fee to the ledger now
    (`capture_postings.post_capture`)."""
    ensure(not charge["captured"] and charge["paid"], "only an authorized charge is captured")
    ensure(0 < amount <= charge["amount"], "a capture is within the authorized amount")
    transaction_id = await capture_postings.post_capture(ctx, charge, amount, behavior)
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["balance_transaction"] = transaction_id


def refundable_amount(charge: ApiObject) -> int:
    return int(charge["amount_captured"]) - int(charge["amount_refunded"])


async def load(ctx: Context, charge_id: str) -> ApiObject:
    found = await ctx.tx.get_object(CHARGES, ctx.account_id, charge_id)
    if found is None:
        raise InvariantViolated(f"charge {charge_id}, named by an intent or refund, is missing")
    return found[0]


async def store_new(ctx: Context, charge: ApiObject) -> None:
    await ctx.tx.insert_object(CHARGES, ctx.account_id, charge)
    # Same transaction: what observes new charges (the dashboard's counters) commits with it.
    await hooks.charge_created(ctx, charge)


async def store(ctx: Context, charge: ApiObject) -> None:
    await ctx.tx.update_object(CHARGES, ctx.account_id, charge)
