"""A customer's `delinquent` flag, as Stripe keeps it: the most recent state change on any of
the customer's invoices (the SDK's `Customer.delinquent`).

- True: an automatic payment failure (a failed automatic attempt, the invoice job's or a
  dunning retry, `invoice_collection.record_failed_attempt`; not a `pay` or a payment on
  the hosted page, which the customer or the integration made), or a `send_invoice` invoice passing
  its `due_date` unpaid, whatever its `auto_advance` (seen by the reminder step,
  `invoice_reminders.remind`, which wakes as the due date passes, `reminders.wake_at`).
- False: paying an invoice (`invoice_transitions.mark_paid`, every path), or marking one
  uncollectible through the API (`invoices.mark_uncollectible`). Marked uncollectible by
  dunning or by a paused subscription, it stays as it was: Stripe does not reset it then.

A change stores the customer and announces `customer.updated` with `previous_attributes`;
no change writes nothing. The caller holds the invoice locked: the customer is locked after
it, the order every invoice path takes. The event is stamped at the customer's time (its
test clock's, when it has one).
"""

from __future__ import annotations

import copy

from kassa.services import events
from kassa.services.context import Context
from kassa.store.tables import CUSTOMERS


async def set_delinquent(ctx: Context, customer_id: str, delinquent: bool) -> None:
    """Set the customer's `delinquent` flag; nothing written when it holds that already
    (or the customer is gone)."""
    # Read without a lock first: most invoice outcomes leave the flag as it is, and the hot
    # path (a paid invoice) then locks nothing more.
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    if found is None or found[1] or found[0].get("delinquent") is delinquent:
        return
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
    if found is None or found[1] or found[0].get("delinquent") is delinquent:
        return
    customer = found[0]
    before = copy.deepcopy(customer)
    customer["delinquent"] = delinquent
    ctx = await ctx.governed_by(customer)
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    await events.announce(ctx, "customer.updated", customer, previous=before)
