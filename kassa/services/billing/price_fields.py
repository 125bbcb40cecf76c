"""The parameters that describe a price's amounts, and the checks that turn them into the
price's fields, shared by `POST /v1/prices` (prices.py) and a product's `default_price_data`
(products.py), with the product fields a price's `product_data` takes. Every refusal is an
`InvalidParameter` naming the parameter in bracket form (`tiers[1][up_to]`,
`default_price_data[unit_amount]`), raised before anything is read or written.

Amounts are integers in minor units, or `Decimal` for the `*_decimal` parameters (at most 12
places, never a float); Stripe shows an integer amount only when the amount is whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import ExclusiveParameters, InvalidParameter, MissingParameter
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
)
from kassa.services.billing import pricing

AMOUNT_MAX: Final = money.MAX_AMOUNT
"""The largest `unit_amount` or `flat_amount`: Stripe's eight-digit amount limit."""
DECIMAL_PLACES_MAX: Final = 12
"""`unit_amount_decimal` and `flat_amount_decimal` take at most 12 decimal places."""
TRIAL_PERIOD_DAYS_MAX: Final = 730
DIVIDE_BY_MAX: Final = 1_000_000_000
INTERVAL_COUNT_MAX: Final[Mapping[str, int]] = {"day": 1095, "week": 156, "month": 36, "year": 3}
"""Stripe's limit on a recurring interval: three years (SDK docstring of
`recurring[interval_count]`: "3 years, 36 months, or 156 weeks"; 1095 days)."""

INTERVALS = ("day", "week", "month", "year")
USAGE_TYPES = ("licensed", "metered")
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")

STATEMENT_DESCRIPTOR_CHARS_MAX: Final = 22
UNIT_LABEL_CHARS_MAX: Final = 12


# --- Parameter types ----------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,40})?")


@dataclass(frozen=True)
class DecimalAmount(Param):
    """A non-negative amount of minor units as a decimal string (`105.5` is 105.5 cents),
    at most `DECIMAL_PLACES_MAX` places; parsed to `Decimal`, never a float."""

    maximum: int = AMOUNT_MAX
    nullable: bool = False

    def parse(self, value: Any, path: str) -> Decimal:
        self.refuse_empty(value, path)
        if not isinstance(value, str):
            shown = "an object" if isinstance(value, dict) else "a list"
            raise InvalidParameter(f"Invalid decimal: {shown}", param=path)
        text = value
        if not _DECIMAL.fullmatch(text):
            raise InvalidParameter(f"Invalid decimal: {text[:80]}", param=path)
        number = Decimal(text)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > DECIMAL_PLACES_MAX:
            raise InvalidParameter(
                f"Invalid decimal: {text[:80]}; at most {DECIMAL_PLACES_MAX} decimal places "
                "are allowed",
                param=path,
            )
        if number > self.maximum:
            raise InvalidParameter(
                f"Invalid decimal: {text[:80]}; must be at most {self.maximum}", param=path
            )
        return number


@dataclass(frozen=True)
class UpTo(Param):
    """A tier's upper bound: a positive integer, or `inf` for the last tier (parsed to
    None)."""

    def parse(self, value: Any, path: str) -> int | None:
        if value == "inf":
            return None
        return Integer(minimum=1, maximum=pricing.QUANTITY_MAX).parse(value, path)


# --- Parameter schemas --------------------------------------------------------------------

