"""`POST /v1/invoices/create_preview` with `subscription_details[cancel_now]`,
`[default_tax_rates]` and `[resume_at]`, through the SDK on a real `kassa serve` (SQLite and
PostgreSQL) driven by test clocks: each preview is the invoice the request it previews then
makes, to the cent and line for line (`DELETE` with `invoice_now`, and `prorate` unless
`proration_behavior=none`; an update's `default_tax_rates`, billed at the renewal;
`POST .../resume`; an update's `items[][discounts]`, made for the preview but not stored nor
redeemed); what Kassa refuses is a 400 naming the parameter. (`[trial_end]`:
`test_subscription_trial_end.py`.)

Amounts are in whole days: 28.00 a month over the 28 days from January 31, 2027, upgraded
to two on February 7 (21 of 28 days left: -2100 and +4200 pending), previewed and canceled
on February 14.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_coupons_tax_rates import coupon, promotion_code, tax_rate
from tests.test_subscription_cancel_at import FEB_14, FEB_28
from tests.test_subscription_changes import change, only_item, pending_of
from tests.test_subscription_pause import ON_SUCCESS, paused_subscription, resume
from tests.test_subscription_scheduled_end import PAST_THE_END, preview
from tests.test_subscription_terms import price_of, utc
from tests.test_subscriptions import (
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    invoices_of,
    service_period,
    subscribe,
)

FEB_7 = utc(2027, 2, 7)


def line_amounts(invoice: stripe.Invoice) -> list[int]:
    return sorted(line.amount for line in invoice.lines.data)


def tax_amounts(invoice: stripe.Invoice) -> list[int]:
    return sorted(tax.amount for tax in invoice.total_taxes or [])


def same_invoice(made: stripe.Invoice, previewed: stripe.Invoice) -> None:
    """The invoice a request made is the one its preview showed: period, lines, taxes,
    totals."""
    assert (made.period_start, made.period_end) == (previewed.period_start, previewed.period_end)
    assert line_amounts(made) == line_amounts(previewed)
    assert tax_amounts(made) == tax_amounts(previewed)
    assert (made.subtotal, made.total) == (previewed.subtotal, previewed.total)


def upgraded_on_february_7(client: Client, **params: Any) -> tuple[str, stripe.Subscription]:
    """A 28.00 monthly subscription from January 31, 2027 (created with `params`), upgraded
    to two on February 7 with its prorations left pending, its clock then on February 14:
    the clock and the subscription."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, **params)
    advance(client, clock_id, FEB_7)
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "quantity": 2}])
    assert [i.amount for i in pending_of(client, customer.id)] == [-2100, 4200]
    advance(client, clock_id, FEB_14)
    return clock_id, subscription


def final_invoice(client: Client, subscription_id: str, **cancel: Any) -> stripe.Invoice:
    """Cancel it now (`DELETE` with `cancel`): the final invoice that made."""
    before = len(invoices_of(client, subscription_id))
    client.v1.subscriptions.cancel(subscription_id, params=cancel)  # type: ignore[arg-type]
    invoices = invoices_of(client, subscription_id)
    assert len(invoices) == before + 1
    return invoices[-1]


def test_previewing_a_cancellation_now_shows_the_final_invoice_delete_makes(
    client: Client, ledger_verified: None
) -> None:
    """On February 14, 14 of 28 days unused: the pending -2100 and +4200, and the credit
    for the unused time of what is still debited (14/21 of the upgrade's 4200: the period's
    2800 was credited from February 7 by the upgrade), over the period up to now; nothing
    stored by the preview. Canceled then with `invoice_now` and `prorate`: the same
    invoice, to the cent."""
    _, subscription = upgraded_on_february_7(client)
    upcoming = preview(client, subscription.id, cancel_now=True)
    assert (upcoming.period_start, upcoming.period_end) == (JAN_31_2027, FEB_14)
    assert line_amounts(upcoming) == [-2800, -2100, 4200]
    assert upcoming.total == -700
    assert len(pending_of(client, str(subscription.customer))) == 2
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    made = final_invoice(client, subscription.id, invoice_now=True, prorate=True)
    same_invoice(made, upcoming)


def test_a_cancellation_now_previewed_without_prorations_invoices_only_whats_pending(
    client: Client, ledger_verified: None
) -> None:
    """`proration_behavior=none`: no credit for the unused time, as `DELETE` with
    `invoice_now` and not `prorate` invoices only the pending prorations (+2100)."""
    _, subscription = upgraded_on_february_7(client)
    upcoming = preview(client, subscription.id, cancel_now=True, proration_behavior="none")
    assert line_amounts(upcoming) == [-2100, 4200]
    assert upcoming.total == 2100
    made = final_invoice(client, subscription.id, invoice_now=True, prorate=False)
    same_invoice(made, upcoming)
    assert made.amount_paid == 2100


