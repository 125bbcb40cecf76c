"""Every resource family Kassa serves. Routes and expansion are generated from this list."""

from __future__ import annotations

from kassa.invariants import ensure
from kassa.services import (
    accounts,
    balance,
    balance_settings,
    billing_portal,
    charge_refunds,
    charges,
    checkout_sessions,
    customer_sessions,
    customers,
    disputes,
    early_fraud_warnings,
    ephemeral_keys,
    events,
    exchange_rates,
    external_accounts,
    files,
    mail,
    own_account,
    payment_intents,
    payment_links,
    payment_methods,
    payouts,
    refunds,
    report_types,
    reporting,
    setup_attempts,
    setup_intents,
    shipping_rates,
    tax_ids,
    test_clocks,
    tokens,
    webhook_endpoints,
    webhook_faults,
)
from kassa.services.billing import (
    active_entitlements,
    alerts,
    coupons,
    credit_balance_summary,
    credit_balance_transactions,
    credit_grants,
    credit_notes,
    discounts,
    entitlement_features,
    invoice_items,
    invoice_payments,
    invoices,
    meter_events,
    meters,
    plans,
    prices,
    products,
    promotion_codes,
    quotes,
    subscription_items,
    subscription_schedules,
    subscriptions,
    tax_rates,
)
from kassa.services.resource import ExpandTarget, Resource

RESOURCES: tuple[Resource, ...] = (
    customers.RESOURCE,
    tax_ids.OWNED,
    ephemeral_keys.RESOURCE,
    customer_sessions.RESOURCE,
    payment_methods.RESOURCE,
    payment_intents.RESOURCE,
    setup_intents.RESOURCE,
    setup_attempts.RESOURCE,
    charge_refunds.CHARGES,
    charges.RESOURCE,
    tokens.RESOURCE,
    refunds.RESOURCE,
    checkout_sessions.RESOURCE,
    payment_links.RESOURCE,
    shipping_rates.RESOURCE,
    disputes.RESOURCE,
    early_fraud_warnings.RESOURCE,
    balance.BALANCE,
    balance.TRANSACTIONS,
    exchange_rates.RESOURCE,
    exchange_rates.TABLE_CHANGES,
    payouts.RESOURCE,
    external_accounts.ACCOUNTS,
    own_account.RESOURCE,
    balance_settings.RESOURCE,
    report_types.RESOURCE,
    reporting.RESOURCE,
    files.RESOURCE,
    events.RESOURCE,
    webhook_endpoints.RESOURCE,
    webhook_faults.RESOURCE,
    products.RESOURCE,
    entitlement_features.RESOURCE,
    credit_grants.RESOURCE,
    credit_balance_summary.RESOURCE,
    credit_balance_transactions.RESOURCE,
    active_entitlements.RESOURCE,
    prices.RESOURCE,
    plans.RESOURCE,
    coupons.RESOURCE,
    promotion_codes.RESOURCE,
    tax_rates.RESOURCE,
    invoice_items.RESOURCE,
    invoices.RESOURCE,
    invoice_payments.RESOURCE,
    credit_notes.RESOURCE,
    quotes.RESOURCE,
    billing_portal.CONFIGURATIONS,
    billing_portal.SESSIONS,
    subscriptions.RESOURCE,
    subscription_items.RESOURCE,
    subscription_schedules.RESOURCE,
    discounts.RESOURCE,
    meters.RESOURCE,
    meter_events.EVENTS,
    meter_events.ADJUSTMENTS,
    alerts.RESOURCE,
    mail.RESOURCE,
    test_clocks.RESOURCE,
    accounts.RESOURCE,
)


def _with_nested(resources: tuple[Resource, ...]) -> tuple[Resource, ...]:
    return tuple(r for top in resources for r in (top, *top.nested))


_ALL = _with_nested(RESOURCES)
_STANDING = [resource for resource in _ALL if not resource.routes_only]
_BY_OBJECT = {resource.object_name: resource for resource in _STANDING}
ensure(
    len(_BY_OBJECT) == len(_STANDING),
    "one declaration stands for each object name; the others are `routes_only`",
)
ensure(
    all(name in _BY_OBJECT for resource in _STANDING for name in resource.embedded.values()),
    "every object embedded in full has a declaration that says what may be expanded in it",
)
_BY_URL = {resource.url: resource for resource in RESOURCES}
_NESTED_BY_URL = {(top.url, child.collection): child for top in RESOURCES for child in top.nested}
"""(the parent's list url, the child's collection) -> the child: the list at
`/v1/charges/{id}/refunds` holds `refund`s."""

EVENT_TYPES: tuple[str, ...] = tuple(
    sorted({event_type for resource in _ALL for event_type in resource.event_types})
)
"""Every event type Kassa announces, from the resources' declarations."""


def resource_for_object(object_name: str) -> Resource | None:
    return _BY_OBJECT.get(object_name)


def embedded_resource(owner: Resource, path: str) -> Resource:
    """The resource of the object `owner` embeds in full at `path` (declared in
    `owner.embedded`)."""
    return _BY_OBJECT[owner.embedded[path]]


def resource_for_target(target: ExpandTarget, object_id: str) -> Resource | None:
    """The resource an expandable field's id names: its declared kind, or, for a field that
    may hold several kinds, the one of those whose id prefix `object_id` carries."""
    if isinstance(target, str):
        return _BY_OBJECT.get(target)
    prefix = object_id.partition("_")[0]
    candidates = (_BY_OBJECT.get(name) for name in target)
    return next((r for r in candidates if r is not None and r.id_prefix == prefix), None)


def resource_for_url(url: str) -> Resource | None:
    """The resource a list holds: a top-level one (`/v1/customers`), or one under an object
    (`/v1/charges/{id}/refunds`)."""
    found = _BY_URL.get(url)
    if found is not None:
        return found
    parent, _, child = url.rpartition("/")
    return _NESTED_BY_URL.get((parent.rpartition("/")[0], child))
