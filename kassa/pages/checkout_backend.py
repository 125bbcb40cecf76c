"""The hosted Checkout page's backend over the Checkout Session operations
(`kassa.services.checkout_completion`), which the composition root gives to `CheckoutPages`.

`load` finds the session by its link's secret (compared in constant time) and, in a write
unit, completes it if its attempt succeeded meanwhile (a customer back from the 3-D Secure
page), then says what the page shows. `pay` runs one attempt with the form's card in one unit
of work with the session's row locked; a decline is caught inside the unit so that its writes
(the failed charge) commit, then raised. A form sent twice pays once: the lock orders the
two, the second finds the session complete (or the same intent to confirm), and the form's
`attempt` token keys an idempotency record (Stripe's table, under a key of this page's own)
answering the second as the first was answered. `visit_link` makes a session from a Payment
Link, found by its id alone (a link is public), on each visit to the link's `url`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Final

from kassa import money
from kassa.errors import InactiveObject, ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.page_backend import PageBackend
from kassa.services import (
    checkout_choices,
    checkout_completion,
    checkout_discounts,
    checkout_shipping,
    payment_links,
)
from kassa.services.checkout_choices import PageChoices
from kassa.services.checkout_completion import Step
from kassa.services.checkout_documents import private
from kassa.services.checkout_shipping import ShippingAddress
from kassa.services.listing import could_be_object_id
from kassa.services.page_links import find_by_link
from kassa.services.payment_link_documents import UNAVAILABLE_MESSAGE
from kassa.services.payment_methods import TypedCard
from kassa.services.resource import ApiObject
from kassa.store.tables import CHECKOUT_SESSIONS, PAYMENT_LINKS

ATTEMPT_KEY_PREFIX: Final = "kassa_checkout_page_"
"""Idempotency keys of the page's pay forms: a prefix no SDK generates (they send UUIDs)."""
STEP_CODEC: Final = pay_attempts.StepCodec(
    shown=lambda step: {"completed": step.completed, "challenge_url": step.challenge_url},
    read=lambda stored: Step(bool(stored["completed"]), stored.get("challenge_url")),
    declined_step=Step(completed=False),
)
"""How the page's answer to a pay form is kept: complete, or a challenge to answer."""
SESSION_ID_PLACEHOLDER: Final = "{CHECKOUT_SESSION_ID}"
"""Stripe replaces it in `success_url` with the session's id on redirect."""


@dataclass(frozen=True)
class CheckoutLine:
    """One line as shown: a metered one has no quantity and no amount (None), its usage
    billed at the end of each period."""

    description: str
    quantity: int | None
    amount: str | None
    adjustable: tuple[int, int] | None = None
    """The quantities the customer may choose, least and most, for an adjustable line."""
    custom: tuple[str, str, str] | None = None
    """For a line whose amount the customer chooses: the least and the most it takes, as
    written (`$5.00`), and the current amount in major units (`25.00`), as the amount field
    takes it."""


@dataclass(frozen=True)
class ShippingChoice:
    """One shipping option as shown: its rate's id (the radio button's value), its name and
    delivery estimate, its amount, and whether it is the one chosen."""

    rate: str
    name: str
    amount: str
    chosen: bool


@dataclass(frozen=True)
class CheckoutView:
    """What the page shows of a session."""

    session_id: str
    status: str
    mode: str
    lines: tuple[CheckoutLine, ...]
    subtotal: str | None
    discount: str | None
    tax: str | None
    """Tax added on top of the prices (exclusive rates); None when there is none."""
    included_tax: str | None
    """Tax inside the prices (inclusive rates), shown as included; None when none."""
    total: str | None
    needs_email: bool
    email: str | None
    success_url: str | None
    """None for a session made from a Payment Link that confirms on the page: the page then
    shows `confirmation` once the session is complete."""
    cancel_url: str | None
    recurring_note: str | None
    confirmation: str | None = None
    """The link's `after_completion[hosted_confirmation][custom_message]`, when it has one."""
    takes_promotion_code: bool = False
    """The session allows promotion codes and has no discount yet: the page asks for one."""
    promotion_code: str | None = None
    """The promotion code typed on the page and applied, shown with a Remove button; None
    without one, or for a discount named on create (the customer cannot remove it)."""
    shipping: str | None = None
    """The chosen shipping option's amount (`Free` for 0); None without shipping options."""
    shipping_choices: tuple[ShippingChoice, ...] = ()
    shipping_countries: tuple[str, ...] = ()
    """The countries a shipping address may be in; none when the page asks no address."""
    shipping_address: tuple[tuple[str, str], ...] = ()
    """The address given on an earlier attempt (field, value), to fill the form again."""

    @property
    def has_choices(self) -> bool:
        """Something on the page changes the total: an "Update total" button is shown."""
        return (
            self.takes_promotion_code
            or len(self.shipping_choices) > 1
            or any(line.adjustable or line.custom for line in self.lines)
        )

    def address_value(self, name: str) -> str:
        return dict(self.shipping_address).get(name, "")


