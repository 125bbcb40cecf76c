"""Shipping on a Checkout Session: `shipping_address_collection[allowed_countries]` (the page
asks for a shipping address in one of them) and `shipping_options[]` (rates the customer
chooses among on the page, the first chosen to begin with; the chosen one's amount is added
to the session's total as `shipping_cost` and `total_details[amount_shipping]`).

Stripe's reference (docs.stripe.com/api/checkout/sessions/create, and "Charge for shipping",
docs.stripe.com/payments/checkout/shipping): up to five `shipping_options`, each a
`shipping_rate` id or `shipping_rate_data` making a rate; "Only Checkout Sessions in payment
mode support shipping options", so subscription and setup mode refuse them, naming
`shipping_options`. Kassa takes `shipping_address_collection` in payment and subscription
mode (setup mode charges and ships nothing). The address collected goes to the session's
`collected_information[shipping_details]` (where API version 2026-03-25.dahlia moved
`shipping_details`), and in payment mode to the PaymentIntent's `shipping`.

No tax is worked out on shipping: a session's tax rates are its lines' (Kassa has no
automatic tax, which is what Stripe taxes shipping with), so `shipping_cost[amount_tax]` is 0
and the rate's `tax_behavior` is kept but not applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.errors import ExclusiveParameters, InvalidParameter, InvalidRequest, MissingParameter
from kassa.params import Enum, ListOf, Param, String, Struct
from kassa.services import shipping_rates
from kassa.services.context import Context
from kassa.services.resource import ApiObject

SHIPPING_OPTIONS_MAX: Final = 5
"""Stripe: shipping options, "Up to a maximum of 5"."""
SHIPPING_COUNTRIES: Final = (
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CK", "CL",
    "CM", "CN", "CO", "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC",
    "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FO", "FR", "GA", "GB", "GD", "GE",
    "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY",
    "HK", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IS", "IT", "JE",
    "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KR", "KW", "KY", "KZ", "LA", "LB",
    "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG",
    "MK", "ML", "MM", "MN", "MO", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF",
    "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PY", "QA", "RE", "RO", "RS", "RU",
    "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO",
    "SR", "SS", "ST", "SV", "SX", "SZ", "TA", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC",
    "VE", "VG", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW", "ZZ",
)  # fmt: skip
"""The countries `shipping_address_collection[allowed_countries]` may name (stripe-python
16's `Session.ShippingAddressCollection.allowed_countries`)."""
ADDRESS_FIELD_CHARS_MAX: Final = 200
"""The longest address field the page takes (as `addresses.ADDRESS` bounds an address)."""
ADDRESS_FIELDS: Final = ("name", "line1", "line2", "city", "postal_code", "state", "country")
"""The page's shipping address fields, in the order it asks them."""
REQUIRED_ADDRESS_FIELDS: Final = ("name", "line1", "city", "country")

ADDRESS_COLLECTION: Final = Struct(
    {
        "allowed_countries": ListOf(
            item=Enum(values=SHIPPING_COUNTRIES), max_items=len(SHIPPING_COUNTRIES)
        )
    },
    required=("allowed_countries",),
)
SHIPPING_OPTION: Final = Struct(
    {
        "shipping_rate": String(max_chars=255),
        "shipping_rate_data": Struct(
            dict(shipping_rates.CREATE_PARAMS), required=("display_name",)
        ),
    }
)
OPTIONS: Final[Param] = ListOf(item=SHIPPING_OPTION, max_items=SHIPPING_OPTIONS_MAX)


def address_collection(sent: Mapping[str, Any] | None, mode: str) -> ApiObject | None:
    """The session's `shipping_address_collection`: the allowed countries, each once, in
    the order sent."""
    if sent is None:
        return None
    if mode == "setup":
        raise InvalidParameter(
            "shipping_address_collection cannot be used in setup mode: nothing is shipped.",
            param="shipping_address_collection",
        )
    countries = list(dict.fromkeys(sent["allowed_countries"]))
    if not countries:
        raise MissingParameter("shipping_address_collection[allowed_countries]")
    return {"allowed_countries": countries}


async def shipping_options(
    ctx: Context, entries: Sequence[Mapping[str, Any]] | None, mode: str, currency: str | None
) -> tuple[list[ApiObject], list[str]]:
    """The session's `shipping_options` (`shipping_amount` in the session's currency, and the
    rate's id), and beside them how the page names each (the rate's name and delivery
    estimate); a rate made from `shipping_rate_data` is created here."""
    if not entries:
        return [], []
    if mode != "payment":
        raise InvalidParameter(
            "shipping_options can only be used in payment mode.", param="shipping_options"
        )
    options, names = [], []
    for index, entry in enumerate(entries):
        rate = await _rate(ctx, entry, f"shipping_options[{index}]")
        amount = shipping_rates.amount_in(rate, str(currency))
        if amount is None:
            raise InvalidParameter(
                f"The shipping rate {rate['id']} has no amount in {currency}, the session's "
                "currency.",
                param=f"shipping_options[{index}]",
            )
        options.append({"shipping_amount": amount, "shipping_rate": rate["id"]})
        names.append(rate_name(rate))
    return options, names


async def _rate(ctx: Context, entry: Mapping[str, Any], path: str) -> ApiObject:
    rate_id, data = entry.get("shipping_rate"), entry.get("shipping_rate_data")
    if rate_id is not None and data is not None:
        raise ExclusiveParameters(
            (f"{path}[shipping_rate]", f"{path}[shipping_rate_data]"),
            param=f"{path}[shipping_rate]",
        )
    if rate_id is not None:
        return await shipping_rates.load_usable_shipping_rate(
            ctx, str(rate_id), param=f"{path}[shipping_rate]"
        )
    if data is None:
        raise MissingParameter(f"{path}[shipping_rate]")
    return await shipping_rates.create_inline(ctx, data, f"{path}[shipping_rate_data]")


def shipping_cost(option: Mapping[str, Any] | None) -> ApiObject | None:
    """The session's `shipping_cost` for the option chosen (no tax: see the module)."""
    if option is None:
        return None
    amount = int(option["shipping_amount"])
    return {
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "shipping_rate": option["shipping_rate"],
    }


def shipping_amount(session: Mapping[str, Any]) -> int:
    cost = session.get("shipping_cost")
    return 0 if cost is None else int(cost["amount_total"])


def choose(session: ApiObject, rate_id: str) -> bool:
    """The option `rate_id` chosen on the page; whether the choice changed."""
    option = next(
        (each for each in session["shipping_options"] if each["shipping_rate"] == rate_id), None
    )
    if option is None:
        raise InvalidRequest("Choose one of the shipping options shown.", param="shipping_rate")
    current = session["shipping_cost"]
    if current is not None and current["shipping_rate"] == rate_id:
        return False
    session["shipping_cost"] = shipping_cost(option)
    return True


# --- the address the page collects ----------------------------------------------------------


@dataclass(frozen=True)
class ShippingAddress:
    """What the page's shipping address fields sent (each stripped; empty when not sent)."""

    fields: Mapping[str, str]


def shipping_details(session: Mapping[str, Any], sent: ShippingAddress) -> ApiObject | None:
    """Stripe's `shipping_details` (`name`, `address`) from the page's fields, checked: the
    required fields given and the country one the session allows; None when the session
    collects no address."""
    collection = session.get("shipping_address_collection")
    if collection is None:
        return None
    given = {name: sent.fields.get(name, "").strip() for name in ADDRESS_FIELDS}
    for name in ADDRESS_FIELDS:
        if len(given[name]) > ADDRESS_FIELD_CHARS_MAX:
            raise InvalidRequest(
                f"The shipping address's {_label(name)} is too long.", param=_param(name)
            )
    for name in REQUIRED_ADDRESS_FIELDS:
        if not given[name]:
            raise InvalidRequest(
                f"Enter the shipping address's {_label(name)}.", param=_param(name)
            )
    country = given["country"].upper()
    if country not in collection["allowed_countries"]:
        raise InvalidRequest(
            f"We do not ship to {country[:2]}: choose one of the countries listed.",
            param=_param("country"),
        )
    address = {name: given[name] or None for name in ADDRESS_FIELDS if name != "name"}
    address["country"] = country
    return {"address": dict(sorted(address.items())), "name": given["name"]}


def _label(name: str) -> str:
    return {"line1": "street", "line2": "second line", "postal_code": "postal code"}.get(name, name)


def _param(name: str) -> str:
    return "shipping_details[name]" if name == "name" else f"shipping_details[address][{name}]"


def collected_information(details: Mapping[str, Any] | None) -> ApiObject | None:
    """The session's `collected_information` once complete: the shipping details collected
    (Kassa's page asks for no business or individual name)."""
    if details is None:
        return None
    return {"business_name": None, "individual_name": None, "shipping_details": dict(details)}


def intent_shipping(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The PaymentIntent's `shipping` parameters for the address collected."""
    if details is None:
        return None
    return {"address": dict(details["address"]), "name": details["name"]}


def rate_name(rate: Mapping[str, Any]) -> str:
    """How the page names an option: the rate's name, with its delivery estimate."""
    name = str(rate["display_name"])
    estimate = rate.get("delivery_estimate")
    text = _estimate_text(estimate) if estimate else ""
    return f"{name} ({text})" if text else name


def amount_text(amount: int, currency: str) -> str:
    """How the page shows a shipping amount: `Free` for 0."""
    return "Free" if amount == 0 else money.format_amount(amount, currency)


def _estimate_text(estimate: Mapping[str, Any]) -> str:
    low, high = estimate.get("minimum"), estimate.get("maximum")
    if low is not None and high is not None:
        if low["unit"] == high["unit"]:
            return f"{low['value']}-{high['value']} {_unit(high)}"
        return f"{low['value']} {_unit(low)} to {high['value']} {_unit(high)}"
    if low is not None:
        return f"at least {low['value']} {_unit(low)}"
    if high is not None:
        return f"at most {high['value']} {_unit(high)}"
    return ""


def _unit(bound: Mapping[str, Any]) -> str:
    unit = str(bound["unit"]).replace("_", " ")
    return unit if int(bound["value"]) == 1 else unit + "s"
