"""The hosted portal page's backend over the portal operations
(`kassa.services.billing_portal_actions`), which the composition root gives to `PortalPages`.

`load` finds the session by its link's secret (compared in constant time) in a read unit and
gathers what the page shows; `cancel`, `update_card`, `switch_plan`, `update_details`,
`accept_retention` and `confirm_update` run in one write unit each, with the
session found again, so a link that stopped opening the portal meanwhile does nothing; in
the same unit an open deep-link flow is marked completed, and the action answers where its
`after_completion` sends the customer (a redirect's URL, else None: the page again). What
the page shows is formatted here, amounts and dates as the hosted invoice page writes them
(`invoice_view.money_text`, `date_text`) in the session's locale or the customer's.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import KassaError, ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.page_backend import PageBackend
from kassa.services import accounts
from kassa.services.billing import coupons
from kassa.services.billing.rendering.invoice_view import (
    account_zone,
    date_text,
    money_text,
    parse_locale,
)
from kassa.services.billing_portal import completed_flow
from kassa.services.billing_portal_actions import (
    SWITCH_QUANTITY_MAX,
    ConfirmedChange,
    PlanSwitch,
    PortalContents,
    accept_retention,
    cancel_from_portal,
    confirm_update,
    confirmed_change,
    editable_details,
    finish_flow,
    link_open,
    portal_contents,
    preview_change,
    quantity_adjustable,
    replace_card,
    retention_coupon,
    switch_offers,
    switch_plan,
    update_details,
)
from kassa.services.billing_portal_flows import switch_refusal
from kassa.services.context import Context
from kassa.services.listing import fetch_object
from kassa.services.page_links import find_by_link
from kassa.services.payment_methods import TypedCard
from kassa.services.resource import ApiObject
from kassa.store.tables import BILLING_PORTAL_SESSIONS

PREVIEW_LINES_MAX: Final = 20
"""The previewed invoice's lines a confirmation lists (a one-item change has a few)."""
CARD_KEY_PREFIX: Final = "kassa_portal_card_"
"""Idempotency keys of the portal's card forms: a prefix no SDK generates (they send UUIDs)."""
CARD_STEP_CODEC: Final[pay_attempts.StepCodec[None]] = pay_attempts.StepCodec(
    shown=lambda _: {"saved": True}, read=lambda _: None, declined_step=None
)
"""A saved card has nothing more to keep: the page shows the portal again."""
CANCEL_WHEN: Final = {
    "at_period_end": "at the end of the current period",
    "immediately": "immediately",
}


FLOW_TITLES: Final = {
    "payment_method_update": "Update your payment method",
    "subscription_cancel": "Cancel your subscription",
    "subscription_update": "Change your plan",
    "subscription_update_confirm": "Confirm your new plan",
}
DEFAULT_CONFIRMATION: Final = "Your changes were saved."
COUPON_DURATIONS: Final = {"forever": "forever", "once": "on your next invoice"}


@dataclass(frozen=True)
class Confirmation:
    """A `subscription_update_confirm` flow's change as the page shows it: the plan now and
    after, the discounts it applies, and the next invoice's lines with their prorations;
    or why it can no longer be made (`refusal`)."""

    current: str
    after: str
    discounts: tuple[str, ...]
    lines: tuple[tuple[str, str, bool], ...]
    """(description, amount, whether a proration) of the previewed invoice's lines."""
    total: str
    refusal: str | None


@dataclass(frozen=True)
class FlowExtras:
    """What a flow's page shows besides the portal's own sections."""

    retention: str | None
    """The retention offer's text (a cancel flow with `retention`)."""
    confirmation: Confirmation | None


@dataclass(frozen=True)
class Opened:
    """A session's link, found: what the portal shows, or None once the link expired."""

    contents: PortalContents | None
    extras: FlowExtras = FlowExtras(None, None)


