"""What PaymentIntents and SetupIntents do alike: the client secret, the customer and
payment method they name, automatic payment methods (on by default) and the return_url
confirming them needs, the test 3-D Secure page's `next_action`, their errors, and storing
an intent created and confirmed in one request once. Each helper takes the
`IntentKind` it works on, which gives the noun Stripe's messages use and the resource
(and table) the intent lives in.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import cards
from kassa.errors import (
    ExclusiveParameters,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
    recorded_error,
)
from kassa.ids import random_base62
from kassa.invariants import InvariantViolated
from kassa.params import Boolean, Enum, NotSupported, Param, Struct, Unset
from kassa.services import events, payment_methods
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, RemovedParam, Resource
from kassa.store.tables import PAYMENT_INTENTS, ObjectTable

CLIENT_SECRET_RANDOM_CHARS: Final = 25
AUTHENTICATE_PATH: Final = "/kassa/authenticate"
"""The test 3-D Secure page (`kassa.http.authentication_page`), for either kind."""
DONE_FORMS: Final = {
    "authenticate": "authenticated",
    "cancel": "canceled",
    "capture": "captured",
    "confirm": "confirmed",
    "update": "updated",
}
"""What Stripe's unexpected-state messages say an intent "may be": each action's past
participle (spelt out: "confirm" + "d" is no word)."""
CHALLENGE_REQUESTS: Final = ("any", "challenge")
"""The `request_three_d_secure` values that ask for 3-D Secure whatever the card."""


@dataclass(frozen=True)
class IntentKind:
    """Which intent a helper works on."""

    noun: str
    """As Stripe's messages name the object: `PaymentIntent`, `SetupIntent`."""
    resource: Resource

    @property
    def object_name(self) -> str:
        return self.resource.object_name

    @property
    def table(self) -> ObjectTable:
        table = self.resource.table
        if table is None:
            raise InvariantViolated(f"{self.noun}s are stored in a table")
        return table

    @property
    def unsaved_memo_key(self) -> str:
        """ctx.memo key: ids of intents created in this unit and not yet inserted."""
        return f"{self.resource.collection}.unsaved"


def new_client_secret(intent_id: str) -> str:
    return f"{intent_id}_secret_{random_base62(CLIENT_SECRET_RANDOM_CHARS)}"


AUTOMATIC_PAYMENT_METHODS: Final = Struct(
    {"enabled": Boolean(), "allow_redirects": Enum(values=("always", "never"))}
)
"""The `automatic_payment_methods` parameter on creating either kind of intent."""

REQUEST_THREE_D_SECURE: Final = Enum(values=("automatic", *CHALLENGE_REQUESTS))
"""`payment_method_options[card][request_three_d_secure]` on either kind of intent."""

PAYMENT_METHOD_DATA: Final = Struct(
    {k: v for k, v in payment_methods.CREATE_PARAMS.items() if k != "customer"}
)
"""`payment_method_data`: a PaymentMethod made with the intent, as `POST /v1/payment_methods`
takes one, its customer being the intent's."""


REFUSED_ON_SETTING: Final[dict[str, Param]] = {
    "customer_account": payment_methods.CUSTOMER_ACCOUNT,
    "payment_method_configuration": NotSupported(
        reason="Kassa's payment methods are cards: none to pick."
    ),
}
"""Refused on either kind of intent's create and update."""
CONFIRMATION_TOKEN: Final = NotSupported(
    reason="Kassa has no ConfirmationTokens: confirm with payment_method."
)


AUTOMATIC_BY_DEFAULT: Final = {"allow_redirects": "always", "enabled": True}
"""`automatic_payment_methods` of an intent created with neither it nor
`payment_method_types` (Stripe's default since API version 2023-08-16)."""
REDIRECTS_NEED_RETURN_URL: Final = (
    "This {noun} accepts automatic payment methods, and some of them may send the customer "
    "away to authenticate or pay, so confirming it needs a return_url to send them back to. "
    "Pass return_url, or create the {noun} with automatic_payment_methods[allow_redirects]="
    "never, or with allowed_payment_method_types, if it should accept no payment method "
    "that redirects."
)
NO_ERROR_ON_REQUIRES_ACTION: Final = (
    "error_on_requires_action cannot be used to confirm a PaymentIntent that accepts "
    "automatic payment methods: which of them may need further action is not known in "
    "advance. Create the PaymentIntent with allowed_payment_method_types to use it."
)


