"""Collecting an invoice: `POST /v1/invoices/{id}/pay`, and the auto-advance job's automatic
attempts.

A payment attempt confirms the PaymentIntent made at finalization, in process
(`payment_intents.confirm_payment_intent`), with the payment method given, else the
invoice's `default_payment_method`, else the customer's
`invoice_settings.default_payment_method`; off-session unless `off_session=false`. The
charge and its ledger posting are the intent's, as for every card payment.

- Success: the default invoice payment is `paid`; the invoice `paid` (`invoice.paid`,
  `invoice.payment_succeeded`, `invoice_payment.paid`).
- A decline: the invoice stays open, `attempted`, its `attempt_count` counted as Stripe
  counts it (any first attempt, then automatic retries only), `next_payment_attempt` from
  `RETRY_AFTER_DAYS` for auto-advancing `charge_automatically` invoices; `invoice.payment_failed`,
  and Stripe's 402 `card_error`. These writes commit with the failed charge (`CardDeclined`).
- 3-D Secure on-session (`off_session=false`): `invoice.payment_action_required` and a 402
  `invoice_payment_intent_requires_action`; once the intent succeeds on the challenge page,
  `settle_from_intent` marks the invoice paid.
- `paid_out_of_band=true`: paid with no charge and no money moved (nothing posted to the
  ledger; the amount is in `amount_paid` and the includable `amount_paid_off_stripe`).

Paying a draft finalizes it first.

Emails, queued with the attempt's writes (`invoice_emails`): a receipt when a payment
settles the invoice (the API, the auto-advance job's charge, the hosted page: all end in
`_record_success`; `paid_out_of_band` moves no money and sends none), and the
payment-failed email on every failed attempt (`record_failed_attempt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import CardDeclined, InvalidRequest
from kassa.params import Boolean, Param, String
from kassa.services import payment_intents
from kassa.services.billing import (
    invoice_documents,
    invoice_emails,
    invoice_payments,
    invoice_transitions,
)
from kassa.services.billing.invoice_documents import private
from kassa.services.billing.price_fields import NotSupported
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS

RETRY_AFTER_DAYS: Final = (3, 5, 7)
"""Days after a failed attempt until the next automatic one, for an auto-advancing
`charge_automatically` invoice: three retries, then no more (Stripe's custom retry schedule
shape; Smart Retries' timing is Stripe's own). Subscriptions' dunning settings replace it."""
NO_PAYMENT_METHOD = (
    "This customer has no attached payment source or default payment method. Please "
    "consider adding a default payment method."
)
REQUIRES_ACTION = (
    "This payment requires additional user action before it can be completed "
    "successfully. Payment can be completed using the PaymentIntent associated with the "
    "invoice."
)

PAY_PARAMS: dict[str, Param] = {
    "forgive": Boolean(),
    "mandate": String(max_chars=255, nullable=True),
    "off_session": Boolean(),
    "paid_out_of_band": Boolean(),
    "payment_method": String(max_chars=255),
    "source": NotSupported(reason="Kassa pays invoices with PaymentMethods, not sources."),
}


@dataclass(frozen=True, kw_only=True)
class PayInvoice:
    invoice: str
    paid_out_of_band: bool | None = None
    payment_method: str | None = None
    off_session: bool | None = None
    # Accepted as Stripe accepts them: Kassa's cards have no mandates, and a decline is
    # whole (nothing to forgive).
    forgive: bool | None = None
    mandate: Any = None
    source: Any = None


class NoPaymentMethod(InvalidRequest):
    def __init__(self) -> None:
        super().__init__(NO_PAYMENT_METHOD)


def check_payable(invoice: Mapping[str, Any]) -> None:
    if invoice["status"] == "paid":
        raise InvalidRequest("Invoice is already paid")
    if invoice["status"] == "void":
        raise InvalidRequest("This invoice has been voided and can no longer be paid.")


async def pay_invoice(ctx: Context, request: PayInvoice) -> ApiObject:
    invoice = await invoice_documents.load_invoice(ctx, request.invoice)
    ctx = await ctx.governed_by(invoice)
    check_payable(invoice)
    if invoice["status"] == "draft":
        await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=None)
    if invoice["status"] != "paid":
        if request.paid_out_of_band:
            await _paid_out_of_band(ctx, invoice)
        else:
            await collect(
                ctx,
                invoice,
                payment_method=request.payment_method,
                off_session=request.off_session is not False,
                automatic=False,
            )
    await invoice_documents.save(ctx, invoice)
    return invoice_documents.view(invoice)


async def _paid_out_of_band(ctx: Context, invoice: ApiObject) -> None:
    amount = int(invoice["amount_remaining"])
    invoice["amount_paid"] += amount
    private(invoice)["amount_paid_off_stripe"] += amount
    await invoice_payments.cancel_default_payment(ctx, invoice)
    await invoice_transitions.mark_paid(ctx, invoice, attempted=False)