ADDRESS_LABELS: Final = {  # an address's fields, in the order a form asks for them
    "line1": "Address line 1",
    "line2": "Address line 2",
    "city": "City",
    "postal_code": "Postal code",
    "state": "State or region",
    "country": "Country (two letters)",
}
PLAIN_DETAILS: Final = {
    "email": ("Email", "email"),
    "name": ("Name", "text"),
    "phone": ("Phone", "tel"),
}
"""The customer fields the details form edits one input each: (label, input type)."""


@dataclass(frozen=True)
class SwitchForm:
    """A subscription's plan switch: the prices offered (id, label) and the current quantity
    when the customer may change it (else None)."""

    prices: tuple[tuple[str, str], ...]
    quantity: int | None
    quantity_max: int


@dataclass(frozen=True)
class SubscriptionRow:
    subscription_id: str
    status: str
    items: tuple[str, ...]
    period_end: str | None
    canceling: bool
    cancel_note: str | None
    switch: SwitchForm | None
    switch_note: str | None
    """Why a plan switch is not offered, when the feature is on but this one cannot."""


@dataclass(frozen=True)
class DetailField:
    name: str
    label: str
    value: str
    input_type: str


@dataclass(frozen=True)
class InvoiceRow:
    number: str
    date: str
    total: str
    status: str
    url: str | None


@dataclass(frozen=True)
class PortalView:
    session_id: str
    lang: str
    business: str
    headline: str | None
    privacy_policy_url: str | None
    terms_of_service_url: str | None
    customer_name: str | None
    customer_email: str | None
    return_url: str
    subscriptions: tuple[SubscriptionRow, ...]
    cancel_enabled: bool
    cancel_when: str
    reasons: tuple[tuple[str, str], ...]
    invoice_history: bool
    invoices: tuple[InvoiceRow, ...]
    card_update: bool
    card: str | None
    details: tuple[DetailField, ...]
    flow_type: str | None
    """The open flow's type: the page shows only its action (None: the home page)."""
    flow_title: str | None
    retention: str | None
    confirmation: Confirmation | None
    confirmation_message: str | None
    """A completed flow's hosted confirmation (its `custom_message`, or Kassa's)."""


class PortalBackend(PageBackend):
    async def load(self, session_id: str, secret: str) -> Opened | None:
        async with self.store.read() as tx:
            found = await find_by_link(tx, BILLING_PORTAL_SESSIONS, session_id, secret)
            if found is None:
                return None
            ctx = self.context(tx, found[1])
            if not link_open(ctx, found[0]):
                return Opened(None)
            contents = await portal_contents(ctx, found[0])
            return Opened(contents, await _flow_extras(ctx, contents))

    async def cancel(
        self, session_id: str, secret: str, subscription_id: str, feedback: str | None
    ) -> str | None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await cancel_from_portal(ctx, contents, subscription_id, feedback)

        return await self._act(session_id, secret, run)

    async def update_card(
        self, session_id: str, secret: str, card: TypedCard, attempt: str
    ) -> str | None:
        """The card as the customer's default, once per page view's form (`attempt`): the
        same form sent twice saves one card, as the pay forms pay once (`pay_attempts`)."""

        async def run(ctx: Context, contents: PortalContents) -> None:
            async def save() -> None:
                await replace_card(ctx, contents, card)

            outcome = await pay_attempts.attempt_once(
                ctx.tx,
                self.clock,
                ctx.account_id,
                CARD_KEY_PREFIX,
                session_id,
                attempt,
                CARD_STEP_CODEC,
                save,
            )
            outcome.result()

        return await self._act(session_id, secret, run)

    async def switch_plan(self, session_id: str, secret: str, switch: PlanSwitch) -> str | None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await switch_plan(ctx, contents, switch)

        return await self._act(session_id, secret, run)

    async def update_details(
        self, session_id: str, secret: str, fields: dict[str, str]
    ) -> str | None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await update_details(ctx, contents, fields)

        return await self._act(session_id, secret, run)

    async def accept_retention(self, session_id: str, secret: str) -> str | None:
        return await self._act(session_id, secret, accept_retention)

    async def confirm_update(self, session_id: str, secret: str) -> str | None:
        return await self._act(session_id, secret, confirm_update)

    async def _act(
        self,
        session_id: str,
        secret: str,
        action: Callable[[Context, PortalContents], Awaitable[None]],
    ) -> str | None:
        """`action` in one write unit, on the session its link opens, then its open flow
        completed (a domain error rolls the unit back whole: nothing is half done); the URL
        the flow's `after_completion` redirects to, if any."""
        async with self.store.write() as tx:
            found = await find_by_link(tx, BILLING_PORTAL_SESSIONS, session_id, secret)
            if found is None:
                raise ResourceMissing("billing_portal.session", session_id)
            session = copy.deepcopy(found[0])
            ctx = self.context(tx, found[1])
            if not link_open(ctx, session):
                raise ResourceMissing("billing_portal.session", session_id)
            contents = await portal_contents(ctx, session)
            await action(ctx, contents)
            return await finish_flow(ctx, contents)


