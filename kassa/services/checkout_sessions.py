"""Checkout Sessions, hosted mode (`/v1/checkout/sessions`): create, retrieve, list, update
(metadata), expire, and the line items (`GET .../line_items`, `expand[]=line_items`).

A session is created `open` with a `url` on Kassa's hosted page
(`kassa.pages.checkout_page`), which completes it (`checkout_completion`): payment mode
confirms a PaymentIntent, subscription mode creates a subscription and pays its first
invoice, setup mode sets up a card with a SetupIntent. An open session expires at its
`expires_at` (the `checkout_sessions` job: `checkout_completion.expire_due_sessions`) or
when expired through the API. Stripe's reference: docs.stripe.com/api/checkout/sessions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import (
    ExclusiveParameters,
    InactiveObject,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
)
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import apply_metadata
from kassa.services import checkout_completion, checkout_discounts, checkout_shipping, customers
from kassa.services.billing import prices, promotion_codes
from kassa.services.billing.invoice_amounts import DiscountTerms
from kassa.services.billing.invoice_item_pricing import (
    price_data_names,
    usable_tax_rates,
)
from kassa.services.billing.meter_usage import check_no_quantity, is_metered
from kassa.services.checkout_choices import (
    adjustable_terms,
    is_custom_amount_line,
    line_amount,
    set_amounts,
    stored_discount,
)
from kassa.services.checkout_documents import (
    SECRET_BYTES,
    amounts,
    blank_session,
    insert,
    page_url,
    private,
    public,
    save,
)
from kassa.services.checkout_session_params import (
    CREATE_PARAMS,
    HOSTED_UI_MODES,
    LIST_FILTERS,
    SUBSCRIPTION_LINE_ITEMS_MAX,
    UPDATE_PARAMS,
    CreateCheckoutSession,
    UpdateCheckoutSession,
)
from kassa.services.context import Context
from kassa.services.line_item_lists import HeldItems
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import CHECKOUT_SESSIONS, PRIVATE, PRODUCTS

EXPIRES_AFTER_MIN_SECONDS: Final = 30 * 60
EXPIRES_AFTER_MAX_SECONDS: Final = 24 * 3600
"""Stripe: `expires_at` "can be anywhere from 30 minutes to 24 hours after Checkout Session
creation. By default, this value is 24 hours from creation"."""
TRIAL_END_AHEAD_MIN_SECONDS: Final = 48 * 3600
"""Stripe: `subscription_data[trial_end]` "has to be at least 48 hours in the future"."""
EVENT_TYPES: Final = ("checkout.session.completed", "checkout.session.expired")


# --- create -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkOrigin:
    """The Payment Link a session is made from (`payment_links.open_link`): the session names
    it in `payment_link`; with no `success_url` (the link's `hosted_confirmation`), the page
    shows `confirmation` once the session is complete. `inline_prices`: the link's own
    prices, made from its `price_data` (inactive, as inline prices are), which its sessions
    name by id."""

    payment_link: str
    confirmation: str | None
    inline_prices: frozenset[str] = frozenset()


async def create_session(ctx: Context, request: CreateCheckoutSession) -> ApiObject:
    return await _create(ctx, request, None)


async def create_link_session(
    ctx: Context, request: CreateCheckoutSession, origin: LinkOrigin
) -> ApiObject:
    """A session made from a Payment Link, as create makes one from `request`; no
    `checkout.session` event is announced for it (Stripe announces none on creation)."""
    return await _create(ctx, request, origin)


async def link_line_items(
    ctx: Context, request: CreateCheckoutSession, inline_prices: frozenset[str] = frozenset()
) -> list[ApiObject]:
    """The line items (with their amounts) a session made from `request` would show,
    checked as create checks them: a Payment Link's, checked when it is created or changed.
    A `price_data` entry makes its inline price here (the link's own from then on, which
    it names by id in `inline_prices`); nothing else is written."""
    _check_mode_params(request)
    lines, _rates = await _line_items(ctx, request, inline_prices)
    currency = _currency(request, lines)
    checkout_shipping.address_collection(request.shipping_address_collection, request.mode)
    # A link names its rates by id: checking them makes nothing.
    await checkout_shipping.shipping_options(ctx, request.shipping_options, request.mode, currency)
    return amounts(lines, None).items


