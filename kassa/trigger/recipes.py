"""What `kassa trigger EVENT_TYPE` does for each event type: the API calls, in order, that
make Kassa emit that event, as the Stripe CLI's trigger fixtures do for Stripe.

A recipe is a list of steps. Each step is one API request, named so that later steps can use
what it answered (`${customer:id}`, `${invoice:payment_intent}`: a dotted path into the
step's JSON) and so that `--override`, `--add`, `--remove` and `--skip` can name it. Two
stand-ins are filled in when a step runs: `${now}` and `${now+SECONDS}` (Unix time, for a
test clock's `frozen_time` or a target). A step may expect a card error (a decline is the
point of `payment_intent.payment_failed`) or poll its GET until a field has a value (a test
clock's advance finishes in the background).

Recipes use Stripe's test cards (`pm_card_visa`, `pm_card_chargeDeclined`, ...) and the
amounts Stripe's fixtures use (2000, USD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

DESCRIPTION: Final = "(created by kassa trigger)"
AMOUNT: Final = 2000
CURRENCY: Final = "usd"


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    """`post`, `get` or `delete`."""
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    expect_card_error: bool = False
    """The API answers 402 with a `card_error`, and that is the step's purpose."""
    wait_for: tuple[str, str] | None = None
    """(dotted field, value): GET `path` again until the field has the value."""


@dataclass(frozen=True)
class Recipe:
    summary: str
    steps: tuple[Step, ...]


# -- building blocks -------------------------------------------------------------------------


def _customer(**params: Any) -> Step:
    return Step("customer", "post", "/v1/customers", {"description": DESCRIPTION, **params})


def _setup_intent(*, declined: bool = False, **params: Any) -> Step:
    return Step(
        "setup_intent",
        "post",
        "/v1/setup_intents",
        # As `_payment_intent`: cards only, so confirming needs no return_url.
        {"description": DESCRIPTION, "allowed_payment_method_types": ["card"], **params},
        expect_card_error=declined,
    )


def _paying_customer(card: str = "pm_card_visa") -> tuple[Step, ...]:
    """A customer whose default payment method is the test card `card`."""
    return (_customer(), *_default_card(card))


def _default_card(card: str, prefix: str = "") -> tuple[Step, ...]:
    """The test card `card` attached to the customer and made its default payment method;
    the steps' names start with `prefix` (a second card's must differ from the first's)."""
    return (
        Step(
            f"{prefix}payment_method",
            "post",
            f"/v1/payment_methods/{card}/attach",
            {"customer": "${customer:id}"},
        ),
        Step(
            f"{prefix}customer_default",
            "post",
            "/v1/customers/${customer:id}",
            {"invoice_settings": {"default_payment_method": f"${{{prefix}payment_method:id}}"}},
        ),
    )


def _payment_intent(card: str, *, confirm: bool = True, **params: Any) -> Step:
    values: dict[str, Any] = {
        "amount": AMOUNT,
        "currency": CURRENCY,
        "payment_method": card,
        "allowed_payment_method_types": ["card"],
        "description": DESCRIPTION,
        **params,
    }
    if confirm:
        values["confirm"] = "true"
    return Step(
        "payment_intent",
        "post",
        "/v1/payment_intents",
        values,
        expect_card_error=card in DECLINING_CARDS,
    )


DECLINING_CARDS: Final = frozenset({"pm_card_chargeDeclined"})

_SUCCEEDED: Final = (_payment_intent("pm_card_visa"),)
_DECLINED: Final = (_payment_intent("pm_card_chargeDeclined"),)
_AUTHORIZED: Final = (_payment_intent("pm_card_visa", capture_method="manual"),)
_REFUNDED: Final = (
    *_SUCCEEDED,
    Step("refund", "post", "/v1/refunds", {"payment_intent": "${payment_intent:id}"}),
)
_DISPUTED: Final = (_payment_intent("pm_card_createDispute"),)
_DISPUTE: Final = Step(
    "disputes", "get", "/v1/disputes", {"payment_intent": "${payment_intent:id}"}
)


def _product() -> Step:
    return Step("product", "post", "/v1/products", {"name": "myproduct"})


def _price(**params: Any) -> Step:
    return Step(
        "price",
        "post",
        "/v1/prices",
        {"product": "${product:id}", "unit_amount": AMOUNT, "currency": CURRENCY, **params},
    )


def _monthly() -> tuple[Step, ...]:
    return (_product(), _price(recurring={"interval": "month"}))


def _subscription(**params: Any) -> Step:
    return Step(
        "subscription",
        "post",
        "/v1/subscriptions",
        {"customer": "${customer:id}", "items": [{"price": "${price:id}"}], **params},
    )


_SUBSCRIBED: Final = (*_paying_customer(), *_monthly(), _subscription())


def _draft_invoice(customer: tuple[Step, ...], **params: Any) -> tuple[Step, ...]:
    return (
        *customer,
        Step(
            "invoiceitem",
            "post",
            "/v1/invoiceitems",
            {"customer": "${customer:id}", "amount": AMOUNT, "currency": CURRENCY},
        ),
        Step(
            "invoice",
            "post",
            "/v1/invoices",
            {"customer": "${customer:id}", "pending_invoice_items_behavior": "include", **params},
        ),
    )


