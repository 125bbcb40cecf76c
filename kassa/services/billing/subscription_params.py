"""The parameters of a change to a subscription's items (`items[]`, `proration_behavior`,
`proration_date`, `payment_behavior`, `billing_cycle_anchor`), declared once for the
subscription update, `/v1/subscription_items` and the invoice preview's
`subscription_details`; `trial_settings`, which create and update take; and `cancel_at`,
which create, update and the preview take. Parameters only: this module imports no
subscription service, so the invoice preview can use it without importing subscriptions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    ListOf,
    Metadata,
    NotSupported,
    Param,
    String,
    Struct,
    Timestamp,
)
from kassa.services.billing.discounts import DISCOUNTS_PARAM
from kassa.services.billing.invoice_params import TAX_RATE_IDS
from kassa.services.billing.plan_params import item_with_plan
from kassa.services.billing.price_fields import AMOUNT_PARAMS, RECURRING_INTERVAL
from kassa.services.billing.subscription_documents import ITEMS_MAX

PRORATION_BEHAVIORS: Final = ("always_invoice", "create_prorations", "none")
UPDATE_PAYMENT_BEHAVIORS: Final = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)
QUANTITY_MAX: Final = 1_000_000_000
TRIAL_END_CHARS_MAX: Final = 20
"""`trial_end`: a unix time, or `now`."""
PENDING_IF_INCOMPLETE: Final = "pending_if_incomplete"
PENDING_UPDATE_PARAMS: Final = frozenset(
    {
        "items",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "billing_cycle_anchor",
        "metadata",
        "cancel_at_period_end",
    }
)
"""What may accompany `payment_behavior=pending_if_incomplete` on `POST
/v1/subscriptions/{id}`: Stripe's supported attributes for pending updates
(docs.stripe.com/billing/subscriptions/pending-updates), with `metadata` (2026-05-27.dahlia)
and `cancel_at_period_end` (2026-09-30.endive). Stripe's `add_invoice_items`, `trial_end`,
`trial_from_plan` and `discounts` (2026-05-27.dahlia) Kassa does not hold in a pending update
yet, so refuses them."""
PENDING_ITEM_FIELDS: Final = frozenset({"id", "price", "plan", "quantity", "deleted"})
"""What each `items[]` of a pending update may say: which item, its price (or plan) and
quantity, or that it goes."""
PENDING_ITEM_PARAMS: Final = frozenset(
    {"price", "plan", "quantity", "proration_behavior", "proration_date", "payment_behavior"}
)
"""What may accompany `pending_if_incomplete` on `/v1/subscription_items` (besides the item
or subscription it names): Stripe's list for the item endpoints."""
MISSING_PAYMENT_METHOD_BEHAVIORS: Final = ("cancel", "create_invoice", "pause")
"""What a trial that ends with no payment method to charge does (`trial_settings`)."""

PERIOD_ENDS: Final = ("max_billed_until", "max_period_end", "min_period_end")
"""`cancel_at`'s named times (API 2025-07-30.basil on)."""

_TIMESTAMP = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class CancelAt(Param):
    """`cancel_at`: a unix time or one of `PERIOD_ENDS` (sent empty on update: cleared)."""

    nullable: bool = False

    def parse(self, value: Any, path: str) -> int | str:
        if isinstance(value, str) and value in PERIOD_ENDS:
            return value
        if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
            shown = value[:40] if isinstance(value, str) else "an object"
            raise InvalidParameter(
                f"Invalid {path}: {shown}; must be a unix timestamp or one of "
                f"{', '.join(PERIOD_ENDS)}",
                param=path,
            )
        return Timestamp().parse(value, path)


