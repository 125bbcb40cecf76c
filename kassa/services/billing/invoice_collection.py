"""Collecting an invoice: `POST /v1/invoices/{id}/pay`, the hosted invoice page's payments,
the auto-advance job's automatic attempts, and the end of the invoice's PaymentIntent's
payment attempt on whatever path it ends.

A payment attempt (`collect`) confirms the PaymentIntent made at finalization, in process
(`payment_intents.confirm_payment_intent`), with the payment method given, else the
invoice's `default_payment_method`, else (a subscription's invoice) the subscription's as it
is at the attempt, else the customer's `invoice_settings.default_payment_method`;
off-session unless `off_session=false`. The charge and its ledger posting are the intent's,
as for every card payment.

As on Stripe, the invoice follows its PaymentIntent whatever path ends the intent's payment
attempt: `collect`, the 3-D Secure test helper or page, or the integration confirming the
intent itself (Stripe.js with the invoice's `confirmation_secret`). The payment path tells
`hooks.payment_intent_finished` in its unit of work, and `intent_finished` records it:

- Success: the default invoice payment is `paid`; the invoice `paid` (`invoice.paid`,
  `invoice.payment_succeeded`, `invoice_payment.paid`).
- A failure (a decline, or a failed 3-D Secure authentication): the invoice stays open,
  `attempted`, its `attempt_count` counted as Stripe counts it (any first attempt, then
  automatic retries only), `next_payment_attempt` from `RETRY_AFTER_DAYS` for
  auto-advancing `charge_automatically` invoices (a manual attempt after the first leaves
  it as it is: `_moves_schedule`; an automatic attempt that found no payment method is
  not retried on a one-off invoice: `record_no_payment_method`; nor is any attempt on an
  invoice its maker said is never retried: `forgo_retries`); `invoice.payment_failed`.
  From `collect`, Stripe's 402 `card_error` too; these writes commit with the failed
  charge (`CardDeclined`).

3-D Secure on-session (`off_session=false`): `invoice.payment_action_required`, and a 402
`invoice_payment_intent_requires_action`, or, when the caller asks (`report_action`: the
hosted page), the intent whose challenge returns the customer to `return_url`.
3-D Secure on an automatic attempt (a renewal, a dunning retry; off session, the card not
set up to spare it): the intent is left `requires_action` for the customer to answer later
(the hosted invoice page, or Stripe.js with its client secret), as Stripe's subscription
webhooks guide has it, not declined `authentication_required`. The attempt is a failed one
(`record_failed_attempt`: the retry schedule, `invoice.payment_failed`, a renewal's
subscription `past_due`, dunning's final action after the last retry), and
`invoice.payment_action_required` follows. Each retry asks again; the customer's answer
pays the invoice (`intent_finished`).
`paid_out_of_band=true`: paid with no charge and no money moved (nothing posted to the
ledger; the amount is in `amount_paid` and the includable `amount_paid_off_stripe`).

Paying a draft finalizes it first.

The invoice fixes its PaymentIntent's amount, currency, customer and capture (automatic),
and only voiding the invoice cancels it: the payment path refuses the rest, as Stripe does
(`invoice_of_intent`, its `hooks.payment_intent_invoice`). A success is counted once per
intent whichever path reports it (the default payment records it: `_record_success`), so an
invoice's `amount_paid` is always what its payments collected.

Locks: every invoice path locks the invoice before its PaymentIntent. A path that starts
from the intent tells `hooks.payment_intent_finishing` before it locks the intent, and
`lock_invoice_of_intent` locks the invoice then: only for an intent whose id bears the
invoice mark (`invoice_payments.INVOICE_INTENT_ID_MARK`), so the payment path reads nothing
more for any other intent.

Emails, queued with the attempt's writes (`invoice_emails`): a receipt when a payment
settles the invoice (every path ends in `_record_success`; `paid_out_of_band` moves no money
and sends none), and the payment-failed email on every failed attempt
(`record_failed_attempt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import DAY_SECONDS
from kassa.errors import CardDeclined, InvalidRequest
from kassa.invariants import ensure
from kassa.params import Boolean, NotSupported, Param, String
from kassa.services import hooks, payment_intents
from kassa.services.billing import (
    customer_delinquency,
    discounts,
    invoice_documents,
    invoice_emails,
    invoice_payments,
    invoice_transitions,
)
from kassa.services.billing.invoice_documents import private
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS, SUBSCRIPTIONS

RETRY_AFTER_DAYS: Final = (3, 5, 7)
"""Days after a failed attempt until the next automatic one, for an auto-advancing
`charge_automatically` invoice: three retries, then no more (Stripe's custom retry schedule
shape; Smart Retries' timing is Stripe's own). Subscriptions' dunning settings replace it."""
NO_PAYMENT_METHOD = (
    "This customer has no attached payment source or default payment method. Please "
    "consider adding a default payment method."
)
AUTHENTICATION_FAILED_REASON = "The card was not authenticated."
"""The payment-failed email's reason when the customer failed 3-D Secure (the intent's own
message tells a developer what to do next)."""
AUTHENTICATION_REQUIRED_REASON = "Your bank asks you to authenticate this payment."
"""The payment-failed email's reason when an automatic attempt awaits 3-D Secure."""
PAYABLE_STATUSES: Final = ("open", "uncollectible")
"""What a successful payment of its PaymentIntent settles (Stripe pays an uncollectible
invoice too)."""
INTENTS_HELD_PER_UNIT_MAX: Final = 16
"""Invoice PaymentIntents one unit of work may hold (`_held`): an attempt touches one."""
NOT_RETRIED: Final = "not_retried"
"""Private fact of an invoice none of whose failed attempts is retried (`forgo_retries`)."""
_HELD: Final = "invoice_collection.held"
"""ctx.memo key: PaymentIntent id -> `_Held`, the invoice it collects as this unit holds it."""
INTENT_SPENT = (
    "This invoice's PaymentIntent has already succeeded, collecting {received}, and cannot "
    "collect what remains of invoice {invoice}. Record the rest as paid out of band "
    "(paid_out_of_band=true) or void the invoice."
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


@dataclass
class _Held:
    """The invoice an intent collects, as this unit of work holds it (locked)."""

    invoice: ApiObject | None
    """None: the intent collects no invoice (its id bears the mark by chance)."""
    stored_by_caller: bool = False
    """`collect` holds the invoice, and its caller stores it after the attempt: a success
    writes it no sooner."""
    automatic: bool = False
    """`collect` makes an automatic attempt (the invoice job's, a dunning retry): only its
    failure makes the customer delinquent."""
    first_attempt: bool | None = None
    """`collect` makes the invoice's first attempt (None: not known before the attempt ends,
    told then by `attempt_count`)."""


def _held(ctx: Context) -> dict[str, _Held]:
    held: dict[str, _Held] = ctx.memo.setdefault(_HELD, {})
    ensure(len(held) <= INTENTS_HELD_PER_UNIT_MAX, "a unit of work holds few invoice intents")
    return held


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
    # Stripe names no reason for this one: of its internal reasons, `void_invoice`,
    # `failed_invoice`, `automatic` and `expired` each say something untrue of a paid
    # invoice, so none is given rather than a guess.
    await invoice_payments.cancel_default_payment(ctx, invoice, cancellation_reason=None)
    await invoice_transitions.mark_paid(ctx, invoice, attempted=False)


async def _payment_method(ctx: Context, invoice: Mapping[str, Any], given: str | None) -> str:
    if given is not None:
        return given
    if invoice["default_payment_method"] is not None:
        return str(invoice["default_payment_method"])
    of_subscription = await _subscription_payment_method(ctx, invoice)
    if of_subscription is not None:
        return of_subscription
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, invoice["customer"], lock=False)
    customer = {} if found is None else found[0]
    # Then the customer's default source (a saved card), which serves as a PaymentMethod.
    default = (customer.get("invoice_settings") or {}).get(
        "default_payment_method"
    ) or customer.get("default_source")
    if default is None:
        raise NoPaymentMethod()
    return str(default)