async def _payment_method(ctx: Context, invoice: Mapping[str, Any], given: str | None) -> str:
    if given is not None:
        return given
    if invoice["default_payment_method"] is not None:
        return str(invoice["default_payment_method"])
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, invoice["customer"], lock=False)
    default = None if found is None else found[0]["invoice_settings"]["default_payment_method"]
    if default is None:
        raise NoPaymentMethod()
    return str(default)


def _count_attempt(invoice: ApiObject, *, automatic: bool) -> None:
    """Stripe's `attempt_count`: any first attempt counts, then automatic retries only."""
    invoice["attempted"] = True
    if automatic or invoice["attempt_count"] == 0:
        invoice["attempt_count"] += 1


def _retry_at(invoice: Mapping[str, Any], now: int) -> int | None:
    if not invoice["auto_advance"] or invoice["collection_method"] != "charge_automatically":
        return None
    attempts = int(invoice["attempt_count"])
    if attempts > len(RETRY_AFTER_DAYS):
        return None
    return now + RETRY_AFTER_DAYS[attempts - 1] * DAY_SECONDS


async def collect(
    ctx: Context,
    invoice: ApiObject,
    *,
    payment_method: str | None,
    off_session: bool,
    automatic: bool,
) -> None:
    """One attempt to collect what the open invoice still asks. On a decline the invoice is
    stored before the decline is raised (its writes commit with the failed charge)."""
    reference = await _payment_method(ctx, invoice, payment_method)
    intent_id = str(private(invoice)["payment_intent"])
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=intent_id)
    )
    if intent["status"] == "requires_action":
        # An earlier on-session attempt left a challenge unanswered: start again.
        await payment_intents.update_payment_intent(
            ctx, payment_intents.UpdatePaymentIntent(intent=intent_id, payment_method=reference)
        )
    _count_attempt(invoice, automatic=automatic)
    try:
        confirmed = await payment_intents.confirm_payment_intent(
            ctx,
            payment_intents.ConfirmPaymentIntent(
                intent=intent_id,
                payment_method=reference,
                off_session="true" if off_session else None,
            ),
        )
    except CardDeclined as declined:
        await record_failed_attempt(ctx, invoice, reason=declined.message)
        raise
    if confirmed["status"] == "requires_action":
        await _requires_action(ctx, invoice, confirmed)
    await _record_success(ctx, invoice, int(confirmed["amount_received"]))


async def record_failed_attempt(
    ctx: Context, invoice: ApiObject, *, reason: str | None = None
) -> None:
    """A failed attempt: when the next one is, `invoice.payment_failed`, and the
    payment-failed email (`reason`: the decline's message for people)."""
    invoice["next_payment_attempt"] = _retry_at(invoice, ctx.now())
    await invoice_documents.save(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.payment_failed", invoice)
    await invoice_emails.queue_payment_failed_email(ctx, invoice, reason=reason)


async def _requires_action(ctx: Context, invoice: ApiObject, intent: ApiObject) -> None:
    invoice["next_payment_attempt"] = None
    await invoice_documents.save(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.payment_action_required", invoice)
    error = CardDeclined(REQUIRES_ACTION, code="invoice_payment_intent_requires_action")
    error.details = {"payment_intent": intent}
    raise error


async def _record_success(ctx: Context, invoice: ApiObject, amount: int) -> None:
    invoice["amount_paid"] += amount
    invoice["amount_remaining"] = max(0, invoice["amount_due"] - invoice["amount_paid"])
    await invoice_payments.record_paid(ctx, invoice, amount)
    if invoice["amount_remaining"] == 0:
        await invoice_transitions.mark_paid(ctx, invoice, attempted=True)
        # No PDF: a receipt is the hot path's (every paid invoice's), and the invoice's
        # PDF stays one click away behind the receipt's hosted link.
        await invoice_emails.queue_receipt_email(ctx, invoice)


async def settle_from_intent(ctx: Context, invoice_id: str) -> ApiObject:
    """After the invoice's PaymentIntent was confirmed elsewhere (the hosted invoice page,
    a 3-D Secure challenge): if it succeeded, the invoice is paid. Takes the invoice's lock
    first, as every invoice path does; returns the invoice as shown."""
    invoice = await invoice_documents.load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    intent_id = private(invoice)["payment_intent"]
    if intent_id is None or invoice["status"] not in ("open", "uncollectible"):
        return invoice_documents.view(invoice)
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
    )
    if intent["status"] == "succeeded":
        invoice["attempted"] = True
        invoice["attempt_count"] = max(1, int(invoice["attempt_count"]))
        await _record_success(ctx, invoice, int(intent["amount_received"]))
        await invoice_documents.save(ctx, invoice)
    return invoice_documents.view(invoice)