_ITEM_FIELDS: dict[str, Param] = {
    "id": String(max_chars=255),
    "price": String(max_chars=255),
    "quantity": Integer(minimum=0, maximum=QUANTITY_MAX),
    "deleted": Boolean(),
    "clear_usage": Boolean(),
    "metadata": Metadata(),
    "tax_rates": TAX_RATE_IDS,
}
ITEM_PRICE_DATA = Struct(
    {
        **{
            name: AMOUNT_PARAMS[name]
            for name in ("currency", "tax_behavior", "unit_amount", "unit_amount_decimal")
        },
        "product": String(max_chars=255),
        "recurring": RECURRING_INTERVAL,
    },
    required=("currency", "product", "recurring"),
)
"""An item's `price_data`: the recurring per-unit price it makes inline (stored inactive, as
Stripe's inline prices: `subscription_changes.entry_price`)."""
_ITEM_TERMS: dict[str, Param] = {**_ITEM_FIELDS, "discounts": DISCOUNTS_PARAM}
ITEM_UPDATE = item_with_plan(Struct({**_ITEM_TERMS, "price_data": ITEM_PRICE_DATA}))
"""An item change on update (and on `/v1/subscription_items`)."""
ITEM_CHANGE = item_with_plan(
    Struct(
        {
            **_ITEM_TERMS,
            "price_data": NotSupported(
                reason="a preview stores nothing, and an inline price is a stored price: "
                "create the price (POST /v1/prices) and preview items[][price]."
            ),
        }
    )
)
"""An item change previewed (`discounts` a preview makes are not stored:
`subscription_discounts.apply_item_terms`)."""
CHANGE_PARAMS: dict[str, Param] = {
    "items": ListOf(item=ITEM_UPDATE, max_items=ITEMS_MAX),
    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
    "proration_date": Timestamp(),
    "payment_behavior": Enum(values=UPDATE_PAYMENT_BEHAVIORS),
    "billing_cycle_anchor": Struct({"type": Enum(values=("now", "unchanged"))}, required=("type",)),
}
"""The update parameters `subscription_changes` handles (merged into the subscription
update's)."""
TRIAL_SETTINGS = Struct(
    {
        "end_behavior": Struct(
            {"missing_payment_method": Enum(values=MISSING_PAYMENT_METHOD_BEHAVIORS)}
        ),
    },
    required=("end_behavior",),
)
"""`trial_settings` on create and update: `trial_settings[end_behavior][missing_payment_method]`
(`end_behavior[billing_cycle_anchor]` is not taken: Kassa's trials end as Stripe's default,
`now`, has them end)."""
CLASSIC: Final = "classic"
FLEXIBLE: Final = "flexible"
BILLING_MODE_FLEXIBLE = Struct({"proration_discounts": Enum(values=("included", "itemized"))})
BILLING_MODE = Struct(
    {"type": Enum(values=(CLASSIC, FLEXIBLE)), "flexible": BILLING_MODE_FLEXIBLE},
    required=("type",),
)
"""`billing_mode` on subscription create and in a preview's `subscription_details`
(`subscription_billing_mode`)."""
PREVIEW_DETAILS = Struct(
    {
        "items": ListOf(item=ITEM_CHANGE, max_items=ITEMS_MAX),
        "proration_behavior": CHANGE_PARAMS["proration_behavior"],
        "proration_date": CHANGE_PARAMS["proration_date"],
        "billing_cycle_anchor": CHANGE_PARAMS["billing_cycle_anchor"],
        "billing_mode": BILLING_MODE,
        "cancel_at": CancelAt(nullable=True),
        "cancel_at_period_end": Boolean(),
        "cancel_now": Boolean(),
        "default_tax_rates": TAX_RATE_IDS,
        "trial_end": String(max_chars=TRIAL_END_CHARS_MAX),
        "resume_at": Enum(values=("now",)),
        **{
            name: NotSupported(reason=reason)
            for name, reason in (
                ("start_date", "a new subscription is previewed as starting now."),
            )
        },
    }
)
"""`subscription_details` of `POST /v1/invoices/create_preview`: a change to preview, when
the subscription would end (`cancel_at`, `cancel_at_period_end`, as on update; `cancel_now`,
as `DELETE` ends it), the tax rates its invoices would take (`default_tax_rates`) and when
its trial would end (`trial_end`), as on update; or a paused one's resumption now
(`resume_at`, as `POST .../resume` makes it)."""