def _invoice_action(action: str, **params: Any) -> Step:
    return Step(f"invoice_{action}", "post", f"/v1/invoices/${{invoice:id}}/{action}", params)


_OPEN_INVOICE: Final = (*_draft_invoice(_paying_customer()), _invoice_action("finalize"))
_PAID_INVOICE: Final = (*_OPEN_INVOICE, _invoice_action("pay"))


def _clock() -> Step:
    return Step(
        "test_clock",
        "post",
        "/v1/test_helpers/test_clocks",
        {"frozen_time": "${now}", "name": DESCRIPTION},
    )


def _advance(seconds: int) -> tuple[Step, ...]:
    return (
        Step(
            "advance",
            "post",
            "/v1/test_helpers/test_clocks/${test_clock:id}/advance",
            {"frozen_time": f"${{now+{seconds}}}"},
        ),
        Step(
            "clock_ready",
            "get",
            "/v1/test_helpers/test_clocks/${test_clock:id}",
            wait_for=("status", "ready"),
        ),
    )


def _update(name: str, path: str) -> Step:
    return Step(name, "post", path, {"metadata": {"triggered": "true"}})


def _lifecycle(
    kind: str, made: tuple[Step, ...], summary: str, path: str, *, deletes: bool = True
) -> dict[str, Recipe]:
    """`KIND.created`, `.updated` (its metadata) and `.deleted` for an object at `path`,
    made by `made`."""
    step = kind.replace(".", "_")  # a step's name is a reference's (`${name:field}`)
    recipes = {
        f"{kind}.created": Recipe(summary, made),
        f"{kind}.updated": Recipe(
            f"{summary}, then updated", (*made, _update(f"{step}_update", path))
        ),
    }
    if deletes:
        recipes[f"{kind}.deleted"] = Recipe(
            f"{summary}, then deleted", (*made, Step(f"{step}_delete", "delete", path))
        )
    return recipes


DAY: Final = 86_400
RENEWAL_ATTEMPTED_AFTER: Final = 32 * DAY
"""Past a monthly subscription's first renewal (28 to 31 days on) and its first attempt an
hour later, before the second (59 days on at the least)."""
UPCOMING_NOTICE_AFTER: Final = 25 * DAY
"""Past a monthly subscription's first `invoice.upcoming` (7 days, the default, before its
first renewal: 21 to 24 days on), before that renewal."""

# -- the recipes -----------------------------------------------------------------------------

_CUSTOMER_RECIPES: Final = {
    **_lifecycle("customer", (_customer(),), "a customer", "/v1/customers/${customer:id}"),
    **_lifecycle(
        "customer.source",
        (
            _customer(),
            Step("source", "post", "/v1/customers/${customer:id}/sources", {"source": "tok_visa"}),
        ),
        "a Visa test card saved on a customer as its source",
        "/v1/customers/${customer:id}/sources/${source:id}",
    ),
    "payment_method.attached": Recipe(
        "a customer and a Visa test card attached to it", _paying_customer()[:2]
    ),
    "payment_method.updated": Recipe(
        "a card attached to a customer, then updated",
        (
            *_paying_customer()[:2],
            _update("payment_method_update", "/v1/payment_methods/${payment_method:id}"),
        ),
    ),
    "payment_method.detached": Recipe(
        "a card attached to a customer, then detached",
        (
            *_paying_customer()[:2],
            Step(
                "payment_method_detach",
                "post",
                "/v1/payment_methods/${payment_method:id}/detach",
            ),
        ),
    ),
}

_REFUND_UPDATED: Final = Recipe(
    "a refund, then updated", (*_REFUNDED, _update("refund_update", "/v1/refunds/${refund:id}"))
)

_WARNED: Final = (
    Step(
        "payment_intent",
        "post",
        "/v1/payment_intents",
        {
            "amount": AMOUNT,
            "currency": CURRENCY,
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": "4000000000005423",
                    "exp_month": "12",
                    "exp_year": "2034",
                    "cvc": "123",
                },
            },
            "allowed_payment_method_types": ["card"],
            "confirm": "true",
            "description": DESCRIPTION,
        },
    ),
)

