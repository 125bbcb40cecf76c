"""The object tables: API objects stored as JSON documents plus the indexed columns that
lists filter on. Declared once here; the SQL in `kassa.store.queries` is built from these,
and the migrations create exactly these columns (a test checks)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PRIVATE: Final = "_kassa"
"""The key of the part of a stored document that is Kassa's own and never shown (link
secrets, the due times the indexed columns below copy): each resource strips it from its
view."""


@dataclass(frozen=True)
class ObjectTable:
    name: str
    filter_columns: tuple[str, ...] = ()
    """Object fields copied into indexed columns for equality filters: top-level fields of
    the same name, or the path `sources` gives."""
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    normalizers: Mapping[str, Callable[[Any], Any]] = field(
        default_factory=dict, hash=False, compare=False
    )
    """column -> how the field's value is stored in it, for filters that match loosely (a
    promotion code's `code` upper-cased: codes match regardless of case). A list filtering
    on the column passes its value through the same function."""
    derived: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(
        default_factory=dict, hash=False, compare=False
    )
    """column -> how its value is worked out from the whole object, for a column no one
    field holds (a subscription's earliest item period end)."""
    unlisted: tuple[str, ...] = ()
    """Filter columns no list filters on alone: one of the store's own scans reads them
    across accounts, or a list filters on them only beside another column (within one
    customer's objects). Written with every row as the others are, indexed as that read
    needs."""
    ids_per_account: bool = False
    """Ids are unique per account rather than installation-wide: ids the API user chooses
    (coupon ids) may repeat across accounts. The table's key is then (account_id, id)."""

    @functools.cached_property
    def _plain(self) -> bool:
        """Every filter column is the top-level field of its name, stored as it is."""
        return not self.sources and not self.normalizers and not self.derived

    def column_values(self, obj: Mapping[str, Any]) -> tuple[Any, ...]:
        """The filter columns' values for `obj`, in `filter_columns` order (run for every
        object written)."""
        if self._plain:
            return tuple([obj.get(column) for column in self.filter_columns])
        return tuple([self.column_value(obj, column) for column in self.filter_columns])

    def column_value(self, obj: Mapping[str, Any], column: str) -> Any:
        derive = self.derived.get(column)
        if derive is not None:
            return derive(obj)
        path = self.sources.get(column)
        # Most columns are top-level fields: one lookup, run for every column of every
        # object written.
        value = obj.get(column) if path is None else _value_at(obj, path)
        normalize = self.normalizers.get(column)
        return value if normalize is None or value is None else normalize(value)


def _value_at(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


CUSTOMERS = ObjectTable("customers", filter_columns=("email", "test_clock"))
PAYMENT_METHODS = ObjectTable(
    "payment_methods",
    filter_columns=("customer", "type", "allow_redisplay"),
    unlisted=("allow_redisplay",),
)
"""`allow_redisplay` filters a customer's payment methods only (its index leads with
(account_id, customer))."""
PAYMENT_INTENTS = ObjectTable("payment_intents", filter_columns=("customer", "status"))
SETUP_INTENTS = ObjectTable("setup_intents", filter_columns=("customer", "payment_method"))
SETUP_ATTEMPTS = ObjectTable("setup_attempts", filter_columns=("setup_intent",))
CHARGES = ObjectTable(
    "charges", filter_columns=("customer", "payment_intent", "status", "captured")
)
TOKENS = ObjectTable("tokens")
CARDS = ObjectTable("cards", filter_columns=("customer",))
"""Cards saved on customers as payment sources (`/v1/customers/{id}/sources`)."""
REFUNDS = ObjectTable("refunds", filter_columns=("charge", "payment_intent"))
DISPUTES = ObjectTable("disputes", filter_columns=("charge", "payment_intent"))
EARLY_FRAUD_WARNINGS = ObjectTable(
    "early_fraud_warnings", filter_columns=("charge", "payment_intent")
)
EVENT_RECORDED = "recorded"
"""When the server wrote an event (seconds, real time); what event retention goes by."""
EVENTS = ObjectTable(
    "events",
    filter_columns=("type", "object_id", "pending_webhooks", EVENT_RECORDED),
    sources={"object_id": ("data", "object", "id")},
    unlisted=(EVENT_RECORDED,),
)
"""`recorded` is not in the event's document: `Transaction.insert_event` is given it."""
WEBHOOK_ENDPOINTS = ObjectTable("webhook_endpoints")
TEST_CLOCKS = ObjectTable("test_clocks", filter_columns=("status",))
PRODUCTS = ObjectTable(
    "products", filter_columns=("active", "shippable", "type", "url"), ids_per_account=True
)
PRICES = ObjectTable(
    "prices",
    filter_columns=(
        "active",
        "currency",
        "lookup_key",
        "product",
        "recurring_interval",
        "recurring_meter",
        "recurring_usage_type",
        "type",
        "inline",
    ),
    sources={
        "recurring_interval": ("recurring", "interval"),
        "recurring_meter": ("recurring", "meter"),
        "recurring_usage_type": ("recurring", "usage_type"),
        "inline": (PRIVATE, "inline"),
    },
    # `inline`: true for an inline price (made from `price_data`), NULL for the others; the
    # lists, the search and a product's delete pass over inline prices, always beside
    # another column (migration 0052 indexes it after `active` and `product`).
    unlisted=("inline",),
    # A plan is a recurring price under the same id, and plan ids may be chosen by the API
    # user (migration 0029).
    ids_per_account=True,
)
COUPONS = ObjectTable("coupons", ids_per_account=True)
PROMOTION_CODES = ObjectTable(
    "promotion_codes",
    filter_columns=("active", "code", "coupon", "customer"),
    sources={"coupon": ("promotion", "coupon")},
    normalizers={"code": str.upper},
)
TAX_RATES = ObjectTable("tax_rates", filter_columns=("active", "inclusive"))
TAX_IDS = ObjectTable("tax_ids", filter_columns=("customer",))
EPHEMERAL_KEYS = ObjectTable("ephemeral_keys")
"""Keys for a customer's mobile checkout (`services.ephemeral_keys`): never listed."""
CUSTOMER_BALANCE_TRANSACTIONS = ObjectTable(
    "customer_balance_transactions", filter_columns=("customer", "invoice")
)


INVOICE_ITEMS = ObjectTable(
    "invoiceitems",
    filter_columns=("customer", "invoice", "period_item"),
    sources={"period_item": (PRIVATE, "period_item")},
    # `period_item`: true for a subscription's period charge (billing marks its document,
    # `invoice_lines.is_period_item`), NULL for every item the API shows; the API's
    # list and reads pass over the first (migration 0053 indexes it before `seq`, alone
    # and after `customer`; 0054 marked the documents stored before).
)
INVOICES = ObjectTable(
    "invoices",
    filter_columns=(
        "automatically_finalizes_at",
        "collection_method",
        "customer",
        "due_date",
        "next_payment_attempt",
        "next_reminder_at",
        "number",
        "status",
        "subscription",
        "test_clock",
    ),
    sources={
        "subscription": ("parent", "subscription_details", "subscription"),
        # Kassa's own: when the reminder job next looks at the invoice (not an API field).
        "next_reminder_at": (PRIVATE, "next_reminder_at"),
    },
)
INVOICE_PAYMENTS = ObjectTable(
    "invoice_payments",
    filter_columns=("invoice", "payment_intent", "status"),
    sources={"payment_intent": ("payment", "payment_intent")},
)
DISCOUNTS = ObjectTable("discounts")
CREDIT_NOTES = ObjectTable("credit_notes", filter_columns=("customer", "invoice"))
"""Credit notes (`cn_...`), listed by customer and by invoice (an invoice's notes are also
read to number the next one and to know what its lines have left to credit)."""


def _item_periods(subscription: Mapping[str, Any], bound: str) -> list[int]:
    items = subscription.get("items") or {}
    found = (item.get(bound) for item in items.get("data") or ())
    return [int(at) for at in found if at is not None]


def _earliest_item_period_end(subscription: Mapping[str, Any]) -> int | None:
    return min(_item_periods(subscription, "current_period_end"), default=None)


def _latest_item_period_start(subscription: Mapping[str, Any]) -> int | None:
    return max(_item_periods(subscription, "current_period_start"), default=None)


SUBSCRIPTIONS = ObjectTable(
    "subscriptions",
    filter_columns=(
        "collection_method",
        "current_period_end",
        "current_period_start",
        "customer",
        "pending_setup_intent",
        "renews_at",
        "status",
        "test_clock",
    ),
    # Kassa's own: when the subscription next has work due (not an API field), derived on
    # every write (`subscription_documents.next_work_at`).
    sources={"renews_at": (PRIVATE, "renews_at")},
    # The list's `current_period_end` and `current_period_start` filters: since API
    # 2025-03-31.basil the periods are the items', and Stripe's reference filters on "the
    # minimum item current_period_end" and "the maximum item current_period_start".
    derived={
        "current_period_end": _earliest_item_period_end,
        "current_period_start": _latest_item_period_start,
    },
)
SUBSCRIPTION_ITEMS = ObjectTable(
    "subscription_items",
    filter_columns=("price", "subscription"),
    sources={"price": ("price", "id")},
)
SUBSCRIPTION_SCHEDULES = ObjectTable(
    "subscription_schedules",
    filter_columns=(
        "canceled_at",
        "completed_at",
        "customer",
        "released_at",
        "status",
        "test_clock",
        "transitions_at",
    ),
    # Kassa's own: when the schedule next has work due (not an API field), derived on every
    # write (`subscription_schedule_documents.next_work_at`).
    sources={"transitions_at": (PRIVATE, "transitions_at")},
    # Read by the scheduler's scans only (migration 0060's partial indexes), never listed.
    unlisted=("test_clock", "transitions_at"),
)
EMAILS = ObjectTable(
    "emails",
    filter_columns=("customer", "invoice", "kind", "recipient", "status"),
    sources={"recipient": ("to",)},
)
PAYOUTS = ObjectTable(
    "payouts",
    filter_columns=("arrival_date", "destination", "due_at", "status"),
    # Kassa's own: when the payout's next status change is due (not an API field).
    sources={"due_at": (PRIVATE, "due_at")},
)
EXTERNAL_ACCOUNTS = ObjectTable("external_accounts", filter_columns=("currency",))
BALANCE_SETTINGS = ObjectTable(
    "balance_settings",
    filter_columns=("next_payout_at",),
    # Kassa's own: when the account's next automatic payout is due (not an API field).
    sources={"next_payout_at": (PRIVATE, "next_payout_at")},
)

CHECKOUT_SESSIONS = ObjectTable(
    "checkout_sessions",
    filter_columns=(
        "customer",
        "payment_intent",
        "subscription",
        "status",
        "payment_link",
        "expires_due",
    ),
    # Kassa's own: when an open session expires (not an API field; null once it is not
    # open), which the checkout_sessions job scans (migration 0064's partial index).
    sources={"expires_due": (PRIVATE, "expires_due")},
    unlisted=("expires_due",),
)
"""Checkout Sessions (`cs_...`): `kassa.services.checkout_sessions`."""

QUOTES = ObjectTable(
    "quotes",
    filter_columns=("customer", "status", "test_clock", "number", "expires_due"),
    # Kassa's own: when a draft or open quote is canceled (its `expires_at`; null once it
    # is accepted or canceled), which the quotes job scans (migration 0065's partial index).
    # `number` is read only to count the account's numbered quotes.
    sources={"expires_due": (PRIVATE, "expires_due")},
    unlisted=("number", "expires_due"),
)
"""Quotes (`qt_...`): `kassa.services.billing.quotes`."""

BILLING_PORTAL_CONFIGURATIONS = ObjectTable(
    "billing_portal_configurations", filter_columns=("active", "is_default")
)
"""Customer portal configurations (`bpc_...`): `kassa.services.billing_portal`; at most one
per account is its default (migration 0067's unique partial index)."""
BILLING_PORTAL_SESSIONS = ObjectTable("billing_portal_sessions")
"""Customer portal sessions (`bps_...`): never listed; the portal page finds one by its link."""
PAYMENT_LINKS = ObjectTable("payment_links", filter_columns=("active",))
"""Payment Links (`plink_...`): `kassa.services.payment_links`; the checkout page finds one
by its id alone (a link is public)."""

SHIPPING_RATES = ObjectTable(
    "shipping_rates",
    filter_columns=("active", "currency"),
    sources={"currency": ("fixed_amount", "currency")},
)
"""Shipping rates (`shr_...`): `kassa.services.shipping_rates`; `currency` is the rate's
`fixed_amount[currency]`."""

REPORT_RUNS = ObjectTable("report_runs", filter_columns=("status",))
"""Stripe's Reporting API runs (`frr_...`); the `reporting` job scans the pending ones."""
FILES = ObjectTable("files", filter_columns=("purpose",))
"""Files (`file_...`): report results; their bytes are in `file_contents`."""
BILLING_METERS = ObjectTable(
    "billing_meters", filter_columns=("status", "event_name"), unlisted=("event_name",)
)
"""Billing Meters (`mtr_...`), listed by status; found by `event_name` when an event comes."""


def _alert_customer(alert: Mapping[str, Any]) -> Any:
    """The customer an alert's filter limits it to (Stripe allows one filter); None: every
    customer."""
    filters = (alert.get("usage_threshold") or {}).get("filters") or []
    return filters[0].get("customer") if filters else None


BILLING_ALERTS = ObjectTable(
    "billing_alerts",
    filter_columns=("status", "meter", "customer"),
    sources={"meter": ("usage_threshold", "meter")},
    derived={"customer": _alert_customer},
    unlisted=("customer",),
)
"""Billing alerts (`alrt_...`), listed by status and meter; a meter event finds the alerts
on its meter watching its customer (`customer`) or every customer (NULL)."""

ENTITLEMENT_FEATURES = ObjectTable("entitlement_features", filter_columns=("active", "lookup_key"))
"""Entitlement features (`feat_...`): `kassa.services.billing.entitlement_features`; an
account's active features have distinct lookup keys (migration 0068's unique partial index)."""
PRODUCT_FEATURES = ObjectTable(
    "product_features",
    filter_columns=("product", "feature"),
    # The product is not a field of Stripe's object: Kassa keeps it as its own fact.
    sources={"product": (PRIVATE, "product"), "feature": ("entitlement_feature", "id")},
    unlisted=("feature",),
)
"""A product's features (`prodft_...`): `kassa.services.billing.product_features`; a feature
is attached to a product once (migration 0068's unique partial index over live rows)."""
ENTITLEMENT_GRANTS = ObjectTable(
    "entitlement_grants",
    filter_columns=("customer", "product", "subscription"),
    unlisted=("customer", "product", "subscription"),
)
"""Kassa's own, never listed by the API: one row per (subscription, product) while the
subscription's status grants its products' features (`entitlement_grants`)."""
ACTIVE_ENTITLEMENTS = ObjectTable(
    "active_entitlements",
    filter_columns=("customer", "feature"),
    sources={"customer": (PRIVATE, "customer")},
    unlisted=("feature",),
)
"""Customers' active entitlements (`ent_...`): `kassa.services.billing.active_entitlements`;
one live row per (customer, feature) (migration 0068's unique partial index)."""


def _credit_grant_spendable(grant: Mapping[str, Any]) -> bool | None:
    """True while a credit grant has something left and is not voided; NULL otherwise, so
    an invoice's finalization reads only the grants it may draw on."""
    left = int((grant.get(PRIVATE) or {}).get("balance") or 0)
    return True if left > 0 and grant.get("voided_at") is None else None


def _credit_grant_expires_due(grant: Mapping[str, Any]) -> int | None:
    """When a credit grant's expiry is to be written: its `expires_at` while it has
    something left and is not voided; NULL otherwise (nothing to debit), so the due-work
    scans read only the grants whose expiry writes something."""
    expires = grant.get("expires_at")
    return None if expires is None or _credit_grant_spendable(grant) is None else int(expires)


BILLING_CREDIT_GRANTS = ObjectTable(
    "billing_credit_grants",
    filter_columns=("customer", "spendable", "test_clock", "expires_due"),
    derived={"spendable": _credit_grant_spendable, "expires_due": _credit_grant_expires_due},
    unlisted=("spendable", "test_clock", "expires_due"),
)
"""Billing credit grants (`credgr_...`): `kassa.services.billing.credit_grants`; listed by
customer, read by finalization among the customer's spendable ones (migration 0070); their
expiry is due work at `expires_due`, in real time (the `invoices` job) or on the customer's
test clock (`test_clock`; migration 0073's partial indexes)."""
BILLING_CREDIT_BALANCE_TRANSACTIONS = ObjectTable(
    "billing_credit_balance_transactions",
    filter_columns=("customer", "credit_grant"),
    # Stripe's object does not show its customer: Kassa keeps it as its own fact.
    sources={"customer": (PRIVATE, "customer")},
)
"""Credit balance transactions (`cbtxn_...`): `kassa.services.billing.credit_balance_transactions`,
listed by customer and by credit grant."""

ALL_OBJECT_TABLES = (
    CUSTOMERS,
    PAYMENT_METHODS,
    PAYMENT_INTENTS,
    SETUP_INTENTS,
    SETUP_ATTEMPTS,
    CHARGES,
    TOKENS,
    CARDS,
    REFUNDS,
    DISPUTES,
    EARLY_FRAUD_WARNINGS,
    EVENTS,
    WEBHOOK_ENDPOINTS,
    TEST_CLOCKS,
    PRODUCTS,
    PRICES,
    COUPONS,
    PROMOTION_CODES,
    TAX_RATES,
    TAX_IDS,
    EPHEMERAL_KEYS,
    BILLING_METERS,
    BILLING_ALERTS,
    CUSTOMER_BALANCE_TRANSACTIONS,
    INVOICE_ITEMS,
    INVOICES,
    INVOICE_PAYMENTS,
    DISCOUNTS,
    CREDIT_NOTES,
    EMAILS,
    SUBSCRIPTIONS,
    SUBSCRIPTION_ITEMS,
    SUBSCRIPTION_SCHEDULES,
    PAYOUTS,
    EXTERNAL_ACCOUNTS,
    BALANCE_SETTINGS,
    REPORT_RUNS,
    FILES,
    CHECKOUT_SESSIONS,
    QUOTES,
    BILLING_PORTAL_CONFIGURATIONS,
    BILLING_PORTAL_SESSIONS,
    ENTITLEMENT_FEATURES,
    PRODUCT_FEATURES,
    ENTITLEMENT_GRANTS,
    ACTIVE_ENTITLEMENTS,
    BILLING_CREDIT_GRANTS,
    BILLING_CREDIT_BALANCE_TRANSACTIONS,
    PAYMENT_LINKS,
    SHIPPING_RATES,
)
