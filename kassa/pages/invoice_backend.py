"""The hosted invoice page's `InvoicePageBackend` over the invoice operations, which the
composition root (`kassa.runtime`) gives to `InvoicePages`.

`load` finds the invoice by its link's secret (`invoices.invoice_for_page`, compared in
constant time), and gathers what its page and PDF show: every line, and the rest through
`rendering.invoice_document.build_document` (the tax rates its taxes name, its discounts
with their coupons). An invoice whose PaymentIntent succeeded on the 3-D Secure page since
it was last seen is settled first (`settle_from_intent`), so the page the challenge returns
to shows it paid.

`pay` is `POST /v1/invoices/{id}/pay` with a new card, on session: the invoice's own
PaymentIntent (made at finalization) is confirmed with a card PaymentMethod made from the
form, in the invoice's unit of work and under its row lock. The pay operation
(`invoice_collection.collect`) takes no `return_url`, and without one a card that asks for
3-D Secure gets a `use_stripe_sdk` action that never returns the browser here; so this
module confirms the intent itself with the page's `return_url`, and records the attempt
with the pay operation's own pieces (`record_failed_attempt`, `settle_from_intent`).

A form sent twice pays once: the invoice's row lock orders the two, the second finds the
invoice paid, and the form's `attempt` token keys an idempotency record (Stripe's table, a
key of this page's own) that answers the second as the first was answered: the same
redirect to the challenge, or the same decline, without a second charge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kassa.clock import Clock, unix_seconds
from kassa.errors import CardDeclined, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.pages.invoice_page import CardForm, PaymentStep
from kassa.services import payment_intents, payment_methods
from kassa.services.billing import (
    invoice_collection,
    invoice_documents,
    invoice_payments,
    invoices,
)
from kassa.services.billing.rendering.invoice_document import build_document
from kassa.services.billing.rendering.invoice_view import (
    INVOICE_LINES_MAX,
    PAYABLE_STATUSES,
    InvoiceDocument,
)
from kassa.services.context import Context, PaymentConfig
from kassa.services.listing import LIST_LIMIT_MAX
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.queries import IDEMPOTENCY_KEY_RETENTION_SECONDS, IdempotencyRecord

LINE_PAGES_MAX: Final = INVOICE_LINES_MAX // LIST_LIMIT_MAX + 1
"""Pages of `GET /v1/invoices/{id}/lines` read for one document: enough for every line the
document may show."""
ATTEMPT_KEY_PREFIX: Final = "kassa_invoice_page_"
"""Idempotency keys of the page's pay forms: a prefix no SDK generates (they send UUIDs)."""
PAID_STATUS: Final = 200
DECLINED_STATUS: Final = 402


class InvoiceBackend:
    """The invoices the page shows and pays, from the store, through the services."""

    def __init__(self, store: Store, clock: Clock, payments: PaymentConfig) -> None:
        self.store = store
        self.clock = clock
        self.payments = payments

    def _context(self, tx: Transaction, account_id: str) -> Context:
        return Context(account_id=account_id, tx=tx, clock=self.clock, payments=self.payments)

    # --- load ------------------------------------------------------------------------------

    async def load(self, invoice_id: str, secret: str) -> InvoiceDocument | None:
        async with self.store.read() as tx:
            invoice = await _finalized_for_page(tx, invoice_id, secret)
            if invoice is None:
                return None
            ctx = self._context(tx, str(invoice["account"]))
            if not await _authenticated_since(ctx, invoice):
                return await _document(ctx, invoice)
        # Paid on the 3-D Secure page: settled under the invoice's lock, once (a second
        # settlement finds the invoice paid and writes nothing).
        async with self.store.write() as tx:
            invoice = await _finalized_for_page(tx, invoice_id, secret)
            if invoice is None:
                return None
            ctx = self._context(tx, str(invoice["account"]))
            await invoice_collection.settle_from_intent(ctx, invoice_id)
            settled = await _finalized_for_page(tx, invoice_id, secret)
            return None if settled is None else await _document(ctx, settled)

    # --- pay -------------------------------------------------------------------------------

    async def pay(
        self, invoice_id: str, secret: str, card: CardForm, return_url: str
    ) -> PaymentStep:
        async with self.store.write() as tx:
            # Locks the invoice: every payment of it from here runs after this one.
            invoice = await _finalized_for_page(tx, invoice_id, secret)
            if invoice is None:
                raise ResourceMissing("invoice", invoice_id)
            ctx = self._context(tx, str(invoice["account"]))
            key = _attempt_key(invoice_id, card.attempt) if card.attempt else None
            outcome = None if key is None else await self._replayed(tx, ctx.account_id, key)
            if outcome is None:
                outcome = await _attempt(ctx, invoice_id, card, return_url)
                if key is not None:
                    await self._remember(tx, ctx.account_id, key, invoice_id, outcome)
        # Raised only now, after the commit: a decline's charge and attempt are kept.
        return outcome.result()

    async def _replayed(self, tx: Transaction, account_id: str, key: str) -> _Outcome | None:
        record = await tx.get_idempotency_record(account_id, key)
        if record is None or record.response_body is None:
            return None
        if record.created < unix_seconds(self.clock) - IDEMPOTENCY_KEY_RETENTION_SECONDS:
            return None
        return _Outcome.from_json(record.response_body)

    async def _remember(
        self, tx: Transaction, account_id: str, key: str, invoice_id: str, outcome: _Outcome
    ) -> None:
        now_ms = int(self.clock.now() * 1000)
        record = IdempotencyRecord(
            fingerprint=hashlib.sha256(invoice_id.encode()).hexdigest(),
            created=now_ms // 1000,
            locked_until_ms=0,
            request_id=new_id("req"),
            response_status=DECLINED_STATUS if outcome.declined else PAID_STATUS,
            response_body=outcome.to_json(),
        )
        saved = await tx.save_idempotent_response(account_id, key, record, now_ms=now_ms)
        # The invoice's lock is held since before the key was read: nobody else wrote it.
        ensure(saved, f"the pay form's attempt key of {invoice_id} was free")


