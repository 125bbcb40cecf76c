"""The customer portal's deep-link flows (`flow_data` on a billing portal session) end to end
through the official SDK against a live `kassa serve` (SQLite and PostgreSQL, one server
per module): the session's `flow` as Stripe shows it, Stripe's checks at create (each a 400
naming its parameter, nothing written), then the page each flow opens on over plain HTTP
(a cancellation with its retention coupon, a plan switch, a confirmed change with its
proration, a new card), what each does after completion (the portal's home, a redirect, a
confirmation message), and a confirmed change in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_billing_portal import (
    RETURN_URL,
    VISA_DEBIT,
    _card,
    _default_payment_method,
    _item,
    _post,
    _price,
    _subscribed,
    key,
)

Client = stripe.StripeClient
DONE_URL = "https://shop.example/done"

flows_server = module_server("billing_portal_flows", KassaServer)


@pytest.fixture
def server(flows_server: KassaServer) -> Iterator[KassaServer]:
    yield flows_server
    assert_ledger_whole(flows_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def _everything(client: Client, prices: list[stripe.Price]) -> stripe.billing_portal.Configuration:
    """Every feature a flow needs, switching plans to `prices`, prorations invoiced now."""
    params: Any = {
        "features": {
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "subscription_update": {
                "enabled": True,
                "default_allowed_updates": ["price", "quantity"],
                "proration_behavior": "always_invoice",
                "products": [{"product": str(p.product), "prices": [p.id]} for p in prices],
            },
        }
    }
    return client.v1.billing_portal.configurations.create(params=params, options=key())


def _flow_session(
    client: Client, customer: str, configuration: str, flow_data: dict[str, Any]
) -> stripe.billing_portal.Session:
    params: Any = {
        "customer": customer,
        "configuration": configuration,
        "return_url": RETURN_URL,
        "flow_data": flow_data,
    }
    return client.v1.billing_portal.sessions.create(params=params, options=key())


def _coupon(client: Client) -> stripe.Coupon:
    params: Any = {"percent_off": 20, "duration": "repeating", "duration_in_months": 3}
    return client.v1.coupons.create(params=params, options=key())


def _redirect_to(url: str) -> dict[str, Any]:
    return {"type": "redirect", "redirect": {"return_url": url}}


def _confirmation(message: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"type": "hosted_confirmation"}
    if message is not None:
        shown["hosted_confirmation"] = {"custom_message": message}
    return shown


def _coupons(subscription: stripe.Subscription) -> list[str]:
    """The coupons of the subscription's discounts (retrieved with `expand[]=discounts`)."""
    found = []
    for discount in subscription.discounts:
        assert isinstance(discount, stripe.Discount)
        coupon = discount.source.coupon
        assert coupon is not None
        found.append(coupon if isinstance(coupon, str) else coupon.id)
    return found


# --- the API -------------------------------------------------------------------------------------


def test_each_flow_is_shown_as_stripe_shows_it(client: Client) -> None:
    team = _price(client, 3_000)
    configuration = _everything(client, [team]).id
    customer, subscription = _subscribed(client)
    coupon = _coupon(client)
    item = _item(client, subscription).id

    card = _flow_session(client, customer, configuration, {"type": "payment_method_update"})
    assert card.flow is not None
    assert card.flow.to_dict() == {
        "after_completion": {
            "hosted_confirmation": None,
            "redirect": None,
            "type": "portal_homepage",
        },
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": "payment_method_update",
    }
    cancel = _flow_session(
        client,
        customer,
        configuration,
        {
            "type": "subscription_cancel",
            "subscription_cancel": {
                "subscription": subscription,
                "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
            },
            "after_completion": _confirmation("See you soon"),
        },
    )
    assert cancel.flow is not None and cancel.flow.subscription_cancel is not None
    retention = cancel.flow.subscription_cancel.retention
    assert retention is not None and retention.coupon_offer is not None
    assert (retention.type, retention.coupon_offer.coupon) == ("coupon_offer", coupon.id)
    completion = cancel.flow.after_completion
    assert completion.type == "hosted_confirmation" and completion.redirect is None
    assert completion.hosted_confirmation is not None
    assert completion.hosted_confirmation.custom_message == "See you soon"

    update = _flow_session(
        client,
        customer,
        configuration,
        {
            "type": "subscription_update",
            "subscription_update": {"subscription": subscription},
            "after_completion": _redirect_to(DONE_URL),
        },
    )
    assert update.flow is not None and update.flow.subscription_update is not None
    assert update.flow.subscription_update.subscription == subscription
    assert update.flow.after_completion.redirect is not None
    assert update.flow.after_completion.redirect.return_url == DONE_URL
    assert update.flow.subscription_cancel is None

    confirm = _flow_session(
        client,
        customer,
        configuration,
        {
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": subscription,
                "items": [{"id": item, "price": team.id, "quantity": 2}],
                "discounts": [{"coupon": coupon.id}],
            },
        },
    )
    assert confirm.flow is not None
    shown = confirm.flow.subscription_update_confirm
    assert shown is not None and shown.subscription == subscription
    assert [(i.id, i.price, i.quantity) for i in shown.items] == [(item, team.id, 2)]
    assert shown.discounts is not None
    assert [(d.coupon, d.promotion_code) for d in shown.discounts] == [(coupon.id, None)]
    event = client.v1.events.list(params={"type": "billing_portal.session.created"}).data[0]
    assert event.data.object["flow"]["type"] == "subscription_update_confirm"
    untouched = client.v1.subscriptions.retrieve(subscription)
    assert untouched.cancel_at_period_end is False and _item(client, subscription).quantity == 1