_PAYMENT_RECIPES: Final = {
    "payment_intent.created": Recipe(
        "a PaymentIntent, not confirmed", (_payment_intent("pm_card_visa", confirm=False),)
    ),
    "payment_intent.succeeded": Recipe("a PaymentIntent paid with a Visa test card", _SUCCEEDED),
    "payment_intent.payment_failed": Recipe(
        "a PaymentIntent declined (pm_card_chargeDeclined)", _DECLINED
    ),
    "payment_intent.canceled": Recipe(
        "a PaymentIntent, then canceled",
        (
            _payment_intent("pm_card_visa", confirm=False),
            Step("cancel", "post", "/v1/payment_intents/${payment_intent:id}/cancel"),
        ),
    ),
    "payment_intent.amount_capturable_updated": Recipe(
        "a PaymentIntent authorized for later capture", _AUTHORIZED
    ),
    "payment_intent.requires_action": Recipe(
        "a PaymentIntent whose card needs 3D Secure",
        (_payment_intent("pm_card_threeDSecure2Required", return_url="https://example.com"),),
    ),
    "setup_intent.created": Recipe("a SetupIntent, not confirmed", (_setup_intent(),)),
    "setup_intent.succeeded": Recipe(
        "a SetupIntent confirmed with a Visa test card",
        (_setup_intent(payment_method="pm_card_visa", confirm="true"),),
    ),
    "setup_intent.setup_failed": Recipe(
        "a SetupIntent declined (pm_card_chargeDeclined)",
        (_setup_intent(payment_method="pm_card_chargeDeclined", confirm="true", declined=True),),
    ),
    "setup_intent.requires_action": Recipe(
        "a SetupIntent whose card needs 3D Secure",
        (
            _setup_intent(
                payment_method="pm_card_authenticationRequired",
                confirm="true",
                return_url="https://example.com",
            ),
        ),
    ),
    "setup_intent.canceled": Recipe(
        "a SetupIntent, then canceled",
        (
            _setup_intent(),
            Step("cancel", "post", "/v1/setup_intents/${setup_intent:id}/cancel"),
        ),
    ),
    "charge.succeeded": Recipe("a PaymentIntent paid with a Visa test card", _SUCCEEDED),
    "charge.failed": Recipe("a PaymentIntent declined (pm_card_chargeDeclined)", _DECLINED),
    "charge.captured": Recipe(
        "a PaymentIntent authorized, then captured",
        (
            *_AUTHORIZED,
            Step("capture", "post", "/v1/payment_intents/${payment_intent:id}/capture"),
        ),
    ),
    "charge.updated": Recipe(
        "a charge, then its description updated",
        (
            *_SUCCEEDED,
            Step(
                "charge_update",
                "post",
                "/v1/charges/${payment_intent:latest_charge}",
                {"description": "updated by kassa trigger"},
            ),
        ),
    ),
    "charge.refunded": Recipe("a charge, then refunded in full", _REFUNDED),
    "checkout.session.expired": Recipe(
        "a hosted Checkout Session in payment mode, then expired",
        (
            Step(
                "checkout_session",
                "post",
                "/v1/checkout/sessions",
                {
                    "mode": "payment",
                    "success_url": "https://example.com/success",
                    "line_items": [
                        {
                            "price_data": {
                                "currency": CURRENCY,
                                "unit_amount": AMOUNT,
                                "product_data": {"name": DESCRIPTION},
                            },
                            "quantity": 1,
                        }
                    ],
                },
            ),
            Step("expire", "post", "/v1/checkout/sessions/${checkout_session:id}/expire"),
        ),
    ),
    "refund.created": Recipe("a charge, then refunded in full", _REFUNDED),
    "refund.updated": _REFUND_UPDATED,
    "charge.refund.updated": _REFUND_UPDATED,
    "refund.failed": Recipe(
        "a charge on the refund-failure test card, refunded; the refund fails seconds later",
        (
            _payment_intent("pm_card_refundFail"),
            Step("refund", "post", "/v1/refunds", {"payment_intent": "${payment_intent:id}"}),
            Step("refund_failed", "get", "/v1/refunds/${refund:id}", wait_for=("status", "failed")),
        ),
    ),
    "charge.dispute.created": Recipe(
        "a charge disputed as fraudulent (pm_card_createDispute)", _DISPUTED
    ),
    "charge.dispute.funds_withdrawn": Recipe(
        "a charge disputed as fraudulent (pm_card_createDispute)", _DISPUTED
    ),
    "charge.dispute.updated": Recipe(
        "a dispute, then evidence added",
        (
            *_DISPUTED,
            _DISPUTE,
            Step(
                "dispute_update",
                "post",
                "/v1/disputes/${disputes:data.0.id}",
                {"evidence": {"uncategorized_text": "triggered"}},
            ),
        ),
    ),
    "charge.dispute.funds_reinstated": Recipe(
        "a dispute, then won with Stripe's test evidence (winning_evidence)",
        (
            *_DISPUTED,
            _DISPUTE,
            Step(
                "dispute_update",
                "post",
                "/v1/disputes/${disputes:data.0.id}",
                {"evidence": {"uncategorized_text": "winning_evidence"}},
            ),
        ),
    ),
    "radar.early_fraud_warning.created": Recipe(
        "a charge on the early fraud warning test card (4000000000005423)", _WARNED
    ),
    "radar.early_fraud_warning.updated": Recipe(
        "a charge with an early fraud warning, then refunded in full",
        (
            *_WARNED,
            Step("refund", "post", "/v1/refunds", {"payment_intent": "${payment_intent:id}"}),
        ),
    ),
    "charge.dispute.closed": Recipe(
        "a dispute, then accepted (closed)",
        (
            *_DISPUTED,
            _DISPUTE,
            Step("dispute_close", "post", "/v1/disputes/${disputes:data.0.id}/close"),
        ),
    ),
}

_COUPON: Final = Step("coupon", "post", "/v1/coupons", {"percent_off": 25})
_PROMOTION_CODE: Final = Step(
    "promotion_code",
    "post",
    "/v1/promotion_codes",
    {"promotion": {"type": "coupon", "coupon": "${coupon:id}"}},
)
_TAX_RATE: Final = Step(
    "tax_rate",
    "post",
    "/v1/tax_rates",
    {"display_name": "VAT", "percentage": "19", "inclusive": "false"},
)
_PLAN: Final = Step(
    "plan",
    "post",
    "/v1/plans",
    {"amount": AMOUNT, "currency": CURRENCY, "interval": "month", "product": {"name": "myproduct"}},
)
_TAX_ID: Final = (
    _customer(),
    Step(
        "tax_id",
        "post",
        "/v1/customers/${customer:id}/tax_ids",
        {"type": "eu_vat", "value": "DE123456789"},
    ),
)