async def _create(
    ctx: Context, request: CreateCheckoutSession, origin: LinkOrigin | None
) -> ApiObject:
    _check_request(request, needs_success_url=origin is None)
    now = ctx.now()
    expires_at = _expires_at(request, now)
    customer = await _customer(ctx, request)
    inline_prices = frozenset() if origin is None else origin.inline_prices
    lines, line_rates = await _line_items(ctx, request, inline_prices)
    currency = _currency(request, lines)
    discount, shown_discounts = await _discount(ctx, request, currency, customer)
    collection = checkout_shipping.address_collection(
        request.shipping_address_collection, request.mode
    )
    options, option_names = await checkout_shipping.shipping_options(
        ctx, request.shipping_options, request.mode, currency
    )
    session = blank_session(ctx, new_id("cs"), request.mode)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    session.update(
        {
            # The same second as `expires_at` is counted from (a second read could be the
            # next second: a default expiry a second short of 24 hours).
            "created": now,
            "allow_promotion_codes": request.allow_promotion_codes,
            "cancel_url": request.cancel_url,
            "success_url": request.success_url,
            "client_reference_id": request.client_reference_id,
            "customer": None if customer is None else customer["id"],
            "customer_email": request.customer_email,
            "customer_creation": _customer_creation(request),
            "currency": currency,
            "discounts": shown_discounts,
            "expires_at": expires_at,
            "locale": request.locale,
            "metadata": apply_metadata({}, request.metadata or {}),
            "payment_status": "no_payment_required" if request.mode == "setup" else "unpaid",
            "url": page_url(ctx, session["id"], secret),
            "payment_link": None if origin is None else origin.payment_link,
            "shipping_address_collection": collection,
            "shipping_options": options,
            # The first option is chosen to begin with, as on Stripe's page.
            "shipping_cost": checkout_shipping.shipping_cost(options[0] if options else None),
        }
    )
    session[PRIVATE] = {
        "confirmation": None if origin is None else origin.confirmation,
        "secret": secret,
        "expires_due": expires_at,
        "line_items": lines,
        "line_tax_rates": line_rates,
        "discount_terms": stored_discount(discount),
        "terms": _terms(request),
        "attempt": {},
        "shipping_details": None,
        "shipping_option_names": option_names,
    }
    set_amounts(session, lines, discount)
    await insert(ctx, session)
    return public(session)


def _check_request(request: CreateCheckoutSession, *, needs_success_url: bool) -> None:
    if request.ui_mode is not None and request.ui_mode not in HOSTED_UI_MODES:
        raise InvalidParameter(
            f"Kassa does not support ui_mode={request.ui_mode}: it serves the hosted Checkout "
            "page only (ui_mode=hosted_page).",
            param="ui_mode",
        )
    if request.success_url is None and needs_success_url:
        raise MissingParameter("success_url")
    if request.customer is not None and request.customer_email is not None:
        raise ExclusiveParameters(("customer", "customer_email"), param="customer_email")
    if request.discounts and request.allow_promotion_codes:
        raise ExclusiveParameters(("allow_promotion_codes", "discounts"), param="discounts")
    _check_mode_params(request)


def _check_mode_params(request: CreateCheckoutSession) -> None:
    """Each mode's own parameters, refused in the others (Stripe: "can only be used in ...
    mode")."""
    only_in = {
        "subscription_data": ("subscription", request.subscription_data),
        "payment_intent_data": ("payment", request.payment_intent_data),
        "setup_intent_data": ("setup", request.setup_intent_data),
    }
    for name, (mode, value) in only_in.items():
        if value is not None and request.mode != mode:
            raise InvalidParameter(f"You can only pass {name} in {mode} mode.", param=name)
    if request.customer_creation is not None and request.mode == "subscription":
        raise InvalidParameter(
            "customer_creation can only be used in payment and setup mode: subscription mode "
            "always creates a customer.",
            param="customer_creation",
        )
    if request.mode == "setup":
        if request.line_items:
            raise InvalidParameter("You cannot pass line_items in setup mode.", param="line_items")
        if request.discounts or request.allow_promotion_codes:
            raise InvalidParameter("setup mode takes no discounts.", param="discounts")
    elif not request.line_items:
        raise MissingParameter("line_items")
    elif request.currency is not None:
        raise InvalidParameter(
            "currency is taken from the line items' prices outside setup mode.",
            param="currency",
        )
    data = request.subscription_data or {}
    if data.get("trial_end") is not None and data.get("trial_period_days") is not None:
        raise ExclusiveParameters(
            ("subscription_data[trial_end]", "subscription_data[trial_period_days]"),
            param="subscription_data[trial_end]",
        )


def _expires_at(request: CreateCheckoutSession, now: int) -> int:
    if request.expires_at is None:
        return now + EXPIRES_AFTER_MAX_SECONDS
    ahead = request.expires_at - now
    if not EXPIRES_AFTER_MIN_SECONDS <= ahead <= EXPIRES_AFTER_MAX_SECONDS:
        raise InvalidParameter(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from the "
            "Checkout Session's creation.",
            param="expires_at",
        )
    return request.expires_at


def _customer_creation(request: CreateCheckoutSession) -> str | None:
    if request.mode == "subscription" or request.customer is not None:
        return None
    return request.customer_creation or "if_required"


