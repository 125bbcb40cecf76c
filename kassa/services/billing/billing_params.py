"""Parameter types the billing resources share: percentages (`percent_off`, a tax rate's
`percentage`), maps keyed by currency (`currency_options`), and the refusal of parameters
Stripe fixes at creation.

Percentages travel as JSON numbers, as Stripe sends them (`25.5`), and are computed with as
`Decimal`: `percent_json` and `percent_decimal` convert between the two exactly (a number of
at most `PERCENT_SIGNIFICANT_DIGITS_MAX` digits survives the round trip through a float's
shortest text)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from kassa import money
from kassa.errors import InvalidParameter
from kassa.invariants import ensure
from kassa.params import Param
from kassa.services.resource import Form, RouteIds

PERCENT_MAX = Decimal(100)
PERCENT_DECIMAL_PLACES_MAX = 12
PERCENT_SIGNIFICANT_DIGITS_MAX = 15
"""A double holds 15 significant decimal digits exactly: a percentage of at most that many
is stored as a JSON number and read back as the very `Decimal` that was sent."""
_DECIMAL_TEXT = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")
"""Plain decimals and the exponent form the SDKs send for small floats (`1e-05`)."""

Request = TypeVar("Request")


@dataclass(frozen=True)
class Percentage(Param):
    """A percentage out of 100 (`25.5`), parsed to `Decimal`: from 0 to 100, 0 itself
    excluded when `positive`."""

    positive: bool = False
    nullable: bool = False

    def parse(self, value: Any, path: str) -> Decimal:
        self.refuse_empty(value, path)
        text = value if isinstance(value, str) else ""
        if not _DECIMAL_TEXT.fullmatch(text):
            raise InvalidParameter(f"Invalid decimal: {text[:80] or 'an object'}", param=path)
        number = Decimal(text)
        below = number <= 0 if self.positive else number < 0
        if below or number > PERCENT_MAX:
            lowest = "greater than 0" if self.positive else "at least 0"
            raise InvalidParameter(
                f"Invalid {path}: {text[:40]}; must be {lowest} and at most 100", param=path
            )
        _check_precision(number, text, path)
        return number.normalize()


def _check_precision(number: Decimal, text: str, path: str) -> None:
    exponent = number.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    digits = len(number.normalize().as_tuple().digits)
    if places > PERCENT_DECIMAL_PLACES_MAX or digits > PERCENT_SIGNIFICANT_DIGITS_MAX:
        raise InvalidParameter(
            f"Invalid {path}: {text[:40]}; at most {PERCENT_DECIMAL_PLACES_MAX} decimal places "
            f"and {PERCENT_SIGNIFICANT_DIGITS_MAX} digits",
            param=path,
        )


def percent_json(number: Decimal) -> int | float:
    """The JSON number Stripe shows for a percentage: an integer when whole (`19`), else a
    float (`25.5`) whose shortest text is exactly `number`."""
    if number == number.to_integral_value():
        return int(number)
    shown = float(number)
    ensure(percent_decimal(shown) == number, f"{number} survives the round trip as a float")
    return shown


def percent_decimal(number: int | float) -> Decimal:
    """A stored percentage back as the `Decimal` it was sent as (a float's shortest text is
    the decimal it was made from, for up to PERCENT_SIGNIFICANT_DIGITS_MAX digits)."""
    try:
        return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    except InvalidOperation:  # pragma: no cover - stored percentages are finite numbers
        raise ValueError(f"not a percentage: {number!r}") from None


@dataclass(frozen=True)
class CurrencyMap(Param):
    """A hash keyed by currency code (`currency_options[eur][amount_off]=500`): each key a
    currency Stripe supports, each value parsed by `item`."""

    item: Param
    max_items: int = len(money.SUPPORTED_CURRENCIES)
    nullable: bool = False

    def parse(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidParameter(
                f"Invalid object: {path} must be an object (`{path}[eur][...]=...`)", param=path
            )
        if len(value) > self.max_items:
            raise InvalidParameter(
                f"Invalid {path}: at most {self.max_items} currencies", param=path
            )
        parsed: dict[str, Any] = {}
        for key, item in value.items():
            currency = money.Currency().parse(key, f"{path}[{key[:20]}]")
            parsed[currency] = self.item.parse(item, f"{path}[{key}]")
        return parsed


ParamPath = tuple[str, ...]
"""A parameter's place in the form: `("percent_off",)`, `("restrictions", "minimum_amount")`."""


def refusing_immutable(
    parse: Callable[[RouteIds, Form], Request],
    object_name: str,
    immutable: tuple[ParamPath, ...],
    changeable: str,
) -> Callable[[RouteIds, Form], Request]:
    """An update parser that first refuses the parameters Stripe fixes at creation. Stripe
    answers them as unknown parameters; Kassa keeps that code and says why."""

    def parse_update(ids: RouteIds, form: Form) -> Request:
        for path in immutable:
            if _sent(form, path):
                shown = path[0] + "".join(f"[{part}]" for part in path[1:])
                raise InvalidParameter(
                    f"Received unknown parameter: {shown}. A {object_name}'s {shown} cannot "
                    f"be changed after it is created; only {changeable} can.",
                    param=shown,
                    code="parameter_unknown",
                )
        return parse(ids, form)

    return parse_update


def _sent(form: Mapping[str, Any], path: ParamPath) -> bool:
    node: Any = form
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