def view_locale(contents: PortalContents, page_locale: str) -> str:
    """The session's `locale` when Babel knows it (not `auto`), else the page's."""
    parsed = parse_locale(contents.session.get("locale"))
    return page_locale if parsed is None else str(parsed)


async def _flow_extras(ctx: Context, contents: PortalContents) -> FlowExtras:
    """The open flow's retention offer or confirmation (read only)."""
    formats = _Formats(_page_default_locale(contents), contents.account)
    coupon_id = retention_coupon(contents)
    retention = None
    if coupon_id is not None:
        coupon = await fetch_object(ctx, coupons.RESOURCE, coupon_id)
        retention = None if coupon is None else _coupon_text(coupon, formats)
    confirmation = None
    if contents.flow is not None and contents.flow["type"] == "subscription_update_confirm":
        confirmation = await _confirmation(ctx, contents, formats)
    return FlowExtras(retention, confirmation)


def _page_default_locale(contents: PortalContents) -> str:
    return view_locale(contents, "en")


async def _confirmation(ctx: Context, contents: PortalContents, formats: _Formats) -> Confirmation:
    try:
        confirmed = await confirmed_change(ctx, contents)
        preview = await preview_change(ctx, contents, confirmed)
    except KassaError as refused:
        return Confirmation("", "", (), (), "", refused.message)
    return _confirmation_shown(contents, confirmed, preview, formats)


def _confirmation_shown(
    contents: PortalContents, confirmed: ConfirmedChange, preview: ApiObject, formats: _Formats
) -> Confirmation:
    item = confirmed.subscription["items"]["data"][0]
    quantity = confirmed.change.get("quantity", item.get("quantity"))
    price = confirmed.new_price or item["price"]
    names = {**contents.product_names}
    after = _item_text({"price": price, "quantity": quantity}, names, formats)
    currency = str(preview["currency"])
    lines = tuple(
        (
            str(line.get("description") or ""),
            formats.money(int(line["amount"]), currency),
            _proration(line),
        )
        for line in preview["lines"]["data"][:PREVIEW_LINES_MAX]
    )
    discounts = tuple(
        f"Coupon {d['coupon']}" if "coupon" in d else f"Promotion code {d['promotion_code']}"
        for d in confirmed.discounts
    )
    return Confirmation(
        current=_item_text(item, names, formats),
        after=after,
        discounts=discounts,
        lines=lines,
        total=formats.money(int(preview["total"]), currency),
        refusal=None,
    )


def _proration(line: ApiObject) -> bool:
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration"))