def test_previewed_default_tax_rates_are_the_ones_the_renewal_after_the_update_takes(
    client: Client, ledger_verified: None
) -> None:
    """19% VAT previewed on a subscription without tax rates: the February 28 renewal (the
    pending prorations and two for the next period) taxed at 19%; updated with the same
    rates, the renewal made on February 28 is that invoice. Cleared (`""`) in a preview of
    a subscription created with the rate, the same renewal untaxed."""
    vat = tax_rate(client)
    clock_id, subscription = upgraded_on_february_7(client)
    untaxed = preview(client, subscription.id)
    assert tax_amounts(untaxed) == []
    upcoming = preview(client, subscription.id, default_tax_rates=[vat.id])
    assert service_period(upcoming) == (FEB_28, utc(2027, 3, 31))
    assert line_amounts(upcoming) == [-2100, 4200, 5600]
    assert (upcoming.subtotal, tax_amounts(upcoming)) == (7700, [1463])
    assert upcoming.total == 9163
    assert client.v1.subscriptions.retrieve(subscription.id).default_tax_rates == []
    change(client, subscription.id, default_tax_rates=[vat.id])
    advance(client, clock_id, PAST_THE_END)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    same_invoice(renewal, upcoming)
    assert renewal.amount_paid == 9163

    _, taxed = upgraded_on_february_7(client, default_tax_rates=[vat.id])
    assert preview(client, taxed.id).total == 9163
    cleared = preview(client, taxed.id, default_tax_rates="")
    assert (tax_amounts(cleared), cleared.total) == ([], 7700)


def test_a_cancellation_now_previews_the_tax_rates_given_with_it(
    client: Client, ledger_verified: None
) -> None:
    """`default_tax_rates` with `cancel_now`: the final invoice taxed with them, as
    `DELETE` after an update setting them makes it."""
    vat = tax_rate(client)
    _, subscription = upgraded_on_february_7(client)
    details: Any = {"cancel_now": True, "proration_behavior": "none"}
    upcoming = preview(client, subscription.id, default_tax_rates=[vat.id], **details)
    assert (upcoming.subtotal, tax_amounts(upcoming), upcoming.total) == (2100, [399], 2499)
    change(client, subscription.id, default_tax_rates=[vat.id])
    made = final_invoice(client, subscription.id, invoice_now=True)
    same_invoice(made, upcoming)


@pytest.mark.parametrize(
    ("details", "param"),
    [
        ({"cancel_now": "maybe"}, "subscription_details[cancel_now]"),
        ({"cancel_now": True, "cancel_at_period_end": True}, "subscription_details[cancel_now]"),
        ({"cancel_now": True, "proration_date": FEB_14}, "subscription_details[cancel_now]"),
        ({"trial_end": "now"}, "subscription_details[trial_end]"),
        ({"resume_at": "now"}, "subscription_details[resume_at]"),
        ({"resume_at": "later"}, "subscription_details[resume_at]"),
        ({"start_date": FEB_14}, "subscription_details[start_date]"),
    ],
)
def test_refused_details_are_a_400_naming_the_parameter(
    client: Client, details: dict[str, Any], param: str
) -> None:
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        preview(client, subscription.id, **details)
    assert (refused.value.http_status, refused.value.param) == (400, param)
    # Known, and refused for a reason the message gives: not an unknown parameter.
    assert refused.value.code != "parameter_unknown", refused.value.user_message


def test_a_missing_tax_rate_is_named_as_the_preview_sent_it(client: Client) -> None:
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        preview(client, subscription.id, default_tax_rates=["txr_missing"])
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert missing.value.param == "subscription_details[default_tax_rates][0]"


def test_previewing_a_resumption_now_shows_the_invoice_resume_makes(
    client: Client, ledger_verified: None
) -> None:
    """Paused on February 10 (its credit -1286 pending), previewed on April 5: the new month
    from April 5 (2000) less the credit, nothing stored; resumed then, the same invoice."""
    clock_id, customer, paused = paused_subscription(client)
    resumed_at = utc(2027, 4, 5)
    advance(client, clock_id, resumed_at)
    upcoming = preview(client, paused.id, resume_at="now")
    assert service_period(upcoming) == (resumed_at, utc(2027, 5, 5))
    assert line_amounts(upcoming) == [-1286, 2000]
    assert upcoming.total == 714
    assert client.v1.subscriptions.retrieve(paused.id).status == "paused"
    assert len(pending_of(client, customer.id)) == 1
    resumed = resume(client, paused.id, **ON_SUCCESS)
    made = client.v1.invoices.retrieve(str(resumed.latest_invoice))
    same_invoice(made, upcoming)
    assert made.amount_paid == 714


