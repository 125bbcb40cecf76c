"""An invoice's lines, made from its invoice items, and the amounts they add up to.

A draft's lines and totals are worked out again (`refresh`) whenever something they depend
on changes: an item added, changed or removed, the invoice's discounts or default tax
rates. The arithmetic is `invoice_amounts`; this module gathers its inputs (each item's
amount, discounts and tax rates, or the invoice's defaults) and writes the results into the
invoice document. Once finalized, an invoice's amounts never change.

Billing credits (`credit_application`) are applied only at finalization (`refresh` with
`finalizing`): the customer's spendable grants reduce the lines in their scope, each
application a `credit_balance_transaction` that the line's `pretax_credit_amounts` and the
invoice's `total_pretax_credit_amounts` name. A stored draft shows none (Stripe applies them
"when the invoice is finalized"); a preview shows those it would take, none written
(`amounts_for` is the one way both work them out).

Line order (Stripe's `lines` docstring): the pending items an invoice took when it was
created, newest first, then items added afterwards, oldest first. A line keeps its place:
items already on the invoice stay where they are, new ones go at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kassa.invariants import ensure
from kassa.services.billing import (
    credit_application,
    customer_balance,
    discounts,
    invoice_amounts,
    tax_rates,
)
from kassa.services.billing.credit_application import AppliedCredits, Spendable
from kassa.services.billing.invoice_amounts import (
    LINES_MAX,
    CreditTerms,
    InvoiceAmounts,
    LineAmounts,
    LineTerms,
    TaxTerms,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICE_ITEMS, PRIVATE


def is_period_item(item: Mapping[str, Any]) -> bool:
    """An invoice item a subscription's invoice made for one of its items' periods
    (`subscription_invoices.period_item` marks it). It backs its line only: the line is the
    subscription item's, and the API never shows the item (the store's `period_item`
    column, which lists pass over, holds the same mark). A proration names its
    subscription item too, but is an invoice item the API shows."""
    return bool((item.get(PRIVATE) or {}).get("period_item"))


def mark_period_item(item: ApiObject) -> None:
    item[PRIVATE] = {**(item.get(PRIVATE) or {}), "period_item": True}


TAXABILITY_REASON = "not_available"
"""Stripe's `taxability_reason` for taxes from manually defined tax rates: no tax engine
decided anything about the line."""


def tax_terms(rates: Sequence[Mapping[str, Any]]) -> tuple[TaxTerms, ...]:
    """The arithmetic's view of tax rate objects (their percentage and `inclusive` are
    fixed at creation, so the copies on an item or invoice never go stale)."""
    return tuple(
        TaxTerms(
            tax_rate=str(rate["id"]),
            percentage=tax_rates.percentage_of(rate),
            inclusive=bool(rate["inclusive"]),
        )
        for rate in rates
    )


def line_id(item_id: str, *, preview: bool = False) -> str:
    """The line an item makes keeps the item's random part: stable however often the
    invoice is worked out again (`il_tmp_` on a preview, as Stripe's)."""
    suffix = item_id.removeprefix("ii_")
    return f"il_tmp_{suffix}" if preview else f"il_{suffix}"


def item_id_of_line(stored_line_id: str) -> str:
    """The invoice item behind a stored invoice's line: `line_id` undone (every line of a
    stored invoice is made by an item, a subscription's period line by Kassa's own)."""
    return f"ii_{stored_line_id.removeprefix('il_')}"


async def items_on(ctx: Context, invoice_id: str) -> list[ApiObject]:
    """The live items on an invoice, oldest first."""
    page = await ctx.tx.list_objects(
        INVOICE_ITEMS,
        ctx.account_id,
        ObjectListQuery(limit=LINES_MAX, equals={"invoice": invoice_id}),
    )
    return list(reversed(page.objects))


def ordered(items: Sequence[ApiObject], current_lines: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Items in line order: those already on lines where they are, the rest after them in
    the order given. A line is matched to its item by its id (`line_id`), which every line
    has: a period's line names no invoice item."""
    place = {str(line["id"]): index for index, line in enumerate(current_lines)}
    known = sorted(
        (place[line], index)
        for index, item in enumerate(items)
        if (line := line_id(str(item["id"]))) in place
    )
    taken = {index for _, index in known}
    return [items[index] for _, index in known] + [
        item for index, item in enumerate(items) if index not in taken
    ]


async def compute(
    ctx: Context,
    items: Sequence[ApiObject],
    *,
    currency: str,
    invoice_discounts: Sequence[str],
    default_tax_rates: Sequence[Mapping[str, Any]],
    credits: Sequence[CreditTerms] = (),
    metered_prices: frozenset[str] = frozenset(),
) -> InvoiceAmounts:
    """`credits` (in the order they apply) and the `metered_prices` among the items': only
    at finalization."""
    ensure(len(items) <= LINES_MAX, f"an invoice has at most {LINES_MAX} lines")
    lines = []
    for item in items:
        rates = item["tax_rates"] if item["tax_rates"] else default_tax_rates
        price = credit_application.price_of(item)
        lines.append(
            LineTerms(
                amount=int(item["amount"]),
                discountable=bool(item["discountable"]),
                discounts=await discounts.discount_terms(ctx, item["discounts"], currency),
                tax_rates=tax_terms(rates),
                product=_product_of(item),
                price=price,
                metered=price in metered_prices,
            )
        )
    terms = await discounts.discount_terms(ctx, invoice_discounts, currency)
    return invoice_amounts.invoice_amounts(lines, terms, credits)


async def amounts_for(
    ctx: Context,
    invoice: Mapping[str, Any],
    items: Sequence[ApiObject],
    spendable: Spendable | None,
) -> InvoiceAmounts:
    """The invoice's amounts from its items, its discounts and default tax rates, with the
    billing credits `spendable` gives (`credit_application.spendable_for`): the one working
    out a finalization and a preview share."""
    return await compute(
        ctx,
        items,
        currency=str(invoice["currency"]),
        invoice_discounts=invoice["discounts"],
        default_tax_rates=invoice["default_tax_rates"],
        credits=spendable.terms if spendable is not None else (),
        metered_prices=spendable.metered_prices if spendable is not None else frozenset(),
    )


def _product_of(item: Mapping[str, Any]) -> str | None:
    """The product of the item's price (`pricing.price_details`); None for an amount-only
    item, which has no price."""
    details = (item.get("pricing") or {}).get("price_details") or {}
    product = details.get("product")
    return None if product is None else str(product)


def line_object(
    ctx: Context,
    item: Mapping[str, Any],
    amounts: LineAmounts,
    invoice_id: str | None,
    placed: Mapping[str, str | None] | None = None,
    credit_transactions: Sequence[str | None] = (),
) -> ApiObject:
    """The line `item` makes on `invoice_id`; `placed`: where the pending debits its credit
    may name are (`debits_placed`); `credit_transactions`: the credit balance transaction of
    each of its billing credits (`amounts.credit_amounts`), in order (None on a preview)."""
    preview = invoice_id is None or invoice_id.startswith("upcoming_")
    ensure(
        len(credit_transactions) == len(amounts.credit_amounts),
        "each billing credit a line took is one credit balance transaction",
    )
    return {
        "id": line_id(str(item["id"]), preview=preview),
        "object": "line_item",
        "amount": amounts.amount,
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [
            {"amount": d.amount, "discount": d.discount} for d in amounts.discount_amounts
        ],
        "discountable": item["discountable"],
        "discounts": list(item["discounts"]),
        "invoice": invoice_id,
        "livemode": ctx.livemode,
        "metadata": dict(item["metadata"]),
        "parent": _line_parent(item, placed or {}, preview=preview),
        "period": dict(item["period"]),
        "pretax_credit_amounts": [
            *(pretax_credit_entry(d.discount, d.amount) for d in amounts.discount_amounts),
            *(
                credit_entry(transaction, credit.amount)
                for transaction, credit in zip(
                    credit_transactions, amounts.credit_amounts, strict=True
                )
            ),
        ],
        "pricing": dict(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": _subscription_of(item),
        "subtotal": amounts.amount,
        "taxes": [tax_entry(t) for t in amounts.taxes],
    }


def _subscription_details(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    parent = item.get("parent") or {}
    details: Mapping[str, Any] | None = parent.get("subscription_details")
    return details


def _subscription_of(item: Mapping[str, Any]) -> str | None:
    details = _subscription_details(item)
    return None if details is None else str(details["subscription"])


def _credited_lines(
    item: Mapping[str, Any], placed: Mapping[str, str | None], *, preview: bool
) -> dict[str, Any] | None:
    """A credit proration line's debit, as a line shows it (`{invoice, invoice_line_items}`;
    Stripe: "the original debit line_items to which the credit proration applies"). Its item
    says the same as `invoice_line_item_details` when the debit was invoiced already; when the
    debit was a pending item it names that item, and the line names the line the item became
    (`placed`: debit item -> the invoice it is on; None while it is pending still)."""
    credited = (item.get("proration_details") or {}).get("credited_items") or {}
    details = credited.get("invoice_line_item_details")
    if details is not None:
        return dict(details)
    debit = credited.get("invoice_item")
    invoice = None if debit is None else placed.get(str(debit))
    if invoice is None:
        return None
    return {"invoice": invoice, "invoice_line_items": [line_id(str(debit), preview=preview)]}


def pending_debits(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The invoice items credit prorations among `items` name as their debit while it was
    pending (`credited_items.type` `invoice_item`) that are not among `items` themselves."""
    here = {str(item["id"]) for item in items}
    named = (
        ((item.get("proration_details") or {}).get("credited_items") or {}).get("invoice_item")
        for item in items
    )
    return sorted({str(debit) for debit in named if debit is not None and debit not in here})


async def debits_placed(ctx: Context, items: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """The invoice each pending debit credited by `items` is on now (`pending_debits`): those
    among `items` on the invoice being worked out (set by `write_amounts`), the others read,
    in one statement and only when there are any (a debit and its credit are usually taken
    by the same invoice)."""
    elsewhere = pending_debits(items)
    if not elsewhere:
        return {}
    found = await ctx.tx.objects_by_ids(INVOICE_ITEMS, ctx.account_id, elsewhere)
    return {debit: doc.get("invoice") for debit, doc in found.items()}


def _line_parent(
    item: Mapping[str, Any], placed: Mapping[str, str | None], *, preview: bool
) -> dict[str, Any]:
    """What made the line: an invoice item, or a subscription item (a proration of it, which
    is an invoice item too, or its period's charge, which the API never shows as one)."""
    details = _subscription_details(item)
    proration = bool(item.get("proration"))
    proration_details = {"credited_items": _credited_lines(item, placed, preview=preview)}
    if details is None or details.get("subscription_item") is None:
        # An item of the customer's own (one given a `subscription` to wait for included).
        return {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": proration,
                "proration_details": proration_details,
                "subscription": None if details is None else details["subscription"],
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "invoice_item_details": None,
        "subscription_item_details": {
            # A period's line is its subscription item's (Stripe: "backed by either an
            # invoice item or a subscription item"); a proration's is its invoice item's.
            "invoice_item": None if is_period_item(item) else item["id"],
            "proration": proration,
            "proration_details": proration_details,
            "subscription": details["subscription"],
            "subscription_item": details["subscription_item"],
        },
        "type": "subscription_item_details",
    }


def pretax_credit_entry(discount: str, amount: int) -> dict[str, Any]:
    return {
        "amount": amount,
        "credit_balance_transaction": None,
        "discount": discount,
        "type": "discount",
    }


def credit_entry(credit_balance_transaction: str | None, amount: int) -> dict[str, Any]:
    """A billing credit a line took, as `pretax_credit_amounts` shows it (a preview's names
    no transaction: none was written)."""
    return {
        "amount": amount,
        "credit_balance_transaction": credit_balance_transaction,
        "discount": None,
        "type": "credit_balance_transaction",
    }


def tax_entry(tax: invoice_amounts.TaxAmount) -> dict[str, Any]:
    return {
        "amount": tax.amount,
        "tax_behavior": "inclusive" if tax.inclusive else "exclusive",
        "tax_rate_details": {"tax_rate": tax.tax_rate},
        "taxability_reason": TAXABILITY_REASON,
        "taxable_amount": tax.taxable_amount,
        "type": "tax_rate_details",
    }


def write_amounts(
    ctx: Context,
    invoice: ApiObject,
    items: Sequence[ApiObject],
    amounts: InvoiceAmounts,
    elsewhere: Mapping[str, str | None] | None = None,
    applied: AppliedCredits | None = None,
) -> None:
    """Lines and totals into the invoice document; what is due before any customer
    balance (applied at finalization). `elsewhere`: the invoices of pending debits credited
    by `items` that are not among them (`debits_placed`); those among them are on this one.
    `applied`: the credit balance transactions of the billing credits in `amounts`, per line."""
    placed = {**(elsewhere or {}), **{str(item["id"]): invoice["id"] for item in items}}
    transactions = applied.per_line if applied is not None else [()] * len(items)
    invoice["lines"]["data"] = [
        line_object(ctx, item, line, invoice["id"], placed, credited)
        for item, line, credited in zip(items, amounts.lines, transactions, strict=True)
    ]
    invoice["subtotal"] = amounts.subtotal
    invoice["subtotal_excluding_tax"] = amounts.subtotal_excluding_tax
    invoice["total"] = amounts.total
    invoice["total_excluding_tax"] = amounts.total_excluding_tax
    invoice["total_discount_amounts"] = [
        {"amount": d.amount, "discount": d.discount} for d in amounts.total_discount_amounts
    ]
    invoice["total_pretax_credit_amounts"] = [
        *(pretax_credit_entry(d.discount, d.amount) for d in amounts.total_discount_amounts),
        *(
            entry
            for line in invoice["lines"]["data"]
            for entry in line["pretax_credit_amounts"]
            if entry["type"] == "credit_balance_transaction"
        ),
    ]
    invoice["total_taxes"] = [tax_entry(t) for t in amounts.total_taxes]
    settled = invoice_amounts.apply_customer_balance(amounts.total, invoice["starting_balance"])
    invoice["amount_due"] = settled.amount_due
    invoice["amount_remaining"] = settled.amount_due - invoice["amount_paid"]


async def refresh(ctx: Context, invoice: ApiObject, *, finalizing: bool = False) -> list[ApiObject]:
    """Work a draft's lines and totals out again from its items (not stored: the caller
    saves the invoice with its other changes). Returns the items, oldest first, for a caller
    that needs them too (finalization redeems their discounts). `finalizing`: the last time,
    with the customer's billing credits applied (and their transactions written)."""
    ensure(invoice["status"] == "draft", "only a draft's amounts change")
    # Stripe shows a draft the customer's balance as it is now; finalization applies it.
    invoice["starting_balance"] = await customer_balance.current_balance(
        ctx, str(invoice["customer"]), invoice["currency"]
    )
    live = await items_on(ctx, invoice["id"])
    items = ordered(live, invoice["lines"]["data"])
    spendable = await credit_application.spendable_for(ctx, invoice, items) if finalizing else None
    amounts = await amounts_for(ctx, invoice, items, spendable)
    applied = None
    if spendable is not None and amounts.credit_total > 0:
        line_ids = [line_id(str(item["id"])) for item in items]
        applied = await credit_application.record_applied(
            ctx, invoice, spendable, line_ids, amounts
        )
    write_amounts(ctx, invoice, items, amounts, await debits_placed(ctx, items), applied)
    return live