async def _subscription_payment_method(ctx: Context, invoice: Mapping[str, Any]) -> str | None:
    """The `default_payment_method` its subscription has now, for a subscription's invoice:
    Stripe charges a renewal, and retries it, with the subscription's payment method as it
    is at the attempt (one updated after a decline pays the next retry). Read without a
    lock: the attempt changes nothing of the subscription."""
    parent = invoice.get("parent") or {}
    subscription_id = (parent.get("subscription_details") or {}).get("subscription")
    if subscription_id is None:
        return None
    found = await ctx.tx.get_object(SUBSCRIPTIONS, ctx.account_id, str(subscription_id), lock=False)
    method = None if found is None else found[0].get("default_payment_method")
    return None if method is None else str(method)


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
    return_url: str | None = None,
    report_action: bool = False,
) -> ApiObject | None:
    """One attempt to collect what the open invoice still asks; the caller stores the invoice
    afterwards. A decline is recorded (`intent_finished`) and stored before it is raised (its
    writes commit with the failed charge). A card that asks for 3-D Secure on session raises
    `invoice_payment_intent_requires_action`, the invoice stored; with `report_action` the
    intent awaiting the challenge is returned instead (its `next_action` returns the
    customer to `return_url`). On an automatic attempt it is a failed attempt awaiting the
    customer (`_awaits_customer`), and the intent is returned. None: paid."""
    reference = await _payment_method(ctx, invoice, payment_method)
    intent_id = str(private(invoice)["payment_intent"])
    held = _held(ctx)
    # The invoice in hand, for `intent_finished` to record the outcome on (and for
    # `lock_invoice_of_intent` to leave alone: it is locked already); only while confirming.
    first = invoice["attempt_count"] == 0
    held[intent_id] = _Held(
        invoice, stored_by_caller=True, automatic=automatic, first_attempt=first
    )
    try:
        awaiting = await _confirm(
            ctx, invoice, intent_id, reference, off_session, automatic, return_url
        )
    finally:
        del held[intent_id]
    if awaiting is None:
        return None
    if automatic:
        await _awaits_customer(ctx, invoice, first_attempt=first)
        return awaiting
    if _moves_schedule(invoice, automatic=False, first_attempt=first):
        invoice["next_payment_attempt"] = None  # the challenge is the customer's to answer
    await invoice_documents.announce(ctx, "invoice.payment_action_required", invoice)
    if report_action:
        return awaiting
    await invoice_documents.save(ctx, invoice)  # the caller does not, after an error
    raise CardDeclined(REQUIRES_ACTION, code="invoice_payment_intent_requires_action").carrying(
        payment_intent=awaiting
    )


