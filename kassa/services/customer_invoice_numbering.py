"""A customer's invoice numbering (`invoice_prefix`, `next_invoice_sequence`), as Stripe's
invoice numbering docs have it: a customer prefix "can't match any other customer prefix,
including prefixes that are no longer in use", and "you can only set the next invoice number
to numbers greater than any numbers used on an invoice".

Every prefix a customer has set, or numbered an invoice with, is recorded as its own for
good (the store's `invoice_prefixes`): another customer of the account, live or deleted, can
never take it, and the customer itself may go back to one it had. Two customers' numbers so
never interleave under one prefix, and finalizing never runs out of free numbers for want of
one.

The prefix Kassa draws for a new customer is recorded only when the customer's first invoice
is numbered (`own_prefix`), not on create: creating a customer is among the most frequent
requests and its cost is measured (`bench/customers.py`); most customers never get an
invoice. Should another customer have set the same prefix in the meantime (one in 16^8), the
drawn one, never used, is drawn again then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.ids import random_hex_upper
from kassa.invariants import InvariantViolated
from kassa.services.context import Context
from kassa.services.resource import ApiObject

PREFIX_CHARS: Final = 8
"""A prefix Kassa draws: eight uppercase hex digits, as Stripe's."""
PREFIX_DRAWS_MAX: Final = 8
"""Prefixes drawn until one is free: with 16^8 of them, a second draw is already rare."""
NUMBERS_READ_MAX: Final = 100
"""Numbers read, longest first, to find the highest sequence a prefix used (the sequence is
zero-padded, so the highest is among the longest): custom numbers (`number` given on an
invoice) that are not `{prefix}-{digits}` are skipped; the bound keeps the read finite."""


def draw_prefix() -> str:
    """A new customer's prefix, not yet recorded (`own_prefix` records it when used)."""
    return random_hex_upper(PREFIX_CHARS)


async def own_prefix(ctx: Context, customer: ApiObject) -> None:
    """Before the customer's prefix numbers an invoice: recorded as its own, or, when another
    customer took it since it was drawn (so never used), a free one drawn in its place."""
    customer_id = str(customer["id"])
    owner = await ctx.tx.invoice_prefix_owner(ctx.account_id, str(customer["invoice_prefix"]))
    if owner == customer_id:
        return
    if owner is None:
        owner = await ctx.tx.claim_invoice_prefix(
            ctx.account_id, str(customer["invoice_prefix"]), customer_id
        )
        if owner == customer_id:
            return
    for _ in range(PREFIX_DRAWS_MAX):
        prefix = draw_prefix()
        if await ctx.tx.claim_invoice_prefix(ctx.account_id, prefix, customer_id) == customer_id:
            customer["invoice_prefix"] = prefix
            return
    raise InvariantViolated(f"a free invoice prefix is drawn in {PREFIX_DRAWS_MAX} tries")


async def claim_prefix(ctx: Context, customer_id: str, prefix: str) -> None:
    """Record `prefix` as `customer_id`'s: refused (nothing written) when another customer of
    the account has or had it."""
    owner = await ctx.tx.claim_invoice_prefix(ctx.account_id, prefix, customer_id)
    if owner != customer_id:
        raise InvalidParameter(
            f"The invoice prefix {prefix} is already used by another customer: a customer's "
            "invoice prefix can't match any other customer's, including prefixes no longer "
            "in use.",
            param="invoice_prefix",
        )


async def check_next_sequence(ctx: Context, customer: Mapping[str, Any], sequence: int) -> None:
    """`next_invoice_sequence` must be greater than every number the customer's invoices used
    with its prefix (the prefix it has after the change)."""
    highest = await highest_sequence(ctx, str(customer["id"]), str(customer["invoice_prefix"]))
    if sequence <= highest:
        raise InvalidParameter(
            f"The next invoice sequence must be greater than {highest}, the highest number "
            f"already used on an invoice with the prefix {customer['invoice_prefix']}.",
            param="next_invoice_sequence",
        )


async def highest_sequence(ctx: Context, customer_id: str, prefix: str) -> int:
    """The highest sequence in the customer's invoice numbers `{prefix}-{digits}`; 0 if none.
    Only the owner's invoices are read: the prefix is no other customer's."""
    numbered = re.compile(rf"{re.escape(prefix)}-([0-9]+)")
    numbers = await ctx.tx.highest_numbers_with_prefix(
        ctx.account_id, customer_id, prefix, NUMBERS_READ_MAX
    )
    matches = (numbered.fullmatch(number) for number in numbers)
    return max((int(found[1]) for found in matches if found is not None), default=0)