_CATALOG_RECIPES: Final = {
    **_lifecycle("product", (_product(),), "a product", "/v1/products/${product:id}"),
    **_lifecycle(
        "price",
        (_product(), _price()),
        "a product and a price",
        "/v1/prices/${price:id}",
        deletes=False,
    ),
    **_lifecycle("coupon", (_COUPON,), "a 25% coupon", "/v1/coupons/${coupon:id}"),
    **_lifecycle(
        "promotion_code",
        (_COUPON, _PROMOTION_CODE),
        "a coupon and a promotion code for it",
        "/v1/promotion_codes/${promotion_code:id}",
        deletes=False,
    ),
    **_lifecycle(
        "plan",
        (_PLAN,),
        "a monthly plan (a recurring price) with a new product",
        "/v1/plans/${plan:id}",
    ),
    "customer.tax_id.created": Recipe("a customer with an EU VAT number", _TAX_ID),
    "customer.tax_id.updated": Recipe(
        "a customer's EU VAT number with Stripe's test value that verifies",
        (
            _customer(),
            Step(
                "tax_id",
                "post",
                "/v1/customers/${customer:id}/tax_ids",
                {"type": "eu_vat", "value": "DE000000000"},
            ),
        ),
    ),
    "price.deleted": Recipe(
        "a monthly plan, then deleted: a plan is a recurring price",
        (_PLAN, Step("plan_delete", "delete", "/v1/plans/${plan:id}")),
    ),
    "balance_settings.updated": Recipe(
        "the balance settings' payout statement descriptor changed",
        (
            Step(
                "balance_settings",
                "post",
                "/v1/balance_settings",
                {"payments": {"payouts": {"statement_descriptor": "KASSA TRIGGER"}}},
            ),
        ),
    ),
    "customer.tax_id.deleted": Recipe(
        "a customer's EU VAT number, then deleted",
        (
            *_TAX_ID,
            Step("tax_id_delete", "delete", "/v1/customers/${customer:id}/tax_ids/${tax_id:id}"),
        ),
    ),
    **_lifecycle(
        "tax_rate",
        (_TAX_RATE,),
        "an exclusive 19% tax rate",
        "/v1/tax_rates/${tax_rate:id}",
        deletes=False,
    ),
}

_INVOICE_RECIPES: Final = {
    "invoiceitem.created": Recipe(
        "a customer and a pending invoice item", _draft_invoice((_customer(),))[:2]
    ),
    "invoiceitem.deleted": Recipe(
        "a pending invoice item, then deleted",
        (
            *_draft_invoice((_customer(),))[:2],
            Step("invoiceitem_delete", "delete", "/v1/invoiceitems/${invoiceitem:id}"),
        ),
    ),
    "invoice.created": Recipe("a draft invoice with one item", _draft_invoice((_customer(),))),
    "invoice.updated": Recipe(
        "a draft invoice, then updated",
        (*_draft_invoice((_customer(),)), _update("invoice_update", "/v1/invoices/${invoice:id}")),
    ),
    "invoice.deleted": Recipe(
        "a draft invoice, then deleted",
        (
            *_draft_invoice((_customer(),)),
            Step("invoice_delete", "delete", "/v1/invoices/${invoice:id}"),
        ),
    ),
    "invoice.finalized": Recipe("an invoice, finalized", _OPEN_INVOICE),
    "invoice.paid": Recipe("an invoice, finalized and paid with a Visa test card", _PAID_INVOICE),
    "invoice.payment_succeeded": Recipe(
        "an invoice, finalized and paid with a Visa test card", _PAID_INVOICE
    ),
    "invoice_payment.paid": Recipe(
        "an invoice, finalized and paid with a Visa test card", _PAID_INVOICE
    ),
    "invoice.payment_failed": Recipe(
        "an invoice whose payment is declined (pm_card_chargeCustomerFail)",
        (
            *_draft_invoice(_paying_customer("pm_card_chargeCustomerFail")),
            _invoice_action("finalize"),
            Step("invoice_pay", "post", "/v1/invoices/${invoice:id}/pay", expect_card_error=True),
        ),
    ),
    "invoice.voided": Recipe(
        "an invoice, finalized, then voided", (*_OPEN_INVOICE, _invoice_action("void"))
    ),
    "invoice.marked_uncollectible": Recipe(
        "an invoice, finalized, then marked uncollectible",
        (*_OPEN_INVOICE, _invoice_action("mark_uncollectible")),
    ),
    "invoice.sent": Recipe(
        "an invoice due in 30 days (collection_method=send_invoice), finalized and emailed",
        (
            *_draft_invoice(
                (_customer(email="jenny.rosen@example.com"),),
                collection_method="send_invoice",
                days_until_due=30,
            ),
            _invoice_action("finalize"),
            _invoice_action("send"),
        ),
    ),
}