async def _customer(ctx: Context, request: CreateCheckoutSession) -> ApiObject | None:
    if request.customer is None:
        return None
    return await load_live_object(ctx, customers.RESOURCE, request.customer, param="customer")


async def _line_items(
    ctx: Context, request: CreateCheckoutSession, inline_prices: frozenset[str]
) -> tuple[list[ApiObject], list[list[ApiObject]]]:
    """The line items, and beside them each one's tax rates (the line item shows its taxes
    only when expanded, so the rates are kept apart: `line_tax_rates`); `inline_prices`
    (a Payment Link's own) may be named by id though inactive."""
    entries = request.line_items or []
    if request.mode == "subscription" and len(entries) > SUBSCRIPTION_LINE_ITEMS_MAX:
        raise InvalidParameter(
            f"Subscription mode takes at most {SUBSCRIPTION_LINE_ITEMS_MAX} line items.",
            param="line_items",
        )
    lines = []
    line_rates = []
    for index, entry in enumerate(entries):
        path = f"line_items[{index}]"
        price = await _price(ctx, entry, path, inline_prices)
        _check_price(request.mode, price, path)
        quantity = _quantity(price, entry, path)
        line = await _line_item(ctx, price, quantity, entry.get("metadata"), path)
        line["adjustable_quantity"] = adjustable_terms(entry, quantity, path)
        if is_custom_amount_line(line):
            _check_custom_amount_line(line, len(entries), path)
        lines.append(line)
        rates = list(entry.get("tax_rates") or [])
        line_rates.append(await usable_tax_rates(ctx, rates, param=f"{path}[tax_rates]"))
    if request.mode == "subscription" and all(line["price"]["recurring"] is None for line in lines):
        raise InvalidParameter(
            "You must specify at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    return lines, line_rates


def _check_custom_amount_line(line: ApiObject, lines: int, path: str) -> None:
    """A line whose amount the customer chooses is the session's only line, one of it, its
    quantity fixed: the page asks for one amount (Kassa's narrowing: a session Stripe would
    refuse must not pass here, so Kassa takes only the plain case)."""
    if lines > 1:
        raise InvalidParameter(
            "A line item whose price has a custom unit amount must be the session's only line "
            "item.",
            param="line_items",
        )
    if line["quantity"] != 1:
        raise InvalidParameter(
            "A line item whose price has a custom unit amount has a quantity of 1.",
            param=f"{path}[quantity]",
        )
    if line["adjustable_quantity"] is not None:
        raise InvalidParameter(
            "A line item whose price has a custom unit amount cannot have an adjustable quantity.",
            param=f"{path}[adjustable_quantity][enabled]",
        )


async def _price(
    ctx: Context, entry: dict[str, Any], path: str, inline_prices: frozenset[str]
) -> ApiObject:
    if entry.get("price") is not None and entry.get("price_data") is not None:
        raise ExclusiveParameters((f"{path}[price]", f"{path}[price_data]"), param=f"{path}[price]")
    if entry.get("price") is not None:
        price = await prices.load_price(ctx, str(entry["price"]), param=f"{path}[price]")
        if not price["active"] and price["id"] not in inline_prices:
            raise InactiveObject(
                f"The price {price['id']} is not active and cannot be used.",
                param=f"{path}[price]",
            )
        ensure(price["active"] or prices.is_inline(price), "a link's own price is an inline one")
        return price
    data = entry.get("price_data")
    if data is None:
        raise MissingParameter(f"{path}[price]")
    if data.get("product") is None and data.get("product_data") is None:
        raise MissingParameter(f"{path}[price_data][product]")
    names = price_data_names(f"{path}[price_data]")
    created = await prices.create_price(
        ctx,
        prices.CreatePrice(
            currency=data["currency"],
            product=data.get("product"),
            product_data=data.get("product_data"),
            recurring=data.get("recurring"),
            unit_amount=data.get("unit_amount"),
            active=False,
        ),
        names=names,
        inline=True,
    )
    return await prices.load_price(ctx, created["id"], param=f"{path}[price_data]")


def _check_price(mode: str, price: ApiObject, path: str) -> None:
    if prices.has_custom_unit_amount(price) and mode != "payment":
        raise InvalidParameter(
            f"The price {price['id']} has a custom unit amount, which the customer chooses "
            "in payment mode only.",
            param=f"{path}[price]",
        )
    # A metered price is recurring: payment mode refuses it with the others.
    if mode == "payment" and price.get("recurring") is not None:
        raise InvalidParameter(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param=f"{path}[price]",
        )


def _quantity(price: ApiObject, entry: dict[str, Any], path: str) -> int | None:
    """The line's quantity; None for a metered price, whose quantity is the usage its
    subscription's renewals bill (Stripe: "Quantity should not be defined when
    recurring.usage_type=metered")."""
    check_no_quantity(price, entry, path)
    if is_metered(price):
        return None
    quantity = int(entry.get("quantity") or 0)
    if quantity == 0:
        raise MissingParameter(f"{path}[quantity]")
    return quantity


async def _line_item(
    ctx: Context,
    price: ApiObject,
    quantity: int | None,
    metadata: dict[str, str] | None,
    path: str,
) -> ApiObject:
    amount = line_amount(price, quantity, f"{path}[quantity]")
    product = await ctx.tx.get_object(PRODUCTS, ctx.account_id, str(price["product"]), lock=False)
    name = None if product is None else product[0].get("name")
    return {
        "id": new_id("li"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": name,
        "metadata": dict(metadata or {}),
        "price": prices.price_view(price),
        "quantity": quantity,
    }


def _currency(request: CreateCheckoutSession, lines: list[ApiObject]) -> str | None:
    if request.mode == "setup":
        return request.currency
    currencies = {str(line["currency"]) for line in lines}
    if len(currencies) > 1:
        raise InvalidParameter(
            "All line items' prices must share one currency.", param="line_items"
        )
    return currencies.pop()


async def _discount(
    ctx: Context, request: CreateCheckoutSession, currency: str | None, customer: ApiObject | None
) -> tuple[DiscountTerms | None, list[ApiObject]]:
    """The one discount `discounts` names (a coupon or a promotion code), as the invoices'
    arithmetic takes it, and as the session shows it."""
    if not request.discounts:
        return None, []
    (entry,) = request.discounts
    if entry.get("promotion_code") is not None:
        param = "discounts[0][promotion_code]"
        code = await promotion_codes.load_promotion_code(
            ctx, str(entry["promotion_code"]), param=param, lock=False
        )
        customer_id = None if customer is None else str(customer["id"])
        return await checkout_discounts.promotion_code_discount(
            ctx, code, customer_id, str(currency), param
        )
    if entry.get("coupon") is None:
        raise MissingParameter("discounts[0][coupon]")
    return await checkout_discounts.coupon_discount(
        ctx, str(entry["coupon"]), str(currency), "discounts[0][coupon]"
    )


def _terms(request: CreateCheckoutSession) -> dict[str, Any]:
    """What the completion applies to the objects it makes."""
    return {
        "subscription_data": request.subscription_data or {},
        "payment_intent_data": request.payment_intent_data or {},
        "setup_intent_data": request.setup_intent_data or {},
    }


# --- read, update, expire ---------------------------------------------------------------------


async def _load(ctx: Context, session_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, session_id)


async def retrieve_session(ctx: Context, session_id: str) -> ApiObject:
    return public(await _load(ctx, session_id))


async def update_session(ctx: Context, request: UpdateCheckoutSession) -> ApiObject:
    session = await _load(ctx, request.session)
    if request.metadata is not None:
        session["metadata"] = apply_metadata(session["metadata"], request.metadata)
        await save(ctx, session)
    return public(session)


async def expire_session(ctx: Context, session_id: str) -> ApiObject:
    """Stripe: "A Checkout Session can only be expired when it's in the open state"; a
    payment finished on the 3-D Secure page the customer has not come back from completes
    it first (it is then not open)."""
    session = await _load(ctx, session_id)
    await checkout_completion.settle(ctx, session)
    if session["status"] != "open":
        raise InvalidRequest(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f"Session has a status of {session['status']}."
        )
    await checkout_completion.expire(ctx, session)
    return public(session)


def _stored_line_items(session: ApiObject) -> list[ApiObject]:
    items: list[ApiObject] = private(session)["line_items"]
    return items


LINE_ITEMS: Final = HeldItems(lambda: RESOURCE, _stored_line_items)


RESOURCE: Resource = Resource(
    object_name="checkout.session",
    id_prefix="cs",
    collection="checkout/sessions",
    table=CHECKOUT_SESSIONS,
    create=Operation(
        request_parser(CreateCheckoutSession, CREATE_PARAMS, required=("mode",)),
        create_session,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_session, writes=False),
    update=Operation(
        request_parser(UpdateCheckoutSession, UPDATE_PARAMS, ids=("session",)),
        update_session,
        writes=True,
    ),
    list_filters=LIST_FILTERS,
    list_view=public,
    actions={"expire": Operation(no_params, expire_session, writes=True)},
    sublists={LINE_ITEMS.name: LINE_ITEMS.sublist()},
    expandable={
        "customer": "customer",
        "invoice": "invoice",
        "payment_intent": "payment_intent",
        "payment_link": "payment_link",
        "setup_intent": "setup_intent",
        "shipping_cost.shipping_rate": "shipping_rate",
        "shipping_options.shipping_rate": "shipping_rate",
        "subscription": "subscription",
    },
    includable={"line_items": LINE_ITEMS.include},
    event_types=EVENT_TYPES,
)