@dataclass(frozen=True)
class LinkVisit:
    """What a visit to a Payment Link's `url` comes to: the page of the session it made, or
    the message of a link that no longer opens."""

    session_url: str | None
    unavailable: str | None = None


class CheckoutBackend(PageBackend):
    async def visit_link(self, link_id: str) -> LinkVisit | None:
        """A new Checkout Session from the Payment Link `link_id` (found by its id alone: a
        link is public), in one write unit; None for an unknown or deleted link. A link that
        no longer opens says so: inactive, its completed sessions at their limit, or naming
        a price or shipping rate archived since it was made (Checkout refuses the session:
        `InactiveObject`, and the unit writes nothing). Any other error is raised as it is:
        a link checked when it was made or changed opens unless one of those changed, so
        anything else is not the link's doing and must not pass for it."""
        if not could_be_object_id(link_id):
            return None
        try:
            async with self.store.write() as tx:
                account_id = await tx.find_object_owner(PAYMENT_LINKS, link_id)
                found = None
                if account_id is not None:
                    found = await tx.get_object(PAYMENT_LINKS, account_id, link_id, lock=False)
                if account_id is None or found is None or found[1]:
                    return None
                link = found[0]
                session = await payment_links.open_link(self.context(tx, account_id), link)
        except InactiveObject:
            return LinkVisit(session_url=None, unavailable=UNAVAILABLE_MESSAGE)
        if session is None:
            return LinkVisit(None, link["inactive_message"] or UNAVAILABLE_MESSAGE)
        return LinkVisit(session_url=str(session["url"]))

    async def load(self, session_id: str, secret: str) -> CheckoutView | None:
        async with self.store.write() as tx:
            found = await find_by_link(tx, CHECKOUT_SESSIONS, session_id, secret)
            if found is None:
                return None
            session, account_id = copy.deepcopy(found[0]), found[1]
            await checkout_completion.settle(self.context(tx, account_id), session)
        return _view(session)

    async def update_choices(self, session_id: str, secret: str, wanted: PageChoices) -> None:
        """The quantities and amounts the page sent (or the promotion code it removes), and
        the session's amounts after them."""
        async with self.store.write() as tx:
            found = await find_by_link(tx, CHECKOUT_SESSIONS, session_id, secret)
            if found is None:
                raise ResourceMissing("checkout.session", session_id)
            session, account_id = copy.deepcopy(found[0]), found[1]
            if session["status"] == "open":
                ctx = self.context(tx, account_id)
                await checkout_choices.apply_choices(ctx, session, wanted)

    async def pay(
        self, session_id: str, secret: str, card: TypedCard, email: str | None, attempt: str,
        return_url: str, wanted: PageChoices, address: ShippingAddress,
    ) -> Step:  # fmt: skip
        """One attempt, at the quantities and amounts the form sent (applied first, in the
        same unit)."""
        async with self.store.write() as tx:
            found = await find_by_link(tx, CHECKOUT_SESSIONS, session_id, secret)
            if found is None:
                raise ResourceMissing("checkout.session", session_id)
            session, account_id = copy.deepcopy(found[0]), found[1]
            ctx = self.context(tx, account_id)

            async def run() -> Step:
                # The form's quantities and amounts first, in the same unit as the payment.
                if session["status"] == "open":
                    await checkout_choices.apply_choices(ctx, session, wanted)
                return await checkout_completion.pay(ctx, session, card, email, return_url, address)

            outcome = await pay_attempts.attempt_once(
                tx,
                self.clock,
                account_id,
                ATTEMPT_KEY_PREFIX,
                session_id,
                attempt,
                STEP_CODEC,
                run,
            )
        # Raised only now, after the commit: a decline's charge and attempt are kept.
        return outcome.result()