_DISCOUNTED: Final = (
    _COUPON,
    *_paying_customer(),
    *_monthly(),
    _subscription(discounts=[{"coupon": "${coupon:id}"}]),
)

_SUBSCRIPTION_RECIPES: Final = {
    "customer.subscription.created": Recipe(
        "a monthly subscription paid with a Visa test card", _SUBSCRIBED
    ),
    "customer.subscription.updated": Recipe(
        "a subscription, then its quantity raised to 2",
        (
            *_SUBSCRIBED,
            Step(
                "subscription_update",
                "post",
                "/v1/subscriptions/${subscription:id}",
                {"items": [{"id": "${subscription:items.data.0.id}", "quantity": 2}]},
            ),
        ),
    ),
    "customer.subscription.deleted": Recipe(
        "a subscription, then canceled",
        (
            *_SUBSCRIBED,
            Step("subscription_cancel", "delete", "/v1/subscriptions/${subscription:id}"),
        ),
    ),
    "customer.subscription.paused": Recipe(
        "a subscription, then paused",
        (
            *_SUBSCRIBED,
            Step("subscription_pause", "post", "/v1/subscriptions/${subscription:id}/pause"),
        ),
    ),
    "customer.subscription.resumed": Recipe(
        "a subscription, paused, then resumed",
        (
            *_SUBSCRIBED,
            Step("subscription_pause", "post", "/v1/subscriptions/${subscription:id}/pause"),
            Step("subscription_resume", "post", "/v1/subscriptions/${subscription:id}/resume"),
        ),
    ),
    "invoice.payment_action_required": Recipe(
        "a subscription on a test clock paid with a Visa, its customer's default card then one"
        " that always asks for 3D Secure (pm_card_threeDSecure2Required), advanced past the"
        " renewal's off-session attempt",
        (
            _clock(),
            _customer(test_clock="${test_clock:id}"),
            *_default_card("pm_card_visa"),
            *_monthly(),
            _subscription(),
            *_default_card("pm_card_threeDSecure2Required", "three_d_secure_"),
            *_advance(RENEWAL_ATTEMPTED_AFTER),
        ),
    ),
    "customer.subscription.trial_will_end": Recipe(
        "a 7-day trial on a test clock, advanced 5 days (the event comes 3 days before the end)",
        (
            _clock(),
            _customer(test_clock="${test_clock:id}"),
            *_monthly(),
            _subscription(trial_period_days=7),
            *_advance(5 * DAY),
        ),
    ),
    "customer.discount.created": Recipe(
        "a subscription with a 25% coupon (a subscription's discount)", _DISCOUNTED
    ),
    "customer.discount.updated": Recipe(
        "a subscription with a 25% coupon, then a 50% coupon in its place",
        (
            *_DISCOUNTED,
            Step("coupon_replacing", "post", "/v1/coupons", {"percent_off": 50}),
            Step(
                "subscription_update",
                "post",
                "/v1/subscriptions/${subscription:id}",
                {"discounts": [{"coupon": "${coupon_replacing:id}"}]},
            ),
        ),
    ),
    "customer.discount.deleted": Recipe(
        "a subscription with a 25% coupon, then its discount deleted",
        (
            *_DISCOUNTED,
            Step("discount_delete", "delete", "/v1/subscriptions/${subscription:id}/discount"),
        ),
    ),
    "invoice.upcoming": Recipe(
        "a monthly subscription on a test clock paid with a Visa, advanced 25 days (the event"
        " comes KASSA_UPCOMING_RENEWAL_DAYS, 7 by default, before the renewal)",
        (
            _clock(),
            _customer(test_clock="${test_clock:id}"),
            *_default_card("pm_card_visa"),
            *_monthly(),
            _subscription(),
            *_advance(UPCOMING_NOTICE_AFTER),
        ),
    ),
    "test_helpers.test_clock.created": Recipe("a test clock", (_clock(),)),
    "test_helpers.test_clock.advancing": Recipe(
        "a test clock, advanced one day", (_clock(), *_advance(DAY))
    ),
    "test_helpers.test_clock.ready": Recipe(
        "a test clock, advanced one day", (_clock(), *_advance(DAY))
    ),
    "test_helpers.test_clock.deleted": Recipe(
        "a test clock, then deleted",
        (
            _clock(),
            Step("test_clock_delete", "delete", "/v1/test_helpers/test_clocks/${test_clock:id}"),
        ),
    ),
}