async def _awaits_customer(ctx: Context, invoice: ApiObject, *, first_attempt: bool) -> None:
    """An automatic attempt left the intent awaiting 3-D Secure: nobody was there to answer,
    so it failed as a decline does (the schedule, `invoice.payment_failed`, the subscription
    `past_due`), and `invoice.payment_action_required` asks the customer to answer. Stripe's
    subscription webhooks guide: the PaymentIntent is `requires_action`, the subscription
    `past_due`; Stripe's retries skip no such payment, so the schedule stands."""
    await record_failed_attempt(
        ctx,
        invoice,
        automatic=True,
        reason=AUTHENTICATION_REQUIRED_REASON,
        first_attempt=first_attempt,
    )
    await invoice_documents.announce(ctx, "invoice.payment_action_required", invoice)


async def _confirm(
    ctx: Context,
    invoice: ApiObject,
    intent_id: str,
    reference: str,
    off_session: bool,
    automatic: bool,
    return_url: str | None,
) -> ApiObject | None:
    """Confirm the invoice's intent with the payment method: None when it ended (paid, or a
    decline raised), the intent when it awaits 3-D Secure."""
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=intent_id)
    )
    if intent["status"] == "succeeded":
        # Paid before the invoice's intents were marked (nothing told billing): settled now.
        # Recorded already, its payment counts once: what it left unpaid, it cannot collect.
        if not await _record_success(ctx, invoice, int(intent["amount_received"])):
            raise InvalidRequest(
                INTENT_SPENT.format(received=intent["amount_received"], invoice=invoice["id"]),
                code="payment_intent_unexpected_state",
            )
        return None
    if intent["status"] == "requires_action":
        # An earlier on-session attempt left a challenge unanswered: start again.
        await payment_intents.update_payment_intent(
            ctx, payment_intents.UpdatePaymentIntent(intent=intent_id, payment_method=reference)
        )
    _count_attempt(invoice, automatic=automatic)
    confirmed = await payment_intents.confirm_payment_intent(
        ctx,
        payment_intents.ConfirmPaymentIntent(
            intent=intent_id,
            payment_method=reference,
            off_session="true" if off_session else None,
            return_url=return_url,
            # An automatic attempt's challenge waits for the customer (`_awaits_customer`).
            awaits_action_off_session=automatic,
        ),
    )
    return confirmed if confirmed["status"] == "requires_action" else None


