"""Hook points: how code the payment path must not import (the dashboard above the services,
billing beside them) learns of a domain write in the same transaction as the write.

- `charge_created`: a charge stored for the first time (the dashboard's counters).
- `invoice_paid` and `invoice_payment_failed`: an invoice paid in full, or a failed attempt
  to charge it. Subscriptions follow their invoices (active, past_due).
- `invoice_closed`: an invoice voided or marked uncollectible by the merchant (the API, the
  dashboard). A subscription whose latest invoice it was takes its status from it again.
  Billing's own voids and write-offs (dunning's last retry, paused collection, expiries)
  are not told: the code doing them sets the subscription's status itself.
- `subscription_upcoming`: not an observer but the one provider of a subscription's next
  invoice as the invoice preview shows it (`POST /v1/invoices/create_preview` with
  `subscription`): billing's invoices must not import subscriptions, which build on them.
- `payment_intent_finishing` and `payment_intent_finished`: an operation that may end a
  PaymentIntent's payment attempt (confirm, capture, a 3-D Secure outcome) is about to lock
  the intent, and the attempt ended (succeeded or failed). Billing settles the invoice the
  intent collects, whichever path completed it; it locks the invoice on the first, before
  the intent, because every invoice path locks the invoice first.
- `payment_intent_invoice`: not an observer but the one provider of the invoice that made a
  PaymentIntent (if one did): that intent's amount, currency, customer and capture method
  are the invoice's, and only voiding the invoice cancels it, as on Stripe.
- `setup_intent_succeeded`: a SetupIntent set its card up. A subscription whose
  `pending_setup_intent` it is takes the card.
- `customer_deleted`: a customer is being deleted. Billing cancels its subscriptions.
- `customer_details_changed`: a customer changed (an update, given the customer before
  it), or its tax ids did (given no before). Billing copies the details a draft invoice
  copies (email, name, phone, address, shipping, tax exemption, tax ids) onto the
  customer's drafts, when those changed.

The composition root (`kassa.runtime`) installs every observer once, for every process it
builds (`kassa serve`, `kassa worker`). Storing a charge in a process where nothing was
installed is a bug, and fails loudly: a forgotten installation must not quietly leave the
dashboard's counters short of the charges, nor an invoice open after its payment succeeded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kassa.invariants import InvariantViolated, ensure
from kassa.services.context import Context
from kassa.services.resource import ApiObject

OBSERVERS_PER_HOOK_MAX = 8
"""Observers one hook may have: each runs inside the writing transaction, so few and cheap."""

ChargeObserver = Callable[[Context, ApiObject], Awaitable[None]]
"""Told of a charge stored for the first time, inside the transaction that stores it (its
writes commit or roll back with the charge): `(ctx, charge)`."""
IntentFinishingObserver = Callable[[Context, str], Awaitable[None]]
"""Told that an operation that may end a PaymentIntent's payment attempt is about to load
and lock the intent, before anything of it is read: `(ctx, intent_id)`. An observer that will
write rows of its own when the attempt ends locks them now, in the order its other paths
lock them (row locks taken in one order cannot deadlock). Called on every confirmation of a
stored intent: an observer reads nothing for an intent that is not its concern."""
InvoiceObserver = Callable[[Context, ApiObject], Awaitable[None]]
"""Told of an invoice paid in full, of a failed attempt to charge it, or of one the merchant
voided or marked uncollectible, inside the transaction that records it (the invoice
locked): `(ctx, invoice)`. Subscriptions follow their invoices' fate this way (billing's
invoices must not import subscriptions)."""
IntentFinishedObserver = Callable[[Context, ApiObject], Awaitable[None]]
"""Told of a PaymentIntent whose payment attempt ended, inside the transaction that stores it:
`succeeded`, or failed (declined, or its 3-D Secure authentication failed: back to
`requires_payment_method`, with `last_payment_error`): `(ctx, intent)`. On the payment path's
hot path: an observer reads nothing for an intent that is not its concern."""
CustomerObserver = Callable[[Context, ApiObject], Awaitable[None]]
CustomerChangeObserver = Callable[[Context, ApiObject, ApiObject | None], Awaitable[None]]
"""Given the customer and the customer before the change (None: its tax ids changed)."""
"""Told of a customer about to be marked deleted, inside the transaction that deletes it, or
of a change of its details an invoice copies, inside the transaction that stores it (the
customer locked, either way): `(ctx, customer)`."""
SetupIntentObserver = Callable[[Context, ApiObject], Awaitable[None]]
"""Told of a SetupIntent that succeeded (its card attached to its customer), inside the
transaction that stores it: `(ctx, setup_intent)`. A subscription whose
`pending_setup_intent` it is takes the card this way (billing beside the payment path)."""


@dataclass(frozen=True)
class Upcoming:
    """A subscription's next invoice, not stored: the subscription as it would then be (a
    previewed change applied), the invoice items it would hold (pending ones and new, unsaved
    ones), and its own period: the usage period it looks back on (`period_start`,
    `period_end`; its lines carry the service periods)."""

    subscription: ApiObject
    items: list[ApiObject]
    period: tuple[int, int]
    attempt_at: int | None = None
    """When its payment would first be attempted (`next_payment_attempt`): None when it
    would not be charged automatically."""
    prorated_at: int | None = None
    """The time the previewed change's prorations are worked out at, when it makes some
    (`parent.subscription_details.subscription_proration_date`)."""


@dataclass(frozen=True, kw_only=True)
class UpcomingQuery:
    """Which invoice to preview: the next one of `subscription`, with the change `details`
    describes applied, or with no `subscription`, the first one of a subscription of
    `customer` created with `details[items]`; with `recurring` (`preview_mode=recurring`)
    only its recurring charges."""

    subscription: str | None
    customer: str | None = None
    details: Mapping[str, Any]
    recurring: bool = False


UpcomingProvider = Callable[[Context, UpcomingQuery], Awaitable[Upcoming]]
"""`(ctx, query)`: the invoice `query` names, worked out without writing anything."""
IntentInvoiceProvider = Callable[[Context, str], Awaitable[str | None]]
"""`(ctx, intent_id)`: the id of the invoice whose PaymentIntent this is, or None; reads only,
and nothing at all for an intent that cannot be an invoice's."""


