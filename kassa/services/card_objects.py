"""Stripe's `card` object (`card_...`): what a card token carries and what a customer keeps as
a payment source, and how the Charges API charges one.

A card object is built from a validated `kassa.cards.Card` (never the number) and the
cardholder's details. It names no PaymentMethod: where a charge needs the card as a payment
method (its `payment_method_details`, the test card's behaviour), `as_payment_method` gives
the view `charge_processing` reads, as Stripe lets a card be used wherever a card
PaymentMethod is. A card PaymentMethod's own `card` hash is built here too
(`payment_method_card`), from the fields a card object keeps, so both spell it alike. No
resource is declared here: tokens and customer sources hold the objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa import cards
from kassa.errors import MissingParameter
from kassa.ids import new_id
from kassa.params import Metadata, Param, String, Struct, apply_metadata
from kassa.services.context import Context
from kassa.services.resource import ApiObject

ADDRESS_PARAMS: Final = (
    "address_city",
    "address_country",
    "address_line1",
    "address_line2",
    "address_state",
    "address_zip",
)
HOLDER_FIELDS: dict[str, Param] = {
    "name": String(max_chars=5000),
    **{name: String(max_chars=200) for name in ADDRESS_PARAMS},
}
"""What describes the cardholder: given with the number, changed by a source update."""
CARD_FIELDS: dict[str, Param] = {
    "number": String(max_chars=40),
    "exp_month": String(max_chars=10),
    "exp_year": String(max_chars=10),
    "cvc": String(max_chars=10),
    "currency": String(max_chars=3),
    "networks": Struct({"preferred": String(max_chars=20)}),
    **HOLDER_FIELDS,
}
"""`card[...]` on a token, and (with `object` and `metadata`) `source[...]` on a customer."""
SOURCE_HASH_FIELDS: dict[str, Param] = {
    **CARD_FIELDS,
    "object": String(max_chars=20),
    "metadata": Metadata(),
}

CardDetails = Mapping[str, Any]
"""Validated `CARD_FIELDS` (or `SOURCE_HASH_FIELDS`)."""

BRAND_NAMES: Final = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}
"""A card object spells its brand as Stripe displays it; a PaymentMethod uses the code."""
_BRAND_CODES: Final = {name: code for code, name in BRAND_NAMES.items()}
_ADDRESS_KEYS: Final = {
    "address_city": "city",
    "address_country": "country",
    "address_line1": "line1",
    "address_line2": "line2",
    "address_state": "state",
    "address_zip": "postal_code",
}
"""A card's flat address fields -> the billing address a PaymentMethod nests."""


class SourceParam(Param):
    """A `source`: an id (a token, a card) or, as older integrations send, a hash of card
    details (`source[object]=card&source[number]=...`)."""

    def parse(self, value: Any, path: str) -> str | dict[str, Any]:
        if isinstance(value, dict):
            return Struct(SOURCE_HASH_FIELDS).parse(value, path)
        return String(max_chars=255).parse(value, path)

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [String(max_chars=255).json_schema(), Struct(SOURCE_HASH_FIELDS).schema()]}


def validated_card(ctx: Context, details: CardDetails, prefix: str) -> cards.Card:
    """The card raw details describe (validated as Stripe does; errors name
    `<prefix>[number]`, ...)."""
    for name in ("number", "exp_month", "exp_year"):
        if name not in details:
            raise MissingParameter(f"{prefix}[{name}]")
    return cards.card_from_number(
        details["number"],
        details["exp_month"],
        details["exp_year"],
        details.get("cvc"),
        today=ctx.today(),
        fingerprint_key=ctx.payments.card_fingerprint_key,
        param_prefix=prefix,
    )


def test_token_card(ctx: Context, token_id: str) -> cards.Card | None:
    """The card a Stripe test token (`tok_visa`, ...) stands for; None for other ids."""
    if not token_id.startswith(cards.CARD_TOKEN_PREFIX):
        return None
    return cards.card_from_test_token(
        token_id, today=ctx.today(), fingerprint_key=ctx.payments.card_fingerprint_key
    )


def card_fields(card: cards.Card, line1: object, postal_code: object) -> dict[str, Any]:
    """What a card object keeps of a validated card (never the number), the address given
    checked (`_unbranded_fields`)."""
    return {"brand": BRAND_NAMES[card.brand], **_unbranded_fields(card, line1, postal_code)}


