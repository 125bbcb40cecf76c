"""Payments: the list (filters by status, date and customer), one payment with everything
that happened to it, and the refund, capture and cancel actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa import money
from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import payment_actions
from kassa.dashboard.views import payments as view_model
from kassa.dashboard.views.payments import STATUS_LABELS
from kassa.errors import KassaError, ResourceMissing
from kassa.services.context import Context
from kassa.services.payment_intents import CANCELLATION_REASONS
from kassa.services.refunds import REASONS as REFUND_REASONS
from kassa.services.resource import ApiObject


async def payment_list(view: View) -> Response:
    filters = view_model.parse_filters(
        status=view.param("status"),
        customer=view.param("customer"),
        created_from=view.param("from"),
        created_to=view.param("to"),
        starting_after=view.param("starting_after"),
    )
    async with view.reading() as ctx:
        listing = await view_model.payment_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "payments.html",
        listing=listing,
        filters=shown,
        statuses=STATUS_LABELS,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/payments" + (f"?{urlencode(query)}" if query else "")


async def payment(view: View) -> Response:
    """A PaymentIntent's page; a charge's id leads to its intent's, or, for a charge made
    without one (the Charges API), to the charge's own page."""
    requested = view.path_param("id")
    async with view.reading() as ctx:
        named = await view_model.payment_named(ctx, requested)
        if named.standalone_charge is not None:
            charge = await view_model.charge_detail(ctx, named.standalone_charge)
            return _charge_page(view, charge)
        if named.intent_id != requested:
            return view.redirect(_detail_path(named.intent_id))
        detail = await view_model.payment_detail(ctx, named.intent_id)
    currency = detail.intent["currency"]
    return view.render(
        "payment_detail.html",
        detail=detail,
        card_label=view_model.card_label,
        refundable_major=money.major_units(detail.refundable, currency),
        capturable_major=money.major_units(int(detail.intent["amount_capturable"]), currency),
        refund_reasons=REFUND_REASONS,
        cancellation_reasons=CANCELLATION_REASONS,
    )


def _charge_page(view: View, detail: view_model.ChargeDetail) -> Response:
    return view.render(
        "charge_detail.html",
        detail=detail,
        card_label=view_model.card_label,
    )


def _detail_path(intent_id: str) -> str:
    return f"/payments/{quote(intent_id, safe='')}"


Action = Callable[[Context, str], Awaitable[str]]
"""(context, intent id) -> the notice to show once it is done."""


async def _act(view: View, action: Action) -> Response:
    """Run one action in a write unit, then back to the payment (Post/Redirect/Get) with
    what happened or why it did not."""
    intent_id = view.path_param("id")
    try:
        async with view.writing() as ctx:
            notice = await action(ctx, intent_id)
    except ResourceMissing as missing:
        return view.redirect("/payments", error=missing_message(missing))
    except KassaError as error:
        return view.redirect(_detail_path(intent_id), error=error.message)
    return view.redirect(_detail_path(intent_id), notice=notice)


async def refund(view: View) -> Response:
    async def act(ctx: Context, intent_id: str) -> str:
        made = await payment_actions.refund_payment(
            ctx, intent_id, view.param("amount"), view.param("reason")
        )
        return f"Refunded {_money(made)}."

    return await _act(view, act)


async def capture(view: View) -> Response:
    async def act(ctx: Context, intent_id: str) -> str:
        intent = await payment_actions.capture_payment(ctx, intent_id, view.param("amount"))
        return f"Captured {money.format_amount(intent['amount_received'], intent['currency'])}."

    return await _act(view, act)


async def cancel(view: View) -> Response:
    async def act(ctx: Context, intent_id: str) -> str:
        await payment_actions.cancel_payment(ctx, intent_id, view.param("reason"))
        return "Payment canceled."

    return await _act(view, act)


def _money(obj: ApiObject) -> str:
    return money.format_amount(int(obj["amount"]), str(obj["currency"]))


PAGES = (
    Page("/payments", payment_list),
    Page("/payments/{id}", payment),
    Page("/payments/{id}/refund", refund, methods=("POST",)),
    Page("/payments/{id}/capture", capture, methods=("POST",)),
    Page("/payments/{id}/cancel", cancel, methods=("POST",)),
)