_CREDIT_NOTE: Final = (
    *_OPEN_INVOICE,
    Step(
        "credit_note",
        "post",
        "/v1/credit_notes",
        {"invoice": "${invoice:id}", "amount": AMOUNT // 4, "reason": "order_change"},
    ),
)
"""A quarter of an open invoice credited before payment: its amount due goes down."""

_CREDIT_NOTE_RECIPES: Final = {
    "credit_note.created": Recipe(
        "an open invoice, a quarter of it credited before payment", _CREDIT_NOTE
    ),
    "credit_note.updated": Recipe(
        "a credit note, then its metadata updated",
        (*_CREDIT_NOTE, _update("credit_note_update", "/v1/credit_notes/${credit_note:id}")),
    ),
    "credit_note.voided": Recipe(
        "a credit note, then voided (the invoice's amount due comes back)",
        (
            *_CREDIT_NOTE,
            Step("credit_note_void", "post", "/v1/credit_notes/${credit_note:id}/void"),
        ),
    ),
}


def _meter(tag: str) -> Step:
    """A Billing Meter (sum of `value`) with an event name of its own: an account may use
    an event name with one meter only, so each recipe and run names its own."""
    return Step(
        "meter",
        "post",
        "/v1/billing/meters",
        {
            "display_name": "Kassa trigger",
            "event_name": f"kassa_trigger_{tag}_${{now}}",
            "default_aggregation": {"formula": "sum"},
        },
    )


def _meter_action(action: str) -> Step:
    return Step(f"meter_{action}", "post", f"/v1/billing/meters/${{meter:id}}/{action}")


_METER_RECIPES: Final = {
    "billing.meter.created": Recipe("a billing meter", (_meter("created"),)),
    "billing.meter.updated": Recipe(
        "a billing meter, then renamed",
        (
            _meter("updated"),
            Step(
                "meter_update",
                "post",
                "/v1/billing/meters/${meter:id}",
                {"display_name": "Kassa trigger (renamed)"},
            ),
        ),
    ),
    "billing.meter.deactivated": Recipe(
        "a billing meter, then deactivated", (_meter("deactivated"), _meter_action("deactivate"))
    ),
    "billing.meter.reactivated": Recipe(
        "a billing meter, deactivated, then reactivated",
        (_meter("reactivated"), _meter_action("deactivate"), _meter_action("reactivate")),
    ),
}


_ALERT_RECIPES: Final = {
    "billing.alert.triggered": Recipe(
        "a billing meter, an alert at 10 on a customer, then 10 of its usage",
        (
            _meter("alert"),
            _customer(),
            Step(
                "alert",
                "post",
                "/v1/billing/alerts",
                {
                    "alert_type": "usage_threshold",
                    "title": "Kassa trigger",
                    "usage_threshold": {
                        "gte": 10,
                        "meter": "${meter:id}",
                        "recurrence": "one_time",
                        "filters": [{"type": "customer", "customer": "${customer:id}"}],
                    },
                },
            ),
            Step(
                "meter_event",
                "post",
                "/v1/billing/meter_events",
                {
                    "event_name": "${meter:event_name}",
                    "payload": {"stripe_customer_id": "${customer:id}", "value": "10"},
                },
            ),
        ),
    ),
}


_SCHEDULED: Final = (
    *_SUBSCRIBED,
    Step(
        "subscription_schedule",
        "post",
        "/v1/subscription_schedules",
        {"from_subscription": "${subscription:id}"},
    ),
)
"""A running subscription put on a schedule (one phase, its current period)."""

_SCHEDULE_ENDING: Final = (
    _clock(),
    _customer(test_clock="${test_clock:id}"),
    *_default_card("pm_card_visa"),
    *_monthly(),
    Step(
        "subscription_schedule",
        "post",
        "/v1/subscription_schedules",
        {
            "customer": "${customer:id}",
            "start_date": "now",
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": "${price:id}"}],
                    "duration": {"interval": "month", "interval_count": 1},
                }
            ],
        },
    ),
    *_advance(32 * DAY),
)
"""A one-month schedule that cancels its subscription at the end, on a test clock advanced
past it: 7 days before the end it is expiring, at the end completed."""

_SCHEDULE_RECIPES: Final = {
    "subscription_schedule.created": Recipe(
        "a monthly subscription, then put on a schedule (from_subscription)", _SCHEDULED
    ),
    "subscription_schedule.updated": Recipe(
        "a subscription schedule, then its metadata updated",
        (
            *_SCHEDULED,
            _update(
                "subscription_schedule_update",
                "/v1/subscription_schedules/${subscription_schedule:id}",
            ),
        ),
    ),
    "subscription_schedule.released": Recipe(
        "a subscription schedule, then released (the subscription goes on without it)",
        (
            *_SCHEDULED,
            Step(
                "subscription_schedule_release",
                "post",
                "/v1/subscription_schedules/${subscription_schedule:id}/release",
            ),
        ),
    ),
    "subscription_schedule.canceled": Recipe(
        "a subscription schedule, then canceled (its subscription too)",
        (
            *_SCHEDULED,
            Step(
                "subscription_schedule_cancel",
                "post",
                "/v1/subscription_schedules/${subscription_schedule:id}/cancel",
            ),
        ),
    ),
    "subscription_schedule.expiring": Recipe(
        "a one-month schedule ending with end_behavior=cancel on a test clock, advanced past"
        " its end (the event comes 7 days before it)",
        _SCHEDULE_ENDING,
    ),
    "subscription_schedule.completed": Recipe(
        "a one-month schedule ending with end_behavior=cancel on a test clock, advanced past"
        " its end",
        _SCHEDULE_ENDING,
    ),
}

PAYOUT_FUNDING: Final = 1_000_000
"""The charge a payout recipe pays out of: large enough that the payout is covered even in
an account whose balance other triggers' refunds and disputes took below zero."""

_FUNDED_PAYOUT: Final = (
    _payment_intent("pm_card_bypassPending", amount=PAYOUT_FUNDING),
    Step("payout", "post", "/v1/payouts", {"amount": 1000, "currency": CURRENCY}),
)
"""A payout from a charge whose card skips the pending balance (available at once)."""

