"""`plan` where Stripe still takes it beside `price`: a subscription's `items[][plan]` (create,
update, the invoice preview's `subscription_details[items][]`) and `/v1/subscription_items`.
A plan is a recurring price under the same id (`plans`), so `plan` is read as `price` (and
kept, so that a refusal names `plan`, the parameter sent: `price_param`); sending both is
refused, as Stripe refuses it. Parameters only: no service is imported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kassa.errors import ExclusiveParameters, MissingParameter
from kassa.params import Param, String, Struct, object_schema
from kassa.services.resource import ParamsParser, RouteIds

PLAN = String(max_chars=255)
Request = TypeVar("Request")


def _plan_as_price(parsed: dict[str, Any], prefix: str) -> dict[str, Any]:
    if "plan" not in parsed:
        return parsed
    path = f"{prefix}[plan]" if prefix else "plan"
    if "price" in parsed:
        raise ExclusiveParameters(("plan", "price"), param=path)
    parsed["price"] = parsed["plan"]
    return parsed


def price_param(entry: Mapping[str, Any], path: str) -> str:
    """The parameter an item's price was sent as: `path[plan]`, `path[price_data]` (an
    inline price) or `path[price]`."""
    for sent in ("plan", "price_data"):
        if entry.get(sent) is not None:
            return f"{path}[{sent}]"
    return f"{path}[price]"


def _priced(parsed: Mapping[str, Any]) -> bool:
    """A price given: by id (or plan, read as `price`) or inline (`price_data`)."""
    return "price" in parsed or "price_data" in parsed


@dataclass(frozen=True)
class ItemWithPlan(Struct):
    """An item hash taking `plan` as `price` (its `price` requirement met by either)."""

    def parse(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            return super().parse(value, path)
        wants_price = "price" in self.required
        relaxed = Struct(
            {**self.fields, "plan": PLAN},
            tuple(name for name in self.required if name != "price"),
            self.nullable,
        )
        parsed = _plan_as_price(relaxed.parse(value, path), path)
        if wants_price and not _priced(parsed):
            raise MissingParameter(f"{path}[price]")
        return parsed

    def json_schema(self) -> dict[str, Any]:
        required = tuple(name for name in self.required if name != "price")
        return object_schema({**self.fields, "plan": PLAN}, required)


def item_with_plan(item: Struct) -> ItemWithPlan:
    return ItemWithPlan(item.fields, item.required, item.nullable)


def accepting_plan(parser: ParamsParser[Request]) -> ParamsParser[Request]:
    """A top-level parser (`/v1/subscription_items`) that also takes `plan` for `price` (its
    `price` requirement met by either, or by `price_data`)."""
    wants_price = "price" in parser.required

    def build(ids: RouteIds, params: dict[str, Any]) -> Request:
        params = _plan_as_price(params, "")
        if wants_price and not _priced(params):
            raise MissingParameter("price")
        return parser.build(ids, params)

    params: Mapping[str, Param] = {**parser.params, "plan": PLAN}
    required = tuple(name for name in parser.required if name != "price")
    return ParamsParser(params, build, required)
