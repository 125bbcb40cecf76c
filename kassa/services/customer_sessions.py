"""Customer Sessions (`POST /v1/customer_sessions`): what a backend makes so that Stripe's
front-end components (the Payment Element's saved cards, the pricing table, the buy button,
the mobile sheets) may act for one customer. Object `customer_session`; create only, as on
Stripe, which gives the object no id and has no retrieve, update or list.

Kassa serves none of those components (they are Stripe.js and the mobile SDKs), so a
session grants nothing here: what the create does is what a backend under test relies on.
It checks the customer and the components as Stripe does, and answers the session with its
components' features filled with Stripe's defaults. Like an ephemeral key's, the client
secret is sent once (`Operation.secret_fields`) and kept nowhere: Kassa authenticates no
request with it. Having no id, a session is stored nowhere either; the request log keeps
the answer without its secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, MissingParameter
from kassa.ids import new_secret
from kassa.params import Boolean, Enum, Integer, ListOf, NotSupported, Param, String, Struct
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.resource import ApiObject, Operation, Resource, request_parser

LIFETIME_SECONDS: Final = 30 * 60
"""Stripe's customer sessions expire 30 minutes after they are made."""
SECRET_PREFIX: Final = "cuss_secret"
REDISPLAY_LIMIT_MAX: Final = 10
"""Stripe: the Payment Element shows at most 10 saved payment methods."""
REDISPLAY_LIMIT_DEFAULT: Final = 3
ALLOW_REDISPLAY_VALUES: Final = ("always", "limited", "unspecified")
"""A payment method's `allow_redisplay` values, which a component's filter lists."""
ALLOW_REDISPLAY_DEFAULT: Final = ("always",)
"""Stripe: a component shows the payment methods whose `allow_redisplay` is `always` unless
its `payment_method_allow_redisplay_filters` names others."""

_SWITCH: Final = Enum(values=("disabled", "enabled"))
_FILTERS: Final = ListOf(Enum(values=ALLOW_REDISPLAY_VALUES), max_items=len(ALLOW_REDISPLAY_VALUES))

_FEATURES: Final[Mapping[str, Mapping[str, Param]]] = {
    "customer_sheet": {
        "payment_method_allow_redisplay_filters": _FILTERS,
        "payment_method_remove": _SWITCH,
    },
    "mobile_payment_element": {
        "payment_method_allow_redisplay_filters": _FILTERS,
        "payment_method_redisplay": _SWITCH,
        "payment_method_remove": _SWITCH,
        "payment_method_save": _SWITCH,
        "payment_method_save_allow_redisplay_override": Enum(values=ALLOW_REDISPLAY_VALUES),
    },
    "payment_element": {
        "payment_method_allow_redisplay_filters": _FILTERS,
        "payment_method_redisplay": _SWITCH,
        "payment_method_redisplay_limit": Integer(minimum=1, maximum=REDISPLAY_LIMIT_MAX),
        "payment_method_remove": _SWITCH,
        "payment_method_save": _SWITCH,
        "payment_method_save_usage": Enum(values=("off_session", "on_session")),
    },
}
"""The components that take `features`, and each feature's values."""

_FEATURE_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    # What Stripe's reference names as each feature's default; a feature it names none for
    # stays null until sent.
    "customer_sheet": {"payment_method_allow_redisplay_filters": list(ALLOW_REDISPLAY_DEFAULT)},
    "mobile_payment_element": {
        "payment_method_allow_redisplay_filters": list(ALLOW_REDISPLAY_DEFAULT),
    },
    "payment_element": {
        "payment_method_allow_redisplay_filters": list(ALLOW_REDISPLAY_DEFAULT),
        "payment_method_redisplay": "disabled",
        "payment_method_redisplay_limit": REDISPLAY_LIMIT_DEFAULT,
        "payment_method_remove": "disabled",
        "payment_method_save": "disabled",
    },
}

COMPONENTS: Final = (
    "active_entitlements",
    "buy_button",
    "customer_portal",
    "customer_sheet",
    "mobile_payment_element",
    "payment_element",
    "pricing_table",
)
"""Every component a session configures (stripe-python 16's `CustomerSession.Components`):
the answer names each, enabled or not."""


def _component(name: str) -> Struct:
    fields: dict[str, Param] = {"enabled": Boolean()}
    if name in _FEATURES:
        fields["features"] = Struct(dict(_FEATURES[name]))
    return Struct(fields, required=("enabled",))


CREATE_PARAMS: dict[str, Param] = {
    "components": Struct({name: _component(name) for name in COMPONENTS}),
    "customer": String(max_chars=5000),
    "customer_account": NotSupported(reason="Kassa has no Accounts v2."),
}


@dataclass(frozen=True, kw_only=True)
class CreateCustomerSession:
    components: dict[str, Any] | None = None
    customer: str | None = None


def _components_answer(sent: Mapping[str, Any]) -> dict[str, Any]:
    """Each component as the session shows it: disabled unless sent enabled; an enabled
    component's features are Stripe's defaults overlaid with those sent."""
    answer: dict[str, Any] = {}
    for name in COMPONENTS:
        component = sent.get(name) or {}
        enabled = bool(component.get("enabled", False))
        shown: dict[str, Any] = {"enabled": enabled}
        if name in _FEATURES:
            sent_features = component.get("features") or {}
            shown["features"] = _features(name, sent_features) if enabled else None
        answer[name] = shown
    return answer


def _features(component: str, sent: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _FEATURE_DEFAULTS[component]
    return {name: sent.get(name, defaults.get(name)) for name in _FEATURES[component]}


async def create_customer_session(ctx: Context, request: CreateCustomerSession) -> ApiObject:
    if request.components is None:
        raise MissingParameter("components")
    if not any((request.components.get(name) or {}).get("enabled") for name in COMPONENTS):
        raise InvalidParameter("At least one component must be enabled.", param="components")
    if request.customer is None:
        # `customer_account`, the other way to name whom the session is for, is refused.
        raise MissingParameter("customer")
    customer = await load_customer_named(ctx, request.customer, param="customer")
    ctx = await ctx.governed_by(customer)
    created = ctx.now()
    return {
        "object": "customer_session",
        "client_secret": new_secret(SECRET_PREFIX),
        "components": _components_answer(request.components),
        "created": created,
        "customer": customer["id"],
        "customer_account": None,
        "expires_at": created + LIFETIME_SECONDS,
        "livemode": ctx.livemode,
    }


RESOURCE = Resource(
    object_name="customer_session",
    id_prefix="cuss",
    collection="customer_sessions",
    table=None,
    create=Operation(
        request_parser(CreateCustomerSession, CREATE_PARAMS),
        create_customer_session,
        writes=True,
        secret_fields=("client_secret",),
    ),
    expandable={"customer": "customer"},
)