def _moves_schedule(invoice: Mapping[str, Any], *, automatic: bool, first_attempt: bool) -> bool:
    """Whether the attempt's outcome sets when the next automatic one is: an automatic
    attempt's, and the invoice's first attempt's whoever made it. Stripe's
    `Invoice.attempt_count`: "manual payment attempts after the first attempt do not affect
    the retry schedule", so a `pay` that fails cannot put dunning off. A schedule a 3-D
    Secure challenge cleared (none set, the invoice still collected automatically) is set
    again by the attempt's failure, as before the challenge."""
    return automatic or first_attempt or invoice["next_payment_attempt"] is None


async def record_no_payment_method(ctx: Context, invoice: ApiObject) -> None:
    """An automatic attempt found no payment method to charge: a failed attempt without a
    charge. Stripe's smart retries page: "Stripe doesn't retry payments if: No payment
    methods are available", so a one-off invoice is not retried (`next_payment_attempt`
    null; a `pay` with a payment method still collects it). A subscription's invoice keeps
    its retries and dunning: Stripe documents nothing of what its subscription does then
    (its dunning's final action, or `past_due` for good), so Kassa leaves it as it was."""
    _count_attempt(invoice, automatic=True)
    retried = discounts.parent_subscription(invoice) is not None
    await record_failed_attempt(ctx, invoice, automatic=True, retried=retried)


def forgo_retries(invoice: ApiObject) -> None:
    """No failed attempt on the invoice, the first or a later `pay`, schedules a retry
    (`next_payment_attempt` stays null), as its maker, which knows why, says: an incomplete
    subscription's first invoice (`subscription_create`), which its customer has 23 hours to
    pay before it is voided, sooner than the dunning schedule's first retry. Kept on the
    invoice, so that a later attempt, made by a path that knows nothing of the
    subscription, reads nothing more to know it."""
    private(invoice)[NOT_RETRIED] = True


async def record_failed_attempt(
    ctx: Context,
    invoice: ApiObject,
    *,
    automatic: bool,
    reason: str | None = None,
    first_attempt: bool = False,
    retried: bool = True,
) -> None:
    """A failed attempt: when the next one is (unless a manual attempt after the first:
    `_moves_schedule`), `invoice.payment_failed`, and the payment-failed email (`reason`:
    the decline's message for people). An automatic
    attempt (the invoice job's, a dunning retry) failing makes the customer delinquent,
    before dunning may mark the invoice uncollectible (which leaves the flag set, as on
    Stripe); one the customer or the integration made (`pay`, the hosted page, a
    confirmation of the intent) does not, whatever the collection method. Stripe's
    `Customer.delinquent`: "An automatic payment failure or passing the `invoice.due_date`
    will set this field to `true`". `retried=False`: this attempt's failure schedules no
    retry (`record_no_payment_method`); an invoice its maker said is never retried
    (`forgo_retries`) schedules none on any attempt."""
    if _moves_schedule(invoice, automatic=automatic, first_attempt=first_attempt):
        retried = retried and not private(invoice).get(NOT_RETRIED, False)
        invoice["next_payment_attempt"] = _retry_at(invoice, ctx.now()) if retried else None
    await invoice_documents.save(ctx, invoice)
    if automatic:
        await customer_delinquency.set_delinquent(ctx, str(invoice["customer"]), True)
    await invoice_documents.announce(ctx, "invoice.payment_failed", invoice)
    await invoice_emails.queue_payment_failed_email(ctx, invoice, reason=reason)
    await hooks.invoice_payment_failed(ctx, invoice)