def _coupon_text(coupon: ApiObject, formats: _Formats) -> str:
    if coupon.get("percent_off") is not None:
        off = f"{coupon['percent_off']:g}% off"
    else:
        off = f"{formats.money(int(coupon['amount_off']), str(coupon['currency']))} off"
    duration = str(coupon.get("duration"))
    months = coupon.get("duration_in_months")
    when = f"for {months} months" if duration == "repeating" else COUPON_DURATIONS.get(duration, "")
    return f"{off} {when}".strip()


def build_view(contents: PortalContents, locale: str, extras: FlowExtras) -> PortalView:
    configuration = contents.configuration
    features = configuration["features"]
    profile = configuration["business_profile"]
    cancel = features["subscription_cancel"]
    reason = cancel["cancellation_reason"]
    customer = contents.customer
    formats = _Formats(locale, contents.account)
    flow = contents.flow
    flow_type = None if flow is None else str(flow["type"])
    flow_subscription = ((flow or {}).get(flow_type or "") or {}).get("subscription")
    return PortalView(
        session_id=str(contents.session["id"]),
        lang=locale.replace("_", "-"),
        business=accounts.public_name(contents.account) or "the business",
        headline=profile["headline"],
        privacy_policy_url=profile["privacy_policy_url"],
        terms_of_service_url=profile["terms_of_service_url"],
        customer_name=customer.get("name"),
        customer_email=customer.get("email"),
        return_url=str(contents.session["return_url"]),
        subscriptions=tuple(
            _subscription_row(shown, contents, formats)
            for shown in contents.subscriptions
            if flow_type is None or shown["id"] == flow_subscription
        ),
        cancel_enabled=bool(cancel["enabled"]) and flow_type in (None, "subscription_cancel"),
        cancel_when=CANCEL_WHEN.get(str(cancel["mode"]), ""),
        reasons=tuple((option, _label(option)) for option in reason["options"])
        if reason["enabled"]
        else (),
        invoice_history=bool(features["invoice_history"]["enabled"]) and flow_type is None,
        invoices=tuple(_invoice_row(invoice, formats) for invoice in contents.invoices),
        card_update=bool(features["payment_method_update"]["enabled"])
        and flow_type in (None, "payment_method_update"),
        card=None if contents.default_card is None else _card_text(contents.default_card),
        details=_detail_fields(contents) if flow_type is None else (),
        flow_type=flow_type,
        flow_title=None if flow_type is None else FLOW_TITLES[flow_type],
        retention=extras.retention,
        confirmation=extras.confirmation,
        confirmation_message=_confirmation_message(contents),
    )


def _confirmation_message(contents: PortalContents) -> str | None:
    """A completed flow's hosted confirmation message, when it asked for one."""
    flow = completed_flow(contents.session)
    if flow is None or flow["after_completion"]["type"] != "hosted_confirmation":
        return None
    custom = (flow["after_completion"]["hosted_confirmation"] or {}).get("custom_message")
    return str(custom) if custom else DEFAULT_CONFIRMATION


@dataclass(frozen=True)
class _Formats:
    locale: str
    account: ApiObject

    def money(self, amount: int, currency: str) -> str:
        return money_text(amount, currency, self.locale)

    def date(self, unix_seconds: int) -> str:
        return date_text(unix_seconds, account_zone(self.account), self.locale)


def _subscription_row(
    subscription: ApiObject, contents: PortalContents, formats: _Formats
) -> SubscriptionRow:
    items = subscription["items"]["data"]
    ends = [int(item["current_period_end"]) for item in items if item.get("current_period_end")]
    cancel_at = subscription.get("cancel_at")
    switching = bool(
        contents.configuration["features"]["subscription_update"]["enabled"]
    ) and _flow_allows(contents, "subscription_update")
    refusal = switch_refusal(subscription) if switching else None
    return SubscriptionRow(
        subscription_id=str(subscription["id"]),
        status=str(subscription["status"]),
        items=tuple(_item_text(item, contents.product_names, formats) for item in items),
        period_end=formats.date(min(ends)) if ends else None,
        canceling=bool(subscription.get("cancel_at_period_end") or cancel_at),
        cancel_note=None if cancel_at is None else f"Cancels on {formats.date(int(cancel_at))}",
        switch=_switch_form(subscription, contents, formats)
        if switching and refusal is None
        else None,
        switch_note=refusal,
    )


