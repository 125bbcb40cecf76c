"""Invoice payments (`inpay_...`, object "invoice_payment"): how an invoice is paid. Stripe
makes a default one when an invoice is finalized with something due, together with the
PaymentIntent that will collect it (`confirmation_secret` on the invoice names that intent's
client secret), and keeps it in step with the invoice: `paid` when the intent succeeds,
`canceled` when the invoice is voided or paid outside Stripe.

`GET /v1/invoice_payments` (filters `invoice`, `status`, `payment[type]`,
`payment[payment_intent]`, `created`) and `GET /v1/invoice_payments/{id}`; `invoice.payments`
is includable (`expand[]=payments`). Event: `invoice_payment.paid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.ids import new_id
from kassa.invariants import InvariantViolated
from kassa.params import Enum, Param, String, Struct
from kassa.services import events, payment_intents
from kassa.services.billing import invoice_documents
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    list_page_with,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICE_PAYMENTS

INVOICE_INTENT_ID_MARK: Final = "Invc"
"""The end of an invoice's PaymentIntent id, after the random characters every id has
(`pi_6Jw3kQzR1sT8vXInvc`): the payment path tells from the id alone, before it reads
anything, that an intent may collect an invoice (`may_collect_an_invoice`), so billing locks
the invoice before the intent, as every invoice path does, and an intent of anything else
costs it no statement. Stripe's ids are opaque, and its PaymentIntents name no invoice
since 2025-03-31: the mark adds no field. Another intent's random id ends so by chance once
in 62**4 (about 15 million); billing then looks for its invoice payment, finds none, and
leaves it alone."""
PAYMENTS_PER_INVOICE_MAX = 100
"""The most payments listed on one invoice (`expand[]=payments`): an invoice has one default
payment in Kassa, so the bound is never reached."""
STATUSES = ("canceled", "open", "paid")

LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "invoice": String(max_chars=255),
    "payment": Struct(
        {
            "payment_intent": String(max_chars=255),
            "payment_record": String(max_chars=255),
            "type": Enum(values=("payment_intent", "payment_record")),
        },
        required=("type",),
    ),
    "status": Enum(values=STATUSES),
}


@dataclass(frozen=True, kw_only=True)
class ListInvoicePayments:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    invoice: str | None = None
    payment: Mapping[str, Any] | None = None
    status: str | None = None


def _new_payment(ctx: Context, invoice: Mapping[str, Any], intent_id: str) -> ApiObject:
    return {
        "id": new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": ctx.now(),
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": ctx.livemode,
        "payment": {"payment_intent": intent_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def may_collect_an_invoice(intent_id: str) -> bool:
    """Whether the PaymentIntent may be an invoice's (see `INVOICE_INTENT_ID_MARK`)."""
    return intent_id.endswith(INVOICE_INTENT_ID_MARK)


async def open_default_payment(ctx: Context, invoice: ApiObject) -> ApiObject:
    """At finalization, for what is due: the PaymentIntent that will collect it (not yet
    confirmed; `pay` confirms it), its id marked as an invoice's, and the default invoice
    payment naming it."""
    intent = await payment_intents.create_payment_intent(
        ctx,
        payment_intents.CreatePaymentIntent(
            amount=invoice["amount_due"],
            currency=invoice["currency"],
            customer=invoice["customer"],
            description=f"Invoice {invoice['number']}",
            statement_descriptor=invoice["statement_descriptor"],
            setup_future_usage=(
                "off_session"
                if invoice_documents.private(invoice).get(invoice_documents.SAVES_PAYMENT_METHOD)
                else None
            ),
            # As Stripe's invoice PaymentIntents: the invoice's payment method types (Kassa
            # has only cards), no automatic payment methods, so no return_url to confirm.
            payment_method_types=["card"],
        ),
        intent_id=new_id("pi") + INVOICE_INTENT_ID_MARK,
    )
    payment = _new_payment(ctx, invoice, str(intent["id"]))
    await ctx.tx.insert_object(INVOICE_PAYMENTS, ctx.account_id, payment)
    invoice_documents.private(invoice)["payment_intent"] = intent["id"]
    invoice_documents.private(invoice)["invoice_payment"] = payment["id"]
    return intent


async def _default_payment(ctx: Context, invoice: Mapping[str, Any]) -> ApiObject | None:
    payment_id = invoice_documents.private(invoice).get("invoice_payment")
    if payment_id is None:
        return None
    found = await ctx.tx.get_object(INVOICE_PAYMENTS, ctx.account_id, str(payment_id))
    return None if found is None else found[0]