PAYMENT_METHOD_TYPES_REMOVED: Final = RemovedParam(
    since=datetime.date(2026, 9, 30),
    code="payment_method_types_no_longer_supported",
    message=(
        "payment_method_types can no longer be set on this API version (since "
        "2026-09-30.endive). Let automatic payment methods choose, or name the types with "
        "allowed_payment_method_types (or leave some out with excluded_payment_method_types)."
    ),
)
"""Stripe's changelog 2026-09-30.endive: `payment_method_types` is read-only on
PaymentIntents (create, update, confirm) and SetupIntents (create, update)."""


def automatic_payment_methods(
    requested: Mapping[str, Any] | None,
    payment_method_types: list[str] | None,
    allowed_payment_method_types: list[str] | Unset | None = None,
) -> dict[str, Any] | None:
    """`automatic_payment_methods` as stored (`requested`: validated
    `AUTOMATIC_PAYMENT_METHODS`, or None when not sent): both fields, Stripe's defaults
    filled in. Stripe requires `enabled` in the hash, and refuses the types named
    (`payment_method_types`, or `allowed_payment_method_types`, which Stripe's changelog
    2026-07-29.dahlia makes exclusive with it) beside enabled ones. Sent none, the intent
    accepts automatic payment methods (Stripe's default); types named alone (in any form)
    turn them off."""
    types: list[str] | Unset | None = payment_method_types
    named = "payment_method_types"
    if types is None:
        types, named = allowed_payment_method_types, "allowed_payment_method_types"
    if requested is None:
        return dict(AUTOMATIC_BY_DEFAULT) if types is None else None
    if "enabled" not in requested:
        raise MissingParameter("automatic_payment_methods[enabled]")
    if requested["enabled"] and types:
        raise ExclusiveParameters(("automatic_payment_methods", named), param=named)
    return {
        "allow_redirects": requested.get("allow_redirects", "always"),
        "enabled": requested["enabled"],
    }


def accepts_automatic_payment_methods(intent: ApiObject) -> bool:
    automatic = intent["automatic_payment_methods"]
    return bool(automatic and automatic["enabled"])


def accepts_redirects(intent: ApiObject) -> bool:
    """Whether some payment method the intent accepts may redirect the customer: Stripe then
    asks for a return_url at every confirmation, whatever the method actually used (Kassa's
    cards never redirect; an integration that left it out must fail here as on Stripe)."""
    automatic = intent["automatic_payment_methods"]
    return accepts_automatic_payment_methods(intent) and automatic["allow_redirects"] == "always"


def check_return_url_given(
    kind: IntentKind, intent: ApiObject, return_url: str | None, *, off_session: bool = False
) -> None:
    """A confirmation of an intent that accepts redirects names its return_url, unless the
    customer is not there to be redirected (a PaymentIntent's `off_session`). For a
    confirmation that may rely on the return_url an earlier one gave, see
    `confirmation_return_url`."""
    if return_url is None and not off_session and accepts_redirects(intent):
        raise InvalidParameter(REDIRECTS_NEED_RETURN_URL.format(noun=kind.noun), param="return_url")


def check_error_on_requires_action(
    intent: ApiObject, error_on_requires_action: bool | None
) -> None:
    """Stripe refuses `error_on_requires_action` on a PaymentIntent accepting automatic
    payment methods (with or without redirects)."""
    if error_on_requires_action and accepts_automatic_payment_methods(intent):
        raise InvalidParameter(NO_ERROR_ON_REQUIRES_ACTION, param="error_on_requires_action")


async def confirmation_return_url(
    ctx: Context,
    kind: IntentKind,
    intent: ApiObject,
    given: str | None,
    *,
    off_session: bool = False,
) -> str | None:
    """The return_url a confirmation goes on with: the one it gives, else the one an earlier
    confirmation of the intent gave (read only when the intent needs one). Refused when the
    intent accepts redirects and neither is known. Reads only: `remember_return_url` writes,
    once the confirmation is validated."""
    if given is not None or off_session or not accepts_redirects(intent):
        return given
    remembered = await ctx.tx.remembered_return_url(ctx.account_id, str(intent["id"]))
    check_return_url_given(kind, intent, remembered)
    return remembered


async def remember_return_url(ctx: Context, intent: ApiObject, given: str | None) -> None:
    """Keep the return_url a confirmation gave, for a later one that leaves it out; only for
    intents that need one (other intents' confirmations write nothing more)."""
    if given is not None and accepts_redirects(intent):
        await ctx.tx.remember_return_url(ctx.account_id, str(intent["id"]), given)


