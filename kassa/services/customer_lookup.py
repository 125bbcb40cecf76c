"""The customer another object's parameter names (`customer=cus_...` on an attach): loaded
from the customers table without the customers module, which itself attaches payment methods
(customers import payment methods, never the reverse)."""

from __future__ import annotations

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS


async def load_customer_named(ctx: Context, customer_id: str, *, param: str) -> ApiObject:
    """The live customer `customer_id` names. Stripe answers a never-existing customer with
    404 and a deleted one with 400, both naming `param`."""
    found = (
        await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
        if could_be_object_id(customer_id)
        else None
    )
    if found is None:
        raise ResourceMissing("customer", customer_id, param=param)
    customer, deleted = found
    if deleted:
        raise InvalidRequest(f"No such customer: '{customer_id}'", param=param)
    ctx.remember_customer(customer)  # asking for the customer's time reads nothing more
    return customer
