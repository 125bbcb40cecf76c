"""What the dashboard's customers pages show: the list (newest first, or searched by email)
and one customer with its payment methods and latest payments.

Every read is one indexed, bounded query: a list is one page of seq- or email-ordered rows,
a customer's payment methods and payments are looked up by the indexed customer column.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.dashboard.views.payments import PaymentRow, customer_payments
from kassa.dashboard.views.subscriptions import CustomerSubscriptions, customer_subscriptions
from kassa.services import customers
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_object
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS, PAYMENT_METHODS

CUSTOMER_PAYMENTS_SHOWN_MAX = 10
CUSTOMER_PAYMENT_METHODS_SHOWN_MAX = 25
SEARCH_CHARS_MAX = 254
"""The longest email address (RFC 5321's path limit less the brackets)."""


@dataclass(frozen=True)
class CustomerList:
    customers: list[ApiObject]
    next_cursor: str
    search: str
    problems: list[str]


async def customer_list(ctx: Context, search: str, starting_after: str, limit: int) -> CustomerList:
    """Newest first, or, with `search`, those whose email starts with it (an exact address
    comes first), A to Z. Both are one index range with a LIMIT."""
    problems: list[str] = []
    if len(search) > SEARCH_CHARS_MAX or "\x00" in search:
        # No stored email is that long or holds NUL (which PostgreSQL's text cannot).
        problems.append("That is not part of any email address; showing everyone.")
        search = ""
    if search:
        return await _search(ctx, search, starting_after, limit, problems)
    before_seq = None
    if starting_after:
        if could_be_object_id(starting_after):
            before_seq = await ctx.tx.object_seq(CUSTOMERS, ctx.account_id, starting_after)
        if before_seq is None:
            problems.append("That page is no longer available; showing the newest customers.")
    page = await ctx.tx.list_objects(
        CUSTOMERS, ctx.account_id, ObjectListQuery(limit=limit, before_seq=before_seq)
    )
    return CustomerList(page.objects, _next(page.objects, page.has_more), "", problems)


async def _search(
    ctx: Context, search: str, starting_after: str, limit: int, problems: list[str]
) -> CustomerList:
    after = None
    if starting_after and could_be_object_id(starting_after):
        after = await ctx.tx.customer_email_cursor(ctx.account_id, starting_after)
    if starting_after and (after is None or not after.email.startswith(search)):
        problems.append("That page is no longer available; showing the first matches.")
        after = None
    page = await ctx.tx.customers_by_email_prefix(ctx.account_id, search, after, limit)
    return CustomerList(page.docs, _next(page.docs, page.has_more), search, problems)


def _next(objects: list[ApiObject], has_more: bool) -> str:
    return objects[-1]["id"] if has_more and objects else ""


@dataclass(frozen=True)
class CustomerDetail:
    customer: ApiObject
    deleted: bool
    payment_methods: list[ApiObject]
    more_payment_methods: bool
    payments: list[PaymentRow]
    more_payments: bool
    subscriptions: CustomerSubscriptions


async def customer_detail(ctx: Context, customer_id: str) -> CustomerDetail:
    """The customer, read once: its payments and subscriptions are labelled with it."""
    customer, deleted = await load_object(ctx, customers.RESOURCE, customer_id)
    by_customer = {"customer": customer["id"]}
    methods = await ctx.tx.list_objects(
        PAYMENT_METHODS,
        ctx.account_id,
        ObjectListQuery(limit=CUSTOMER_PAYMENT_METHODS_SHOWN_MAX, equals=by_customer),
    )
    # The payments list's first page for this customer: its intents and its Charges API
    # charges, as "All payments of this customer" goes on to show them.
    payments = await customer_payments(ctx, customer, CUSTOMER_PAYMENTS_SHOWN_MAX)
    return CustomerDetail(
        customer=customer,
        deleted=deleted,
        payment_methods=methods.objects,
        more_payment_methods=methods.has_more,
        payments=payments.rows,
        more_payments=bool(payments.next_cursor),
        subscriptions=await customer_subscriptions(ctx, customer),
    )