def _flow_allows(contents: PortalContents, flow_type: str) -> bool:
    return contents.flow is None or contents.flow["type"] == flow_type


def _switch_form(
    subscription: ApiObject, contents: PortalContents, formats: _Formats
) -> SwitchForm | None:
    """None when there is nothing to choose (no other price, no quantity to change)."""
    offers = tuple(
        (str(price["id"]), _item_text({"price": price}, contents.product_names, formats))
        for price in switch_offers(contents, subscription)
    )
    quantity = subscription["items"]["data"][0].get("quantity")
    adjustable = quantity_adjustable(contents) and isinstance(quantity, int)
    if not offers and not adjustable:
        return None
    return SwitchForm(
        prices=offers,
        quantity=quantity if adjustable else None,
        quantity_max=SWITCH_QUANTITY_MAX,
    )


def _item_text(item: ApiObject, names: dict[str, str], formats: _Formats) -> str:
    price = item["price"]
    name = names.get(str(price.get("product")), str(price.get("product")))
    quantity = item.get("quantity")
    counted = f" x {quantity}" if isinstance(quantity, int) and quantity > 1 else ""
    amount = price.get("unit_amount")
    if amount is None:
        return f"{name}{counted}"
    every = (price.get("recurring") or {}).get("interval")
    shown = formats.money(int(amount), str(price["currency"]))
    return f"{name}{counted}: {shown}" + (f" / {every}" if every else "")


def _invoice_row(invoice: ApiObject, formats: _Formats) -> InvoiceRow:
    finalized = (invoice.get("status_transitions") or {}).get("finalized_at")
    return InvoiceRow(
        number=str(invoice.get("number") or invoice["id"]),
        date=formats.date(int(finalized or invoice["created"])),
        total=formats.money(int(invoice["total"]), str(invoice["currency"])),
        status=str(invoice["status"]),
        url=invoice.get("hosted_invoice_url"),
    )


def _card_text(card: dict[str, Any]) -> str:
    brand = str(card.get("display_brand") or card.get("brand") or "card").replace("_", " ")
    return (
        f"{brand.title()} ending in {card.get('last4')}, expires "
        f"{int(card.get('exp_month') or 0):02d}/{card.get('exp_year')}"
    )


def _detail_fields(contents: PortalContents) -> tuple[DetailField, ...]:
    """The details form's inputs, named as the page posts them, filled with what is stored."""
    customer = contents.customer
    fields: list[DetailField] = []
    for name in editable_details(contents):
        if name in PLAIN_DETAILS:
            label, input_type = PLAIN_DETAILS[name]
            fields.append(DetailField(name, label, str(customer.get(name) or ""), input_type))
        elif name == "address":
            fields.extend(_address_fields("address", "", customer.get("address")))
        else:
            shipping = customer.get("shipping") or {}
            recipient = str(shipping.get("name") or "")
            fields.append(DetailField("shipping[name]", "Ship to (name)", recipient, "text"))
            stored = shipping.get("address")
            fields.extend(_address_fields("shipping[address]", "Shipping: ", stored))
    return tuple(fields)


def _address_fields(prefix: str, label_prefix: str, stored: Any) -> list[DetailField]:
    address = stored if isinstance(stored, dict) else {}
    return [
        DetailField(
            f"{prefix}[{key}]",
            label_prefix + ADDRESS_LABELS[key],
            str(address.get(key) or ""),
            "text",
        )
        for key in ADDRESS_LABELS
    ]


def _label(option: str) -> str:
    return option.replace("_", " ").capitalize()
