"""An invoice's status machine, as Stripe has it (docs: "Status transitions and finalization"):

    draft --finalize--> open --pay--> paid
                        open --void--> void
                        open --mark_uncollectible--> uncollectible --pay--> paid
                                                     uncollectible --void--> void
    draft --delete--> (deleted)

Every refusal is a 400 `invalid_request_error` in Stripe's words, raised before anything is
written. Payment is in `invoice_collection`; this module finalizes, sends, voids and marks
uncollectible.

Finalization, in one unit of work: the draft's amounts are worked out a last time, its
promotion codes' restrictions on the purchase are checked (the redemptions were counted when
the discounts were applied), it gets its number from its customer's sequence (the customer's
row is locked, after the invoice's, so concurrent finalizations of one customer's invoices
take numbers one after the other on PostgreSQL, never the same one and leaving no gap), the
customer's balance is applied (`customer_balance.apply_to_invoice`; the customer's billing
credits were applied before, by the last working out of the amounts: `credit_application`),
and what is left due
gets a PaymentIntent and a default invoice payment. Nothing due: the invoice is paid at once.

Emails to the customer are queued in the same unit of work (`invoice_emails`): sending a
`send_invoice` invoice queues the invoice email, its PDF attached by reference (the mail
worker renders it when it sends the email, outside this unit of work). A
finalized `send_invoice` invoice with a due date gets the instant of its first payment
reminder (`next_reminder_at`, the reminder job's index, in the private facts); being paid,
voided or marked uncollectible clears it (`invoice_reminders` sends them).

`status_details` holds the current status's details only (Stripe's changelog, endive
2026-09-30: "We only include `status_details` when the invoice's `status` is
`uncollectible`"): `uncollectible.reason` says who marked it (`UNCOLLECTIBLE_REASONS`),
and paying or voiding it clears them. Paying an invoice clears its customer's `delinquent`
flag (`customer_delinquency`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from kassa import money
from kassa.errors import AmountTooLarge, InvalidRequest
from kassa.invariants import ensure
from kassa.services import customer_invoice_numbering, events, hooks
from kassa.services.billing import (
    credit_application,
    customer_balance,
    customer_delinquency,
    discounts,
    invoice_documents,
    invoice_emails,
    invoice_lines,
    invoice_payments,
    invoice_reminders,
)
from kassa.services.billing.invoice_documents import AUTO_ADVANCE_DELAY_SECONDS, private
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS, INVOICES

PAGE_PATH: Final = "/kassa/invoices"
"""Where Kassa serves the hosted invoice page (`{public_url}/kassa/invoices/{id}?secret=`)
and the PDF (`.../{id}/pdf?secret=`); another part of Kassa renders them."""
SECRET_BYTES: Final = 24
"""The hosted page's secret: 192 random bits, unguessable, compared in constant time."""
NUMBER_DIGITS: Final = 4
"""Invoice numbers are `{prefix}-{sequence}`, the sequence zero-padded to four digits."""
NUMBER_ATTEMPTS_MAX: Final = 100
"""Numbers skipped when one is taken already (a custom `number` given earlier): never
reached in practice; the bound keeps the loop finite."""

NOT_OPEN = "You can only pass in open invoices. This invoice isn't open."
VOIDABLE_STATUSES: Final = ("open", "uncollectible")
"""Stripe voids an uncollectible invoice too (its invoicing workflow: uncollectible, then
"void or pay the invoice")."""
UNCOLLECTIBLE_REASONS: Final = ("max_payment_attempts", "subscription_paused", "user_forgiven")
"""The `status_details.uncollectible.reason`s Kassa gives (the SDK's Literal has
`payment_not_received` and `subscription_canceled` too, for paths Kassa does not have):
dunning's last retry failed, a paused subscription's renewal, the API call."""
ALREADY_FINALIZED = "This invoice is already finalized, you can't re-finalize a non-draft invoice."


