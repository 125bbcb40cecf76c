"""Billing credits on invoices: which of a customer's credit grants an invoice's
finalization draws on and in what order, the transactions that record what each line took,
and what a voided invoice gives back.

When (Stripe's billing credits guide): credits apply when an invoice is finalized, to the
lines whose price is in a grant's scope (metered prices: `price_type=metered`, or the
`prices` named), after discounts and before taxes (`pretax_credit_amounts`). The grants
drawn on are those of the invoice's customer, in its currency, effective and not expired at
the finalization's time (the customer's clock) and not voided, in Stripe's order: `priority`
(0 first), then the earliest `expires_at` (a grant that never expires last), then
`promotional` before `paid`, then the earliest `effective_at`, then the oldest (`created`,
then id, so the order is total). The arithmetic is `invoice_amounts` (step 3).

Previews (`invoice_preview`, a subscription's upcoming invoice included) show the credits the
invoice would take, worked out by the same steps (`spendable_for` with `preview`, then the
same arithmetic) with nothing written: no grant locked, settled or moved, no transaction.
Stripe's guide ("Upcoming, draft, or finalized invoices"): "If you apply credits to an
upcoming or draft invoice, those credits might change if a finalized invoice uses them
first". A preview's credit names no `credit_balance_transaction` (null: none exists, Kassa's
choice, the guide silent on it). The grants are judged at the time the previewed invoice
would be made (`preview_time`: its `period_end` when later than now, the time a renewal or
a subscription's end makes it), so a grant that expires before then shows nothing and one
effective by then shows what it has now (the guide's eligibility reads the invoice's
`period_end` against `effective_at` and `expires_at`).

Each (grant, line) taken is one `credits_applied` debit naming the invoice and the line
(`invoice_line_item`); the invoice keeps them among its private facts, and voiding it gives
each back to its grant (`credits_application_invoice_voided`); a grant expired meanwhile
loses it again at once (Stripe: "If the credit grant is past the expiration date, the
reinstated credits expire immediately").

The money: a credit lowers the invoice's total and so what is collected (or taken from the
customer's balance); Kassa's ledger posts what invoices collect (their payments) and the
customer balance, not invoice totals, so a credit needs no posting of its own, paid or
promotional alike: the cash a paid grant was bought with was posted when it was paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services.billing import credit_grants
from kassa.services.billing.credit_balance_transactions import Movement
from kassa.services.billing.invoice_amounts import (
    CREDITS_MAX,
    LINES_MAX,
    CreditTerms,
    InvoiceAmounts,
)
from kassa.services.billing.meter_usage import is_metered
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_CREDIT_GRANTS, PRICES, PRIVATE

SPENDABLE_GRANTS_MAX: Final = CREDITS_MAX
"""The customer's spendable grants one finalization reads (the newest, if it had more: a
bound the arithmetic shares)."""
NEVER: Final = 2**63
"""Sorts a grant without `expires_at` after every one that expires."""
DEBITS_PER_INVOICE_MAX: Final = CREDITS_MAX * LINES_MAX
"""At most one debit per (grant, line): what a void gives back is bounded by it."""
APPLIED_KEY: Final = "credits_applied"
"""The invoice's private facts: the debits its finalization wrote, to give back on void."""


def price_of(item: Mapping[str, Any]) -> str | None:
    """The price of an invoice item's line (`pricing.price_details.price`); None without."""
    details = (item.get("pricing") or {}).get("price_details") or {}
    price = details.get("price")
    return None if price is None else str(price)


@dataclass(frozen=True)
class Spendable:
    """The grants a finalization may draw on, in order, and which of its prices are metered."""

    grants: tuple[ApiObject, ...]
    terms: tuple[CreditTerms, ...]
    metered_prices: frozenset[str]


@dataclass(frozen=True)
class AppliedCredits:
    per_line: list[tuple[str | None, ...]]
    """Each line's credit balance transactions, in the order of its `credit_amounts` (None
    on a preview: nothing was written)."""


def previewed(amounts: InvoiceAmounts) -> AppliedCredits:
    """The credits a preview's lines would take, none of them written."""
    return AppliedCredits([(None,) * len(line.credit_amounts) for line in amounts.lines])


def preview_time(ctx: Context, invoice: Mapping[str, Any]) -> int:
    """When a previewed invoice would be made: its `period_end` (a renewal's is the end of
    the period it bills), or now when that is past."""
    return max(ctx.now(), int(invoice["period_end"] or 0))


def application_order(grant: Mapping[str, Any]) -> tuple[int, int, int, int, int, str]:
    expires = grant["expires_at"]
    return (
        int(grant["priority"] if grant["priority"] is not None else credit_grants.PRIORITY_DEFAULT),
        NEVER if expires is None else int(expires),
        0 if grant["category"] == "promotional" else 1,
        int(grant["effective_at"] or 0),
        int(grant["created"]),
        str(grant["id"]),
    )


async def _spendable_grants(ctx: Context, customer: str, *, lock: bool) -> list[ApiObject]:
    """The customer's grants with something left and not voided (one indexed read; a
    customer without any finds nothing), each then locked in this unit when `lock` (a
    finalization's) so two finalizations never spend the same credit."""
    page = await ctx.tx.list_objects(
        BILLING_CREDIT_GRANTS,
        ctx.account_id,
        ObjectListQuery(
            limit=SPENDABLE_GRANTS_MAX, equals={"customer": customer, "spendable": True}
        ),
    )
    if not lock:
        return list(page.objects)
    locked = []
    for listed in page.objects:
        found = await ctx.tx.get_object(BILLING_CREDIT_GRANTS, ctx.account_id, listed["id"])
        if found is not None and not found[1]:
            locked.append(found[0])
    return locked