def _attempt_key(invoice_id: str, attempt: str) -> str:
    """The idempotency key of one page view's pay form (hashed: bounded, whatever the token)."""
    digest = hashlib.sha256(f"{invoice_id}\0{attempt}".encode()).hexdigest()
    return ATTEMPT_KEY_PREFIX + digest


@dataclass(frozen=True)
class _Outcome:
    """What a payment attempt came to: a step for the page, or the decline to show."""

    step: PaymentStep
    declined: CardDeclined | None = None

    def result(self) -> PaymentStep:
        if self.declined is not None:
            raise self.declined
        return self.step

    def to_json(self) -> bytes:
        if self.declined is None:
            return orjson.dumps({"redirect_url": self.step.redirect_url})
        error = self.declined
        shown = {"message": error.message, "code": error.code, "decline_code": error.decline_code}
        return orjson.dumps({"error": shown})

    @classmethod
    def from_json(cls, body: bytes) -> _Outcome:
        stored = orjson.loads(body)
        error = stored.get("error")
        if error is None:
            return cls(PaymentStep(redirect_url=stored.get("redirect_url")))
        declined = CardDeclined(
            str(error["message"]),
            code=str(error["code"] or "card_declined"),
            decline_code=error.get("decline_code"),
        )
        return cls(PaymentStep(), declined)


# --- the invoice and its document -------------------------------------------------------------


async def _finalized_for_page(tx: Transaction, invoice_id: str, secret: str) -> ApiObject | None:
    """The invoice (with `account`) its link's secret opens, unless it is a draft (drafts
    have no secret; checked again because the page must never show one)."""
    if not secret:
        return None
    invoice = await invoices.invoice_for_page(tx, invoice_id, secret)
    if invoice is None or invoice["status"] == "draft":
        return None
    return invoice


async def _authenticated_since(ctx: Context, invoice: Mapping[str, Any]) -> bool:
    """Whether the invoice is still owed although the PaymentIntent of its open payment
    has succeeded (the customer completed 3-D Secure, and the page has not settled it)."""
    if invoice["status"] not in PAYABLE_STATUSES:
        return False
    payments = await invoice_payments.include_payments(ctx, dict(invoice))
    for payment in payments["data"]:
        intent_id = (payment.get("payment") or {}).get("payment_intent")
        if payment["status"] != "open" or intent_id is None:
            continue
        intent = await payment_intents.retrieve_payment_intent(
            ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
        )
        if intent["status"] == "succeeded":
            return True
    return False


async def _document(ctx: Context, invoice: Mapping[str, Any]) -> InvoiceDocument:
    return await build_document(ctx, invoice, lines=await _all_lines(ctx, invoice))