def _unbranded_fields(card: cards.Card, line1: object, postal_code: object) -> dict[str, Any]:
    """What a card object keeps of a validated card but its brand, which a card object
    displays (`BRAND_NAMES`) and a PaymentMethod codes. The address's `line1` and
    `postal_code`, where given, are checked (`address_check`)."""
    return {
        "address_line1_check": address_check(card.address_line1_result, line1),
        "address_zip_check": address_check(card.address_zip_result, postal_code),
        "country": card.country,
        "cvc_check": card.cvc_check,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "last4": card.last4,
        "regulated_status": "unregulated",
    }


def new_card_object(
    ctx: Context, card: cards.Card, details: CardDetails | None = None
) -> ApiObject:
    """A new card object for `card`, with the holder's name and address from `details`. An
    address given is checked (`address_check`)."""
    details = details or {}
    fields = card_fields(card, details.get("address_line1"), details.get("address_zip")) | {
        **{name: details.get(name) for name in ADDRESS_PARAMS},
        "allow_redisplay": "unspecified",
        "customer": None,
        "dynamic_last4": None,
        "metadata": apply_metadata({}, details.get("metadata") or {}),
        "name": details.get("name"),
        "networks": {"preferred": (details.get("networks") or {}).get("preferred")},
        "tokenization_method": None,
    }
    return {"id": new_id("card"), "object": "card", **dict(sorted(fields.items()))}


def address_check(result: str, given: object) -> str | None:
    """A check of one address field: the issuer's `result` for this card (Stripe's address
    check test cards fail, or find it unavailable; others pass) when the field was given,
    else null (nothing to check)."""
    return result if isinstance(given, str) and given else None


def payment_method_card(
    card: cards.Card, address: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `card` hash of a new card PaymentMethod for a validated card, its billing
    `address` (`line1`, `postal_code`) checked."""
    address = address or {}
    fields = _unbranded_fields(card, address.get("line1"), address.get("postal_code"))
    return _payment_method_card(card.brand, fields)


def _payment_method_card(brand: str, card: Mapping[str, Any]) -> dict[str, Any]:
    """The `card` hash of a card PaymentMethod: `brand` its code (`visa`), the other fields
    as a card object keeps them."""
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": card["address_line1_check"],
            "address_postal_code_check": card["address_zip_check"],
            "cvc_check": card["cvc_check"],
        },
        "country": card["country"],
        "display_brand": cards.DISPLAY_BRANDS[brand],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "generated_from": None,
        "last4": card["last4"],
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": card["regulated_status"],
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def as_payment_method(card: ApiObject) -> ApiObject:
    """The card as a card PaymentMethod: what a charge reads (`charge_processing.new_charge`:
    its id, billing details and `card` hash), and the base of a saved card's PaymentMethod
    view (`customer_sources.as_payment_method`)."""
    return {
        "id": card["id"],
        "object": "payment_method",
        "billing_details": {
            "address": {key: card[name] for name, key in _ADDRESS_KEYS.items()},
            "email": None,
            "name": card["name"],
            "phone": None,
            "tax_id": None,
        },
        "card": _payment_method_card(_BRAND_CODES[card["brand"]], card),
        "customer": card["customer"],
        "type": "card",
    }


def behavior_of_card_object(ctx: Context, card: ApiObject) -> cards.TestBehavior:
    """How Kassa's simulated card network treats a card object (a token's, a customer's
    saved card, a charge's `source`)."""
    return _behavior(ctx, card["fingerprint"], card["cvc_check"])


def behavior_of_payment_method_card(ctx: Context, card: Mapping[str, Any]) -> cards.TestBehavior:
    """How Kassa's simulated card network treats the card of a `card` hash: a PaymentMethod's
    (`payment_method_card`) or a charge's `payment_method_details` (both keep the CVC check
    under `checks`)."""
    return _behavior(ctx, card["fingerprint"], card["checks"]["cvc_check"])


def _behavior(ctx: Context, fingerprint: str, cvc_check: str | None) -> cards.TestBehavior:
    """A card is known by its fingerprint; a test card declining on its CVC does so only
    when a CVC was given (and so checked)."""
    return cards.behavior_for_fingerprint(
        fingerprint, ctx.payments.card_fingerprint_key, cvc_given=cvc_check is not None
    )
