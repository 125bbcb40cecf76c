"""The hosted invoice page's `InvoicePageBackend` over the invoice operations, which the
composition root (`kassa.runtime`) gives to `InvoicePages`.

`load` finds the invoice by its link's secret (`invoices.invoice_for_page`, compared in
constant time), and gathers what its page and PDF show: every line, and the rest through
`rendering.invoice_document.build_document` (the tax rates its taxes name, its discounts
with their coupons). It only reads: an invoice whose PaymentIntent succeeded on the 3-D
Secure page was paid there, in the challenge's own unit of work (`invoice_collection`
follows every invoice's intent), so the page the challenge returns to shows it paid.

`pay` is `POST /v1/invoices/{id}/pay` with a new card, on session: the pay operation's own
attempt (`invoice_collection.collect`), with a card PaymentMethod made from the form, in the
invoice's unit of work and under its row lock. A card that asks for 3-D Secure is sent to
the challenge, whose `next_action` returns the browser to the page (`return_url`: the
operation reports the intent rather than raising `invoice_payment_intent_requires_action`).

A form sent twice pays once: the invoice's row lock orders the two, the second finds the
invoice paid, and the form's `attempt` token keys an idempotency record (Stripe's table, a
key of this page's own) that answers the second as the first was answered: the same
redirect to the challenge, or the same decline, without a second charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import ResourceMissing
from kassa.invariants import ensure
from kassa.pages import pay_attempts
from kassa.pages.invoice_page import CardForm, PaymentStep
from kassa.pages.page_backend import PageBackend
from kassa.services import payment_methods
from kassa.services.billing import invoice_collection, invoice_documents, invoices
from kassa.services.billing.rendering.invoice_document import build_document
from kassa.services.billing.rendering.invoice_view import INVOICE_LINES_MAX, InvoiceDocument
from kassa.services.context import Context
from kassa.services.listing import LIST_LIMIT_MAX
from kassa.services.resource import ApiObject
from kassa.store import Transaction

LINE_PAGES_MAX: Final = INVOICE_LINES_MAX // LIST_LIMIT_MAX + 1
"""Pages of `GET /v1/invoices/{id}/lines` read for one document: enough for every line the
document may show."""
STEP_CODEC: Final = pay_attempts.StepCodec(
    shown=lambda step: {"redirect_url": step.redirect_url},
    read=lambda stored: PaymentStep(redirect_url=stored.get("redirect_url")),
    declined_step=PaymentStep(),
)
"""How the page's answer to a pay form is kept: where it sends the browser next."""
ATTEMPT_KEY_PREFIX: Final = "kassa_invoice_page_"
"""Idempotency keys of the page's pay forms: a prefix no SDK generates (they send UUIDs)."""


class InvoiceBackend(PageBackend):
    """The invoices the page shows and pays, from the store, through the services."""

    # --- load ------------------------------------------------------------------------------

    async def load(self, invoice_id: str, secret: str) -> InvoiceDocument | None:
        async with self.store.read() as tx:
            invoice = await _finalized_for_page(tx, invoice_id, secret)
            if invoice is None:
                return None
            ctx = self.context(tx, str(invoice["account"]))
            return await _document(ctx, invoice)

    # --- pay -------------------------------------------------------------------------------

    async def pay(
        self, invoice_id: str, secret: str, card: CardForm, return_url: str
    ) -> PaymentStep:
        async with self.store.write() as tx:
            # Locks the invoice: every payment of it from here runs after this one.
            invoice = await _finalized_for_page(tx, invoice_id, secret)
            if invoice is None:
                raise ResourceMissing("invoice", invoice_id)
            ctx = self.context(tx, str(invoice["account"]))

            async def run() -> PaymentStep:
                return await _pay_on_session(ctx, invoice_id, card, return_url)

            outcome = await pay_attempts.attempt_once(
                tx,
                self.clock,
                ctx.account_id,
                ATTEMPT_KEY_PREFIX,
                invoice_id,
                card.attempt,
                STEP_CODEC,
                run,
            )
        # Raised only now, after the commit: a decline's charge and attempt are kept.
        return outcome.result()


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
    payment_method = await _card_payment_method(ctx, card)
    awaiting = await invoice_collection.collect(
        ctx,
        invoice,
        payment_method=str(payment_method["id"]),
        off_session=False,
        automatic=False,
        return_url=return_url,
        report_action=True,
    )
    await invoice_documents.save(ctx, invoice)
    return PaymentStep() if awaiting is None else _challenge(awaiting)


async def _card_payment_method(ctx: Context, card: CardForm) -> ApiObject:
    """The form's card as a PaymentMethod. Not attached to the customer: the hosted page pays
    with the card, it does not save it."""
    typed = payment_methods.TypedCard(
        number=card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        cvc=card.cvc,
        name=card.name,
    )
    return await payment_methods.create_typed_card(ctx, typed)


def _challenge(intent: ApiObject) -> PaymentStep:
    """The 3-D Secure challenge the card asks for, which returns the browser to the page."""
    next_action = intent["next_action"] or {}
    url = (next_action.get("redirect_to_url") or {}).get("url")
    ensure(isinstance(url, str), f"{intent['id']} asks for 3-D Secure at a web address")
    return PaymentStep(redirect_url=str(url))