@dataclass(frozen=True)
class Observers:
    """Everything observing domain writes, by hook."""

    charge_created: tuple[ChargeObserver, ...] = ()
    payment_intent_finishing: tuple[IntentFinishingObserver, ...] = ()
    payment_intent_finished: tuple[IntentFinishedObserver, ...] = ()
    invoice_paid: tuple[InvoiceObserver, ...] = ()
    invoice_payment_failed: tuple[InvoiceObserver, ...] = ()
    invoice_closed: tuple[InvoiceObserver, ...] = ()
    subscription_upcoming: UpcomingProvider | None = None
    payment_intent_invoice: IntentInvoiceProvider | None = None
    setup_intent_succeeded: tuple[SetupIntentObserver, ...] = ()
    customer_deleted: tuple[CustomerObserver, ...] = ()
    customer_details_changed: tuple[CustomerChangeObserver, ...] = ()


@dataclass
class _Installation:
    observers: Observers | None = None
    """None until the composition root installs them."""


_PROCESS = _Installation()


def install(observers: Observers) -> None:
    """Set the observers for this process (again: the latest installation wins)."""
    for name, hooked in (
        ("charge_created", observers.charge_created),
        ("payment_intent_finishing", observers.payment_intent_finishing),
        ("payment_intent_finished", observers.payment_intent_finished),
        ("invoice_paid", observers.invoice_paid),
        ("invoice_payment_failed", observers.invoice_payment_failed),
        ("invoice_closed", observers.invoice_closed),
        ("setup_intent_succeeded", observers.setup_intent_succeeded),
        ("customer_deleted", observers.customer_deleted),
        ("customer_details_changed", observers.customer_details_changed),
    ):
        ensure(
            len(hooked) <= OBSERVERS_PER_HOOK_MAX,
            f"at most {OBSERVERS_PER_HOOK_MAX} {name} observers",
        )
    _PROCESS.observers = observers


def installed() -> Observers:
    if _PROCESS.observers is None:
        raise InvariantViolated(
            "no observers installed: import kassa.observers (kassa.runtime does) before any "
            "charge is stored or any PaymentIntent confirmed"
        )
    return _PROCESS.observers


async def charge_created(ctx: Context, charge: ApiObject) -> None:
    """Tell every observer of a new charge (the caller has just stored it in `ctx.tx`)."""
    for observer in installed().charge_created:
        await observer(ctx, charge)


async def payment_intent_finishing(ctx: Context, intent_id: str) -> None:
    """Tell every observer that the caller is about to load and lock this intent to end its
    payment attempt (nothing of it is read yet)."""
    for observer in installed().payment_intent_finishing:
        await observer(ctx, intent_id)


async def payment_intent_finished(ctx: Context, intent: ApiObject) -> None:
    """Tell every observer that this intent's payment attempt ended (the caller has just
    stored it in `ctx.tx`)."""
    for observer in installed().payment_intent_finished:
        await observer(ctx, intent)


async def invoice_paid(ctx: Context, invoice: ApiObject) -> None:
    """Tell every observer that this invoice is paid in full (the caller stores it)."""
    for observer in installed().invoice_paid:
        await observer(ctx, invoice)


async def invoice_payment_failed(ctx: Context, invoice: ApiObject) -> None:
    """Tell every observer of a failed attempt to charge this invoice (the caller has just
    stored it)."""
    for observer in installed().invoice_payment_failed:
        await observer(ctx, invoice)


async def invoice_closed(ctx: Context, invoice: ApiObject) -> None:
    """Tell every observer that the merchant voided this invoice or marked it uncollectible
    (the caller stores it)."""
    for observer in installed().invoice_closed:
        await observer(ctx, invoice)


async def setup_intent_succeeded(ctx: Context, setup_intent: ApiObject) -> None:
    """Tell every observer that this SetupIntent succeeded (the caller has just stored it)."""
    for observer in installed().setup_intent_succeeded:
        await observer(ctx, setup_intent)


async def customer_deleted(ctx: Context, customer: ApiObject) -> None:
    """Tell every observer that this customer is about to be marked deleted."""
    for observer in installed().customer_deleted:
        await observer(ctx, customer)


async def customer_details_changed(
    ctx: Context, customer: ApiObject, before: ApiObject | None
) -> None:
    """Tell every observer that this (locked) customer changed from `before`, or, with no
    `before`, that its tax ids did (the caller stores it, and its tax ids)."""
    for observer in installed().customer_details_changed:
        await observer(ctx, customer, before)


async def subscription_upcoming(ctx: Context, query: UpcomingQuery) -> Upcoming:
    """A subscription's next (or first) invoice, from the installed provider."""
    provider = installed().subscription_upcoming
    if provider is None:
        raise InvariantViolated("no subscription_upcoming provider installed (kassa.runtime)")
    return await provider(ctx, query)


async def payment_intent_invoice(ctx: Context, intent_id: str) -> str | None:
    """The id of the invoice that made this PaymentIntent, from the installed provider."""
    provider = installed().payment_intent_invoice
    if provider is None:
        raise InvariantViolated("no payment_intent_invoice provider installed (kassa.runtime)")
    return await provider(ctx, intent_id)
