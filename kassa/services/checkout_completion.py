"""What the hosted Checkout page does to a session (`kassa.pages.checkout_page` through its
backend), and its expiry.

`pay`: the customer's card, in the page's unit of work with the session locked. Per mode
(Stripe's Checkout: docs.stripe.com/payments/checkout/how-checkout-works):
- payment: a PaymentIntent for `amount_total`, made once per session and confirmed with each
  card tried (a declined card leaves it `requires_payment_method`, the next card confirms the
  same intent: never two charges);
- subscription: a customer (always, as Stripe makes one), the card attached to it, a
  subscription (`default_incomplete`, the card its default payment method) made once, and its
  first invoice paid with the card on session (as the hosted invoice page pays); a first
  invoice of 0 (metered prices only, billed in arrears, or a 100% discount) is paid by its
  finalization, and the session completes with nothing charged;
- setup: a SetupIntent, made once and confirmed with each card tried.
A card asking for 3-D Secure is sent to Kassa's challenge page, which returns the browser to
the page. A payment-mode session completes the moment its PaymentIntent succeeds, on any path
(the challenge page, the 3-D Secure test helper): its intent's id carries
`CHECKOUT_INTENT_ID_MARK`, and the payment hooks (`lock_session_of_intent`, `intent_finished`)
complete it, as billing pays an invoice. Other sessions complete when the browser comes back
to the page (`settle`), or at the latest when their expiry comes (a session whose payment
succeeded is completed, not expired).

`complete` sets the session `complete` with what was made and announces
`checkout.session.completed`; `expire` sets an open one `expired` (`url` null) and announces
`checkout.session.expired`, canceling a PaymentIntent still awaiting a card."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import Clock
from kassa.errors import InvalidRequest
from kassa.ids import new_id
from kassa.invariants import InvariantViolated, ensure
from kassa.services import (
    checkout_discounts,
    customers,
    events,
    payment_intents,
    payment_link_documents,
    payment_methods,
    setup_intents,
)
from kassa.services.billing import invoice_collection, invoice_documents
from kassa.services.billing.subscription_create import CreateSubscription, create_subscription
from kassa.services.billing.subscription_documents import DECIDING_STATUS
from kassa.services.billing.subscription_documents import find as find_subscription
from kassa.services.checkout_documents import customer_details, private, public, save
from kassa.services.checkout_shipping import (
    ShippingAddress,
    collected_information,
    intent_shipping,
    shipping_details,
)
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.payment_methods import TypedCard
from kassa.services.resource import ApiObject
from kassa.services.setup_intent_params import ConfirmSetupIntent, CreateSetupIntent
from kassa.store import Store, Transaction
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHECKOUT_SESSIONS, CUSTOMERS, PAYMENT_INTENTS, SETUP_INTENTS

log = logging.getLogger("kassa.checkout")

PAID_INTENT_STATUSES: Final = ("succeeded", "requires_capture", "processing")
"""A PaymentIntent past its payment attempt: the session completes (an authorization held
for capture included: Stripe completes a `capture_method=manual` session when authorized)."""
CANCELABLE_INTENT_STATUSES: Final = ("requires_payment_method", "requires_action")
STARTED_SUBSCRIPTION_STATUSES: Final = ("active", "trialing")
CHECKOUT_INTENT_ID_MARK: Final = "Chkt"
"""The end of a payment-mode session's PaymentIntent id, as billing marks its invoices'
(`invoice_payments.INVOICE_INTENT_ID_MARK`): the payment hooks read nothing for an intent
without it, the payment path's common case."""
_HELD_SESSIONS: Final = "checkout_sessions_of_intents"
"""ctx.memo: intent id -> its session (locked), found before the intent was locked."""
_PAGE_PAYING: Final = "checkout_page_paying"
"""ctx.memo: set while the page's own attempt confirms the intent; the page completes the
session itself, from the copy it holds."""


@dataclass(frozen=True)
class Step:
    """What an attempt came to: the session complete (go to `success_url`), or a challenge
    to answer first at `challenge_url`."""

    completed: bool
    challenge_url: str | None = None


# --- the page's unit of work ------------------------------------------------------------------