def test_bad_flows_are_refused_naming_the_parameter(client: Client) -> None:
    team = _price(client, 3_000)
    euros = _price(client, 2_500, currency="eur")
    configuration = _everything(client, [team, euros]).id
    bare = client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}, options=key()
    ).id
    customer, subscription = _subscribed(client)
    _, someone_elses = _subscribed(client)
    _, canceled = _subscribed(client)
    client.v1.subscriptions.cancel(canceled)
    elsewhere = _price(client, 900)
    several = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": team.id}, {"price": elsewhere.id}]},
        options=key(),
    ).id
    item = _item(client, subscription).id
    coupon = _coupon(client).id

    def cancel(sub: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": sub, **extra},
        }

    def confirm(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {"subscription": subscription, "items": items, **extra},
        }

    confirm_param = "flow_data[subscription_update_confirm]"
    retention_param = "flow_data[subscription_cancel][retention]"
    refusals: list[tuple[str, dict[str, Any], str]] = [
        (configuration, {"type": "subscription_cancel"}, "flow_data[subscription_cancel]"),
        (configuration, {"type": "anything"}, "flow_data[type]"),
        (configuration, {"subscription_update": {"subscription": subscription}}, "flow_data[type]"),
        (configuration, {"type": "subscription_pause",
                         "subscription_pause": {"subscription": subscription}}, "flow_data[type]"),
        (configuration, {**cancel(subscription),
                         "subscription_pause": {"subscription": subscription}},
         "flow_data[subscription_pause]"),
        (bare, cancel(subscription), "flow_data[type]"),
        (bare, {"type": "payment_method_update"}, "flow_data[type]"),
        (bare, {"type": "subscription_update",
                "subscription_update": {"subscription": subscription}}, "flow_data[type]"),
        (configuration, cancel(someone_elses), "flow_data[subscription_cancel][subscription]"),
        (configuration, cancel(canceled), "flow_data[subscription_cancel][subscription]"),
        (configuration, cancel("sub_missing"), "flow_data[subscription_cancel][subscription]"),
        (configuration, cancel(subscription, retention={"type": "coupon_offer",
                                                        "coupon_offer": {"coupon": "gone"}}),
         f"{retention_param}[coupon_offer][coupon]"),
        (configuration, cancel(subscription, retention={"coupon_offer": {"coupon": coupon}}),
         f"{retention_param}[type]"),
        (configuration,
         {**cancel(subscription), "subscription_update": {"subscription": subscription}},
         "flow_data[subscription_update]"),
        (configuration, {"type": "subscription_update",
                         "subscription_update": {"subscription": several}},
         "flow_data[subscription_update][subscription]"),
        (configuration, confirm([{"id": item, "price": elsewhere.id}]),
         f"{confirm_param}[items][0][price]"),
        (configuration, confirm([{"id": item, "price": euros.id}]),
         f"{confirm_param}[items][0][price]"),
        (configuration, confirm([{"id": "si_missing", "price": team.id}]),
         f"{confirm_param}[items][0][id]"),
        (configuration, confirm([{"id": item}]), f"{confirm_param}[items][0][price]"),
        (configuration, confirm([{"id": item, "quantity": 0}]),
         f"{confirm_param}[items][0][quantity]"),
        (configuration, confirm([{"id": item, "quantity": 2}, {"id": item, "quantity": 3}]),
         f"{confirm_param}[items]"),
        (configuration, confirm([{"id": item, "quantity": 2}],
                                discounts=[{"coupon": coupon, "promotion_code": "promo_x"}]),
         f"{confirm_param}[discounts][0]"),
        (configuration, confirm([{"id": item, "quantity": 2}], discounts=[{"coupon": "gone"}]),
         f"{confirm_param}[discounts][0][coupon]"),
        (configuration, {"type": "payment_method_update", "after_completion": {"type": "redirect"}},
         "flow_data[after_completion][redirect]"),
        (configuration, {"type": "payment_method_update",
                         "after_completion": _redirect_to("ftp://shop.example")},
         "flow_data[after_completion][redirect][return_url]"),
        (configuration, {"type": "payment_method_update",
                         "after_completion": {"type": "portal_homepage",
                                              "hosted_confirmation": {"custom_message": "Hi"}}},
         "flow_data[after_completion][hosted_confirmation]"),
        (configuration, {"type": "payment_method_update",
                         "after_completion": _confirmation("x" * 501)},
         "flow_data[after_completion][hosted_confirmation][custom_message]"),
    ]  # fmt: skip
    for used, flow_data, param in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            _flow_session(client, customer, used, flow_data)
        assert refused.value.param == param, flow_data
        assert refused.value.http_status in (400, 404), "404: Stripe's `resource_missing`"
    created = client.v1.events.list(params={"type": "billing_portal.session.created"})
    assert created.data == [], "nothing written"


