"""The customer portal (`/v1/billing_portal/...`): configurations (`bpc_...`: create,
retrieve, update, list) and sessions (`bps_...`: create only, as on Stripe, which has no
retrieve or list for them). A session's `url` opens Kassa's hosted portal page
(`kassa.pages.portal_page`), whose link's secret is its capability for
`LINK_LIFETIME_SECONDS`; what the page does goes through `billing_portal_actions`.

Each account has one default configuration (`is_default`), made with Stripe's defaults the
first time a session is created without `configuration`, or the configurations are listed.
Stripe's reference: docs.stripe.com/api/customer_portal.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import InvalidParameter, MissingParameter
from kassa.ids import new_id
from kassa.params import UNSET, apply_metadata
from kassa.services import events
from kassa.services.billing import prices, products
from kassa.services.billing_portal_flows import session_flow
from kassa.services.billing_portal_params import (
    CREATE_CONFIGURATION_PARAMS,
    CREATE_SESSION_PARAMS,
    LIST_FILTERS,
    UPDATE_CONFIGURATION_PARAMS,
    ConfigurationChanges,
    CreateConfiguration,
    CreateSession,
    UpdateConfiguration,
)
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    PAGINATION_PARAMS,
    ListRequest,
    list_page_with,
    list_query,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    document_copy,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_PORTAL_CONFIGURATIONS, BILLING_PORTAL_SESSIONS, PRIVATE

PAGE_PATH: Final = "/kassa/portal"
"""Where Kassa serves the portal page: `{public_url}/kassa/portal/{id}?secret=...`, built as
a Checkout Session's `url` is (`checkout_documents.page_url`)."""
SECRET_BYTES: Final = 24
"""The page link's secret: 192 random bits, compared in constant time."""
LINK_LIFETIME_SECONDS: Final = 24 * 3_600
"""How long a session's link opens the portal, from its creation (Stripe's sessions are
short-lived; Kassa keeps one simple rule)."""
CONFIGURATION_EVENTS: Final = (
    "billing_portal.configuration.created",
    "billing_portal.configuration.updated",
)
SESSION_EVENTS: Final = ("billing_portal.session.created",)
FLOW_COMPLETED: Final = "flow_completed"
"""Kassa's own fact on a session: its flow was completed (the page then does what the
flow's `after_completion` says)."""
_LIST_FEATURES: Final = frozenset(
    {"allowed_updates", "default_allowed_updates", "options", "products"}
)
"""Features' list fields: sent empty, they are cleared to an empty list."""


# --- the configuration document ---------------------------------------------------------------


def _features_off() -> ApiObject:
    """Every feature as Stripe shows it when not enabled."""
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "feedback_options": None, "options": []},
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "subscription_pause": {
            "duration": {"interval_options": [], "type": "indefinite"},
            "enabled": False,
        },
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "products": [],
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }


def _default_features() -> ApiObject:
    """Stripe's default portal: invoice history, payment method update, cancel at period
    end, and the customer's email and address editable."""
    features = _features_off()
    features["customer_update"] = {"allowed_updates": ["email", "address"], "enabled": True}
    features["invoice_history"]["enabled"] = True
    features["payment_method_update"]["enabled"] = True
    features["subscription_cancel"]["enabled"] = True
    return features