async def spendable_for(
    ctx: Context,
    invoice: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    preview: bool = False,
) -> Spendable | None:
    """What the invoice's finalization may draw on now; None when nothing (no statement
    more than the one read, then). With `preview`, what it would draw on when made
    (`preview_time`), read only: nothing locked, no expiry settled (an expired grant gives
    nothing, its debit written or not: `credit_grants.available_at`)."""
    grants = await _spendable_grants(ctx, str(invoice["customer"]), lock=not preview)
    if not grants:
        return None
    now = preview_time(ctx, invoice) if preview else ctx.now()
    usable = []
    for grant in grants:
        if not preview and await credit_grants.settle_expiry(ctx, grant):
            await credit_grants.save(ctx, grant)
        same_currency = credit_grants.currency_of(grant) == invoice["currency"]
        if same_currency and credit_grants.available_at(grant, now) > 0:
            usable.append(grant)
    usable.sort(key=application_order)
    if not usable:
        return None
    return Spendable(
        grants=tuple(usable),
        terms=tuple(_terms(grant, now) for grant in usable),
        metered_prices=await _metered_prices(ctx, items, usable),
    )


def _terms(grant: Mapping[str, Any], now: int) -> CreditTerms:
    prices = grant["applicability_config"]["scope"].get("prices")
    return CreditTerms(
        credit_grant=str(grant["id"]),
        available=credit_grants.available_at(grant, now),
        prices=None if prices is None else frozenset(str(p["id"]) for p in prices),
    )


async def _metered_prices(
    ctx: Context, items: Sequence[Mapping[str, Any]], grants: Sequence[Mapping[str, Any]]
) -> frozenset[str]:
    """The metered prices among the items' (read only when a grant is scoped by price type:
    a `prices` scope names metered prices already)."""
    if all(g["applicability_config"]["scope"].get("prices") is not None for g in grants):
        return frozenset()
    ids = sorted({price for item in items if (price := price_of(item)) is not None})
    if not ids:
        return frozenset()
    found = await ctx.tx.objects_by_ids(PRICES, ctx.account_id, ids)
    return frozenset(price_id for price_id, price in found.items() if is_metered(price))


async def record_applied(
    ctx: Context,
    invoice: ApiObject,
    spendable: Spendable,
    line_ids: Sequence[str],
    amounts: InvoiceAmounts,
) -> AppliedCredits:
    """A `credits_applied` debit per (grant, line) the arithmetic took, each grant's balance
    moved by it and stored, and the debits kept on the invoice for a void."""
    ensure(len(line_ids) == len(amounts.lines), "a line id per line")
    grants = {str(grant["id"]): grant for grant in spendable.grants}
    touched: dict[str, ApiObject] = {}
    per_line: list[tuple[str | None, ...]] = []
    kept: list[dict[str, Any]] = []
    now = ctx.now()
    for line_id, line in zip(line_ids, amounts.lines, strict=True):
        transactions = []
        for credit in line.credit_amounts:
            grant = grants[credit.credit_grant]
            movement = Movement("credits_applied", credit.amount, now, invoice["id"], line_id)
            transaction = await credit_grants.move(ctx, grant, movement)
            touched[str(grant["id"])] = grant
            transactions.append(str(transaction["id"]))
            kept.append(
                {
                    "grant": grant["id"],
                    "amount": credit.amount,
                    "line": line_id,
                    "transaction": transaction["id"],
                }
            )
        per_line.append(tuple(transactions))
    # The balance is the grant's own fact: no shown field changes, so no `.updated` event.
    for grant in touched.values():
        await credit_grants.save(ctx, grant)
    invoice[PRIVATE][APPLIED_KEY] = kept
    return AppliedCredits(per_line)


async def give_back(ctx: Context, invoice: ApiObject) -> None:
    """A voided invoice's credits back to their grants (`credits_application_invoice_voided`),
    one credit per debit; an expired grant's at once debited again (`credits_expired`)."""
    applied = invoice[PRIVATE].get(APPLIED_KEY) or []
    if not applied:
        return
    ensure(len(applied) <= DEBITS_PER_INVOICE_MAX, "an invoice's debits are bounded")
    now = ctx.now()
    touched: dict[str, ApiObject] = {}
    for debit in applied:
        grant_id = str(debit["grant"])
        grant = touched.get(grant_id) or await credit_grants.load_grant(ctx, grant_id)
        movement = Movement(
            "credits_application_invoice_voided",
            int(debit["amount"]),
            now,
            invoice["id"],
            str(debit["line"]),
        )
        await credit_grants.move(ctx, grant, movement)
        touched[grant_id] = grant
    for grant in touched.values():
        if grant["voided_at"] is not None:
            # A voided grant keeps nothing: what comes back is voided again at once.
            left = credit_grants.balance_of(grant)
            await credit_grants.move(ctx, grant, Movement("credits_voided", left, now))
        else:
            await credit_grants.settle_expiry(ctx, grant)
        await credit_grants.save(ctx, grant)
    invoice[PRIVATE][APPLIED_KEY] = []
