"""Every resource family Kassa serves. Routes and expansion are generated from this list."""

from __future__ import annotations

from kassa.services import (
    balance,
    charges,
    customers,
    disputes,
    events,
    payment_intents,
    payment_methods,
    refunds,
    webhook_endpoints,
)
from kassa.services.resource import Resource

RESOURCES: tuple[Resource, ...] = (
    customers.RESOURCE,
    payment_methods.RESOURCE,
    payment_intents.RESOURCE,
    charges.RESOURCE,
    refunds.RESOURCE,
    disputes.RESOURCE,
    balance.BALANCE,
    balance.TRANSACTIONS,
    events.RESOURCE,
    webhook_endpoints.RESOURCE,
)

_BY_PREFIX = {resource.id_prefix: resource for resource in RESOURCES if not resource.singleton}
_BY_OBJECT = {resource.object_name: resource for resource in RESOURCES}
_BY_URL = {resource.url: resource for resource in RESOURCES}


def resource_for_id(object_id: str) -> Resource | None:
    prefix, _, _ = object_id.partition("_")
    return _BY_PREFIX.get(prefix)


def resource_for_object(object_name: str) -> Resource | None:
    return _BY_OBJECT.get(object_name)


def resource_for_url(url: str) -> Resource | None:
    """The resource a top-level list (`/v1/customers`) holds."""
    return _BY_URL.get(url)