TAX_BEHAVIOR = Enum(values=TAX_BEHAVIORS)
CUSTOM_UNIT_AMOUNT = Struct(
    {
        "enabled": Boolean(),
        "maximum": Integer(minimum=0, maximum=AMOUNT_MAX),
        "minimum": Integer(minimum=0, maximum=AMOUNT_MAX),
        "preset": Integer(minimum=0, maximum=AMOUNT_MAX),
    },
    required=("enabled",),
)
CURRENCY_OPTIONS = NotSupported(
    reason="a Kassa price has one currency; create one price per currency instead"
)
TIER = Struct(
    {
        "flat_amount": Integer(minimum=0, maximum=AMOUNT_MAX),
        "flat_amount_decimal": DecimalAmount(),
        "unit_amount": Integer(minimum=0, maximum=AMOUNT_MAX),
        "unit_amount_decimal": DecimalAmount(),
        "up_to": UpTo(),
    },
    required=("up_to",),
)
_INTERVAL_PARAMS: dict[str, Param] = {
    "interval": Enum(values=INTERVALS),
    "interval_count": Integer(minimum=1, maximum=max(INTERVAL_COUNT_MAX.values())),
}
RECURRING = Struct(
    {
        **_INTERVAL_PARAMS,
        "meter": String(max_chars=255),
        "trial_period_days": Integer(minimum=1, maximum=TRIAL_PERIOD_DAYS_MAX),
        "usage_type": Enum(values=USAGE_TYPES),
    },
    required=("interval",),
)
TRANSFORM_QUANTITY = Struct(
    {
        "divide_by": Integer(minimum=1, maximum=DIVIDE_BY_MAX),
        "round": Enum(values=("down", "up")),
    },
    required=("divide_by", "round"),
)

AMOUNT_PARAMS: dict[str, Param] = {
    "currency": money.Currency(),
    "currency_options": CURRENCY_OPTIONS,
    "custom_unit_amount": CUSTOM_UNIT_AMOUNT,
    "metadata": Metadata(),
    "tax_behavior": TAX_BEHAVIOR,
    "unit_amount": Integer(minimum=0, maximum=AMOUNT_MAX),
    "unit_amount_decimal": DecimalAmount(),
}
RECURRING_INTERVAL = Struct(_INTERVAL_PARAMS, required=("interval",))
"""The `recurring` an inline price takes: its interval only (a product's `default_price_data`,
a subscription item's `price_data`)."""
DEFAULT_PRICE_DATA = Struct(
    {**AMOUNT_PARAMS, "recurring": RECURRING_INTERVAL},
    required=("currency",),
)
"""A product's `default_price_data`: a per-unit price, created with the product."""

_STATEMENT_DESCRIPTOR = re.compile(r"[^<>\\\"']*[A-Za-z][^<>\\\"']*")
PRODUCT_DATA_FIELDS: dict[str, Param] = {
    "active": Boolean(),
    "id": String(
        max_chars=255,
        pattern=re.compile(r"[A-Za-z0-9_\-.]+"),
        pattern_hint="; ids may hold letters, digits, `_`, `-` and `.`",
    ),
    "metadata": Metadata(),
    "name": String(nullable=True),
    "statement_descriptor": String(
        max_chars=STATEMENT_DESCRIPTOR_CHARS_MAX,
        nullable=True,
        pattern=_STATEMENT_DESCRIPTOR,
        pattern_hint="; it must hold a letter and none of < > \\ \" '",
    ),
    "tax_code": String(max_chars=255, nullable=True),
    "tax_details": Struct(
        {
            "performance_location": String(max_chars=255),
            "tax_code": String(max_chars=255, nullable=True),
        },
        nullable=True,
    ),
    "unit_label": String(max_chars=UNIT_LABEL_CHARS_MAX, nullable=True),
}
"""The product fields a price's `product_data` takes; a product's create takes them too."""
PRODUCT_DATA = Struct(PRODUCT_DATA_FIELDS, required=("name",))

Fields = Mapping[str, Any]
"""A validated sub-hash (`recurring`, `tiers[0]`, `product_data`)."""


@dataclass(frozen=True, kw_only=True)
class PriceAmounts:
    """What a price and a product's `default_price_data` share."""

    currency: str
    custom_unit_amount: Fields | None = None
    metadata: MetadataUpdate | None = None
    recurring: Fields | None = None
    tax_behavior: str | None = None
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None
    currency_options: Any = None
    """Always refused while parsing (see CURRENCY_OPTIONS)."""


# --- Checks: parameters to fields ---------------------------------------------------------