async def record_paid(ctx: Context, invoice: Mapping[str, Any], amount: int) -> ApiObject | None:
    """The default payment collected `amount` (its intent succeeded): the payment, now paid;
    None, nothing written, when it was paid already. An intent succeeds once, and a path that
    tells billing of it again (a later `pay` finding it succeeded) must not count it twice."""
    payment = await _default_payment(ctx, invoice)
    if payment is None:
        raise InvariantViolated("an invoice with a PaymentIntent has its default payment")
    if payment["status"] == "paid":
        return None
    payment["status"] = "paid"
    payment["amount_paid"] = amount
    payment["status_transitions"]["paid_at"] = ctx.now()
    await ctx.tx.update_object(INVOICE_PAYMENTS, ctx.account_id, payment)
    await events.announce(ctx, "invoice_payment.paid", payment)
    return payment


VOIDED_CANCELLATION_REASON: Final = "void_invoice"
"""`cancellation_reason` of the PaymentIntent of a voided invoice: one of the reasons
"generated by Stripe internally" (the SDK's `PaymentIntent.cancellation_reason`)."""


async def cancel_default_payment(
    ctx: Context, invoice: Mapping[str, Any], *, cancellation_reason: str | None
) -> None:
    """Nothing more will be collected through Stripe (the invoice was voided, or paid
    outside Stripe): the default payment and its intent are canceled, for
    `cancellation_reason`."""
    payment = await _default_payment(ctx, invoice)
    if payment is None or payment["status"] != "open":
        return
    payment["status"] = "canceled"
    payment["status_transitions"]["canceled_at"] = ctx.now()
    await ctx.tx.update_object(INVOICE_PAYMENTS, ctx.account_id, payment)
    intent_id = str(payment["payment"]["payment_intent"])
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=intent_id)
    )
    if intent["status"] in payment_intents.CANCELABLE:
        await payment_intents.cancel_invoice_payment_intent(
            ctx,
            payment_intents.CancelPaymentIntent(
                intent=intent_id, cancellation_reason=cancellation_reason
            ),
        )


async def resize_default_payment(ctx: Context, invoice: Mapping[str, Any]) -> None:
    """What the invoice has remaining to pay changed (a credit note, or its void), and is
    still above zero: its open default payment asks that, and its PaymentIntent's amount
    follows (`payment_intents.resize_invoice_payment_intent`)."""
    amount = int(invoice["amount_remaining"])
    payment = await _default_payment(ctx, invoice)
    if payment is None or payment["status"] != "open" or payment["amount_requested"] == amount:
        return
    intent_id = str(payment["payment"]["payment_intent"])
    await payment_intents.resize_invoice_payment_intent(ctx, intent_id, amount)
    payment["amount_requested"] = amount
    await ctx.tx.update_object(INVOICE_PAYMENTS, ctx.account_id, payment)


async def payment_of_intent(ctx: Context, intent_id: str) -> ApiObject | None:
    """The invoice payment a PaymentIntent collects, if it collects one (to settle the
    invoice when the intent's payment attempt ends: see `invoice_collection`)."""
    page = await ctx.tx.list_objects(
        INVOICE_PAYMENTS,
        ctx.account_id,
        ObjectListQuery(limit=1, equals={"payment_intent": intent_id}),
    )
    return page.objects[0] if page.objects else None


# --- API --------------------------------------------------------------------------------------


async def retrieve_invoice_payment(ctx: Context, payment_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, payment_id)


def _list_equals(request: ListInvoicePayments) -> dict[str, Any]:
    equals: dict[str, Any] = {}
    if request.invoice is not None:
        equals["invoice"] = request.invoice
    if request.status is not None:
        equals["status"] = request.status
    payment = request.payment or {}
    if payment.get("type") == "payment_record" or payment.get("payment_record"):
        raise InvalidParameter(
            "Kassa records no payments outside PaymentIntents: filter on "
            "payment[type]=payment_intent.",
            param="payment[type]",
        )
    if payment.get("payment_intent") is not None:
        equals["payment_intent"] = payment["payment_intent"]
    return equals


async def list_invoice_payments(ctx: Context, request: ListInvoicePayments) -> ApiObject:
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals=_list_equals(request),
        created=request.created or {},
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(page, RESOURCE.url)


async def include_payments(ctx: Context, invoice: ApiObject) -> Any:
    """`invoice.payments`, shown when expanded."""
    page = await ctx.tx.list_objects(
        INVOICE_PAYMENTS,
        ctx.account_id,
        ObjectListQuery(limit=PAYMENTS_PER_INVOICE_MAX, equals={"invoice": invoice["id"]}),
    )
    return list_envelope(
        ListPage(page.objects, page.has_more), f"/v1/invoice_payments?invoice={invoice['id']}"
    )


RESOURCE = Resource(
    object_name="invoice_payment",
    id_prefix="inpay",
    collection="invoice_payments",
    table=INVOICE_PAYMENTS,
    retrieve=Operation(no_params, retrieve_invoice_payment, writes=False),
    lister=Operation(
        request_parser(ListInvoicePayments, LIST_PARAMS), list_invoice_payments, writes=False
    ),
    expandable={
        "invoice": "invoice",
        "payment.payment_intent": "payment_intent",
        "payment.charge": "charge",
    },
    event_types=("invoice_payment.paid",),
)
