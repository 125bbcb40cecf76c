"""The parameters of a change to a subscription's items (`items[]`, `proration_behavior`,
`proration_date`, `payment_behavior`, `billing_cycle_anchor`), declared once for the
subscription update, `/v1/subscription_items` and the invoice preview's
`subscription_details`. Parameters only: this module imports no subscription service, so the
invoice preview can use it without importing subscriptions."""

from __future__ import annotations

from typing import Final

from kassa.params import Boolean, Enum, Integer, ListOf, Metadata, Param, String, Struct
from kassa.services.billing.discounts import DISCOUNTS_PARAM
from kassa.services.billing.invoice_params import TAX_RATE_IDS
from kassa.services.billing.subscription_documents import ITEMS_MAX

PRORATION_BEHAVIORS: Final = ("always_invoice", "create_prorations", "none")
UPDATE_PAYMENT_BEHAVIORS: Final = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)
QUANTITY_MAX: Final = 1_000_000_000

_ITEM_FIELDS: dict[str, Param] = {
    "id": String(max_chars=255),
    "price": String(max_chars=255),
    "quantity": Integer(minimum=0, maximum=QUANTITY_MAX),
    "deleted": Boolean(),
    "clear_usage": Boolean(),
    "metadata": Metadata(),
    "tax_rates": TAX_RATE_IDS,
}
ITEM_CHANGE = Struct({**_ITEM_FIELDS, "discounts": DISCOUNTS_PARAM})
PREVIEWED_ITEM_CHANGE = Struct(_ITEM_FIELDS)
"""A previewed item change: no `discounts`, whose coupons a preview cannot redeem."""
CHANGE_PARAMS: dict[str, Param] = {
    "items": ListOf(item=ITEM_CHANGE, max_items=ITEMS_MAX),
    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
    "proration_date": Integer(minimum=0),
    "payment_behavior": Enum(values=UPDATE_PAYMENT_BEHAVIORS),
    "billing_cycle_anchor": Struct({"type": Enum(values=("now", "unchanged"))}, required=("type",)),
}
"""The update parameters `subscription_changes` handles (merged into the subscription
update's)."""
PREVIEW_DETAILS = Struct(
    {
        "items": ListOf(item=PREVIEWED_ITEM_CHANGE, max_items=ITEMS_MAX),
        "proration_behavior": CHANGE_PARAMS["proration_behavior"],
        "proration_date": CHANGE_PARAMS["proration_date"],
        "billing_cycle_anchor": CHANGE_PARAMS["billing_cycle_anchor"],
    }
)
"""`subscription_details` of `POST /v1/invoices/create_preview`: a change to preview."""
