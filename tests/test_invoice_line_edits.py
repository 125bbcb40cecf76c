"""A draft invoice's lines edited through the official SDK against a live `kassa serve`
(SQLite and PostgreSQL, one server per module): `add_lines` (an amount, a price, a pending
item attached), `update_lines` (amount, quantity, description, metadata, discounts and tax
rates, totals worked out by hand), `remove_lines` (`delete`, and `unassign`: the item
pending again and taken by the next invoice), one line's update, a subscription's period
line (metadata only), idempotency, and the refusals (not a draft, an unknown line, another
invoice's line, bad parameters), each naming its parameter with nothing written. The
ledger is verified after each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import (
    HOUR,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    period_of,
    subscribe,
)

Client = stripe.StripeClient

edits_server = module_server("invoice_line_edits", KassaServer)


@pytest.fixture
def server(edits_server: KassaServer) -> Iterator[KassaServer]:
    yield edits_server
    assert_ledger_whole(edits_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def customer(client: Client) -> str:
    return client.v1.customers.create(params={"email": "lines@example.com"}, options=key()).id


def one_time_price(client: Client, amount: int, currency: str = "usd") -> str:
    return client.v1.prices.create(
        params={"currency": currency, "unit_amount": amount, "product_data": {"name": "Widget"}},
        options=key(),
    ).id


def draft(client: Client, customer_id: str, **params: Any) -> stripe.Invoice:
    given: Any = {"customer": customer_id, **params}
    return client.v1.invoices.create(params=given, options=key())


def add(client: Client, invoice_id: str, *lines: dict[str, Any], **extra: Any) -> stripe.Invoice:
    params: Any = {"lines": list(lines), **extra}
    return client.v1.invoices.add_lines(invoice_id, params=params, options=key())


def line_ids(invoice: stripe.Invoice) -> list[str]:
    return [str(line.id) for line in invoice.lines.data]


def events_about(client: Client, event_type: str, object_id: str) -> list[stripe.Event]:
    listed = client.v1.events.list(params={"type": event_type, "limit": 100})
    return [e for e in listed.data if e.data.object.to_dict().get("id") == object_id]


def items_of(client: Client, customer_id: str) -> list[stripe.InvoiceItem]:
    return list(client.v1.invoice_items.list(params={"customer": customer_id, "limit": 100}).data)


# --- adding ----------------------------------------------------------------------------------


def test_add_lines_by_amount_price_and_a_pending_item(client: Client) -> None:
    who = customer(client)
    price = one_time_price(client, 700)
    pending = client.v1.invoice_items.create(
        params={"customer": who, "amount": 300, "currency": "usd"}, options=key()
    )
    invoice = draft(client, who, metadata={"kept": "yes"})
    added = add(
        client,
        invoice.id,
        {"amount": 1500, "description": "Setup", "metadata": {"order": "7"}},
        {"pricing": {"price": price}, "quantity": 2},
        {"invoice_item": pending.id},
        invoice_metadata={"batch": "1"},
    )
    assert added.object == "invoice" and added.status == "draft"
    assert [line.amount for line in added.lines.data] == [1500, 1400, 300]
    first = added.lines.data[0]
    assert (first.description, first.to_dict()["metadata"]) == ("Setup", {"order": "7"})
    assert added.lines.data[1].quantity == 2
    assert (added.subtotal, added.total, added.amount_due) == (3200, 3200, 3200)
    assert added.to_dict()["metadata"] == {"kept": "yes", "batch": "1"}
    # the pending item is on the invoice now, its line backed by it
    attached = client.v1.invoice_items.retrieve(pending.id)
    assert attached.invoice == invoice.id
    parent = added.lines.data[2].parent
    assert parent is not None and parent.invoice_item_details is not None
    assert parent.invoice_item_details.invoice_item == pending.id
    # two new items made (and announced), one invoice.updated for the whole request
    made = [i for i in items_of(client, who) if i.id != pending.id]
    assert sorted(i.amount for i in made) == [1400, 1500]
    assert all(i.invoice == invoice.id for i in made)
    for made_item in made:
        assert len(events_about(client, "invoiceitem.created", made_item.id)) == 1
    updated = events_about(client, "invoice.updated", invoice.id)
    assert len(updated) == 1
    previous = updated[0].data.to_dict()["previous_attributes"]
    assert previous["total"] == 0
    assert previous["metadata"] == {"batch": None}  # Stripe's diff: the key was absent
    assert client.v1.invoices.retrieve(invoice.id).to_dict() == added.to_dict()


def test_add_lines_replayed_with_its_idempotency_key_adds_once(client: Client) -> None:
    invoice = draft(client, customer(client))
    options = key()
    params: Any = {"lines": [{"amount": 1200}]}
    first = client.v1.invoices.add_lines(invoice.id, params=params, options=options)
    again = client.v1.invoices.add_lines(invoice.id, params=params, options=options)
    assert again.to_dict() == first.to_dict()
    assert [line.amount for line in client.v1.invoices.retrieve(invoice.id).lines.data] == [1200]


# --- updating --------------------------------------------------------------------------------


def test_update_lines_reprices_discounts_and_taxes_worked_out_by_hand(client: Client) -> None:
    who = customer(client)
    price = one_time_price(client, 700)
    invoice = draft(client, who)
    base = add(client, invoice.id, {"amount": 1000}, {"pricing": {"price": price}})
    first, second = line_ids(base)
    tenth = client.v1.coupons.create(params={"percent_off": 10}, options=key())
    vat = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 20, "inclusive": False}, options=key()
    )
    updated = client.v1.invoices.update_lines(
        invoice.id,
        params={
            "lines": [
                {
                    "id": first,
                    "amount": 2000,
                    "description": "Bigger",
                    "metadata": {"k": "v"},
                    "discounts": [{"coupon": tenth.id}],
                },
                {"id": second, "quantity": 3, "tax_rates": [vat.id]},
            ]
        },
        options=key(),
    )
    one, two = updated.lines.data
    assert line_ids(updated) == [first, second]
    # first: 20.00, 10% off its own coupon (2.00), untaxed
    assert (one.amount, one.description, one.to_dict()["metadata"]) == (2000, "Bigger", {"k": "v"})
    assert [d.amount for d in one.discount_amounts or []] == [200]
    # second: 3 x 7.00 = 21.00, 20% exclusive tax = 4.20
    assert (two.amount, two.quantity) == (2100, 3)
    assert [t.amount for t in two.taxes or []] == [420]
    # subtotal counts a line's own discount: 18.00 + 21.00; total adds the tax
    assert (updated.subtotal, updated.total, updated.amount_due) == (3900, 4320, 4320)
    assert client.v1.coupons.retrieve(tenth.id).times_redeemed == 1
    # the items behind the lines changed as /v1/invoiceitems changes them
    behind = {i.amount: i for i in items_of(client, who)}
    assert set(behind) == {2000, 2100}
    assert behind[2100].quantity == 3
    # discounts cleared: the redemption is given back, as an item's update gives it back
    cleared = client.v1.invoices.update_lines(
        invoice.id, params={"lines": [{"id": first, "discounts": ""}]}, options=key()
    )
    assert (cleared.subtotal, cleared.total) == (4100, 4520)
    assert client.v1.coupons.retrieve(tenth.id).times_redeemed == 0


def test_one_line_is_updated_and_returned(client: Client) -> None:
    invoice = draft(client, customer(client))
    line_id = line_ids(add(client, invoice.id, {"amount": 1000}))[0]
    line = client.v1.invoices.line_items.update(
        invoice.id,
        line_id,
        params={"amount": 2500, "description": "Consulting", "metadata": {"a": "b"}},
        options=key(),
    )
    assert (line.object, line.id, line.invoice) == ("line_item", line_id, invoice.id)
    assert (line.amount, line.description, line.to_dict()["metadata"]) == (
        2500,
        "Consulting",
        {"a": "b"},
    )
    again = client.v1.invoices.retrieve(invoice.id)
    assert (again.subtotal, again.total) == (2500, 2500)
    assert again.lines.data[0].to_dict() == line.to_dict()


# --- removing --------------------------------------------------------------------------------


def test_remove_lines_deletes_one_and_unassigns_the_other(client: Client) -> None:
    who = customer(client)
    invoice = draft(client, who)
    lines = line_ids(add(client, invoice.id, {"amount": 1000}, {"amount": 500}))
    items = {i.amount: i.id for i in items_of(client, who)}
    emptied = client.v1.invoices.remove_lines(
        invoice.id,
        params={
            "lines": [
                {"id": lines[0], "behavior": "delete"},
                {"id": lines[1], "behavior": "unassign"},
            ]
        },
        options=key(),
    )
    assert (emptied.lines.data, emptied.total) == ([], 0)
    assert refused(lambda: client.v1.invoice_items.retrieve(items[1000])).http_status == 404
    assert len(events_about(client, "invoiceitem.deleted", items[1000])) == 1
    pending = client.v1.invoice_items.retrieve(items[500])
    assert pending.invoice is None
    listed = client.v1.invoice_items.list(params={"customer": who, "pending": True})
    assert [i.id for i in listed.data] == [items[500]]
    # the next invoice takes the unassigned item
    following = draft(client, who, pending_invoice_items_behavior="include")
    assert [line.amount for line in following.lines.data] == [500]
    assert following.total == 500
    assert client.v1.invoice_items.retrieve(items[500]).invoice == following.id


def test_an_unassigned_item_leaves_the_drafts_discount_behind(client: Client) -> None:
    who = customer(client)
    half = client.v1.coupons.create(params={"percent_off": 50}, options=key())
    invoice = draft(client, who, discounts=[{"coupon": half.id}])
    invoice_discount = str(client.v1.invoices.retrieve(invoice.id).discounts[0])
    line_id = line_ids(
        add(client, invoice.id, {"amount": 800, "discounts": [{"discount": invoice_discount}]})
    )[0]
    client.v1.invoices.remove_lines(
        invoice.id, params={"lines": [{"id": line_id, "behavior": "unassign"}]}, options=key()
    )
    item = items_of(client, who)[0]
    assert (item.invoice, item.discounts) == (None, [])


# --- a subscription's period line ------------------------------------------------------------


def test_a_period_line_takes_metadata_only_and_stays(client: Client) -> None:
    clock_id, who = clock_customer(client)
    subscription = subscribe(client, who.id, monthly_price(client).id)
    client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "keep_as_draft"}}
    )
    advance(client, clock_id, period_of(subscription)[1] + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.status == "draft"
    period_line = line_ids(renewal)[0]
    tagged = client.v1.invoices.update_lines(
        renewal.id,
        params={"lines": [{"id": period_line, "metadata": {"tag": "x"}}]},
        options=key(),
    )
    assert tagged.lines.data[0].to_dict()["metadata"] == {"tag": "x"}
    assert tagged.total == renewal.total == 2000
    # metadata replaced as sent, not merged (Stripe's docstring for subscription lines)
    retagged = client.v1.invoices.line_items.update(
        renewal.id, period_line, params={"metadata": {"other": "y"}}, options=key()
    )
    assert retagged.to_dict()["metadata"] == {"other": "y"}
    error = refused(
        lambda: client.v1.invoices.update_lines(
            renewal.id, params={"lines": [{"id": period_line, "amount": 1}]}, options=key()
        )
    )
    assert error.param == "lines[0][amount]"
    error = refused(
        lambda: client.v1.invoices.remove_lines(
            renewal.id,
            params={"lines": [{"id": period_line, "behavior": "delete"}]},
            options=key(),
        )
    )
    assert error.param == "lines[0][id]"
    kept = client.v1.invoices.retrieve(renewal.id)
    assert (line_ids(kept), kept.total) == ([period_line], 2000)


# --- refusals ----------------------------------------------------------------------------------


def test_a_finalized_invoice_takes_no_line_edits(client: Client) -> None:
    invoice = draft(client, customer(client), collection_method="send_invoice", days_until_due=30)
    line_id = line_ids(add(client, invoice.id, {"amount": 1000}))[0]
    client.v1.invoices.finalize_invoice(invoice.id, options=key())
    calls: list[Callable[[], object]] = [
        lambda: add(client, invoice.id, {"amount": 5}),
        lambda: client.v1.invoices.update_lines(
            invoice.id, params={"lines": [{"id": line_id, "amount": 5}]}, options=key()
        ),
        lambda: client.v1.invoices.remove_lines(
            invoice.id, params={"lines": [{"id": line_id, "behavior": "delete"}]}, options=key()
        ),
        lambda: client.v1.invoices.line_items.update(
            invoice.id, line_id, params={"amount": 5}, options=key()
        ),
    ]
    for call in calls:
        error = refused(call)
        assert error.code == "invoice_not_editable"
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.total, line_ids(after)) == ("open", 1000, [line_id])


def test_an_unknown_line_or_another_invoices_line_changes_nothing(client: Client) -> None:
    who = customer(client)
    invoice = draft(client, who)
    mine = line_ids(add(client, invoice.id, {"amount": 1000}))[0]
    other = draft(client, who)
    theirs = line_ids(add(client, other.id, {"amount": 400}))[0]
    before = client.v1.invoices.retrieve(invoice.id).to_dict()
    updates_before = len(events_about(client, "invoice.updated", invoice.id))
    error = refused(
        lambda: client.v1.invoices.update_lines(
            invoice.id,
            params={"lines": [{"id": mine, "amount": 9}, {"id": "il_nope", "amount": 1}]},
            options=key(),
        )
    )
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "lines[1][id]")
    error = refused(
        lambda: client.v1.invoices.remove_lines(
            invoice.id,
            params={
                "lines": [
                    {"id": mine, "behavior": "delete"},
                    {"id": theirs, "behavior": "delete"},
                ]
            },
            options=key(),
        )
    )
    assert (error.http_status, error.param) == (404, "lines[1][id]")
    error = refused(
        lambda: client.v1.invoices.line_items.update(
            invoice.id, theirs, params={"amount": 1}, options=key()
        )
    )
    assert error.http_status == 404
    error = refused(
        lambda: client.v1.invoices.update_lines(
            invoice.id,
            params={"lines": [{"id": mine, "amount": 5}, {"id": mine, "amount": 6}]},
            options=key(),
        )
    )
    assert error.param == "lines[1][id]"
    assert client.v1.invoices.retrieve(invoice.id).to_dict() == before
    assert client.v1.invoices.retrieve(other.id).total == 400
    assert sorted(i.amount for i in items_of(client, who)) == [400, 1000]
    assert len(events_about(client, "invoice.updated", invoice.id)) == updates_before


@pytest.mark.parametrize(
    ("lines", "param"),
    [
        ([{"amount": 100}, {"pricing": {"price": "price_nope"}}], "lines[1][pricing][price]"),
        ([{"amount": 100, "quantity": 2}], "lines[0][quantity]"),
        ([{"description": "no price"}], "lines[0][amount]"),
        ([{"amount": 100}, {"amount": 100, "tax_rates": ["txr_nope"]}], "lines[1][tax_rates][0]"),
        ([{"amount": 100, "discounts": [{"coupon": "nope"}]}], "lines[0][discounts][0][coupon]"),
        ([{"amount": 100, "period": {"start": 20, "end": 10}}], "lines[0][period][end]"),
        ([{"amount": 100, "currency": "usd"}], "lines[0][currency]"),
        ([{"invoice_item": "ii_nope"}], "lines[0][invoice_item]"),
    ],
)
def test_bad_added_lines_name_their_parameter_and_add_nothing(
    client: Client, lines: list[dict[str, Any]], param: str
) -> None:
    who = customer(client)
    invoice = draft(client, who)
    error = refused(lambda: add(client, invoice.id, *lines))
    assert error.param == param
    assert items_of(client, who) == []
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.lines.data, after.total) == ([], 0)


def test_added_lines_are_refused_when_their_price_or_item_cannot_go_on_it(client: Client) -> None:
    who = customer(client)
    invoice = draft(client, who)
    euro = one_time_price(client, 500, currency="eur")
    elsewhere = draft(client, who)
    taken = line_ids(add(client, elsewhere.id, {"amount": 300}))[0]
    taken_item = f"ii_{taken.removeprefix('il_')}"
    stranger = client.v1.invoice_items.create(
        params={"customer": customer(client), "amount": 200, "currency": "usd"}, options=key()
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pricing": {"price": euro}}, "lines[0][pricing][price]"),
        ({"invoice_item": taken_item}, "lines[0][invoice_item]"),
        ({"invoice_item": stranger.id}, "lines[0][invoice_item]"),
        ({"tax_amounts": [{"amount": 1}]}, "lines[0][tax_amounts]"),
    ]
    for line, param in cases:
        assert refused(partial(add, client, invoice.id, line)).param == param
    error = refused(
        lambda: client.v1.invoices.remove_lines(
            elsewhere.id, params={"lines": [{"id": taken, "behavior": "keep"}]}, options=key()
        )
    )
    assert error.param == "lines[0][behavior]"
    no_lines: Any = {}
    error = refused(lambda: client.v1.invoices.add_lines(invoice.id, params=no_lines))
    assert error.param == "lines"
    assert client.v1.invoices.retrieve(invoice.id).lines.data == []
    assert client.v1.invoice_items.retrieve(taken_item).invoice == elsewhere.id
    assert client.v1.invoice_items.retrieve(stranger.id).invoice is None