# --- the page over HTTP ---------------------------------------------------------------------------


def test_a_cancel_flow_whose_retention_offer_is_accepted(
    client: Client, server: KassaServer
) -> None:
    configuration = _everything(client, []).id
    customer, subscription = _subscribed(client)
    _, other = _subscribed(client)
    second = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": _item(client, other).price.id}]},
        options=key(),
    ).id
    coupon = _coupon(client)
    retention = {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}}
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": subscription, "retention": retention},
    }
    url = _flow_session(client, customer, configuration, flow).url
    shown = loopback.get(url, timeout=30).text
    assert "Cancel your subscription" in shown
    assert f'data-id="{subscription}"' in shown and f'data-id="{second}"' not in shown
    assert "stay and get 20% off for 3 months" in shown
    for hidden in ('data-testid="invoices"', "card-form", "switch-form", "details-form"):
        assert hidden not in shown
    assert _post(url, "cancel", {"subscription": second}, server).status_code == 400
    assert _post(url, "card", _card(VISA_DEBIT), server).status_code == 400
    assert _post(url, "retention", {}, server).status_code == 303
    kept = client.v1.subscriptions.retrieve(subscription, params={"expand": ["discounts"]})
    assert kept.status == "active" and kept.cancel_at_period_end is False
    assert _coupons(kept) == [coupon.id]
    assert client.v1.subscriptions.retrieve(second).cancel_at_period_end is False
    home = loopback.get(url, timeout=30).text
    assert "Manage your account" in home and f'data-id="{second}"' in home
    assert 'data-testid="retention-form"' not in home and 'data-testid="card-form"' in home
    again = _post(url, "retention", {}, server)
    assert again.status_code == 400, "the offer was taken: the flow is over"


def test_a_cancel_flow_that_ends_on_a_confirmation(client: Client, server: KassaServer) -> None:
    configuration = _everything(client, []).id
    customer, subscription = _subscribed(client)
    flow = {
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": subscription},
        "after_completion": _confirmation("Sorry to see you go."),
    }
    url = _flow_session(client, customer, configuration, flow).url
    shown = loopback.get(url, timeout=30).text
    assert 'data-testid="cancel-form"' in shown and 'data-testid="retention-form"' not in shown
    answer = _post(url, "cancel", {"subscription": subscription}, server)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/kassa/portal/")
    assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is True
    done = loopback.get(url, timeout=30).text
    assert "Sorry to see you go." in done and 'data-testid="subscription"' not in done
    plain = _flow_session(
        client,
        customer,
        configuration,
        {"type": "payment_method_update", "after_completion": _confirmation()},
    ).url
    assert _post(plain, "card", _card(VISA_DEBIT), server).status_code == 303
    assert "Your changes were saved." in loopback.get(plain, timeout=30).text
    method = client.v1.payment_methods.retrieve(_default_payment_method(client, customer))
    assert method.card is not None and method.card.last4 == "5556"