async def pay(
    ctx: Context,
    session: ApiObject,
    card: TypedCard,
    email: str | None,
    return_url: str,
    address: ShippingAddress | None = None,
) -> Step:
    """One attempt with `card`, and the shipping `address` when the session collects one
    (the session locked by the caller, who stores nothing more). A decline raises
    `CardDeclined` after its writes (the failed charge, the attempt's objects) are made: the
    caller catches it inside the unit to keep them."""
    if session["status"] != "open":
        return Step(completed=session["status"] == "complete")
    if await settle(ctx, session):
        return Step(completed=True)
    _check_email(session, email)
    details = shipping_details(session, address or ShippingAddress({}))
    if email is not None:
        private(session)["email"] = email
    if details is not None and details != private(session).get("shipping_details"):
        # Kept with the session, whichever way the attempt ends (a challenge, a decline).
        private(session)["shipping_details"] = details
        await save(ctx, session)
    mode = session["mode"]
    if mode == "payment":
        return await _pay_payment(ctx, session, card, return_url)
    if mode == "subscription":
        return await _pay_subscription(ctx, session, card, return_url)
    return await _pay_setup(ctx, session, card, return_url)


def _check_email(session: ApiObject, email: str | None) -> None:
    if session["customer"] is None and session["customer_email"] is None and not email:
        raise InvalidRequest("Enter your email address.", param="email")


def _email(session: ApiObject) -> str | None:
    given = private(session).get("email")
    return str(given) if given else session["customer_email"]


async def _ensure_customer(ctx: Context, session: ApiObject) -> str:
    """The session's customer, made now from the email entered if it has none (Stripe makes
    one in subscription mode, and with `customer_creation=always`)."""
    attempt = private(session)["attempt"]
    if session["customer"] is None and attempt.get("customer") is None:
        made = await customers.create_customer(ctx, customers.CreateCustomer(email=_email(session)))
        attempt["customer"] = made["id"]
        await save(ctx, session)
    return str(session["customer"] or attempt["customer"])


def _needs_customer(session: ApiObject) -> bool:
    if session["customer"] is not None or session["mode"] == "subscription":
        return True
    data = private(session)["terms"]["payment_intent_data"]
    return session["customer_creation"] == "always" or data.get("setup_future_usage") is not None


async def _pay_payment(ctx: Context, session: ApiObject, card: TypedCard, return_url: str) -> Step:
    customer = await _ensure_customer(ctx, session) if _needs_customer(session) else None
    payment_method = await payment_methods.create_typed_card(ctx, card)
    attempt = private(session)["attempt"]
    if attempt.get("payment_intent") is None:
        data = private(session)["terms"]["payment_intent_data"]
        intent = await payment_intents.create_payment_intent(
            ctx,
            payment_intents.CreatePaymentIntent(
                amount=int(session["amount_total"]),
                currency=str(session["currency"]),
                customer=customer,
                capture_method=data.get("capture_method"),
                setup_future_usage=data.get("setup_future_usage"),
                metadata=data.get("metadata"),
                description=data.get("description"),
                payment_method_types=["card"],
            ),
            intent_id=new_id("pi") + CHECKOUT_INTENT_ID_MARK,
        )
        # Recorded before the first confirmation: a declined card's retry confirms it again.
        # Shown from now on, as Stripe shows a session's intent once payment was attempted.
        attempt["payment_intent"] = session["payment_intent"] = intent["id"]
        await save(ctx, session)
    ctx.memo[_PAGE_PAYING] = True
    try:
        intent = await payment_intents.confirm_payment_intent(
            ctx,
            payment_intents.ConfirmPaymentIntent(
                intent=str(attempt["payment_intent"]),
                payment_method=str(payment_method["id"]),
                return_url=return_url,
                shipping=intent_shipping(private(session).get("shipping_details")),
            ),
        )
    finally:
        del ctx.memo[_PAGE_PAYING]
    return await _after_attempt(ctx, session, intent)