# --- finalization -------------------------------------------------------------------------


async def _customer_locked(ctx: Context, customer_id: str) -> ApiObject:
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
    ensure(found is not None, "an invoice's customer exists")
    customer = found[0] if found is not None else {}
    ctx.remember_customer(customer)
    return customer


async def number_taken(ctx: Context, number: str, *, besides: str | None = None) -> bool:
    page = await ctx.tx.list_objects(
        INVOICES, ctx.account_id, ObjectListQuery(limit=2, equals={"number": number})
    )
    return any(invoice["id"] != besides for invoice in page.objects)


async def _next_number(ctx: Context, customer: ApiObject) -> str:
    """The customer's next invoice number, its sequence moved on (never reused: a number
    taken by a custom `number` is skipped)."""
    for _ in range(NUMBER_ATTEMPTS_MAX):
        sequence = int(customer["next_invoice_sequence"])
        customer["next_invoice_sequence"] = sequence + 1
        number = f"{customer['invoice_prefix']}-{sequence:0{NUMBER_DIGITS}d}"
        if not await number_taken(ctx, number):
            return number
    raise InvalidRequest(
        "Could not find a free invoice number: set the customer's next_invoice_sequence past "
        "the numbers already used."
    )


async def _assign_number(ctx: Context, invoice: ApiObject) -> None:
    """Lock the customer (after the invoice: the order every invoice path takes), take the
    next number if the invoice has none, give a customer without a currency the invoice's
    (`customer_balance.adopt_currency`), and store the customer once for both."""
    customer = await _customer_locked(ctx, str(invoice["customer"]))
    invoice.update(invoice_documents.customer_details(customer))
    await invoice_documents.copy_customer_tax_ids(ctx, invoice)
    numbered = invoice["number"] is None
    if numbered:
        await customer_invoice_numbering.own_prefix(ctx, customer)
        invoice["number"] = await _next_number(ctx, customer)
    before = customer_balance.adopt_currency(customer, str(invoice["currency"]))
    if numbered or before is not None:
        await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    if before is not None:
        await events.announce(ctx, "customer.updated", customer, previous=before)


async def _apply_balance(ctx: Context, invoice: ApiObject) -> None:
    applied = await customer_balance.apply_to_invoice(
        ctx, str(invoice["customer"]), invoice["id"], invoice["currency"], invoice["total"]
    )
    invoice["starting_balance"] = applied.starting_balance
    invoice["ending_balance"] = applied.ending_balance
    invoice["amount_due"] = applied.amount_due
    invoice["amount_remaining"] = applied.amount_due - invoice["amount_paid"]
    private(invoice)["balance_applied"] = applied.transaction is not None


def _urls(ctx: Context, invoice: ApiObject) -> None:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    private(invoice)["secret"] = secret
    base = f"{ctx.payments.public_url}{PAGE_PATH}/{invoice['id']}"
    invoice["hosted_invoice_url"] = f"{base}?secret={secret}"
    invoice["invoice_pdf"] = f"{base}/pdf?secret={secret}"


def _item_discount_ids(items: list[ApiObject]) -> list[str]:
    return [discount for item in items for discount in item["discounts"]]