async def _all_lines(ctx: Context, invoice: Mapping[str, Any]) -> list[ApiObject] | None:
    """Every line, paged as the API pages them; None when the invoice embeds them all."""
    if not invoice["lines"]["has_more"]:
        return None
    lines: list[ApiObject] = []
    after: str | None = None
    for _ in range(LINE_PAGES_MAX):
        page = await invoices.list_lines(
            ctx,
            invoices.ListLines(
                invoice=str(invoice["id"]), limit=LIST_LIMIT_MAX, starting_after=after
            ),
        )
        lines += page["data"]
        if not page["has_more"] or not page["data"]:
            break
        after = str(page["data"][-1]["id"])
    return lines


# --- paying -----------------------------------------------------------------------------------


async def _attempt(ctx: Context, invoice_id: str, card: CardForm, return_url: str) -> _Outcome:
    """One attempt, its decline caught so that its writes commit with the unit."""
    try:
        return _Outcome(await _pay_on_session(ctx, invoice_id, card, return_url))
    except CardDeclined as declined:
        return _Outcome(PaymentStep(), declined)


async def _pay_on_session(
    ctx: Context, invoice_id: str, card: CardForm, return_url: str
) -> PaymentStep:
    """`pay_invoice` with a new card and the customer present (see the module's docstring):
    paid, sent to 3-D Secure, or `CardDeclined` after the failed attempt is recorded."""
    invoice = await invoice_documents.load_invoice(ctx, invoice_id)
    ctx = await ctx.governed_by(invoice)
    if invoice["status"] == "paid":
        return PaymentStep()  # paid meanwhile (a form sent twice, another tab): shown paid
    invoice_collection.check_payable(invoice)
    intent_id = invoice_documents.private(invoice)["payment_intent"]
    ensure(intent_id is not None, f"open invoice {invoice_id} has a PaymentIntent to pay")
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
    )
    if intent["status"] == "succeeded":
        # Authenticated on the challenge page before the page was seen again.
        await invoice_collection.settle_from_intent(ctx, invoice_id)
        return PaymentStep()
    payment_method = await _card_payment_method(ctx, card)
    if intent["status"] == "requires_action":
        # A challenge left unanswered: start again with this card, as `collect` does.
        await payment_intents.update_payment_intent(
            ctx,
            payment_intents.UpdatePaymentIntent(
                intent=str(intent_id), payment_method=str(payment_method["id"])
            ),
        )
    _count_attempt(invoice)
    try:
        confirmed = await payment_intents.confirm_payment_intent(
            ctx,
            payment_intents.ConfirmPaymentIntent(
                intent=str(intent_id),
                payment_method=str(payment_method["id"]),
                return_url=return_url,
            ),
        )
    except CardDeclined as declined:
        await invoice_collection.record_failed_attempt(ctx, invoice, reason=declined.message)
        raise
    if confirmed["status"] == "requires_action":
        return await _requires_action(ctx, invoice, confirmed)
    await invoice_documents.save(ctx, invoice)
    await invoice_collection.settle_from_intent(ctx, invoice_id)
    return PaymentStep()


async def _card_payment_method(ctx: Context, card: CardForm) -> ApiObject:
    """A card PaymentMethod from the form, validated as `POST /v1/payment_methods` does
    (a bad number or expiry is a `CardError` the page shows). Not attached to the customer:
    the hosted page pays with the card, it does not save it."""
    request = payment_methods.CreatePaymentMethod(
        type="card",
        card={
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        },
        billing_details={"name": card.name} if card.name else None,
    )
    return await payment_methods.create_card(ctx, request, "")


def _count_attempt(invoice: ApiObject) -> None:
    """Stripe's `attempt_count` for an attempt the customer makes (as `invoice_collection`
    counts a manual one): it counts only when it is the first."""
    invoice["attempted"] = True
    if invoice["attempt_count"] == 0:
        invoice["attempt_count"] = 1


async def _requires_action(ctx: Context, invoice: ApiObject, intent: ApiObject) -> PaymentStep:
    """The card asks for 3-D Secure: the invoice waits for the challenge (no automatic
    attempt meanwhile), `invoice.payment_action_required`, and the page sends the customer
    to the challenge, which returns to `return_url`."""
    invoice["next_payment_attempt"] = None
    await invoice_documents.save(ctx, invoice)
    await invoice_documents.announce(ctx, "invoice.payment_action_required", invoice)
    next_action = intent["next_action"] or {}
    url = (next_action.get("redirect_to_url") or {}).get("url")
    ensure(isinstance(url, str), f"{intent['id']} asks for 3-D Secure at a web address")
    return PaymentStep(redirect_url=str(url))
