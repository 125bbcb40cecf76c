"""The hosted portal page's backend over the portal operations
(`kassa.services.billing_portal_actions`), which the composition root gives to `PortalPages`.

`load` finds the session by its link's secret (compared in constant time) in a read unit and
gathers what the page shows; `cancel`, `update_card`, `switch_plan` and `update_details` run
in one write unit each, with the
session found again, so a link that stopped opening the portal meanwhile does nothing. What
the page shows is formatted here, amounts and dates as the hosted invoice page writes them
(`invoice_view.money_text`, `date_text`) in the session's locale or the customer's.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from kassa.errors import ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.page_backend import PageBackend
from kassa.services import accounts
from kassa.services.billing.rendering.invoice_view import (
    account_zone,
    date_text,
    money_text,
    parse_locale,
)
from kassa.services.billing_portal_actions import (
    SWITCH_QUANTITY_MAX,
    PlanSwitch,
    PortalContents,
    cancel_from_portal,
    editable_details,
    link_open,
    portal_contents,
    quantity_adjustable,
    replace_card,
    switch_offers,
    switch_plan,
    switch_refusal,
    update_details,
)
from kassa.services.context import Context
from kassa.services.page_links import find_by_link
from kassa.services.payment_methods import TypedCard
from kassa.services.resource import ApiObject
from kassa.store.tables import BILLING_PORTAL_SESSIONS

T = TypeVar("T")
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


@dataclass(frozen=True)
class Opened:
    """A session's link, found: what the portal shows, or None once the link expired."""

    contents: PortalContents | None


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


class PortalBackend(PageBackend):
    async def load(self, session_id: str, secret: str) -> Opened | None:
        async with self.store.read() as tx:
            found = await find_by_link(tx, BILLING_PORTAL_SESSIONS, session_id, secret)
            if found is None:
                return None
            ctx = self.context(tx, found[1])
            if not link_open(ctx, found[0]):
                return Opened(None)
            return Opened(await portal_contents(ctx, found[0]))

    async def cancel(
        self, session_id: str, secret: str, subscription_id: str, feedback: str | None
    ) -> None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await cancel_from_portal(ctx, contents, subscription_id, feedback)

        await self._act(session_id, secret, run)

    async def update_card(
        self, session_id: str, secret: str, card: TypedCard, attempt: str
    ) -> None:
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

        await self._act(session_id, secret, run)

    async def switch_plan(self, session_id: str, secret: str, switch: PlanSwitch) -> None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await switch_plan(ctx, contents, switch)

        await self._act(session_id, secret, run)

    async def update_details(self, session_id: str, secret: str, fields: dict[str, str]) -> None:
        async def run(ctx: Context, contents: PortalContents) -> None:
            await update_details(ctx, contents, fields)

        await self._act(session_id, secret, run)

    async def _act(
        self,
        session_id: str,
        secret: str,
        action: Callable[[Context, PortalContents], Awaitable[T]],
    ) -> T:
        """`action` in one write unit, on the session its link opens (a domain error rolls
        the unit back whole: nothing is half done)."""
        async with self.store.write() as tx:
            found = await find_by_link(tx, BILLING_PORTAL_SESSIONS, session_id, secret)
            if found is None:
                raise ResourceMissing("billing_portal.session", session_id)
            session = copy.deepcopy(found[0])
            ctx = self.context(tx, found[1])
            if not link_open(ctx, session):
                raise ResourceMissing("billing_portal.session", session_id)
            return await action(ctx, await portal_contents(ctx, session))


def view_locale(contents: PortalContents, page_locale: str) -> str:
    """The session's `locale` when Babel knows it (not `auto`), else the page's."""
    parsed = parse_locale(contents.session.get("locale"))
    return page_locale if parsed is None else str(parsed)


def build_view(contents: PortalContents, locale: str) -> PortalView:
    configuration = contents.configuration
    features = configuration["features"]
    profile = configuration["business_profile"]
    cancel = features["subscription_cancel"]
    reason = cancel["cancellation_reason"]
    customer = contents.customer
    formats = _Formats(locale, contents.account)
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
            _subscription_row(shown, contents, formats) for shown in contents.subscriptions
        ),
        cancel_enabled=bool(cancel["enabled"]),
        cancel_when=CANCEL_WHEN.get(str(cancel["mode"]), ""),
        reasons=tuple((option, _label(option)) for option in reason["options"])
        if reason["enabled"]
        else (),
        invoice_history=bool(features["invoice_history"]["enabled"]),
        invoices=tuple(_invoice_row(invoice, formats) for invoice in contents.invoices),
        card_update=bool(features["payment_method_update"]["enabled"]),
        card=None if contents.default_card is None else _card_text(contents.default_card),
        details=_detail_fields(contents),
    )


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
    switching = bool(contents.configuration["features"]["subscription_update"]["enabled"])
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
