"""The tax rates of a subscription change's prorations, through the SDK on a real `kassa serve`
(SQLite and PostgreSQL), in both billing modes: a proration carries its subscription item's
own `tax_rates` as the item's period lines do (Stripe's SubscriptionItem.tax_rates: they
"override the default_tax_rates on the Subscription"), the credit those of the item as it
billed, the charge those it has after the change.

Amounts by hand: a proration is `amount * unused / period` in whole days, rounded half up
to whole cents; an inclusive rate's tax is `amount - amount / (1 + rate)`, an exclusive
one's `amount * rate`, each rounded half up per line."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_subscription_changes import at, change, only_item
from tests.test_subscriptions import Client, advance, clock_customer, monthly_price


def tax_rate(client: Client, percentage: int, *, inclusive: bool) -> stripe.TaxRate:
    params: Any = {"display_name": "Tax", "percentage": percentage, "inclusive": inclusive}
    return client.v1.tax_rates.create(params=params)


def taxed_lines(invoice: stripe.Invoice) -> list[tuple[int, list[str], list[int]]]:
    """Each line's amount, its tax rates and its taxes' amounts, by amount."""
    found = []
    for line in invoice.lines.data:
        rates = [str(t.tax_rate_details.tax_rate) for t in line.taxes or [] if t.tax_rate_details]
        found.append((line.amount, rates, [t.amount for t in line.taxes or []]))
    return sorted(found)


def seat_taxed_from_april(
    client: Client, kind: str, item_rate: stripe.TaxRate, default_rate: stripe.TaxRate
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """One 3000 seat from 1 April 2027 (a 30-day month) with its own tax rate, on a
    subscription whose default tax rate is another."""
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    seat = monthly_price(client, 3000)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "billing_mode": {"type": kind},
            "items": [{"price": seat.id, "tax_rates": [item_rate.id]}],
            "default_tax_rates": [default_rate.id],
        }
    )
    return clock_id, customer, subscription


def invoiced_change(
    client: Client, customer_id: str, subscription: stripe.Subscription, item: dict[str, Any]
) -> stripe.Invoice:
    """An `always_invoice` change on 16 April (15 of 30 days left), its preview equal to
    what it bills to the cent; the invoice it made."""
    details: Any = {
        "items": [{"id": only_item(subscription).id, **item}],
        "proration_behavior": "always_invoice",
        "proration_date": at(2027, 4, 16),
    }
    preview = client.v1.invoices.create_preview(
        params={
            "customer": customer_id,
            "subscription": subscription.id,
            "subscription_details": details,
        }
    )
    updated = change(client, subscription.id, **details)
    invoice = client.v1.invoices.retrieve(str(updated.latest_invoice))
    assert invoice.billing_reason == "subscription_update"
    assert taxed_lines(preview) == taxed_lines(invoice)
    assert (preview.total, preview.total_excluding_tax) == (
        invoice.total,
        invoice.total_excluding_tax,
    )
    return invoice


@pytest.mark.parametrize("kind", ["classic", "flexible"])
def test_prorations_are_taxed_at_the_item_s_own_rate_not_the_default(
    client: Client, ledger_verified: None, kind: str
) -> None:
    gst, vat = tax_rate(client, 8, inclusive=True), tax_rate(client, 10, inclusive=False)
    clock_id, customer, subscription = seat_taxed_from_april(client, kind, gst, vat)
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    # 3000 with 8% inside it: 3000 - 3000/1.08 = 222.22 -> 222; no 10% on top.
    assert taxed_lines(first) == [(3000, [gst.id], [222])]
    advance(client, clock_id, at(2027, 4, 16))
    invoice = invoiced_change(client, customer.id, subscription, {"quantity": 2})
    # Credit 3000 * 15/30 = 1500, charge 6000 * 15/30 = 3000, both at the seat's 8%
    # inclusive: 1500 - 1500/1.08 = 111.11 -> 111, 3000 - 3000/1.08 = 222.22 -> 222. The
    # total is 1500, nothing added (at the default's 10% exclusive it would be 1650).
    assert taxed_lines(invoice) == [(-1500, [gst.id], [-111]), (3000, [gst.id], [222])]
    assert invoice.total == 1500
    items = client.v1.invoice_items.list(params={"customer": customer.id, "limit": 10})
    prorations = [i for i in items.data if i.proration]
    assert [[r.id for r in i.tax_rates or []] for i in prorations] == [[gst.id], [gst.id]]


@pytest.mark.parametrize("kind", ["classic", "flexible"])
def test_a_change_of_tax_rate_credits_at_the_old_and_charges_at_the_new(
    client: Client, ledger_verified: None, kind: str
) -> None:
    sales = tax_rate(client, 5, inclusive=False)
    gst, vat = tax_rate(client, 8, inclusive=True), tax_rate(client, 10, inclusive=False)
    clock_id, customer, subscription = seat_taxed_from_april(client, kind, gst, vat)
    advance(client, clock_id, at(2027, 4, 16))
    invoice = invoiced_change(
        client, customer.id, subscription, {"quantity": 2, "tax_rates": [sales.id]}
    )
    # The credit is of the seat as it billed, with its 8% inclusive: -1500, tax -111; the
    # charge of the two seats as they bill now, with 5% on top: 3000, tax 150. Total
    # 1500 + 150 = 1650.
    assert taxed_lines(invoice) == [(-1500, [gst.id], [-111]), (3000, [sales.id], [150])]
    assert invoice.total == 1650