def param_path(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


@dataclass(frozen=True)
class ParamNames:
    """What the caller calls a price's parameters, for the 400s the checks raise: a price's
    own names under `prefix` (a product's `default_price_data[unit_amount]`), or names
    `renamed` as another resource takes them (a plan's `amount` for `unit_amount`; the empty
    name for `recurring` puts its keys at the top level, a plan's `interval`)."""

    prefix: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    """Price parameters the caller does not take (a plan has no `custom_unit_amount`)."""

    def name(self, price_param: str) -> str:
        """The caller's name for a top-level price parameter, without the prefix."""
        return self.renamed.get(price_param, price_param)

    def choice(self, *price_params: str) -> str:
        """The caller's names of those it takes, as a choice: `a, b or c`."""
        named = [self.name(p) for p in price_params if p not in self.absent]
        return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"

    def path(self, price_param: str, *keys: str | int) -> str:
        """The caller's bracket path for `price_param[keys...]`."""
        parts = [part for part in (self.prefix, self.name(price_param)) if part]
        parts.extend(str(key) for key in keys)
        return parts[0] + "".join(f"[{part}]" for part in parts[1:])


PRICE_PARAM_NAMES: Final = ParamNames()
"""`POST /v1/prices`: the price's own names."""


def only_one_of(sent: Mapping[str, Any], prefix: str) -> None:
    given = [name for name, value in sent.items() if value is not None]
    if len(given) > 1:
        raise ExclusiveParameters(given, param=param_path(prefix, given[1]))


def decimal_text(amount: Decimal) -> str:
    """Stripe's decimal string: no exponent, no trailing zeros (`2000`, `0.05`)."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text


def amount_fields(amount: int | None, exact: Decimal | None, name: str) -> dict[str, Any]:
    """`unit_amount` and `unit_amount_decimal` (or the `flat_` pair) from what was sent:
    the integer is set only when the amount is whole, as Stripe returns it."""
    if amount is not None:
        return {name: amount, f"{name}_decimal": str(amount)}
    if exact is not None:
        whole = int(exact) if exact == exact.to_integral_value() else None
        return {name: whole, f"{name}_decimal": decimal_text(exact)}
    return {name: None, f"{name}_decimal": None}


def custom_unit_amount_fields(fields: Fields, names: ParamNames, recurring: bool) -> dict[str, Any]:
    path = names.path("custom_unit_amount")
    if not fields["enabled"]:
        raise InvalidParameter(
            f"Pass {path}[enabled]=true to enable custom unit amounts, or omit {path}.",
            param=f"{path}[enabled]",
        )
    if recurring:
        raise InvalidParameter(
            f"{path} is only supported for one-time prices, not with recurring.", param=path
        )
    minimum, maximum, preset = (fields.get(k) for k in ("minimum", "maximum", "preset"))
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidParameter(
            f"{path}[minimum] must be at most {path}[maximum].", param=f"{path}[minimum]"
        )
    lowest = 0 if minimum is None else minimum
    highest = AMOUNT_MAX if maximum is None else maximum
    if preset is not None and not lowest <= preset <= highest:
        raise InvalidParameter(
            f"{path}[preset] must lie between {path}[minimum] and {path}[maximum].",
            param=f"{path}[preset]",
        )
    return {"maximum": maximum, "minimum": minimum, "preset": preset}


def per_unit_fields(amounts: PriceAmounts, names: ParamNames) -> dict[str, Any]:
    """`unit_amount`, `unit_amount_decimal` and `custom_unit_amount` of a per-unit price:
    exactly one of the three was sent."""
    only_one_of(
        {
            names.name("unit_amount"): amounts.unit_amount,
            names.name("unit_amount_decimal"): amounts.unit_amount_decimal,
            names.name("custom_unit_amount"): amounts.custom_unit_amount,
        },
        names.prefix,
    )
    fields = amount_fields(amounts.unit_amount, amounts.unit_amount_decimal, "unit_amount")
    fields["custom_unit_amount"] = None
    if amounts.custom_unit_amount is not None:
        fields["custom_unit_amount"] = custom_unit_amount_fields(
            amounts.custom_unit_amount, names, amounts.recurring is not None
        )
    elif fields["unit_amount_decimal"] is None:
        choice = names.choice("unit_amount", "unit_amount_decimal", "custom_unit_amount")
        raise InvalidParameter(
            f"Missing required param: {names.path('unit_amount')}. A per-unit price needs "
            f"one of {choice}.",
            param=names.path("unit_amount"),
            code="parameter_missing",
        )
    return fields


def _tier_object(tier: Fields, path: str) -> dict[str, Any]:
    only_one_of(
        {
            "unit_amount": tier.get("unit_amount"),
            "unit_amount_decimal": tier.get("unit_amount_decimal"),
        },
        path,
    )
    only_one_of(
        {
            "flat_amount": tier.get("flat_amount"),
            "flat_amount_decimal": tier.get("flat_amount_decimal"),
        },
        path,
    )
    unit = amount_fields(tier.get("unit_amount"), tier.get("unit_amount_decimal"), "unit_amount")
    flat = amount_fields(tier.get("flat_amount"), tier.get("flat_amount_decimal"), "flat_amount")
    if unit["unit_amount_decimal"] is None and flat["flat_amount_decimal"] is None:
        raise InvalidParameter("An entry in the tiers array is missing an amount.", param=path)
    return {**flat, **unit, "up_to": tier["up_to"]}


def tier_objects(tiers: list[Fields], names: ParamNames) -> list[dict[str, Any]]:
    """The tiers as stored, checked as Stripe checks them: each with an amount, `up_to`
    ascending, only the last (and always the last) `inf`."""
    path = names.path("tiers")
    if not tiers:
        raise MissingParameter(path)
    objects = [_tier_object(tier, f"{path}[{i}]") for i, tier in enumerate(tiers)]
    previous = 0
    for index, tier in enumerate(objects[:-1]):
        up_to = tier["up_to"]
        if up_to is None:
            raise InvalidParameter(
                f"Only the last tier may have up_to=inf; {path}[{index}] is not the last.",
                param=f"{path}[{index}][up_to]",
            )
        if up_to <= previous:
            raise InvalidParameter(
                f"Tiers must be in ascending order of up_to: {path}[{index}][up_to] is "
                f"{up_to}, after {previous}.",
                param=f"{path}[{index}][up_to]",
            )
        previous = up_to
    if objects[-1]["up_to"] is not None:
        last = len(objects) - 1
        raise InvalidParameter(
            f"The last tier must have up_to=inf; {path}[{last}][up_to] is {objects[-1]['up_to']}.",
            param=f"{path}[{last}][up_to]",
        )
    return objects


def transform_quantity_fields(fields: Fields | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    return {"divide_by": fields["divide_by"], "round": fields["round"]}


def recurring_fields(fields: Fields | None, names: ParamNames) -> dict[str, Any] | None:
    if fields is None:
        return None
    interval, count = fields["interval"], fields.get("interval_count", 1)
    if count > INTERVAL_COUNT_MAX[interval]:
        raise InvalidParameter(
            f"Invalid {names.path('recurring', 'interval_count')}: {count} {interval}s; the "
            "interval may be at most three years (3 years, 36 months, 156 weeks or 1095 days).",
            param=names.path("recurring", "interval_count"),
        )
    usage_type = fields.get("usage_type", "licensed")
    meter = fields.get("meter")
    if usage_type == "metered" and meter is None:
        raise MissingParameter(names.path("recurring", "meter"))
    if usage_type != "metered" and meter is not None:
        raise InvalidParameter(
            f"{names.path('recurring', 'meter')} can only be set with "
            f"{names.path('recurring', 'usage_type')}=metered.",
            param=names.path("recurring", "meter"),
        )
    return {
        "interval": interval,
        "interval_count": count,
        "meter": meter,
        "trial_period_days": fields.get("trial_period_days"),
        "usage_type": usage_type,
    }