async def customer_id(ctx: Context, reference: str | Unset) -> str | None:
    """The id of the customer `reference` names; None where it was sent empty (UNSET)."""
    if isinstance(reference, Unset):
        return None
    customer = await load_customer_named(ctx, reference, param="customer")
    return str(customer["id"])


async def apply_payment_method(
    ctx: Context,
    kind: IntentKind,
    intent: ApiObject,
    payment_method: str | None,
    payment_method_data: Mapping[str, Any] | None,
    *,
    customer_changed: bool = False,
) -> None:
    """The payment method a create, update or confirm names, or the card it describes (a
    new PaymentMethod); the intent's customer is set first, as the card must be its. A
    new customer (`customer_changed`) must own the card the intent already has."""
    if payment_method is not None and payment_method_data is not None:
        raise InvalidParameter(
            "You cannot specify both payment_method and payment_method_data.",
            param="payment_method_data",
        )
    if payment_method is not None:
        named = await payment_methods.resolve(ctx, payment_method, param="payment_method")
        await payment_methods.check_reusable(ctx, named, param="payment_method")
        check_owner(kind, intent, named, param="payment_method")
        intent["payment_method"] = named["id"]
    elif payment_method_data is not None:
        created = await payment_methods.create_from_params(
            ctx, payment_method_data, "payment_method_data"
        )
        intent["payment_method"] = created["id"]
    elif customer_changed and intent["payment_method"] is not None:
        kept = await payment_methods.resolve(ctx, intent["payment_method"], param="payment_method")
        check_owner(kind, intent, kept, param="customer")


def check_owner(
    kind: IntentKind, intent: ApiObject, payment_method: ApiObject, *, param: str
) -> None:
    """Stripe: "Payment methods attached to other Customers cannot be used with this
    PaymentIntent/SetupIntent", whichever parameter (`param`) made the card another's."""
    owner = payment_method["customer"]
    if owner is not None and owner != intent["customer"]:
        raise InvalidRequest(
            f"The provided PaymentMethod {payment_method['id']} is attached to another "
            f"customer; give that customer, or a PaymentMethod of this {kind.noun}'s.",
            param=param,
        )


async def load_governed(
    ctx: Context, kind: IntentKind, intent_id: str
) -> tuple[Context, ApiObject]:
    """The live intent (locked in a write unit), and the context whose `now()` is the time
    governing it (its customer's test clock, if any): what the operation writes is stamped
    with that time."""
    intent = await load_live_object(ctx, kind.resource, intent_id)
    return await ctx.governed_by(intent), intent


def check_client_secret(
    ctx: Context, kind: IntentKind, intent: ApiObject, given: str | None
) -> None:
    """A publishable key reaches an intent only with its client secret (as Stripe.js does)."""
    if given is None and ctx.publishable_key:
        raise MissingParameter("client_secret")
    if given is not None and not secret_matches(given, str(intent["client_secret"])):
        raise InvalidRequest(
            "The client_secret provided does not match the client_secret associated with the "
            f"{kind.noun}.",
            param="client_secret",
        )


def secret_matches(given: str, stored: str) -> bool:
    """In constant time, on bytes: `hmac.compare_digest` refuses a `str` holding non-ASCII
    characters with a TypeError, and anyone may send a secret with them."""
    return hmac.compare_digest(given.encode(), stored.encode())


def needs_three_d_secure(intent: ApiObject, behavior: cards.TestBehavior) -> bool:
    """Whether confirming `intent` goes through 3-D Secure: its card (`behavior`) demands it,
    as Stripe's authentication test cards do, or the intent asks for it
    (`payment_method_options[card][request_three_d_secure]`)."""
    return behavior.requires_authentication or challenge_requested(intent)


def challenge_requested(intent: ApiObject) -> bool:
    """Whether the intent asks for 3-D Secure whatever the card."""
    requested = intent["payment_method_options"]["card"]["request_three_d_secure"]
    return requested in CHALLENGE_REQUESTS


def next_action(ctx: Context, intent: ApiObject, return_url: str | None) -> dict[str, Any]:
    """The test 3-D Secure challenge: a redirect when the caller gave `return_url`, else
    for Stripe.js to open."""
    url = (
        f"{ctx.payments.public_url}{AUTHENTICATE_PATH}/{intent['id']}"
        f"?client_secret={intent['client_secret']}"
    )
    if return_url:
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": return_url, "url": url},
        }
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
    }


def return_url_of(intent: ApiObject) -> str | None:
    """Where the test 3-D Secure page sends the browser back to, if the intent said."""
    url = (intent["next_action"] or {}).get("redirect_to_url", {}).get("return_url")
    return None if url is None else str(url)