async def _pay_subscription(
    ctx: Context, session: ApiObject, card: TypedCard, return_url: str
) -> Step:
    customer = await _ensure_customer(ctx, session)
    payment_method = await payment_methods.create_typed_card(ctx, card)
    await payment_methods.attach_to_customer(ctx, payment_method, customer)
    attempt = private(session)["attempt"]
    if attempt.get("subscription") is None:
        made = await create_subscription(
            ctx, _subscription_request(session, customer, str(payment_method["id"]))
        )
        # Its first invoice is paid below, on session: the invoice hooks decide its status.
        ctx.memo.pop(DECIDING_STATUS, None)
        attempt["subscription"] = made["id"]
        await save(ctx, session)
    subscription = await _stored_subscription(ctx, str(attempt["subscription"]))
    if subscription["status"] in STARTED_SUBSCRIPTION_STATUSES:
        await complete(ctx, session)
        return Step(completed=True)
    invoice = await invoice_documents.load_invoice(ctx, str(subscription["latest_invoice"]))
    invoice_ctx = await ctx.governed_by(invoice)
    invoice_collection.check_payable(invoice)
    awaiting = await invoice_collection.collect(
        invoice_ctx,
        invoice,
        payment_method=str(payment_method["id"]),
        off_session=False,
        automatic=False,
        return_url=return_url,
        report_action=True,
    )
    await invoice_documents.save(invoice_ctx, invoice)
    if awaiting is not None:
        return Step(completed=False, challenge_url=_challenge_url(awaiting))
    ensure(await settle(ctx, session), "a subscription whose first invoice is paid starts")
    return Step(completed=True)


def _subscription_request(
    session: ApiObject, customer: str, payment_method: str
) -> CreateSubscription:
    data = private(session)["terms"]["subscription_data"]
    discounts = [
        {key: value for key, value in entry.items() if value is not None}
        for entry in session["discounts"]
    ]
    trial_end = data.get("trial_end")
    return CreateSubscription(
        customer=customer,
        items=[item for recurring, item in _subscription_lines(session) if recurring],
        # One-time prices are charged once, on the first invoice (Stripe: "one-time prices
        # in subscription mode are only charged on the first invoice").
        add_invoice_items=[
            item for recurring, item in _subscription_lines(session) if not recurring
        ]
        or None,
        default_payment_method=payment_method,
        payment_behavior="default_incomplete",
        trial_period_days=data.get("trial_period_days"),
        trial_end=None if trial_end is None else str(trial_end),
        metadata=data.get("metadata"),
        description=data.get("description"),
        discounts=discounts or None,
    )


def _subscription_lines(session: ApiObject) -> list[tuple[bool, dict[str, Any]]]:
    """Each line as the subscription takes it (whether its price recurs, and the item), with
    its tax rates."""
    lines = private(session)["line_items"]
    rates = private(session).get("line_tax_rates") or [[] for _ in lines]
    return [
        (line["price"]["recurring"] is not None, _subscription_item(line, line_rates))
        for line, line_rates in zip(lines, rates, strict=True)
    ]


def _subscription_item(line: ApiObject, rates: list[ApiObject]) -> dict[str, Any]:
    """A metered line (no quantity) gives an item on its price alone: the subscription bills
    its meter's usage, and refuses a quantity on it. A line priced inline (`price_data`, or a
    Payment Link's own price: the only inactive prices a session takes) gives the same
    `price_data`, since an inline price prices the one item it was made for."""
    price = line["price"]
    item: dict[str, Any] = (
        {"price": price["id"]} if price["active"] else {"price_data": _inline_terms(price)}
    )
    if line["quantity"] is not None:
        item["quantity"] = line["quantity"]
    if rates:
        item["tax_rates"] = [rate["id"] for rate in rates]
    return item


def _inline_terms(price: ApiObject) -> dict[str, Any]:
    """The `price_data` an inline price was made from (Checkout's: a per-unit amount, a
    product, an interval)."""
    terms = {
        "currency": price["currency"],
        "product": price["product"],
        "unit_amount": price["unit_amount"],
    }
    recurring = price["recurring"]
    if recurring is not None:
        terms["recurring"] = {
            "interval": recurring["interval"],
            "interval_count": recurring["interval_count"],
        }
    return terms


async def _pay_setup(ctx: Context, session: ApiObject, card: TypedCard, return_url: str) -> Step:
    customer = await _ensure_customer(ctx, session) if _needs_customer(session) else None
    payment_method = await payment_methods.create_typed_card(ctx, card)
    attempt = private(session)["attempt"]
    if attempt.get("setup_intent") is None:
        data = private(session)["terms"]["setup_intent_data"]
        intent = await setup_intents.create_setup_intent(
            ctx,
            CreateSetupIntent(
                customer=customer,
                payment_method_types=["card"],
                metadata=data.get("metadata"),
                description=data.get("description"),
            ),
        )
        attempt["setup_intent"] = intent["id"]
        await save(ctx, session)
    intent = await setup_intents.confirm_setup_intent(
        ctx,
        ConfirmSetupIntent(
            intent=str(attempt["setup_intent"]),
            payment_method=str(payment_method["id"]),
            return_url=return_url,
        ),
    )
    return await _after_attempt(ctx, session, intent)