def _blank_configuration(ctx: Context, features: ApiObject) -> ApiObject:
    now = ctx.now()
    return {
        "id": new_id("bpc"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        "created": now,
        "default_return_url": None,
        "features": features,
        "is_default": False,
        "livemode": ctx.livemode,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": now,
    }


async def _apply_changes(
    ctx: Context, configuration: ApiObject, changes: ConfigurationChanges
) -> None:
    for key, value in (changes.business_profile or {}).items():
        configuration["business_profile"][key] = None if value is UNSET else value
    if changes.default_return_url is not None:
        url = changes.default_return_url
        configuration["default_return_url"] = None if url is UNSET else url
    if changes.name is not None:
        configuration["name"] = None if changes.name is UNSET else changes.name
    if changes.metadata is not None:
        configuration["metadata"] = apply_metadata(configuration["metadata"], changes.metadata)
    if changes.login_page is not None and changes.login_page["enabled"]:
        raise InvalidParameter(
            "Kassa does not serve a portal login page: create a session for the customer instead.",
            param="login_page[enabled]",
        )
    for name, sent in (changes.features or {}).items():
        _apply_feature(configuration["features"][name], sent)
    await _check_features(ctx, configuration["features"], changes.features or {})


def _apply_feature(shown: dict[str, Any], sent: Mapping[str, Any]) -> None:
    for key, value in sent.items():
        if isinstance(value, dict):
            _apply_feature(shown[key], value)
        elif key == "products" and isinstance(value, list):
            shown[key] = [_product_shown(product) for product in value]
        elif value is UNSET:
            shown[key] = [] if key in _LIST_FEATURES else None
        else:
            shown[key] = value


def _product_shown(sent: Mapping[str, Any]) -> ApiObject:
    return {
        "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
        "prices": list(sent["prices"]),
        "product": sent["product"],
    }


async def _check_features(ctx: Context, features: ApiObject, sent: Mapping[str, Any]) -> None:
    """What the parameters' schema cannot say: no pausing, and the products and prices a
    plan switch may offer exist in the account, each price its product's."""
    if features["subscription_pause"]["enabled"]:
        raise InvalidParameter(
            "Kassa's portal does not pause subscriptions.",
            param="features[subscription_pause][enabled]",
        )
    offered = (sent.get("subscription_update") or {}).get("products")
    if not isinstance(offered, list):
        return
    for index, entry in enumerate(offered):
        param = f"features[subscription_update][products][{index}]"
        await load_live_object(ctx, products.RESOURCE, entry["product"], param=f"{param}[product]")
        for price_index, price_id in enumerate(entry["prices"]):
            price_param = f"{param}[prices][{price_index}]"
            await load_plan_price(ctx, entry["product"], price_id, param=price_param)


async def load_plan_price(ctx: Context, product_id: str, price_id: str, *, param: str) -> ApiObject:
    """One of `subscription_update[products][]`'s prices, checked to exist and to be a price
    of the product it is listed under: when the configuration is written, and again when the
    portal offers it (the page offers only what still holds)."""
    price = await load_live_object(ctx, prices.RESOURCE, price_id, param=param)
    if price["product"] != product_id:
        raise InvalidParameter(
            f"The price {price_id} is not a price of the product {product_id}.", param=param
        )
    return price


# --- configurations -----------------------------------------------------------------------------


async def create_configuration(ctx: Context, request: CreateConfiguration) -> ApiObject:
    if request.features is None:
        raise MissingParameter("features")
    configuration = _blank_configuration(ctx, _features_off())
    await _apply_changes(ctx, configuration, request)
    await ctx.tx.insert_object(BILLING_PORTAL_CONFIGURATIONS, ctx.account_id, configuration)
    await events.announce(ctx, "billing_portal.configuration.created", configuration)
    return configuration


async def retrieve_configuration(ctx: Context, configuration_id: str) -> ApiObject:
    return await load_live_object(ctx, CONFIGURATIONS, configuration_id)


async def update_configuration(ctx: Context, request: UpdateConfiguration) -> ApiObject:
    configuration = await load_live_object(ctx, CONFIGURATIONS, request.configuration)
    before = document_copy(configuration)
    await _apply_changes(ctx, configuration, request)
    if request.active is not None:
        if not request.active and configuration["is_default"]:
            raise InvalidParameter(
                "The default configuration cannot be deactivated.", param="active"
            )
        configuration["active"] = request.active
    if configuration != before:
        configuration["updated"] = ctx.now()
        await ctx.tx.update_object(BILLING_PORTAL_CONFIGURATIONS, ctx.account_id, configuration)
        await events.announce(
            ctx, "billing_portal.configuration.updated", configuration, previous=before
        )
    return configuration


async def default_configuration(ctx: Context) -> ApiObject:
    """The account's default configuration, made with Stripe's defaults the first time it is
    needed (announced as any other configuration's creation)."""
    query = ObjectListQuery(limit=1, equals={"is_default": True})
    found = await ctx.tx.list_objects(BILLING_PORTAL_CONFIGURATIONS, ctx.account_id, query)
    if found.objects:
        return found.objects[0]
    configuration = _blank_configuration(ctx, _default_features())
    configuration["is_default"] = True
    await ctx.tx.insert_object(BILLING_PORTAL_CONFIGURATIONS, ctx.account_id, configuration)
    await events.announce(ctx, "billing_portal.configuration.created", configuration)
    return configuration


def _parse_list(_ids: RouteIds, params: dict[str, Any]) -> ListRequest:
    return ListRequest(CONFIGURATIONS, params)


async def list_configurations(ctx: Context, request: ListRequest) -> ApiObject:
    await default_configuration(ctx)
    query = list_query(request.params, LIST_FILTERS)
    page = await list_page_with(ctx, CONFIGURATIONS, request.params, query)
    return list_envelope(page, CONFIGURATIONS.url)


# --- sessions -------------------------------------------------------------------------------------


def page_url(ctx: Context, session_id: str, secret: str) -> str:
    return f"{ctx.payments.public_url}{PAGE_PATH}/{session_id}?secret={secret}"


def link_expires_at(session: Mapping[str, Any]) -> int:
    """When the session's link stops opening the portal."""
    return int(session[PRIVATE]["link_expires_at"])


def open_flow(session: Mapping[str, Any]) -> ApiObject | None:
    """The session's flow while the customer has not completed it (then the portal shows
    only that flow), else None."""
    flow = session.get("flow")
    if not isinstance(flow, dict) or session[PRIVATE].get(FLOW_COMPLETED):
        return None
    return flow


def completed_flow(session: Mapping[str, Any]) -> ApiObject | None:
    """The session's flow once the customer completed it, else None."""
    flow = session.get("flow")
    if not isinstance(flow, dict) or not session[PRIVATE].get(FLOW_COMPLETED):
        return None
    return flow


async def complete_flow(ctx: Context, session: ApiObject) -> str | None:
    """Mark the session's open flow completed (in the action's own write unit); the URL to
    send the customer to when its `after_completion` is a redirect, else None."""
    flow = open_flow(session)
    if flow is None:
        return None
    session[PRIVATE][FLOW_COMPLETED] = True
    await ctx.tx.update_object(BILLING_PORTAL_SESSIONS, ctx.account_id, session)
    redirect = flow["after_completion"]["redirect"]
    return None if redirect is None else str(redirect["return_url"])


def public_session(session: Mapping[str, Any]) -> ApiObject:
    """The session as the API shows it: a copy without Kassa's own facts."""
    return document_copy({k: v for k, v in session.items() if k != PRIVATE})


async def create_session(ctx: Context, request: CreateSession) -> ApiObject:
    if request.customer is None:
        raise MissingParameter("customer")
    customer = await load_customer_named(ctx, request.customer, param="customer")
    configuration = await _session_configuration(ctx, request.configuration)
    return_url = request.return_url or configuration["default_return_url"]
    if return_url is None:
        raise InvalidParameter(
            "A return_url is required: the configuration has no default_return_url.",
            param="return_url",
        )
    flow = await session_flow(ctx, str(customer["id"]), configuration, request.flow_data)
    session_id = new_id("bps")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = ctx.now()
    session = {
        "id": session_id,
        "object": "billing_portal.session",
        "after_expiration": None,
        "configuration": configuration["id"],
        "created": now,
        "customer": customer["id"],
        "customer_account": None,
        "flow": flow,
        "livemode": ctx.livemode,
        "locale": request.locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": page_url(ctx, session_id, secret),
        PRIVATE: {
            "secret": secret,
            "link_expires_at": now + LINK_LIFETIME_SECONDS,
            FLOW_COMPLETED: False,
        },
    }
    await ctx.tx.insert_object(BILLING_PORTAL_SESSIONS, ctx.account_id, session)
    shown = public_session(session)
    await events.announce(ctx, "billing_portal.session.created", shown)
    return shown


async def _session_configuration(ctx: Context, configuration_id: str | None) -> ApiObject:
    if configuration_id is None:
        return await default_configuration(ctx)
    configuration = await load_live_object(
        ctx, CONFIGURATIONS, configuration_id, param="configuration"
    )
    if not configuration["active"]:
        raise InvalidParameter(
            f"The configuration {configuration_id} is not active: activate it, or use another.",
            param="configuration",
        )
    return configuration


CONFIGURATIONS = Resource(
    object_name="billing_portal.configuration",
    id_prefix="bpc",
    collection="billing_portal/configurations",
    table=BILLING_PORTAL_CONFIGURATIONS,
    create=Operation(
        request_parser(CreateConfiguration, CREATE_CONFIGURATION_PARAMS),
        create_configuration,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_configuration, writes=False),
    update=Operation(
        request_parser(UpdateConfiguration, UPDATE_CONFIGURATION_PARAMS, ids=("configuration",)),
        update_configuration,
        writes=True,
    ),
    # Writes: the first read of the list makes the account's default configuration.
    lister=Operation(
        ParamsParser({**PAGINATION_PARAMS, **LIST_FILTERS}, _parse_list),
        list_configurations,
        writes=True,
    ),
    event_types=CONFIGURATION_EVENTS,
)
SESSIONS = Resource(
    object_name="billing_portal.session",
    id_prefix="bps",
    collection="billing_portal/sessions",
    table=BILLING_PORTAL_SESSIONS,
    create=Operation(
        request_parser(CreateSession, CREATE_SESSION_PARAMS, required=("customer",)),
        create_session,
        writes=True,
    ),
    expandable={"configuration": "billing_portal.configuration"},
    event_types=SESSION_EVENTS,
)
