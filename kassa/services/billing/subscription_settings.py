"""A subscription's settings for the invoices it makes, taken on create and update:
`payment_settings` (the payment method types and card options each invoice carries, and
`save_default_payment_method`), `automatic_tax`, `invoice_settings`, `currency`, the
collection method changed on update, and the Stripe parameters Kassa declares but does not
implement (each refused with its reason, never as an unknown parameter).

`save_default_payment_method=on_subscription` is what Stripe's subscription integration
guide sends with `payment_behavior=default_incomplete`: once a payment of one of the
subscription's invoices succeeds, the payment method that paid becomes the subscription's
`default_payment_method` (Stripe: "Stripe sets subscription.default_payment_method when a
subscription payment succeeds"), which later renewals are charged to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.params import (
    CONNECT_ONLY,
    Boolean,
    Enum,
    Integer,
    ListOf,
    NotSupported,
    Param,
    String,
    Struct,
    Unset,
)
from kassa.services import payment_intents
from kassa.services.billing import invoice_documents
from kassa.services.billing.invoice_changes import check_no_tax_engine
from kassa.services.billing.invoice_params import AUTOMATIC_TAX, ISSUER
from kassa.services.context import Context
from kassa.services.resource import ApiObject

DAYS_UNTIL_DUE_MAX: Final = 730
SAVE_ON_SUBSCRIPTION: Final = "on_subscription"
CARD_NETWORKS: Final = (
    "amex",
    "cartes_bancaires",
    "diners",
    "discover",
    "eftpos_au",
    "girocard",
    "interac",
    "jcb",
    "link",
    "mastercard",
    "unionpay",
    "unknown",
    "visa",
)
_OTHER_METHOD_OPTIONS: Final = (
    "acss_debit",
    "bancontact",
    "billie",
    "blik",
    "customer_balance",
    "konbini",
    "payto",
    "pix",
    "sepa_debit",
    "upi",
    "us_bank_account",
)
"""The payment methods whose options Stripe's subscription shows beside `card`'s: Kassa
takes cards only, so these stay null."""

PAYMENT_SETTINGS: Final = Struct(
    {
        "payment_method_options": Struct(
            {
                "card": Struct(
                    {
                        "mandate_options": NotSupported(
                            reason="Kassa has no card mandates (India's e-mandates)."
                        ),
                        "network": Enum(values=CARD_NETWORKS),
                        "request_three_d_secure": Enum(values=("any", "automatic", "challenge")),
                    },
                    nullable=True,
                ),
            },
            nullable=True,
        ),
        "payment_method_types": ListOf(Enum(values=("card",)), nullable=True),
        "save_default_payment_method": Enum(values=("off", SAVE_ON_SUBSCRIPTION)),
    }
)
INVOICE_SETTINGS: Final = Struct(
    {
        "account_tax_ids": NotSupported(reason="Kassa holds no tax ids yet."),
        "issuer": ISSUER,
    }
)
_NOT_SUPPORTED: Final[dict[str, Param]] = {
    name: NotSupported(reason=reason)
    for name, reason in (
        ("application_fee_percent", CONNECT_ONLY),
        ("on_behalf_of", CONNECT_ONLY),
        ("transfer_data", CONNECT_ONLY),
        ("default_source", "Kassa bills subscriptions with PaymentMethods, not sources."),
        ("billing_thresholds", "Stripe has deprecated billing thresholds."),
        ("billing_schedules", "Kassa bills each item on its own period only."),
        (
            "pending_invoice_item_interval",
            "Kassa bills pending invoice items with the next renewal only.",
        ),
    )
}
SETTINGS_PARAMS: Final[dict[str, Param]] = {
    **_NOT_SUPPORTED,
    "automatic_tax": AUTOMATIC_TAX,
    "invoice_settings": INVOICE_SETTINGS,
    "payment_settings": PAYMENT_SETTINGS,
}
"""What create and update both take for these settings."""
CREATE_ONLY_PARAMS: Final[dict[str, Param]] = {
    "backdate_start_date": NotSupported(reason="Kassa starts subscriptions now."),
    "currency": String(max_chars=3),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
}
UPDATE_ONLY_PARAMS: Final[dict[str, Param]] = {
    "collection_method": Enum(values=("charge_automatically", "send_invoice")),
    "days_until_due": Integer(minimum=0, maximum=DAYS_UNTIL_DUE_MAX),
    "off_session": Boolean(),
}


class SettingsRequest(Protocol):
    """The part of a create or update request these settings read."""

    @property
    def automatic_tax(self) -> dict[str, Any] | None: ...
    @property
    def invoice_settings(self) -> dict[str, Any] | None: ...
    @property
    def payment_settings(self) -> dict[str, Any] | None: ...


def apply_settings(subscription: ApiObject, request: SettingsRequest) -> None:
    """`automatic_tax` (off only: Kassa calculates no tax, as on invoices),
    `invoice_settings` and `payment_settings`, each field sent replacing the stored one."""
    check_no_tax_engine(request.automatic_tax)
    if request.automatic_tax is not None:
        liability = request.automatic_tax.get("liability")
        subscription["automatic_tax"] = {
            "disabled_reason": None,
            "enabled": False,
            "liability": None if liability is None else {"type": liability["type"]},
        }
    if request.invoice_settings is not None and "issuer" in request.invoice_settings:
        subscription["invoice_settings"]["issuer"] = {
            "type": request.invoice_settings["issuer"]["type"]
        }
    if request.payment_settings is not None:
        _apply_payment_settings(subscription["payment_settings"], request.payment_settings)


def _apply_payment_settings(current: ApiObject, sent: Mapping[str, Any]) -> None:
    if "payment_method_types" in sent:
        types = sent["payment_method_types"]
        current["payment_method_types"] = None if isinstance(types, Unset) else list(types)
    if "save_default_payment_method" in sent:
        current["save_default_payment_method"] = sent["save_default_payment_method"]
    if "payment_method_options" in sent:
        current["payment_method_options"] = _method_options(sent["payment_method_options"])


def _method_options(sent: Mapping[str, Any] | Unset) -> ApiObject | None:
    """Stripe's shape: every payment method's options, null but the card's when sent."""
    if isinstance(sent, Unset):
        return None
    card = sent.get("card")
    options: ApiObject = {name: None for name in _OTHER_METHOD_OPTIONS}
    options["card"] = (
        None
        if card is None or isinstance(card, Unset)
        else {
            "mandate_options": None,
            "network": card.get("network"),
            "request_three_d_secure": card.get("request_three_d_secure", "automatic"),
        }
    )
    return options


