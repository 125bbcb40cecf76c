"""A Checkout Session's one discount: a coupon or a promotion code named on create
(`discounts`), or a promotion code the customer types on the page when the session has
`allow_promotion_codes` (`page_promotion_code`). Either way the invoices' arithmetic takes it
(`DiscountTerms`), and the session shows it as Stripe does (`discounts`: one entry naming the
coupon, or the promotion code and no coupon). A payment-mode session's discount is counted
as redeemed when its payment succeeds (`count_redemption`). The customer may remove a code
typed on the page (`drop_page_code`), not a discount named on create, as on Stripe's page.
"""

from __future__ import annotations

from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.services.billing import coupons, promotion_codes
from kassa.services.billing.invoice_amounts import DiscountTerms
from kassa.services.checkout_documents import private
from kassa.services.context import Context
from kassa.services.resource import ApiObject

PAGE_CODE_PARAM: Final = "promotion_code"
"""The page's field for a promotion code, named in what it refuses."""
INVALID_CODE_MESSAGE: Final = "This code is invalid."
"""What the page says of a code it cannot use, whatever the reason (Stripe's page does not
tell an unknown code from an expired one)."""

NO_PAGE_CODE_MESSAGE: Final = "There is no promotion code to remove."
"""What the page says when asked to remove a code and no code typed on it is applied (a
discount named on create stays: the customer cannot remove it)."""
PAGE_CODE: Final = "page_promotion_code"
"""Among the session's private facts: the promotion code typed on the page and applied, as the
code reads (its `code`), shown beside a Remove button; absent or None otherwise."""

Discount = tuple[DiscountTerms, list[ApiObject]]
"""The terms the amounts take, and the session's `discounts` as shown."""


async def coupon_discount(ctx: Context, coupon_id: str, currency: str, param: str) -> Discount:
    terms = await _coupon_terms(ctx, coupon_id, currency, param)
    return terms, [{"coupon": coupon_id, "promotion_code": None}]


async def promotion_code_discount(
    ctx: Context, code: ApiObject, customer: str | None, currency: str, param: str
) -> Discount:
    """A promotion code's discount, once it is checked usable now by `customer`."""
    if not code["active"] or promotion_codes.is_expired(code, ctx.now()):
        raise InvalidParameter(
            f"Promotion code {code['code']} is inactive or expired.", param=param
        )
    if promotion_codes.is_used_up(code):
        raise InvalidParameter(
            f"Promotion code {code['code']} has been redeemed its maximum number of times.",
            param=param,
        )
    if code["customer"] is not None and customer != code["customer"]:
        raise InvalidParameter(
            f"Promotion code {code['code']} can only be redeemed by customer {code['customer']}.",
            param=param,
        )
    terms = await _coupon_terms(ctx, promotion_codes.coupon_of(code), currency, param)
    return terms, [{"coupon": None, "promotion_code": code["id"]}]


async def page_promotion_code(ctx: Context, session: ApiObject, typed: str) -> tuple[Discount, str]:
    """The discount of the code typed on the page (any case), for the session's customer, and
    the code as it reads (its `code`, for the page to show)."""
    customer = None if session["customer"] is None else str(session["customer"])
    code = await promotion_codes.find_active_code(ctx, typed.strip(), customer)
    if code is None:
        raise InvalidParameter(INVALID_CODE_MESSAGE, param=PAGE_CODE_PARAM)
    try:
        discount = await promotion_code_discount(
            ctx, code, customer, str(session["currency"]), PAGE_CODE_PARAM
        )
    except InvalidParameter as refused:
        raise InvalidParameter(INVALID_CODE_MESSAGE, param=PAGE_CODE_PARAM) from refused
    return discount, str(code["code"])


def page_code(session: ApiObject) -> str | None:
    """The promotion code typed on the page and applied; None without one, or when the
    discount was named on create (`discounts[]`)."""
    code = private(session).get(PAGE_CODE)
    return None if code is None else str(code)


def check_page_code(session: ApiObject) -> None:
    """Refused unless the session's discount is a code typed on the page: only that one the
    customer may remove."""
    if page_code(session) is None:
        raise InvalidRequest(NO_PAGE_CODE_MESSAGE, param=PAGE_CODE_PARAM)


def drop_page_code(session: ApiObject) -> None:
    """The code typed on the page taken off: the session has no discount again, and the page
    asks for a code again. Nothing was counted to undo: a payment-mode session's redemption is
    counted on completion (`count_redemption`), a subscription's when the subscription
    applies the discount."""
    check_page_code(session)
    private(session)["discount_terms"] = None
    private(session)[PAGE_CODE] = None
    session["discounts"] = []


async def count_redemption(ctx: Context, session: ApiObject) -> None:
    """A payment-mode session's discount redeemed once its payment succeeded: its coupon's
    `times_redeemed` and its code's counted (a subscription-mode session's discount is the
    subscription's, counted when the subscription applies it). The limits were checked when
    the discount was named or typed; a payment already made is not refused afterwards, so
    two sessions racing for a code's last redemption may both count."""
    terms = private(session).get("discount_terms")
    if terms is None or not session["discounts"]:
        return
    coupon = await coupons.load_applied_coupon(ctx, str(terms["discount"]))  # before the code
    await coupons.record_redemption(ctx, coupon)
    code_id = session["discounts"][0].get("promotion_code")
    if code_id is not None:
        code = await promotion_codes.load_promotion_code(ctx, str(code_id))
        await promotion_codes.record_redemption(ctx, code)


async def _coupon_terms(ctx: Context, coupon_id: str, currency: str, param: str) -> DiscountTerms:
    coupon = await coupons.load_coupon(ctx, coupon_id, param=param)
    if not coupons.is_valid(coupon, ctx.now()):
        raise InvalidParameter(f"Coupon {coupon['id']} is no longer valid.", param=param)
    amount_off = coupons.amount_off_in(coupon, currency)
    if coupon["amount_off"] is not None and amount_off is None:
        raise InvalidParameter(
            f"Coupon {coupon['id']} takes an amount off in {coupon['currency']}, not in "
            f"{currency}.",
            param=param,
        )
    products: Any = (coupon.get("applies_to") or {}).get("products")
    return DiscountTerms(
        discount=str(coupon["id"]),
        percent_off=coupons.percent_off(coupon),
        amount_off=amount_off,
        products=None if products is None else frozenset(products),
    )