FAILING_BANK_ACCOUNT: Final = {
    "object": "bank_account",
    "country": "US",
    "currency": CURRENCY,
    "routing_number": "110000000",
    "account_number": "000111111116",
}
"""Stripe's test bank account number that has no account behind it: payouts to it fail."""

_PAYOUT_RECIPES: Final = {
    "payout.created": Recipe("a charge available at once, then a manual payout", _FUNDED_PAYOUT),
    "payout.updated": Recipe(
        "a manual payout, then its metadata updated",
        (*_FUNDED_PAYOUT, _update("payout_update", "/v1/payouts/${payout:id}")),
    ),
    "payout.canceled": Recipe(
        "a manual payout, then canceled",
        (*_FUNDED_PAYOUT, Step("payout_cancel", "post", "/v1/payouts/${payout:id}/cancel")),
    ),
    "payout.paid": Recipe(
        "a manual payout, then arrived at the bank now (Kassa's arrive test helper)",
        (
            *_FUNDED_PAYOUT,
            Step("payout_arrive", "post", "/v1/test_helpers/payouts/${payout:id}/arrive"),
        ),
    ),
    "payout.failed": Recipe(
        "a bank account whose test number has no account (000111111116), a manual payout to "
        "it, then arrived (Kassa's arrive test helper): the bank refuses it",
        (
            Step("account", "get", "/v1/account"),
            Step(
                "bank_account",
                "post",
                "/v1/accounts/${account:id}/external_accounts",
                {"external_account": FAILING_BANK_ACCOUNT},
            ),
            _FUNDED_PAYOUT[0],
            Step(
                "payout",
                "post",
                "/v1/payouts",
                {"amount": 1000, "currency": CURRENCY, "destination": "${bank_account:id}"},
            ),
            Step("payout_arrive", "post", "/v1/test_helpers/payouts/${payout:id}/arrive"),
        ),
    ),
    "balance.available": Recipe(
        "a charge whose card skips the pending balance (pm_card_bypassPending)",
        # Captured in the request, so that its funds are available in the recipe's own.
        (_payment_intent("pm_card_bypassPending", capture_method="automatic"),),
    ),
}

_OWN_ACCOUNT: Final = Step("account", "get", "/v1/account")
_BANK_ACCOUNT: Final = Step(
    "bank_account",
    "post",
    "/v1/accounts/${account:id}/external_accounts",
    {
        "external_account": {
            "object": "bank_account",
            "country": "US",
            "currency": CURRENCY,
            "routing_number": "110000000",
            "account_number": "000123456789",
        }
    },
)
_ACCOUNT_RECIPES: Final = {
    **_lifecycle(
        "account.external_account",
        (_OWN_ACCOUNT, _BANK_ACCOUNT),
        "a bank account with Stripe's succeeding test number",
        "/v1/accounts/${account:id}/external_accounts/${bank_account:id}",
    ),
    "account.updated": Recipe(
        "the payout statement descriptor changed (the account shows its payout settings)",
        (
            Step(
                "balance_settings",
                "post",
                "/v1/balance_settings",
                {"payments": {"payouts": {"statement_descriptor": "KASSA ACCOUNT"}}},
            ),
        ),
    ),
}

_QUOTE: Final = (
    *_paying_customer(),
    Step(
        "quote",
        "post",
        "/v1/quotes",
        {
            "customer": "${customer:id}",
            "description": DESCRIPTION,
            "line_items": [
                {
                    "price_data": {
                        "currency": CURRENCY,
                        "unit_amount": AMOUNT,
                        "product": "${product:id}",
                    },
                    "quantity": 1,
                }
            ],
        },
    ),
)
"""A draft quote of one one-time line, for a customer paying by card."""
_QUOTE_PRODUCT: Final = Step("product", "post", "/v1/products", {"name": DESCRIPTION})
_FINALIZED_QUOTE: Final = (
    _QUOTE_PRODUCT,
    *_QUOTE,
    Step("quote_finalize", "post", "/v1/quotes/${quote:id}/finalize"),
)
_QUOTE_RECIPES: Final = {
    "quote.created": Recipe("a draft quote of one line", (_QUOTE_PRODUCT, *_QUOTE)),
    "quote.finalized": Recipe("a quote, then finalized (numbered, open)", _FINALIZED_QUOTE),
    "quote.accepted": Recipe(
        "a finalized quote, then accepted (a draft invoice of its line)",
        (*_FINALIZED_QUOTE, Step("quote_accept", "post", "/v1/quotes/${quote:id}/accept")),
    ),
    "quote.canceled": Recipe(
        "a finalized quote, then canceled",
        (*_FINALIZED_QUOTE, Step("quote_cancel", "post", "/v1/quotes/${quote:id}/cancel")),
    ),
}