def test_an_update_flow_that_redirects(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    configuration = _everything(client, [team]).id
    customer, subscription = _subscribed(client)
    flow = {
        "type": "subscription_update",
        "subscription_update": {"subscription": subscription},
        "after_completion": _redirect_to(DONE_URL),
    }
    url = _flow_session(client, customer, configuration, flow).url
    shown = loopback.get(url, timeout=30).text
    assert "Change your plan" in shown and 'data-testid="switch-form"' in shown
    assert 'data-testid="cancel-form"' not in shown and 'data-testid="card-form"' not in shown
    assert _post(url, "cancel", {"subscription": subscription}, server).status_code == 400
    answer = _post(url, "update", {"subscription": subscription, "price": team.id}, server)
    assert answer.status_code == 303 and answer.headers["location"] == DONE_URL
    assert _item(client, subscription).price.id == team.id
    assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is False


def test_a_confirmed_update_with_its_proration(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    configuration = _everything(client, [team]).id
    customer, subscription = _subscribed(client)
    coupon = _coupon(client)
    flow = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": subscription,
            "items": [{"id": _item(client, subscription).id, "price": team.id, "quantity": 2}],
            "discounts": [{"coupon": coupon.id}],
        },
    }
    url = _flow_session(client, customer, configuration, flow).url
    shown = loopback.get(url, timeout=30).text
    assert "Confirm your new plan" in shown
    assert "Pro plan: $15.00 / month" in shown and "Team plan x 2: $30.00 / month" in shown
    assert f"Coupon {coupon.id}" in shown
    assert shown.count('data-proration="true"') == 2, "the unused Pro time back, Team's to come"
    for hidden in ('data-testid="subscription"', "card-form", 'data-testid="invoices"'):
        assert hidden not in shown
    assert (
        _post(url, "update", {"subscription": subscription, "quantity": "5"}, server).status_code
        == 400
    )
    assert _post(url, "confirm", {}, server).status_code == 303
    item = _item(client, subscription)
    assert (item.price.id, item.quantity) == (team.id, 2)
    changed = client.v1.subscriptions.retrieve(subscription, params={"expand": ["discounts"]})
    assert _coupons(changed) == [coupon.id]
    invoice = client.v1.invoices.list(params={"customer": customer}).data[0]
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    home = loopback.get(url, timeout=30).text
    assert "Manage your account" in home and 'data-testid="confirm-form"' not in home
    assert _post(url, "confirm", {}, server).status_code == 400, "confirmed once"


def test_a_confirmed_update_whose_price_was_archived(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    configuration = _everything(client, [team]).id
    customer, subscription = _subscribed(client)
    flow = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": subscription,
            "items": [{"id": _item(client, subscription).id, "price": team.id}],
        },
    }
    url = _flow_session(client, customer, configuration, flow).url
    client.v1.prices.update(team.id, params={"active": False})
    shown = loopback.get(url, timeout=30).text
    assert 'data-testid="confirm-refusal"' in shown and 'data-testid="confirm-form"' not in shown
    assert _post(url, "confirm", {}, server).status_code == 400
    assert _item(client, subscription).price.unit_amount == 1_500


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def test_confirm_an_update_in_the_browser(page: Page, client: Client) -> None:
    team = _price(client, 3_000)
    configuration = _everything(client, [team]).id
    customer, subscription = _subscribed(client)
    flow = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": subscription,
            "items": [{"id": _item(client, subscription).id, "price": team.id}],
        },
        "after_completion": _confirmation("Welcome to Team."),
    }
    page.goto(_flow_session(client, customer, configuration, flow).url)
    expect(page.get_by_test_id("confirm-new")).to_have_text("Team plan: $30.00 / month")
    page.get_by_test_id("confirm-button").click()
    expect(page.get_by_test_id("flow-confirmation")).to_have_text("Welcome to Team.")
    assert _item(client, subscription).price.id == team.id
