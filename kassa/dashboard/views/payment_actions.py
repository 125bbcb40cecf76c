"""The actions the dashboard's payment pages offer (refund, capture, cancel), carried out
through the same typed operations as the API, with amounts typed in major units."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter
from kassa.params import Param
from kassa.services import payment_intents, refunds
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.payment_intents import CancelPaymentIntent, CapturePaymentIntent
from kassa.services.refunds import CreateRefund
from kassa.services.resource import ApiObject

AMOUNT_DIGITS_MAX = 12
EXAMPLE_AMOUNT = 1234
"""12.34 in a two-decimal currency: the example an amount error shows."""

_MAJOR_AMOUNT = re.compile(rf"\d{{1,{AMOUNT_DIGITS_MAX}}}(\.\d+)?")


async def refund_payment(ctx: Context, intent_id: str, amount: str, reason: str) -> ApiObject:
    """Refund `amount` (major units, e.g. "12.34"; empty: all that remains) of a payment."""
    intent = await load_live_object(ctx, payment_intents.RESOURCE, intent_id)
    return await refunds.create_refund(
        ctx,
        CreateRefund(
            payment_intent=intent["id"],
            amount=to_minor(amount, intent["currency"], "amount") if amount else None,
            reason=_optional(refunds.CREATE_PARAMS["reason"], reason, "reason"),
        ),
    )


async def capture_payment(ctx: Context, intent_id: str, amount: str) -> ApiObject:
    """Capture an authorization: all of it, or `amount` (major units) and release the rest."""
    intent = await load_live_object(ctx, payment_intents.RESOURCE, intent_id)
    minor = None
    if amount:
        minor = to_minor(amount, intent["currency"], "amount_to_capture")
        capturable = int(intent["amount_capturable"])
        if intent["status"] == "requires_capture" and minor > capturable:
            raise InvalidParameter(
                f"The amount to capture ({money.format_amount(minor, intent['currency'])}) is "
                f"more than the authorized {money.format_amount(capturable, intent['currency'])}.",
                param="amount_to_capture",
            )
    return await payment_intents.capture_payment_intent(
        ctx, CapturePaymentIntent(intent=intent["id"], amount_to_capture=minor)
    )


async def cancel_payment(ctx: Context, intent_id: str, reason: str) -> ApiObject:
    cancellation_reason = _optional(
        payment_intents.CANCEL_PARAMS["cancellation_reason"], reason, "cancellation_reason"
    )
    return await payment_intents.cancel_payment_intent(
        ctx, CancelPaymentIntent(intent=intent_id, cancellation_reason=cancellation_reason)
    )


def _optional(spec: Param, text: str, name: str) -> Any:
    """A choice from the page's form, checked by the API's own schema (a forged form may
    send anything); None when left empty."""
    return spec.parse(text, name) if text else None


def to_minor(text: str, currency: str, param: str) -> int:
    """`"12.34"` in usd is 1234, `"500"` in jpy is 500: an amount typed in the currency's
    major unit, refused if it has more decimals than the currency does."""
    digits = money.exponent(currency)
    if not _MAJOR_AMOUNT.fullmatch(text):
        example = money.major_units(EXAMPLE_AMOUNT * 10**digits // 100, currency)
        raise InvalidParameter(f"Enter the amount as a number like {example}.", param=param)
    fraction = text.partition(".")[2]
    if len(fraction) > digits:
        places = f"at most {digits} decimal places" if digits else "no decimal places"
        raise InvalidParameter(f"{currency.upper()} amounts have {places}.", param=param)
    # Exact: the amount has no more decimals than the currency, so nothing is rounded.
    minor = money.to_minor_units(Decimal(text).scaleb(digits), decimal.ROUND_HALF_UP)
    if minor <= 0:
        raise InvalidParameter("Enter an amount above zero.", param=param)
    return minor