def success_redirect(view: CheckoutView) -> str | None:
    """Where a complete session sends the browser (`{CHECKOUT_SESSION_ID}` replaced); None
    when the page itself confirms (a Payment Link's `hosted_confirmation`)."""
    if view.success_url is None:
        return None
    return view.success_url.replace(SESSION_ID_PLACEHOLDER, view.session_id)


def _view(session: ApiObject) -> CheckoutView:
    currency = session["currency"]
    lines = tuple(_line(line, str(currency)) for line in private(session)["line_items"])
    details = session["total_details"] or {}
    discount = details.get("amount_discount") or 0
    included = int(private(session).get("inclusive_tax") or 0)
    added = int(details.get("amount_tax") or 0) - included
    return CheckoutView(
        session_id=str(session["id"]),
        status=str(session["status"]),
        mode=str(session["mode"]),
        lines=lines,
        subtotal=_amount(session["amount_subtotal"], currency),
        discount=_amount(discount, currency) if discount else None,
        tax=_amount(added, currency) if added else None,
        included_tax=_amount(included, currency) if included else None,
        total=_amount(session["amount_total"], currency),
        needs_email=session["customer"] is None and session["customer_email"] is None,
        email=session["customer_email"],
        success_url=session["success_url"],
        confirmation=private(session).get("confirmation"),
        cancel_url=session["cancel_url"],
        recurring_note=_recurring_note(session),
        takes_promotion_code=bool(session["allow_promotion_codes"]) and not session["discounts"],
        promotion_code=checkout_discounts.page_code(session),
        shipping=_shipping_amount(session),
        shipping_choices=_shipping_choices(session),
        shipping_countries=tuple(
            (session["shipping_address_collection"] or {}).get("allowed_countries") or ()
        ),
        shipping_address=_given_address(session),
    )


def _shipping_amount(session: ApiObject) -> str | None:
    if session["shipping_cost"] is None:
        return None
    return checkout_shipping.amount_text(
        checkout_shipping.shipping_amount(session), str(session["currency"])
    )


def _shipping_choices(session: ApiObject) -> tuple[ShippingChoice, ...]:
    chosen = (session["shipping_cost"] or {}).get("shipping_rate")
    names = private(session).get("shipping_option_names") or []
    return tuple(
        ShippingChoice(
            rate=str(option["shipping_rate"]),
            name=str(name),
            amount=checkout_shipping.amount_text(
                int(option["shipping_amount"]), str(session["currency"])
            ),
            chosen=option["shipping_rate"] == chosen,
        )
        for option, name in zip(session["shipping_options"], names, strict=True)
    )


def _given_address(session: ApiObject) -> tuple[tuple[str, str], ...]:
    details = private(session).get("shipping_details")
    if details is None:
        return ()
    given = {"name": details["name"], **details["address"]}
    return tuple((name, str(value)) for name, value in given.items() if value)


def _line(line: ApiObject, currency: str) -> CheckoutLine:
    description = str(line["description"] or line["price"]["id"])
    if line["quantity"] is None:  # metered: billed by usage, nothing charged now
        return CheckoutLine(description=description, quantity=None, amount=None)
    bounds = line.get("adjustable_quantity")
    adjustable = None
    if bounds is not None:
        floor = max(int(bounds["minimum"]), checkout_choices.PAGE_QUANTITY_FLOOR)
        adjustable = (floor, int(bounds["maximum"]))
    custom = None
    if checkout_choices.is_custom_amount_line(line):
        least, most = checkout_choices.custom_amount_bounds(line["price"])
        custom = (
            money.format_amount(least, currency),
            money.format_amount(most, currency),
            money.major_units(int(line["amount_subtotal"]), currency),
        )
    return CheckoutLine(
        description=description,
        quantity=int(line["quantity"]),
        amount=money.format_amount(int(line["amount_subtotal"]), currency),
        adjustable=adjustable,
        custom=custom,
    )


def _amount(amount: int | None, currency: str | None) -> str | None:
    if amount is None or currency is None:
        return None
    return money.format_amount(int(amount), currency)


def _recurring_note(session: ApiObject) -> str | None:
    if session["mode"] != "subscription":
        return None
    # The first recurring line's interval: a one-time price may come first.
    recurring = next(
        line["price"]["recurring"]
        for line in private(session)["line_items"]
        if line["price"]["recurring"] is not None
    )
    trial = private(session)["terms"]["subscription_data"].get("trial_period_days")
    every = f"Billed every {recurring['interval']}"
    return f"{every}, after a {trial}-day free trial" if trial else every
