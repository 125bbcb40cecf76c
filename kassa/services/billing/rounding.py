"""Every rounding rule billing applies, named in one place. Amounts are exact `Decimal`s
until one of these rules turns them into integer minor units (`money.to_minor_units`); no
other billing module picks a rounding mode.

Rules that need no mode: an `amount_off` discount is an integer capped at the amount; an
invoice-level discount is spread over lines by the largest remainder method
(`adjustments.spread`), so its parts sum exactly to it; a `transform_quantity` rounds the
quantity `up` or `down` as the price says (`pricing.transformed_quantity`).
"""

from __future__ import annotations

import decimal
from typing import Final

LINE_AMOUNT_ROUNDING: Final = decimal.ROUND_HALF_UP
"""A line's amount from a price with decimal unit or flat amounts (`pricing.line_amount`),
rounded once per line, before the invoice sums its lines. Source: Stripe, "Decimal amounts
for pricing" (docs.stripe.com/billing/subscriptions/decimal-amounts): "0.05 * 30 = 1.5,
which is then rounded up to 2 cents"."""

PERCENT_DISCOUNT_ROUNDING: Final = decimal.ROUND_HALF_UP
"""A percentage coupon's discount on an amount (`adjustments.percent_discount`). Stripe
documents no separate rule; rounded as its other amounts are."""

EXCLUSIVE_TAX_ROUNDING: Final = decimal.ROUND_HALF_UP
"""The tax added to one line's taxable amount (`adjustments.exclusive_tax`), per line; the
invoice's tax is the sum of the rounded line taxes. Source: Stripe, "Rounding rules for
Stripe fees" (support.stripe.com/questions/rounding-rules-for-stripe-fees), whose localized
editions work an invoice through with each line's tax rounded on its own."""

INCLUSIVE_TAX_ROUNDING: Final = decimal.ROUND_HALF_UP
"""The tax contained in one line's tax-inclusive amount (`adjustments.inclusive_tax`); the
net is what remains, so tax + net is exactly the gross. Source: as for exclusive tax."""

PRORATION_ROUNDING: Final = LINE_AMOUNT_ROUNDING
"""The credit for a period's unused time and the charge for its remaining time
(`periods.proration`), each an invoice line, rounded as a line's amount is: once, half up, on
the exact fraction of the period (to the second)."""

CREDIT_SHARE_ROUNDING: Final = decimal.ROUND_HALF_UP
"""A credit note line's share of what the invoice line it credits carries: each of its
discount amounts, tax amounts and taxable amounts (`adjustments.credited_share`). The share
is taken of where the credits of that line stand after this note (the quantity, or the
amount, credited so far over the line's whole), rounded half up, less what the issued notes
already took of it; the note that completes the line takes exactly what is left. So the
notes of a line never take more than it carried and, once they credit all of it, took
exactly that: no cent lost or made across notes, however the line is divided. Stripe
documents no rule for these shares; Kassa rounds them as its other amounts."""