def check_currency(sent: str | None, prices_currency: str) -> None:
    """`currency` on create: a Kassa price has one currency, so the subscription's is its
    prices'; another is refused, naming it."""
    if sent is not None and sent.lower() != prices_currency:
        raise InvalidParameter(
            f"The subscription's prices are in {prices_currency}, not {sent.lower()}: a "
            "Kassa price has one currency.",
            param="currency",
        )


def change_collection(
    subscription: ApiObject, method: str | None, days_until_due: int | None
) -> None:
    """`collection_method` and `days_until_due` on create and update, for the invoices made
    from now on: `send_invoice` needs its days (sent now or kept from before), which
    `charge_automatically` has none of."""
    chosen = method or subscription["collection_method"]
    days = days_until_due if days_until_due is not None else subscription["days_until_due"]
    if chosen == "send_invoice" and days is None:
        raise InvalidRequest(
            "Missing required param: days_until_due (a send_invoice subscription needs it).",
            param="days_until_due",
        )
    if chosen != "send_invoice" and days_until_due is not None:
        raise InvalidParameter(
            "days_until_due is only allowed with collection_method=send_invoice.",
            param="days_until_due",
        )
    subscription["collection_method"] = chosen
    subscription["days_until_due"] = days if chosen == "send_invoice" else None


def carry_to_invoice(subscription: Mapping[str, Any], invoice: ApiObject) -> None:
    """What each invoice the subscription makes takes of its settings: the payment method
    types and options (Stripe: "Payment settings to pass to invoices created by the
    subscription") and the issuer."""
    settings = subscription["payment_settings"]
    card = (settings["payment_method_options"] or {}).get("card")
    invoice["payment_settings"]["payment_method_types"] = settings["payment_method_types"]
    invoice["payment_settings"]["payment_method_options"] = (
        None
        if settings["payment_method_options"] is None
        else {"card": None if card is None else {k: card[k] for k in ("request_three_d_secure",)}}
    )
    invoice["issuer"] = dict(subscription["invoice_settings"]["issuer"])
    if settings["save_default_payment_method"] == SAVE_ON_SUBSCRIPTION:
        # Its PaymentIntent then sets the payment method up for later renewals, which
        # attaches it to the customer (a subscription's default must be the customer's).
        invoice_documents.private(invoice)[invoice_documents.SAVES_PAYMENT_METHOD] = True


async def save_paying_method(
    ctx: Context, subscription: ApiObject, invoice: Mapping[str, Any]
) -> bool:
    """With `save_default_payment_method=on_subscription`, the payment method that paid
    the subscription's invoice becomes its `default_payment_method`; whether it changed."""
    if subscription["payment_settings"]["save_default_payment_method"] != SAVE_ON_SUBSCRIPTION:
        return False
    intent_id = invoice_documents.private(invoice).get("payment_intent")
    if intent_id is None:
        return False  # paid without a payment (nothing due, or out of band)
    intent = await payment_intents.retrieve_payment_intent(
        ctx, payment_intents.RetrievePaymentIntent(intent=str(intent_id))
    )
    method = intent["payment_method"]
    if intent["status"] != "succeeded" or method is None:
        return False
    method_id = method if isinstance(method, str) else str(method["id"])
    if subscription["default_payment_method"] == method_id:
        return False
    subscription["default_payment_method"] = method_id
    return True