def unexpected_state(
    kind: IntentKind, intent: ApiObject, action: str, allowed: tuple[str, ...]
) -> InvalidRequest:
    done = DONE_FORMS.get(action)
    if done is None:
        raise InvariantViolated(f"an intent action's past participle is known: {action}")
    # Stripe's error carries the intent as it is (integrations read its status from it).
    return InvalidRequest(
        f"You cannot {action} this {kind.noun} because it has a status of "
        f"{intent['status']}. Only a {kind.noun} with one of the following statuses may be "
        f"{done}: {', '.join(allowed)}.",
        code=f"{kind.object_name}_unexpected_state",
    ).carrying(**{kind.object_name: intent})


def field_locked(
    kind: IntentKind, intent: ApiObject, param: str, allowed: tuple[str, ...]
) -> InvalidRequest:
    """An update of one field the intent's status no longer lets change (Stripe's wording
    for `amount`), naming the field as `param`."""
    return InvalidRequest(
        f"This {kind.noun}'s {param} could not be updated because it has a status of "
        f"{intent['status']}. You may only update the {param} of a {kind.noun} with one of "
        f"the following statuses: {', '.join(allowed)}.",
        param=param,
        code=f"{kind.object_name}_unexpected_state",
    ).carrying(**{kind.object_name: intent})


async def payment_method_of(ctx: Context, kind: IntentKind, intent: ApiObject) -> ApiObject:
    """The payment method the intent is confirmed (or authenticated) with: its customer's
    or nobody's."""
    if intent["payment_method"] is None:
        raise InvalidRequest(
            f"You cannot confirm this {kind.noun} because it's missing a payment method. "
            f"Update the {kind.noun} with a payment method and then confirm it again.",
            code=f"{kind.object_name}_unexpected_state",
        )
    payment_method = await payment_methods.resolve(
        ctx, intent["payment_method"], param="payment_method"
    )
    # Attached to another customer since the intent took it: nobody pays with another's card.
    check_owner(kind, intent, payment_method, param="payment_method")
    await payment_methods.check_reusable(ctx, payment_method, param="payment_method")
    return payment_method


def back_to_requires_payment_method(intent: ApiObject) -> None:
    """After a failed attempt: the card is dropped, and the intent waits for another."""
    intent["status"] = "requires_payment_method"
    intent["payment_method"] = None
    intent["next_action"] = None


async def mark_payment_intent_canceled(ctx: Context, intent: ApiObject, reason: str | None) -> None:
    """The PaymentIntent ends canceled (`reason`: its `cancellation_reason`) at the time
    `ctx` gives, nothing left to capture or act on and no last error; saved, and
    `payment_intent.canceled` announced. Every cancel does this: the API's, the
    dashboard's, billing's and an authorization's expiry. `intent` was loaded in this unit
    (a cancel never meets one still waiting for its first `save`), so saving it is an
    update."""
    intent["status"] = "canceled"
    intent["canceled_at"] = ctx.now()
    intent["cancellation_reason"] = reason
    intent["amount_capturable"] = 0
    intent["next_action"] = None
    # Stripe clears the last error on any later change of the intent; a cancel is one.
    intent["last_payment_error"] = None
    await ctx.tx.update_object(PAYMENT_INTENTS, ctx.account_id, intent)
    await events.announce(ctx, "payment_intent.canceled", intent)


def authentication_failure(kind: IntentKind, message: str, **context: Any) -> dict[str, Any]:
    """The intent's last error when its 3-D Secure challenge was failed, with `context`
    (the payment method) added."""
    code = f"{kind.object_name}_authentication_failure"
    return recorded_error(code, message, "invalid_request_error", **context)


def insert_when_saved(ctx: Context, kind: IntentKind, intent: ApiObject) -> None:
    """The intent, created in this unit, is inserted by its first `save` (a create that
    confirms stores it once, by the confirmation's outcome, rather than inserting it and
    then updating it)."""
    ctx.memo.setdefault(kind.unsaved_memo_key, set()).add(intent["id"])


async def save(ctx: Context, kind: IntentKind, intent: ApiObject) -> None:
    unsaved: set[str] = ctx.memo.get(kind.unsaved_memo_key, set())
    if intent["id"] in unsaved:
        unsaved.discard(intent["id"])
        await ctx.tx.insert_object(kind.table, ctx.account_id, intent)
    else:
        await ctx.tx.update_object(kind.table, ctx.account_id, intent)