async def _record_success(ctx: Context, invoice: ApiObject, amount: int) -> bool:
    """The invoice's intent collected `amount`: counted in `amount_paid` once per intent
    (False: recorded before, nothing written), and the invoice paid when nothing remains."""
    payment = await invoice_payments.record_paid(ctx, invoice, amount)
    if payment is None:
        return False
    _count_attempt(invoice, automatic=False)  # counted already, unless paid from elsewhere
    invoice["amount_paid"] += amount
    invoice["amount_remaining"] = max(0, invoice["amount_due"] - invoice["amount_paid"])
    # What the invoice says it was paid is what its payments collected: its one default
    # payment, and what was recorded as paid outside Stripe.
    ensure(
        invoice["amount_paid"]
        == int(payment["amount_paid"]) + int(private(invoice)["amount_paid_off_stripe"]),
        "an invoice's amount_paid is the sum of what its payments collected",
    )
    if invoice["amount_remaining"] == 0:
        await invoice_transitions.mark_paid(ctx, invoice, attempted=True)
        # No PDF: a receipt is the hot path's (every paid invoice's), and the invoice's
        # PDF stays one click away behind the receipt's hosted link.
        await invoice_emails.queue_receipt_email(ctx, invoice)
    return True


# --- the invoice follows its PaymentIntent (hooks installed by kassa.observers) ---------------


async def lock_invoice_of_intent(ctx: Context, intent_id: str) -> None:
    """`hooks.payment_intent_finishing`: the intent is about to be confirmed, captured or
    authenticated. The invoice it collects is locked now, before the intent, as every
    invoice path locks them; an intent without the invoice mark costs nothing."""
    if invoice_payments.may_collect_an_invoice(intent_id) and intent_id not in _held(ctx):
        _held(ctx)[intent_id] = _Held(await _invoice_collected_by(ctx, intent_id))


async def intent_finished(ctx: Context, intent: ApiObject) -> None:
    """`hooks.payment_intent_finished`: the payment attempt of an invoice's intent ended,
    whatever path ended it. Success pays the invoice; a failure is a failed attempt."""
    intent_id = str(intent["id"])
    held = ctx.memo.get(_HELD, {}).get(intent_id)
    if held is None:
        if not invoice_payments.may_collect_an_invoice(intent_id):
            return  # the payment path's common case: nothing read, nothing written
        # Ended by a path that did not announce it first (a charge's capture): the invoice
        # is locked after the intent, a risk only such a rare path takes.
        held = _held(ctx)[intent_id] = _Held(await _invoice_collected_by(ctx, intent_id))
    invoice = held.invoice
    if invoice is None or invoice["status"] not in PAYABLE_STATUSES:
        return
    if intent["status"] == "succeeded":
        recorded = await _record_success(ctx, invoice, int(intent["amount_received"]))
        if recorded and not held.stored_by_caller:
            await invoice_documents.save(ctx, invoice)
        return
    first = held.first_attempt
    if first is None:
        first = invoice["attempt_count"] == 0
    _count_attempt(invoice, automatic=False)  # the first counts, whichever path made it
    await record_failed_attempt(
        ctx,
        invoice,
        automatic=held.automatic,
        reason=_failure_reason(intent),
        first_attempt=first,
    )


async def invoice_of_intent(ctx: Context, intent_id: str) -> str | None:
    """`hooks.payment_intent_invoice`: the invoice whose PaymentIntent this is (what the
    invoice fixes of it, the payment path refuses to change); an intent without the invoice
    mark costs nothing."""
    if not invoice_payments.may_collect_an_invoice(intent_id):
        return None
    payment = await invoice_payments.payment_of_intent(ctx, intent_id)
    return None if payment is None else str(payment["invoice"])


async def _invoice_collected_by(ctx: Context, intent_id: str) -> ApiObject | None:
    """The invoice (locked) whose default payment the intent is, if any."""
    payment = await invoice_payments.payment_of_intent(ctx, intent_id)
    if payment is None:
        return None
    found = await invoice_documents.find_invoice(ctx, str(payment["invoice"]))
    return None if found is None or found[1] else found[0]


def _failure_reason(intent: Mapping[str, Any]) -> str | None:
    """Why the attempt failed, for the customer's email: a decline's message, or that the
    card was not authenticated."""
    error = intent["last_payment_error"] or {}
    if error.get("type") != "card_error":
        return AUTHENTICATION_FAILED_REASON
    message = error.get("message")
    return str(message) if message else None
