"""`POST /v1/invoices/create_preview`: the invoice the customer would get if one were
created now, with its pending items and `invoice_items` (new ones, or changes to pending
ones), discounts and the customer's balance. Nothing is stored or announced: its id starts
`upcoming_in`, its lines' `il_tmp_`, as Stripe's. The customer's billing credits that
finalization would apply show as it would show them (`credit_application`), none spent.
With nothing to invoice, Stripe's 404 `invoice_upcoming_none` (`errors.NoUpcomingInvoice`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kassa import money
from kassa.errors import (
    ExclusiveParameters,
    InvalidParameter,
    NoUpcomingInvoice,
    ResourceMissing,
)
from kassa.ids import random_base62
from kassa.params import (
    CONNECT_ONLY,
    Boolean,
    Enum,
    Integer,
    ListOf,
    Metadata,
    NotSupported,
    Param,
    String,
    Struct,
    Timestamp,
    Unset,
)
from kassa.services import hooks
from kassa.services.billing import (
    credit_application,
    customer_balance,
    discounts,
    invoice_documents,
    invoice_items,
    invoice_lines,
    subscription_discounts,
)
from kassa.services.billing.invoice_amounts import LINES_MAX
from kassa.services.billing.invoice_changes import (
    billed_customer,
    check_no_tax_engine,
    default_currency,
)
from kassa.services.billing.invoice_documents import shown, view
from kassa.services.billing.invoice_item_params import (
    CREATE_PARAMS,
    DESCRIPTION_CHARS_MAX,
    PRICE_DATA,
    Priced,
)
from kassa.services.billing.invoice_item_pricing import (
    active_price,
    apply_priced,
    blank_item,
    check_period,
    from_amount,
    from_price,
    per_unit,
    preview_inline_price,
    usable_tax_rates,
)
from kassa.services.billing.invoice_params import (
    AUTOMATIC_TAX,
    ISSUER,
    PREVIEW_ID_PREFIX,
    TAX_RATE_IDS,
    Fields,
)
from kassa.services.billing.subscription_params import PREVIEW_DETAILS
from kassa.services.context import Context
from kassa.services.resource import (
    ApiObject,
)

_PREVIEW_ITEM = Struct(
    {
        "amount": Integer(minimum=-money.MAX_AMOUNT, maximum=money.MAX_AMOUNT),
        "currency": money.Currency(),
        "description": String(max_chars=DESCRIPTION_CHARS_MAX),
        "discountable": Boolean(),
        "discounts": discounts.DISCOUNTS_PARAM,
        "invoiceitem": String(max_chars=255),
        "metadata": Metadata(),
        "period": Struct({"end": Timestamp(), "start": Timestamp()}, required=("end", "start")),
        "price": String(max_chars=255),
        "price_data": PRICE_DATA,
        "quantity": Integer(minimum=0),
        "tax_behavior": Enum(values=("exclusive", "inclusive", "unspecified")),
        "tax_code": String(max_chars=255, nullable=True),
        "tax_rates": TAX_RATE_IDS,
        "unit_amount": Integer(minimum=0, maximum=money.MAX_AMOUNT),
        "unit_amount_decimal": CREATE_PARAMS["unit_amount_decimal"],
    }
)
RECURRING = "recurring"
"""`preview_mode=recurring`: the recurring charges only (`next`, the default: everything)."""
PREVIEW_PARAMS: dict[str, Param] = {
    "automatic_tax": AUTOMATIC_TAX,
    "currency": money.Currency(),
    "customer": String(max_chars=255),
    "discounts": discounts.DISCOUNTS_PARAM,
    "invoice_items": ListOf(_PREVIEW_ITEM, max_items=LINES_MAX),
    "issuer": ISSUER,
    "preview_mode": Enum(values=("next", RECURRING)),
    **{
        name: NotSupported(reason=reason)
        for name, reason in (
            ("customer_account", "Kassa bills customers, not accounts."),
            ("customer_details", "preview an existing customer's invoice."),
            ("on_behalf_of", CONNECT_ONLY),
            ("schedule", "subscription schedules arrive with a later issue."),
            ("schedule_details", "subscription schedules arrive with a later issue."),
        )
    },
    "subscription": String(max_chars=255),
    "subscription_details": PREVIEW_DETAILS,
}


@dataclass(frozen=True, kw_only=True)
class PreviewInvoice:
    customer: str | None = None
    currency: str | None = None
    discounts: list[Fields] | Unset | None = None
    invoice_items: list[Fields] | None = None
    automatic_tax: Fields | None = None
    issuer: Fields | None = None
    preview_mode: str | None = None
    customer_account: Any = None
    customer_details: Any = None
    on_behalf_of: Any = None
    schedule: Any = None
    schedule_details: Any = None
    subscription: str | None = None
    subscription_details: Fields | None = None


# --- the preview --------------------------------------------------------------------------------


async def create_preview(ctx: Context, request: PreviewInvoice) -> ApiObject:
    """The invoice the customer would get if one were created now, with its pending items
    and `invoice_items` (new ones, or changes to pending ones), discounts and the customer's
    balance: not stored, never announced (its id starts `upcoming_in`). With `subscription`,
    that subscription's next invoice (`hooks.subscription_upcoming`), with the change
    `subscription_details` describes."""
    check_no_tax_engine(request.automatic_tax)
    upcoming = await _subscription_upcoming(ctx, request)
    customer_id = request.customer if upcoming is None else upcoming.subscription["customer"]
    customer = await billed_customer(ctx, customer_id)
    invoice = await _preview_invoice(ctx, request, customer, upcoming)
    for line in invoice["lines"]["data"]:
        line["invoice"] = invoice["id"]
    return view(invoice)


async def subscription_preview(
    ctx: Context, upcoming: hooks.Upcoming, customer: Mapping[str, Any]
) -> ApiObject:
    """What `create_preview` with `subscription` alone answers for `upcoming` (that
    subscription's next invoice, its `customer` loaded by the caller), as shown but not
    copied (`invoice_documents.shown`: nothing else holds the document), for the caller to
    change: `invoice.upcoming` leaves out its id."""
    request = PreviewInvoice(subscription=str(upcoming.subscription["id"]))
    return shown(await _preview_invoice(ctx, request, customer, upcoming))


async def _preview_invoice(
    ctx: Context,
    request: PreviewInvoice,
    customer: Mapping[str, Any],
    upcoming: hooks.Upcoming | None,
) -> ApiObject:
    """The preview's document (private facts and all) for the billed `customer` and the
    subscription's `upcoming` invoice, if any."""
    ctx = await ctx.governed_by(customer)
    currency = (
        upcoming.subscription["currency"]
        if upcoming is not None
        else request.currency or await default_currency(ctx, customer)
    )
    invoice = invoice_documents.blank_invoice(ctx, customer, currency, "charge_automatically")
    await invoice_documents.copy_account_name(ctx, invoice)
    await invoice_documents.copy_customer_tax_ids(ctx, invoice)
    invoice["id"] = f"{PREVIEW_ID_PREFIX}_{random_base62(24)}"
    invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
    invoice["billing_reason"] = "upcoming"
    if upcoming is None:
        pending = await _customer_pending(ctx, customer["id"], currency, request.preview_mode)
    else:
        pending = upcoming.items
        _bill_as_subscription(invoice, upcoming, new=request.subscription is None)
    # Not stored, the preview has no discounts of its own: those reused are on its
    # subscription or customer (its items' may be on them too).
    lineage = discounts.Lineage.of(customer["id"], discounts.parent_subscription(invoice))
    invoice["discounts"] = await _invoice_discounts(ctx, invoice, request, lineage)
    items = await preview_items(
        ctx, lineage, customer, pending, request.invoice_items or [], currency
    )
    if upcoming is None and not items:
        # A subscription's previews say themselves when none is upcoming: a cancellation
        # now makes an invoice even with nothing on it.
        raise NoUpcomingInvoice("customer", str(customer["id"]))
    # The billing credits finalization would apply, worked out as it does, nothing written
    # (`credit_application`: Stripe's preview shows them; they may change if another
    # invoice finalizes first).
    spendable = await credit_application.spendable_for(ctx, invoice, items, preview=True)
    amounts = await invoice_lines.amounts_for(ctx, invoice, items, spendable)
    await _check_codes_on_purchase(ctx, invoice, items, upcoming)
    invoice["starting_balance"] = await customer_balance.current_balance(
        ctx, customer["id"], currency
    )
    applied = credit_application.previewed(amounts) if spendable is not None else None
    invoice_lines.write_amounts(ctx, invoice, items, amounts, applied=applied)
    return invoice


async def _customer_pending(
    ctx: Context, customer_id: str, currency: str, preview_mode: str | None
) -> list[ApiObject]:
    """The customer's pending items in the preview's currency; none with
    `preview_mode=recurring`, which shows only recurring charges (a customer's pending
    items are one-off charges or prorations, none of them recurring). With none, and no
    `invoice_items`, nothing is upcoming (`NoUpcomingInvoice`)."""
    if preview_mode == RECURRING:
        return []
    return await invoice_items.pending_items(ctx, customer_id, currency)


async def _invoice_discounts(
    ctx: Context, invoice: Mapping[str, Any], request: PreviewInvoice, lineage: discounts.Lineage
) -> list[str]:
    """The preview's own discounts: those `discounts` names in place of the subscription's;
    none when it is sent empty; else the subscription's (Stripe's `discounts` reference: "If
    not specified, inherits the discount from the subscription or customer. ... Pass an
    empty string to avoid inheriting any discounts.")."""
    if isinstance(request.discounts, Unset):
        return []
    if isinstance(request.discounts, list):
        return await discounts.preview(
            ctx, request.discounts, lineage=lineage, currency=str(invoice["currency"])
        )
    return list(invoice["discounts"])


async def _check_codes_on_purchase(
    ctx: Context,
    invoice: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    upcoming: hooks.Upcoming | None,
) -> None:
    """Refuse the promotion codes the preview applies that the real call would refuse on the
    purchase (first-time customer, minimum amount), with the same error: `discounts` of a
    subscription's preview as updating the subscription would (against one period of its
    items), the others as finalizing the invoice would (against its lines before any
    discount, `discounts._purchase_amount`)."""
    customer, currency = str(invoice["customer"]), str(invoice["currency"])
    if upcoming is not None:
        await subscription_discounts.check_previewed_purchase(
            ctx, upcoming.subscription, invoice["discounts"]
        )
    before_discounts = sum(int(item["amount"]) for item in items)
    for discount_ids in [invoice["discounts"], *(item["discounts"] for item in items)]:
        await discounts.check_previewed_purchase(
            ctx, discount_ids, customer=customer, amount=before_discounts, currency=currency
        )


async def _subscription_upcoming(ctx: Context, request: PreviewInvoice) -> hooks.Upcoming | None:
    """The subscription's invoice the request previews, if it names one: `subscription`'s
    next, or with `customer` and `subscription_details[items]` alone, the first of a new
    subscription with those items (Stripe's `subscription` reference: "If not provided, but
    a subscription_details.items is provided, you will preview creating a subscription with
    those items.")."""
    details = request.subscription_details
    if request.subscription is None:
        if details is None:
            return None
        if not details.get("items") or request.customer is None:
            missing = "customer" if details.get("items") else "subscription"
            raise InvalidParameter(
                "Pass subscription to preview a change to it, or customer with "
                "subscription_details[items] to preview a new subscription's first invoice.",
                param=missing,
            )
    query = hooks.UpcomingQuery(
        subscription=request.subscription,
        customer=request.customer,
        details=details or {},
        recurring=request.preview_mode == RECURRING,
    )
    upcoming = await hooks.subscription_upcoming(ctx, query)
    if request.customer is not None and request.customer != upcoming.subscription["customer"]:
        raise InvalidParameter(
            f"The subscription {request.subscription} belongs to another customer than "
            f"{request.customer}.",
            param="customer",
        )
    if request.currency is not None and request.currency != upcoming.subscription["currency"]:
        raise InvalidParameter(
            f"The subscription {request.subscription or 'previewed'} bills in "
            f"{upcoming.subscription['currency']}, not {request.currency}.",
            param="currency",
        )
    return upcoming


def _bill_as_subscription(invoice: ApiObject, upcoming: hooks.Upcoming, *, new: bool) -> None:
    """The invoice as the subscription would make it; a `new` one's names no subscription,
    none being stored (its id would name nothing that can be retrieved or expanded)."""
    subscription = upcoming.subscription
    invoice["collection_method"] = subscription["collection_method"]
    invoice["period_start"], invoice["period_end"] = upcoming.period
    invoice["discounts"] = list(subscription["discounts"])
    invoice["default_tax_rates"] = list(subscription["default_tax_rates"])
    invoice["parent"] = invoice_documents.subscription_parent(subscription)
    if new:
        invoice["parent"]["subscription_details"]["subscription"] = None
    # Stripe's Invoice reference: "Only set for upcoming invoices that preview prorations.
    # The time used to calculate prorations." Left out otherwise, as on real invoices.
    if upcoming.prorated_at is not None:
        details = invoice["parent"]["subscription_details"]
        details["subscription_proration_date"] = upcoming.prorated_at
    # When Stripe would first attempt to charge it (`next_payment_attempt`): a renewal an
    # hour after it is made, as its real draft says; null for `send_invoice`.
    invoice["next_payment_attempt"] = upcoming.attempt_at


# --- the preview's items ----------------------------------------------------------------------


def _preview_priced(
    spec: Fields, currency: str, price: Mapping[str, Any] | None, path: str
) -> Priced | None:
    """A preview item's new amount (`amount`, `unit_amount`, `unit_amount_decimal` or a
    `price` or `price_data`, with `quantity`); None when the spec leaves the amount as it is."""
    sources = [
        name
        for name in ("amount", "price", "price_data", "unit_amount", "unit_amount_decimal")
        if name in spec
    ]
    if len(sources) > 1:
        named = [f"{path}[{source}]" for source in sources]
        raise ExclusiveParameters(named, param=named[1])
    quantity = int(spec.get("quantity", 1))
    if price is not None:
        return from_price(price, quantity)
    if "amount" in spec:
        return from_amount(int(spec["amount"]), spec.get("quantity"), currency)
    if "unit_amount" in spec or "unit_amount_decimal" in spec:
        unit = Decimal(spec.get("unit_amount", spec.get("unit_amount_decimal", 0)))
        return per_unit(unit, quantity, currency)
    return None


def _amount_param(spec: Fields, path: str) -> str:
    """What a preview item's amount is too large by: its quantity if sent, else its price."""
    sent = [
        name
        for name in ("quantity", "price", "price_data", "unit_amount", "unit_amount_decimal")
        if name in spec
    ]
    return f"{path}[{sent[0] if sent else 'quantity'}]"


async def _preview_price(ctx: Context, spec: Fields, path: str) -> ApiObject | None:
    """The price a preview item names (`price`) or describes (`price_data`, not stored)."""
    if "price" in spec:
        return await active_price(ctx, str(spec["price"]), f"{path}[price]")
    if "price_data" in spec:
        return await preview_inline_price(ctx, spec["price_data"], path)
    return None


async def _preview_item(
    ctx: Context,
    invoice_lineage: discounts.Lineage,
    customer: Mapping[str, Any],
    spec: Fields,
    base: ApiObject | None,
    path: str,
) -> ApiObject:
    currency = str(spec.get("currency") or (base or {}).get("currency") or "")
    price = await _preview_price(ctx, spec, path)
    priced = _preview_priced(spec, currency, price, path)
    if base is None and priced is None:
        raise InvalidParameter(
            f"Missing required param: {path}[amount]. A new item takes amount, price, "
            "unit_amount or unit_amount_decimal.",
            param=f"{path}[amount]",
            code="parameter_missing",
        )
    item = copy.deepcopy(base) if base is not None else blank_item(ctx, customer, priced)  # type: ignore[arg-type]
    if priced is not None:
        apply_priced(item, priced, param=_amount_param(spec, path))
    for name in ("description", "discountable", "metadata", "period"):
        if name in spec:
            item[name] = (
                check_period(spec[name], f"{path}[period]") if name == "period" else spec[name]
            )
    if isinstance(spec.get("tax_rates"), list):
        item["tax_rates"] = await usable_tax_rates(
            ctx, spec["tax_rates"], param=f"{path}[tax_rates]"
        )
    if isinstance(spec.get("discounts"), list):
        item["discounts"] = await discounts.preview(
            ctx,
            spec["discounts"],
            lineage=invoice_lineage.below(str(item["id"]), discounts.parent_subscription(item)),
            currency=str(item["currency"]),
            param=f"{path}[discounts]",
        )
    return item


async def preview_items(
    ctx: Context,
    lineage: discounts.Lineage,
    customer: Mapping[str, Any],
    pending: list[ApiObject],
    specs: list[Fields],
    currency: str,
) -> list[ApiObject]:
    """The items of an invoice preview, none stored: the customer's pending items, each
    changed by the spec naming it (`invoiceitem`), then the new ones the specs describe
    (discounts they reuse on them, or on the preview's `lineage`)."""
    items = list(pending)
    by_id = {item["id"]: index for index, item in enumerate(items)}
    for index, spec in enumerate(specs[:LINES_MAX]):
        path = f"invoice_items[{index}]"
        named = spec.get("invoiceitem")
        if named is not None and named not in by_id:
            raise ResourceMissing("invoiceitem", str(named), param=f"{path}[invoiceitem]")
        base = None if named is None else items[by_id[str(named)]]
        given = {"currency": currency, **spec}
        item = await _preview_item(ctx, lineage, customer, given, base, path)
        if item["currency"] != currency:
            raise InvalidParameter(
                f"The currency of {path} ({item['currency']}) must be the invoice's ({currency}).",
                param=f"{path}[currency]",
            )
        if base is None:
            items.append(item)
        else:
            items[by_id[str(named)]] = item
    if len(items) > LINES_MAX:
        raise InvalidParameter(
            f"An invoice holds at most {LINES_MAX} invoice items.", param="invoice_items"
        )
    return items