async def finalize_draft(
    ctx: Context, invoice: ApiObject, *, auto_advance: bool | None, charged_at_once: bool = False
) -> None:
    """Finalize a draft in place (the caller holds it locked, stores it, and then sends or
    collects it as its call requires). Announces `invoice.finalized`, and `invoice.paid`
    when nothing is due. `charged_at_once`: automatic collection finalizes it, and charges a
    `charge_automatically` one right after: its `next_payment_attempt` is now, not an hour
    on."""
    if invoice["status"] != "draft":
        raise InvalidRequest(ALREADY_FINALIZED)
    now = ctx.now()
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    # The last working out applies the customer's billing credits (`credit_application`).
    items = await invoice_lines.refresh(ctx, invoice, finalizing=True)
    await discounts.check_at_finalization(ctx, invoice, _item_discount_ids(items))
    await _assign_number(ctx, invoice)
    await _apply_balance(ctx, invoice)
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = now
    invoice["effective_at"] = invoice["effective_at"] or now
    invoice["automatically_finalizes_at"] = None
    invoice["last_finalization_error"] = None
    _urls(ctx, invoice)
    if invoice["amount_due"] > 0 and invoice["amount_due"] < money.minimum_charge_amount(
        invoice["currency"]
    ):
        await _carry_small_amount_to_balance(ctx, invoice)
    elif invoice["amount_due"] > 0:
        _check_collectable(invoice)
        await invoice_payments.open_default_payment(ctx, invoice)
        invoice["next_payment_attempt"] = first_attempt(invoice, now, charged_at_once)
    await invoice_reminders.schedule_reminders(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.finalized", invoice)
    if invoice["amount_remaining"] == 0:
        await mark_paid(ctx, invoice, attempted=True)


def _check_collectable(invoice: Mapping[str, Any]) -> None:
    """What is due fits in one payment (`money.MAX_AMOUNT`). Every line is within it, but
    lines and the customer's balance added to them may not be; no one parameter of the
    request made it so (a subscription's first invoice, a finalization), so none is named."""
    due, currency = int(invoice["amount_due"]), str(invoice["currency"])
    if due > money.MAX_AMOUNT:
        raise AmountTooLarge(
            f"The invoice's amount due ({money.format_amount(due, currency)} {currency}, "
            f"the customer's balance of {invoice['starting_balance']} included) is more than "
            f"one payment may collect ({money.format_amount(money.MAX_AMOUNT, currency)} "
            f"{currency}).",
            param=None,
        )


def first_attempt(invoice: Mapping[str, Any], now: int, charged_at_once: bool) -> int | None:
    """When an auto-advancing `charge_automatically` invoice finalized `now` is charged: at
    once when the auto-advance job finalized it, else about an hour on (as Stripe's
    automatic collection), by that job. What a preview says of one charged at once too
    (`subscription_preview`)."""
    if invoice["auto_advance"] and invoice["collection_method"] == "charge_automatically":
        return now if charged_at_once else now + AUTO_ADVANCE_DELAY_SECONDS
    return None


async def _carry_small_amount_to_balance(ctx: Context, invoice: ApiObject) -> None:
    """Stripe's rule for an amount due below the currency's minimum charge: the invoice is
    marked paid and the amount is added to the customer's balance, for the next invoice.
    Nothing is then due on this one (Stripe's `amount_due` "may be 0" for a total smaller
    than the minimum charge), so amount_remaining = amount_due - amount_paid holds."""
    await customer_balance.record_for_invoice(
        ctx,
        str(invoice["customer"]),
        invoice["id"],
        currency=invoice["currency"],
        amount=invoice["amount_due"],
        transaction_type="invoice_too_small",
    )
    invoice["ending_balance"] = int(invoice["ending_balance"] or 0) + invoice["amount_due"]
    invoice["amount_due"] = 0
    invoice["amount_remaining"] = 0


async def mark_paid(ctx: Context, invoice: ApiObject, *, attempted: bool) -> None:
    """The invoice is paid in full: `invoice.paid`, and `invoice.payment_succeeded` when a
    payment attempt (not an out-of-band record) settled it."""
    invoice["status"] = "paid"
    invoice["status_details"] = None
    invoice["status_transitions"]["paid_at"] = ctx.now()
    invoice["amount_remaining"] = 0
    invoice["auto_advance"] = False
    invoice["next_payment_attempt"] = None
    private(invoice)["next_reminder_at"] = None
    invoice["attempted"] = invoice["attempted"] or attempted
    await invoice_documents.announce(ctx, "invoice.paid", invoice)
    if attempted:
        await invoice_documents.announce(ctx, "invoice.payment_succeeded", invoice)
    await customer_delinquency.set_delinquent(ctx, str(invoice["customer"]), False)
    await hooks.invoice_paid(ctx, invoice)


# --- sending ------------------------------------------------------------------------------


async def queue_sent_invoice_email(ctx: Context, invoice: Mapping[str, Any]) -> None:
    """The sent invoice's email, with its hosted page link and its PDF (rendered by the
    mail worker when it sends the email, every line included), queued in the sending unit
    of work; none when the customer has no address."""
    await invoice_emails.queue_invoice_email(ctx, invoice, pdf=invoice_emails.pdf_of(invoice))


SENDABLE_STATUSES: Final = ("draft", "open", "paid")
"""Stripe's send: "When sending invoices that have already been paid, there will be no
reference to the payment in the email"; void and uncollectible invoices are not sent."""


def check_sendable(invoice: Mapping[str, Any]) -> None:
    """Only `send_invoice` invoices are sent, and only while a draft (which sending
    finalizes first, then sends as it leaves it: open, or paid when nothing was due), open
    or paid (an email without the link to pay)."""
    if invoice["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
        )
    if invoice["status"] not in SENDABLE_STATUSES:
        raise InvalidRequest(
            "This invoice cannot be sent right now. Please contact us via "
            "https://support.stripe.com/contact with details, so we can help."
        )


async def send(ctx: Context, invoice: ApiObject) -> None:
    """Send an open or paid `send_invoice` invoice to its customer: the email, and
    `invoice.sent`."""
    check_sendable(invoice)
    await queue_sent_invoice_email(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.sent", invoice)


# --- closing ------------------------------------------------------------------------------


def _stop_collecting(invoice: ApiObject) -> None:
    invoice["auto_advance"] = False
    invoice["next_payment_attempt"] = None
    private(invoice)["next_reminder_at"] = None


async def void(ctx: Context, invoice: ApiObject, *, at: int | None = None) -> None:
    """Void an open or uncollectible invoice: its default payment canceled, and what it
    took from the customer's balance given back. `at`: when it was voided, now unless given:
    the time an expiry voiding it was due, which the work voiding it may reach late (the
    real-time job after a server was down)."""
    if invoice["status"] == "paid":
        raise InvalidRequest("Invoices with `paid` payments cannot be voided.")
    if invoice["status"] not in VOIDABLE_STATUSES:
        raise InvalidRequest(NOT_OPEN)
    voided = ctx.as_of(at)
    invoice["status"] = "void"
    invoice["status_details"] = None
    invoice["status_transitions"]["voided_at"] = voided
    _stop_collecting(invoice)
    await invoice_payments.cancel_default_payment(
        ctx, invoice, cancellation_reason=invoice_payments.VOIDED_CANCELLATION_REASON
    )
    if private(invoice)["balance_applied"]:
        # What the invoice took from the customer's balance goes back to it.
        await customer_balance.unapply_from_invoice(ctx, str(invoice["customer"]), invoice["id"])
    # And what it took from the customer's billing credit grants goes back to them.
    await credit_application.give_back(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.voided", invoice)


async def mark_uncollectible(ctx: Context, invoice: ApiObject, *, reason: str) -> None:
    """`reason`: the caller's, one of `UNCOLLECTIBLE_REASONS`."""
    ensure(reason in UNCOLLECTIBLE_REASONS, f"{reason} is a reason Kassa gives")
    if invoice["status"] == "uncollectible":
        raise InvalidRequest("This invoice has already been marked uncollectible.")
    if invoice["status"] != "open":
        raise InvalidRequest(NOT_OPEN)
    invoice["status"] = "uncollectible"
    invoice["status_transitions"]["marked_uncollectible_at"] = ctx.now()
    invoice["status_details"] = {"uncollectible": {"reason": reason}}
    _stop_collecting(invoice)
    await invoice_documents.announce(ctx, "invoice.marked_uncollectible", invoice)