def test_a_resumption_is_previewed_only_for_a_paused_subscription_and_alone(
    client: Client,
) -> None:
    _, _, paused = paused_subscription(client)
    with pytest.raises(stripe.InvalidRequestError) as with_more:
        preview(client, paused.id, resume_at="now", cancel_now=True)
    assert (with_more.value.http_status, with_more.value.param) == (
        400,
        "subscription_details[resume_at]",
    )
    assert "cancel_now" in str(with_more.value.user_message)
    resume(client, paused.id, **ON_SUCCESS)
    with pytest.raises(stripe.InvalidRequestError) as active:
        preview(client, paused.id, resume_at="now")
    assert (active.value.http_status, active.value.param) == (
        400,
        "subscription_details[resume_at]",
    )
    assert "not paused" in str(active.value.user_message)


def discounted_item(subscription: stripe.Subscription, **discount: Any) -> list[Any]:
    """`items` giving the subscription's one item the discount `discount` describes."""
    return [{"id": only_item(subscription).id, "discounts": [discount]}]


def test_an_items_previewed_discount_is_the_one_the_renewal_after_the_update_takes(
    client: Client, ledger_verified: None
) -> None:
    """A 28.00 monthly subscription, on February 14 a 25% coupon previewed on its item: no
    proration (price and quantity unchanged), the February 28 renewal of 2800 less 25% (700)
    = 2100. The preview stores nothing: the item keeps no discount, the coupon is not
    redeemed. Updated with the same `items`, the renewal made on February 28 is that
    invoice (the coupon redeemed once, by the update)."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_14)
    quarter = coupon(client, percent_off=25, duration="forever")
    items = discounted_item(subscription, coupon=quarter.id)
    upcoming = preview(client, subscription.id, items=items)
    assert service_period(upcoming) == (FEB_28, utc(2027, 3, 31))
    (line,) = upcoming.lines.data
    assert (line.amount, [d.amount for d in line.discount_amounts or []]) == (2800, [700])
    assert (upcoming.subtotal, upcoming.total) == (2100, 2100)  # the item's own discount inside
    assert only_item(client.v1.subscriptions.retrieve(subscription.id)).discounts == []
    assert client.v1.coupons.retrieve(quarter.id).times_redeemed == 0

    updated = change(client, subscription.id, items=items)
    assert len(only_item(updated).discounts) == 1
    assert client.v1.coupons.retrieve(quarter.id).times_redeemed == 1
    advance(client, clock_id, PAST_THE_END)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    same_invoice(renewal, upcoming)
    assert renewal.amount_paid == 2100


def test_an_upgrade_with_a_discount_invoiced_at_once_previews_to_the_cent(
    client: Client, ledger_verified: None
) -> None:
    """On February 14 (14 of 28 days left) the item goes to two with a 25% promotion code,
    invoiced at once: the credit for one unused (-2800 x 14/28 = -1400) and the debit for
    two (5600 x 14/28 = 2800) net of the item's new 25% (-700): 2100; in all 700. The code
    is not redeemed by the preview; the update makes that invoice."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_14)
    code = promotion_code(client, coupon(client, percent_off=25, duration="forever").id)
    items = discounted_item(subscription, promotion_code=code.id)
    items[0]["quantity"] = 2
    details: Any = {"items": items, "proration_behavior": "always_invoice"}
    upcoming = preview(client, subscription.id, **details)
    assert line_amounts(upcoming) == [-1400, 2100]
    assert upcoming.total == 700
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 0
    assert only_item(client.v1.subscriptions.retrieve(subscription.id)).quantity == 1

    updated = change(client, subscription.id, **details)
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    made = client.v1.invoices.retrieve(str(updated.latest_invoice))
    same_invoice(made, upcoming)
    assert made.amount_paid == 700


def test_an_items_previewed_discount_is_checked_as_on_update(client: Client) -> None:
    """A missing coupon is named as the preview sent it; the same discount twice is
    refused as the update refuses it."""
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        preview(client, subscription.id, items=discounted_item(subscription, coupon="nope"))
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert missing.value.param == "subscription_details[items][0][discounts][0][coupon]"
    quarter = coupon(client, percent_off=25)
    items = discounted_item(subscription, coupon=quarter.id)
    held = only_item(change(client, subscription.id, items=items)).discounts[0]
    twice = [{"id": only_item(subscription).id, "discounts": [{"discount": held}] * 2}]
    with pytest.raises(stripe.InvalidRequestError) as repeated:
        preview(client, subscription.id, items=twice)
    assert (repeated.value.http_status, repeated.value.param) == (
        400,
        "subscription_details[items][0][discounts]",
    )
