"""Quotes (`/v1/quotes`, `qt_...`): create, retrieve, update (a draft), list, finalize,
accept, cancel, their line items and upfront line items, and the PDF of a finalized quote.

A quote is created `draft`, finalized `open` (numbered then: `QT-{8 hex}-{sequence}-1`, as
Stripe's `QT-5B9DA057-0001-1`), and then either accepted (`quote_acceptance`: an invoice for
one-time lines, a subscription when it has recurring ones) or canceled, through the API or
at its `expires_at` (the `quotes` job: `expire_due_quotes`; a draft expires too, as Stripe
says: "canceled if in `open` or `draft` status"). Its time is its customer's (a test clock's
customer's quote lives in the clock's time, and the clock's advance expires it:
`expire_quote`). Stripe's reference: docs.stripe.com/api/quotes.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Final

from kassa.clock import Clock
from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter
from kassa.params import UNSET, apply_metadata
from kassa.services import customers, events, test_clocks
from kassa.services.billing import quote_acceptance, quote_lines
from kassa.services.billing.invoice_changes import check_no_tax_engine
from kassa.services.billing.invoice_item_pricing import usable_tax_rates
from kassa.services.billing.quote_documents import (
    LIVE_STATUSES,
    QuoteLine,
    billing_mode_shown,
    blank_quote,
    insert,
    line_items,
    private,
    public,
    save,
    stored_lines,
    upfront_items,
    write_amounts,
)
from kassa.services.billing.quote_params import (
    CREATE_PARAMS,
    FINALIZE_PARAMS,
    LINE_ITEMS_MAX,
    LIST_FILTERS,
    UPDATE_PARAMS,
    CreateQuote,
    FinalizeQuote,
    QuoteChanges,
    UpdateQuote,
)
from kassa.services.billing.rendering import quote_document
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.files import Download
from kassa.services.line_item_lists import HeldItems
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store import Store, Transaction
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import QUOTES

log = logging.getLogger("kassa.quotes")

EVENT_TYPES: Final = ("quote.accepted", "quote.canceled", "quote.created", "quote.finalized")
NUMBER_PREFIX_CHARS: Final = 8
NUMBERED_COUNTED_MAX: Final = 1_000_000
"""The account's numbered quotes counted for the next number's sequence: the count is
bounded, and a sequence this high would need a million finalized quotes."""
SEND_INVOICE_DAYS_DEFAULT: Final = 30
"""The invoice a `send_invoice` quote makes is due this many days after it is finalized
when `invoice_settings[days_until_due]` is not given (Stripe's invoice settings default)."""


# --- create and update ----------------------------------------------------------------------------


async def create_quote(ctx: Context, request: CreateQuote) -> ApiObject:
    check_no_tax_engine(request.automatic_tax)
    customer = await _customer(ctx, request.customer)
    test_clock = await _test_clock(ctx, request.test_clock, customer)
    ctx = await ctx.governed_by({"test_clock": test_clock})
    quote = blank_quote(ctx, ctx.now())
    quote["test_clock"] = test_clock
    quote["customer"] = None if customer is None else customer["id"]
    await _apply_changes(ctx, quote, request)
    _set_expiry(quote, request.expires_at, ctx.now())
    await insert(ctx, quote)
    await events.announce(ctx, "quote.created", public(quote))
    return public(quote)


async def _customer(ctx: Context, customer_id: str | None) -> ApiObject | None:
    if customer_id is None:
        return None
    return await load_live_object(ctx, customers.RESOURCE, customer_id, param="customer")


async def _test_clock(ctx: Context, clock_id: str | None, customer: ApiObject | None) -> str | None:
    """The clock the quote lives on: its customer's (Stripe: a quote for a customer on a
    test clock is on that clock), or the one `test_clock` names for a quote without one."""
    customers_clock = None if customer is None else customer.get("test_clock")
    if clock_id is None:
        return None if customers_clock is None else str(customers_clock)
    if customer is not None and customers_clock != clock_id:
        raise InvalidParameter(
            f"The test clock {clock_id} is not the clock of customer {customer['id']}: a "
            "quote lives on its customer's test clock.",
            param="test_clock",
        )
    await load_live_object(ctx, test_clocks.RESOURCE, clock_id, param="test_clock")
    return clock_id


async def _apply_changes(ctx: Context, quote: ApiObject, changes: QuoteChanges) -> None:
    """Every parameter create and update share, then the amounts from what the quote holds
    now."""
    _apply_plain(quote, changes)
    _apply_invoice_settings(quote, changes)
    if isinstance(changes.default_tax_rates, list):
        rates = await usable_tax_rates(ctx, changes.default_tax_rates, param="default_tax_rates")
        private(quote)["default_tax_rates"] = rates
    elif changes.default_tax_rates is UNSET:
        private(quote)["default_tax_rates"] = []
    quote["default_tax_rates"] = [rate["id"] for rate in private(quote)["default_tax_rates"]]
    lines = await _lines(ctx, quote, changes)
    quote["currency"] = None if not lines else str(lines[0].price["currency"])
    if isinstance(changes.discounts, list):
        await quote_lines.discard_replaced(ctx, quote["id"], quote["discounts"], changes.discounts)
        quote["discounts"] = await quote_lines.made_discounts(
            ctx, changes.discounts, quote["customer"], quote["currency"], "discounts", quote["id"]
        )
    elif changes.discounts is UNSET:
        await quote_lines.discard_replaced(ctx, quote["id"], quote["discounts"], ())
        quote["discounts"] = []
    await write_amounts(ctx, quote, lines, quote["subscription_data"]["trial_period_days"])


def _apply_plain(quote: ApiObject, changes: QuoteChanges) -> None:
    for name in ("description", "footer", "header"):
        value = getattr(changes, name)
        if value is not None:
            quote[name] = None if value is UNSET else value
    if changes.metadata is not None:
        quote["metadata"] = apply_metadata(quote["metadata"], changes.metadata)
    data = changes.subscription_data
    if data is not None:
        shown = quote["subscription_data"]
        for name in ("description", "trial_period_days"):
            if name in data:
                shown[name] = None if data[name] is UNSET else data[name]
        if data.get("metadata") is not None:
            shown["metadata"] = apply_metadata(shown["metadata"] or {}, data["metadata"])
        if data.get("billing_mode") is not None:
            shown["billing_mode"] = billing_mode_shown(data["billing_mode"], quote["created"])


def _apply_invoice_settings(quote: ApiObject, changes: QuoteChanges) -> None:
    """`collection_method` and `invoice_settings[days_until_due]`, which Stripe's field says
    is null for `charge_automatically`."""
    if changes.collection_method is not None:
        quote["collection_method"] = changes.collection_method
    settings = quote["invoice_settings"]
    days = (changes.invoice_settings or {}).get("days_until_due")
    if days is not None:
        settings["days_until_due"] = days
    if quote["collection_method"] == "charge_automatically":
        if days is not None:
            raise InvalidParameter(
                "invoice_settings[days_until_due] is only for collection_method=send_invoice.",
                param="invoice_settings[days_until_due]",
            )
        settings["days_until_due"] = None
    elif settings["days_until_due"] is None:
        settings["days_until_due"] = SEND_INVOICE_DAYS_DEFAULT


async def _lines(ctx: Context, quote: ApiObject, changes: QuoteChanges) -> list[QuoteLine]:
    """The lines sent (which replace the quote's whole), else those it holds."""
    if changes.line_items is None:
        return await quote_lines.lines_stored(ctx, quote)
    sent = [entry for item in changes.line_items for entry in item.get("discounts") or ()]
    for replaced in stored_lines(quote)[:LINE_ITEMS_MAX]:
        await quote_lines.discard_replaced(ctx, quote["id"], replaced["discounts"], sent)
    lines = await quote_lines.lines_sent(ctx, changes.line_items, quote["customer"], quote["id"])
    private(quote)["lines"] = [quote_lines.stored_line(line) for line in lines]
    return lines


def _set_expiry(quote: ApiObject, expires_at: int | None, now: int) -> None:
    """`expires_at` (a future time; else the default the blank quote has), and when the job
    cancels the quote."""
    if expires_at is not None:
        if expires_at <= now:
            raise InvalidParameter(
                "expires_at must be in the future (the quote's customer's time).",
                param="expires_at",
            )
        quote["expires_at"] = expires_at
    private(quote)["expires_due"] = quote["expires_at"]


async def update_quote(ctx: Context, request: UpdateQuote) -> ApiObject:
    quote = await _load(ctx, request.quote)
    ctx = await ctx.governed_by(quote)
    _check_status(quote, ("draft",), "updated")
    check_no_tax_engine(request.automatic_tax)
    if request.customer is not None and request.customer != quote["customer"]:
        _check_discounts_sent_again(quote, request)
        customer = await _customer(ctx, request.customer)
        quote["test_clock"] = await _test_clock(ctx, quote["test_clock"], customer)
        quote["customer"] = request.customer
    await _apply_changes(ctx, quote, request)
    _set_expiry(quote, request.expires_at, ctx.now())
    await save(ctx, quote)
    return public(quote)


def _check_discounts_sent_again(quote: ApiObject, request: UpdateQuote) -> None:
    """The discounts a quote made are its customer's: a new customer needs them made again
    (`discounts`, and `line_items` where a line has its own), or the invoice accepting the
    quote could not take them."""
    kept_quote_discounts = bool(quote["discounts"]) and request.discounts is None
    kept_line_discounts = request.line_items is None and any(
        line["discounts"] for line in stored_lines(quote)
    )
    if kept_quote_discounts or kept_line_discounts:
        raise InvalidParameter(
            "The quote's discounts were made for its customer: send discounts (and line_items "
            "with theirs) again to change the customer.",
            param="customer",
        )


# --- read -----------------------------------------------------------------------------------------


async def _load(ctx: Context, quote_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, quote_id)


async def retrieve_quote(ctx: Context, quote_id: str) -> ApiObject:
    return public(await _load(ctx, quote_id))


LINE_ITEMS: Final = HeldItems(lambda: RESOURCE, line_items)
UPFRONT_LINE_ITEMS: Final = HeldItems(
    lambda: RESOURCE, upfront_items, name="computed_upfront_line_items"
)


# --- the status machine ---------------------------------------------------------------------------


def _check_status(quote: ApiObject, allowed: tuple[str, ...], verb: str) -> None:
    if quote["status"] not in allowed:
        wanted = " or ".join(f"`{status}`" for status in allowed)
        raise InvalidRequest(
            f"This quote cannot be {verb} because it has a status of `{quote['status']}`: "
            f"only a quote with a status of {wanted} can be."
        )


async def finalize_quote(ctx: Context, request: FinalizeQuote) -> ApiObject:
    quote = await _load(ctx, request.quote)
    ctx = await ctx.governed_by(quote)
    _check_status(quote, ("draft",), "finalized")
    if quote["customer"] is None:
        raise MissingParameter("customer")
    if not private(quote)["lines"]:
        raise InvalidRequest("A quote needs at least one line item to be finalized.")
    now = ctx.now()
    _set_expiry(quote, request.expires_at, now)
    quote["number"] = await _next_number(ctx)
    quote["status"] = "open"
    quote["status_transitions"]["finalized_at"] = now
    await save(ctx, quote)
    await events.announce(ctx, "quote.finalized", public(quote))
    return public(quote)


async def _next_number(ctx: Context) -> str:
    """`QT-{the account's 8 hex digits}-{its numbered quotes + 1, 4 digits}-1` (the last part
    is the revision: Kassa makes no revisions)."""
    prefix = hashlib.sha256(ctx.account_id.encode()).hexdigest()[:NUMBER_PREFIX_CHARS].upper()
    query = ObjectListQuery(limit=NUMBERED_COUNTED_MAX, nulls={"number": False})
    numbered = await ctx.tx.count_objects(QUOTES, ctx.account_id, query)
    return f"QT-{prefix}-{numbered + 1:04d}-1"


async def accept_quote(ctx: Context, quote_id: str) -> ApiObject:
    quote = await _load(ctx, quote_id)
    ctx = await ctx.governed_by(quote)
    _check_status(quote, ("open",), "accepted")
    if quote["expires_at"] <= ctx.now():
        # Past its time but not yet canceled by the job (which runs every half minute).
        raise InvalidRequest(
            f"This quote expired at {quote['expires_at']} and can no longer be accepted."
        )
    lines = await quote_lines.lines_stored(ctx, quote)
    made = await quote_acceptance.accept(ctx, public(quote), lines)
    quote["invoice"], quote["subscription"] = made.invoice, made.subscription
    quote["status"] = "accepted"
    quote["status_transitions"]["accepted_at"] = ctx.now()
    private(quote)["expires_due"] = None
    await save(ctx, quote)
    await events.announce(ctx, "quote.accepted", public(quote))
    return public(quote)


async def cancel_quote(ctx: Context, quote_id: str) -> ApiObject:
    quote = await _load(ctx, quote_id)
    ctx = await ctx.governed_by(quote)
    _check_status(quote, LIVE_STATUSES, "canceled")
    await _cancel(ctx, quote)
    return public(quote)


async def _cancel(ctx: Context, quote: ApiObject) -> None:
    quote["status"] = "canceled"
    quote["status_transitions"]["canceled_at"] = ctx.now()
    private(quote)["expires_due"] = None
    await save(ctx, quote)
    await events.announce(ctx, "quote.canceled", public(quote))


async def expire_due_quotes(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every draft or open quote whose `expires_at` has come canceled, each in a unit of its
    own, bounded per run (`due_work.do_due_operations`); how many."""
    jobs = (Transaction.quotes_due, Transaction.postpone_quote_expiry)
    failed = (log, "quote %s could not expire: %s")
    return await do_due_operations(store, clock, payments, jobs, expire_quote, failed)


async def expire_quote(ctx: Context, quote_id: str) -> bool:
    """The quote canceled if it is draft or open and its expiry has come at `ctx.now()`
    (the real-time job's, or a test clock's advance at the expiry); whether it was."""
    found = await ctx.tx.get_object(QUOTES, ctx.account_id, quote_id)
    if found is None or found[1]:
        return False
    quote = copy.deepcopy(found[0])
    ctx = await ctx.governed_by(quote)
    due = private(quote).get("expires_due")
    if quote["status"] not in LIVE_STATUSES or due is None or due > ctx.now():
        return False
    await _cancel(ctx, quote)
    return True


# --- the PDF --------------------------------------------------------------------------------------


async def quote_pdf(ctx: Context, quote_id: str) -> ApiObject:
    """`GET /v1/quotes/{id}/pdf` (Stripe serves it on files.stripe.com; Kassa on its API
    host too): a finalized quote's PDF, drawn from what this unit read, rendered by the API
    edge after the unit ends, under the server's render bound."""
    quote = await _load(ctx, quote_id)
    if quote["status"] == "draft":
        raise InvalidRequest(
            "The quote is a draft: finalize it before downloading its PDF.", param="quote"
        )
    render = await quote_document.quote_pdf_renderer(ctx, public(quote), line_items(quote))
    return Download(b"", "application/pdf", f"{quote['number']}.pdf", render=render)


RESOURCE: Resource = Resource(
    object_name="quote",
    id_prefix="qt",
    collection="quotes",
    table=QUOTES,
    create=Operation(request_parser(CreateQuote, CREATE_PARAMS), create_quote, writes=True),
    retrieve=Operation(no_params, retrieve_quote, writes=False),
    update=Operation(
        request_parser(UpdateQuote, UPDATE_PARAMS, ids=("quote",)), update_quote, writes=True
    ),
    list_filters=LIST_FILTERS,
    list_view=public,
    actions={
        "finalize": Operation(
            request_parser(FinalizeQuote, FINALIZE_PARAMS, ids=("quote",)),
            finalize_quote,
            writes=True,
        ),
        "accept": Operation(no_params, accept_quote, writes=True),
        "cancel": Operation(no_params, cancel_quote, writes=True),
    },
    sublists={
        LINE_ITEMS.name: LINE_ITEMS.sublist(),
        UPFRONT_LINE_ITEMS.name: UPFRONT_LINE_ITEMS.sublist(),
        "pdf": Operation(no_params, quote_pdf, writes=False),
    },
    expandable={
        "customer": "customer",
        "default_tax_rates": "tax_rate",
        "discounts": "discount",
        "invoice": "invoice",
        "subscription": "subscription",
        "test_clock": "test_helpers.test_clock",
    },
    includable={"line_items": LINE_ITEMS.include},
    event_types=EVENT_TYPES,
)