async def _after_attempt(ctx: Context, session: ApiObject, intent: ApiObject) -> Step:
    if intent["status"] == "requires_action":
        return Step(completed=False, challenge_url=_challenge_url(intent))
    ensure(await settle(ctx, session), f"{intent['id']} came to an end the session takes")
    return Step(completed=True)


def _challenge_url(intent: ApiObject) -> str:
    url = ((intent.get("next_action") or {}).get("redirect_to_url") or {}).get("url")
    ensure(isinstance(url, str), f"{intent['id']} asks for 3-D Secure at a web address")
    return str(url)


# --- the session follows its PaymentIntent (hooks installed by kassa.observers) -------------


async def lock_session_of_intent(ctx: Context, intent_id: str) -> None:
    """`hooks.payment_intent_finishing`: a session's intent is about to be confirmed or
    authenticated elsewhere than on the page. Its session is locked now, before the intent,
    as the page locks them."""
    if not intent_id.endswith(CHECKOUT_INTENT_ID_MARK) or ctx.memo.get(_PAGE_PAYING):
        return
    held: dict[str, ApiObject | None] = ctx.memo.setdefault(_HELD_SESSIONS, {})
    if intent_id not in held:
        held[intent_id] = await _session_paid_by(ctx, intent_id)


async def intent_finished(ctx: Context, intent: ApiObject) -> None:
    """`hooks.payment_intent_finished`: a session's intent succeeded off the page (the 3-D
    Secure challenge, its test helper): the session completes now, not when the browser
    comes back. A failure leaves it open for the next card."""
    intent_id = str(intent["id"])
    if not intent_id.endswith(CHECKOUT_INTENT_ID_MARK) or ctx.memo.get(_PAGE_PAYING):
        return
    if intent["status"] != "succeeded":
        return
    held: dict[str, ApiObject | None] = ctx.memo.setdefault(_HELD_SESSIONS, {})
    if intent_id not in held:
        held[intent_id] = await _session_paid_by(ctx, intent_id)
    session = held[intent_id]
    if session is not None and session["status"] == "open":
        await complete(ctx, session)


async def _session_paid_by(ctx: Context, intent_id: str) -> ApiObject | None:
    """The session (locked) whose PaymentIntent this is."""
    page = await ctx.tx.list_objects(
        CHECKOUT_SESSIONS,
        ctx.account_id,
        ObjectListQuery(limit=1, equals={"payment_intent": intent_id}),
    )
    if not page.objects:
        return None
    found = await ctx.tx.get_object(CHECKOUT_SESSIONS, ctx.account_id, page.objects[0]["id"])
    return None if found is None or found[1] else found[0]


# --- outcomes -----------------------------------------------------------------------------------


async def settle(ctx: Context, session: ApiObject) -> bool:
    """Complete an open session whose attempt succeeded meanwhile (on the 3-D Secure page);
    whether it did. Reads nothing for a session with no attempt."""
    if session["status"] != "open":
        return False
    attempt = private(session)["attempt"]
    if attempt.get("payment_intent") is not None:
        intent = await _stored(ctx, PAYMENT_INTENTS, str(attempt["payment_intent"]))
        done = intent["status"] in PAID_INTENT_STATUSES
    elif attempt.get("subscription") is not None:
        subscription = await find_subscription(ctx, str(attempt["subscription"]))
        done = subscription is not None and (
            subscription["status"] in STARTED_SUBSCRIPTION_STATUSES
        )
    elif attempt.get("setup_intent") is not None:
        intent = await _stored(ctx, SETUP_INTENTS, str(attempt["setup_intent"]))
        done = intent["status"] == "succeeded"
    else:
        return False
    if done:
        await complete(ctx, session)
    return done


async def _stored(ctx: Context, table: Any, object_id: str) -> ApiObject:
    found = await ctx.tx.get_object(table, ctx.account_id, object_id)
    if found is None:
        raise InvariantViolated(f"{object_id} of a checkout session is stored")
    return found[0]