_PORTAL_CONFIGURATION: Final = Step(
    "configuration",
    "post",
    "/v1/billing_portal/configurations",
    {"features": {"invoice_history": {"enabled": True}}, "name": DESCRIPTION},
)
_PORTAL_RECIPES: Final = {
    "billing_portal.configuration.created": Recipe(
        "a customer portal configuration (invoice history)", (_PORTAL_CONFIGURATION,)
    ),
    "billing_portal.configuration.updated": Recipe(
        "a customer portal configuration, then deactivated",
        (
            _PORTAL_CONFIGURATION,
            Step(
                "configuration_update",
                "post",
                "/v1/billing_portal/configurations/${configuration:id}",
                {"active": False},
            ),
        ),
    ),
    "billing_portal.session.created": Recipe(
        "a customer, then a customer portal session for them",
        (
            _customer(),
            Step(
                "portal_session",
                "post",
                "/v1/billing_portal/sessions",
                {"customer": "${customer:id}", "return_url": "https://example.com/account"},
            ),
        ),
    ),
}
_PAYMENT_LINK_RECIPES: Final = _lifecycle(
    "payment_link",
    (
        _product(),
        _price(),
        Step(
            "payment_link",
            "post",
            "/v1/payment_links",
            {"line_items": [{"price": "${price:id}", "quantity": 1}]},
        ),
    ),
    "a price, then a payment link selling one of it",
    "/v1/payment_links/${payment_link:id}",
    deletes=False,
)

_ENTITLEMENT_RECIPES: Final = {
    "entitlements.active_entitlement_summary.updated": Recipe(
        "a feature on a product, then a customer subscribed to it (granted the entitlement)",
        (
            *_paying_customer(),
            Step(
                "feature",
                "post",
                "/v1/entitlements/features",
                # The customer's id makes the lookup key unique in the account.
                {"name": DESCRIPTION, "lookup_key": "kassa-trigger-${customer:id}"},
            ),
            _product(),
            Step(
                "product_feature",
                "post",
                "/v1/products/${product:id}/features",
                {"entitlement_feature": "${feature:id}"},
            ),
            _price(recurring={"interval": "month"}),
            _subscription(),
        ),
    ),
}


_CREDIT_GRANT: Final = (
    _customer(),
    Step(
        "credit_grant",
        "post",
        "/v1/billing/credit_grants",
        {
            "customer": "${customer:id}",
            "amount": {"type": "monetary", "monetary": {"currency": CURRENCY, "value": AMOUNT}},
            "applicability_config": {"scope": {"price_type": "metered"}},
            "name": "Kassa trigger",
        },
    ),
)
_CREDIT_RECIPES: Final = {
    "billing.credit_grant.created": Recipe("a credit grant on metered prices", _CREDIT_GRANT),
    "billing.credit_grant.updated": Recipe(
        "a credit grant, then its metadata updated",
        (
            *_CREDIT_GRANT,
            _update("credit_grant_update", "/v1/billing/credit_grants/${credit_grant:id}"),
        ),
    ),
    "billing.credit_balance_transaction.created": Recipe(
        "a credit grant (its `credits_granted` transaction)", _CREDIT_GRANT
    ),
}

RECIPES: Final[Mapping[str, Recipe]] = {
    **_ACCOUNT_RECIPES,
    **_PAYOUT_RECIPES,
    **_CUSTOMER_RECIPES,
    **_PAYMENT_RECIPES,
    **_CATALOG_RECIPES,
    **_INVOICE_RECIPES,
    **_SUBSCRIPTION_RECIPES,
    **_CREDIT_NOTE_RECIPES,
    **_METER_RECIPES,
    **_ALERT_RECIPES,
    **_SCHEDULE_RECIPES,
    **_QUOTE_RECIPES,
    **_PORTAL_RECIPES,
    **_PAYMENT_LINK_RECIPES,
    **_ENTITLEMENT_RECIPES,
    **_CREDIT_RECIPES,
}
"""Every event type `kassa trigger` can make, and how."""

NOT_TRIGGERED: Final[Mapping[str, str]] = {
    "charge.expired": "needs a held authorization's 7-day capture window to pass on a clock",
    "charge.pending": "declared for endpoints to subscribe to; card charges never pend",
    "checkout.session.completed": "needs a customer to pay on the hosted Checkout page",
    "customer.source.expiring": "declared for endpoints to subscribe to; no job makes it",
    "payment_intent.partially_funded": "declared for endpoints; only bank transfers make it",
    "payment_intent.processing": "declared for endpoints; card payments never process",
    "payment_method.automatically_updated": "declared for endpoints; no card updater runs",
    "customer.subscription.pending_update_applied": "needs a renewal's payment on a clock",
    "customer.subscription.pending_update_expired": "needs 23 hours to pass on a clock",
    "invoice.finalization_failed": "needs an invoice that cannot finalize (a bad tax setup)",
    "invoice.overdue": "a reminder job's event, days after the due date on a clock",
    "invoice.will_be_due": "a reminder job's event, days before the due date on a clock",
    "payout.reconciliation_completed": "needs an automatic payout, made on its schedule's day",
    "reporting.report_run.succeeded": "needs a whole day of the account's data before today",
    "reporting.report_run.failed": "needs a report over the size limit",
    "test_helpers.test_clock.internal_failure": "needs a clock's work to fail",
    "webhook_endpoint.disabled": "needs an endpoint failing for three days",
    "subscription_schedule.aborted": "needs its subscription canceled by failed payments",
}
"""Event types Kassa declares that `kassa trigger` cannot make at once, and why: every
declared type is either here or in RECIPES (tests/test_trigger.py checks it)."""