async def _stored_subscription(ctx: Context, subscription_id: str) -> ApiObject:
    found = await find_subscription(ctx, subscription_id)
    if found is None:
        raise InvariantViolated(f"{subscription_id} of a checkout session is stored")
    return found


async def complete(ctx: Context, session: ApiObject) -> None:
    """The session `complete`, naming what its attempt made; `checkout.session.completed`."""
    attempt = private(session)["attempt"]
    customer = session["customer"] or attempt.get("customer")
    session["status"] = "complete"
    session["url"] = None
    private(session)["expires_due"] = None
    session["customer"] = customer
    session["customer_details"] = customer_details(await _customer_email(ctx, session))
    collected = collected_information(private(session).get("shipping_details"))
    if collected is not None:
        session["collected_information"] = collected
    mode = session["mode"]
    if mode == "payment":
        intent = await _stored(ctx, PAYMENT_INTENTS, str(attempt["payment_intent"]))
        session["payment_intent"] = intent["id"]
        session["payment_status"] = "paid" if intent["status"] == "succeeded" else "unpaid"
        await checkout_discounts.count_redemption(ctx, session)
    elif mode == "subscription":
        subscription = await _stored_subscription(ctx, str(attempt["subscription"]))
        session["subscription"] = subscription["id"]
        session["invoice"] = subscription["latest_invoice"]
        session["payment_status"] = await _subscription_payment_status(ctx, subscription)
    else:
        session["setup_intent"] = attempt["setup_intent"]
        session["payment_status"] = "no_payment_required"
    if session["payment_link"] is not None:
        await payment_link_documents.count_completed_session(ctx, str(session["payment_link"]))
    await save(ctx, session)
    await events.announce(ctx, "checkout.session.completed", public(session))


async def _subscription_payment_status(ctx: Context, subscription: ApiObject) -> str:
    """`no_payment_required` when nothing was charged: a trial, or a first invoice that came
    to 0 (metered prices only, whose usage is billed at the period's end, or a 100%
    discount), which finalizing marked paid without a payment."""
    if subscription["status"] == "trialing":
        return "no_payment_required"
    invoice = await invoice_documents.load_invoice(
        ctx, str(subscription["latest_invoice"]), lock=False
    )
    return "paid" if invoice["amount_paid"] > 0 else "no_payment_required"


async def _customer_email(ctx: Context, session: ApiObject) -> str | None:
    entered = _email(session)
    if entered or session["customer"] is None:
        return entered
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, str(session["customer"]))
    return None if found is None else found[0].get("email")


async def expire(ctx: Context, session: ApiObject) -> None:
    """An open session `expired`: no url, its PaymentIntent (if one awaits a card)
    canceled; `checkout.session.expired`."""
    ensure(session["status"] == "open", "only an open session expires")
    attempt = private(session)["attempt"]
    if attempt.get("payment_intent") is not None:
        intent = await _stored(ctx, PAYMENT_INTENTS, str(attempt["payment_intent"]))
        if intent["status"] in CANCELABLE_INTENT_STATUSES:
            await payment_intents.cancel_payment_intent(
                ctx, payment_intents.CancelPaymentIntent(intent=str(intent["id"]))
            )
    session["status"] = "expired"
    session["url"] = None
    private(session)["expires_due"] = None
    await save(ctx, session)
    await events.announce(ctx, "checkout.session.expired", public(session))


# --- expiry as due work -------------------------------------------------------------------------


async def expire_due_sessions(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every open session whose `expires_at` has come, each in a unit of its own, bounded per
    run (`due_work.do_due_operations`); how many expired or completed. Two workers finding
    the same session: the second reads it under its row lock, finds it no longer open, and
    does nothing."""
    jobs = (Transaction.checkout_sessions_due, Transaction.postpone_checkout_expiry)
    failed = (log, "checkout session %s could not expire: %s")
    return await do_due_operations(store, clock, payments, jobs, _expire_due, failed)


async def _expire_due(ctx: Context, session_id: str) -> bool:
    found = await ctx.tx.get_object(CHECKOUT_SESSIONS, ctx.account_id, session_id)
    if found is None or found[1]:
        return False
    session = copy.deepcopy(found[0])
    due = private(session).get("expires_due")
    if session["status"] != "open" or due is None or due > ctx.now():
        return False
    if await settle(ctx, session):
        return True
    await expire(ctx, session)
    return True
