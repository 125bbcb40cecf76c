"""The customer portal end to end through the official SDK against a live `kassa serve`
(SQLite and PostgreSQL, one server per module): configurations (create, retrieve, update,
list with its filters, the account's default one) and their refusals; sessions and their
refusals, each naming its parameter with nothing written; then the hosted portal page over
plain HTTP (its subscriptions and invoices, a wrong secret, a cross-site form, cancellation
at the period's end and at once, a new default card, plan switches and their refusals, the
customer's details, features turned off) and in Chromium (a cancellation, a plan switch)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscription_added_trial import proration_amounts

Client = stripe.StripeClient
VISA_DEBIT = "4000 0566 5566 5556"
THREE_D_SECURE = "4000 0027 6000 3184"
RETURN_URL = "https://shop.example/account"

portal_server = module_server("billing_portal", KassaServer)


@pytest.fixture
def server(portal_server: KassaServer) -> Iterator[KassaServer]:
    yield portal_server
    assert_ledger_whole(portal_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def _configuration(client: Client, **features: Any) -> stripe.billing_portal.Configuration:
    params: Any = {"features": features or {"invoice_history": {"enabled": True}}}
    return client.v1.billing_portal.configurations.create(params=params, options=key())


def _subscribed(client: Client) -> tuple[str, str]:
    """A customer with a card, subscribed to a monthly price of $15.00: (customer, sub)."""
    customer = client.v1.customers.create(
        params={
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        },
        options=key(),
    )
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1_500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro plan"},
        },
        options=key(),
    )
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}, options=key()
    )
    return customer.id, subscription.id


def _session(client: Client, customer: str, **extra: Any) -> stripe.billing_portal.Session:
    params: Any = {"customer": customer, "return_url": RETURN_URL, **extra}
    return client.v1.billing_portal.sessions.create(params=params, options=key())


def _post(url: str, action: str, form: dict[str, str], server: KassaServer) -> Any:
    target = url.replace("?", f"/{action}?", 1)
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        return http.post(target, data=form)


def _card(number: str) -> dict[str, str]:
    return {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}


def _default_payment_method(client: Client, customer: str) -> str:
    settings = client.v1.customers.retrieve(customer).invoice_settings
    assert settings is not None and isinstance(settings.default_payment_method, str)
    return settings.default_payment_method


def _price(client: Client, amount: int, *, currency: str = "usd", **extra: Any) -> stripe.Price:
    params: Any = {
        "currency": currency,
        "unit_amount": amount,
        "recurring": {"interval": "month"},
        "product_data": {"name": "Team plan"},
        **extra,
    }
    return client.v1.prices.create(params=params, options=key())


def _switching(
    client: Client,
    prices: list[stripe.Price],
    *,
    proration_behavior: str = "none",
    allowed: tuple[str, ...] = ("price", "quantity"),
) -> stripe.billing_portal.Configuration:
    """A configuration that switches plans to `prices` (each under its own product)."""
    return _configuration(
        client,
        subscription_update={
            "enabled": True,
            "default_allowed_updates": list(allowed),
            "proration_behavior": proration_behavior,
            "products": [{"product": str(p.product), "prices": [p.id]} for p in prices],
        },
    )


def _item(client: Client, subscription: str) -> stripe.SubscriptionItem:
    items = client.v1.subscriptions.retrieve(subscription)["items"].data
    assert len(items) == 1 and isinstance(items[0], stripe.SubscriptionItem)
    return items[0]


def _refused_session(client: Client, params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.sessions.create(params=params, options=key())
    return refused.value


# --- configurations ------------------------------------------------------------------------------


def test_create_retrieve_and_update_a_configuration(client: Client) -> None:
    created = client.v1.billing_portal.configurations.create(
        params={
            "business_profile": {"headline": "Acme billing", "privacy_policy_url": RETURN_URL},
            "default_return_url": RETURN_URL,
            "features": {
                "customer_update": {"enabled": True, "allowed_updates": ["email", "tax_id"]},
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "immediately",
                    "proration_behavior": "create_prorations",
                    "cancellation_reason": {"enabled": True, "options": ["too_expensive"]},
                },
            },
            "metadata": {"team": "billing"},
            "name": "Main",
        },
        options=key(),
    )
    assert created.id.startswith("bpc_")
    assert (created.active, created.is_default, created.name) == (True, False, "Main")
    features = created.features
    assert features.customer_update.allowed_updates == ["email", "tax_id"]
    assert features.invoice_history.enabled is False
    cancel = features.subscription_cancel
    assert (cancel.mode, cancel.proration_behavior) == ("immediately", "create_prorations")
    assert cancel.cancellation_reason.options == ["too_expensive"]
    assert created.login_page.enabled is False and created.login_page.url is None
    assert client.v1.billing_portal.configurations.retrieve(created.id) == created

    updated = client.v1.billing_portal.configurations.update(
        created.id,
        params={
            "active": False,
            "features": {"invoice_history": {"enabled": True}},
            "business_profile": {"headline": ""},
            "name": "",
        },
        options=key(),
    )
    assert (updated.active, updated.name, updated.business_profile.headline) == (
        False,
        None,
        None,
    )
    assert updated.features.invoice_history.enabled is True
    assert updated.features.subscription_cancel.mode == "immediately"
    types = [e.type for e in client.v1.events.list().data]
    assert types[:2] == [
        "billing_portal.configuration.updated",
        "billing_portal.configuration.created",
    ]


def test_the_default_configuration_and_the_list_filters(client: Client) -> None:
    listed = client.v1.billing_portal.configurations.list()
    assert [c.is_default for c in listed.data] == [True]
    default = listed.data[0]
    features = default.features
    assert features.invoice_history.enabled and features.payment_method_update.enabled
    assert features.subscription_cancel.enabled
    assert features.subscription_cancel.mode == "at_period_end"
    assert features.customer_update.allowed_updates == ["email", "address"]
    created = _configuration(client)
    client.v1.billing_portal.configurations.update(created.id, params={"active": False})
    customer, _ = _subscribed(client)
    session = _session(client, customer)
    assert session.configuration == default.id, "one default, made once"
    configurations = client.v1.billing_portal.configurations
    assert [c.id for c in configurations.list(params={"is_default": True}).data] == [default.id]
    assert [c.id for c in configurations.list(params={"is_default": False}).data] == [created.id]
    assert [c.id for c in configurations.list(params={"active": False}).data] == [created.id]
    assert [c.id for c in configurations.list(params={"active": True}).data] == [default.id]
    first = configurations.list(params={"limit": 1})
    assert first.has_more and first.data[0].id == created.id
    rest = configurations.list(params={"limit": 1, "starting_after": created.id})
    assert [c.id for c in rest.data] == [default.id] and not rest.has_more
    with pytest.raises(stripe.InvalidRequestError) as refused:
        configurations.update(default.id, params={"active": False})
    assert refused.value.param == "active"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "features"),
        ({"features": {"customer_update": {"enabled": True, "allowed_updates": ["shoe"]}}},
         "features[customer_update][allowed_updates][0]"),
        ({"features": {"subscription_cancel": {"enabled": True, "mode": "later"}}},
         "features[subscription_cancel][mode]"),
        ({"features": {"subscription_cancel": {"mode": "immediately"}}},
         "features[subscription_cancel][enabled]"),
        ({"features": {"invoice_history": {"enabled": True}}, "login_page": {"enabled": True}},
         "login_page[enabled]"),
        ({"features": {"subscription_pause": {"enabled": True}}},
         "features[subscription_pause][enabled]"),
        ({"features": {"invoice_history": {"enabled": True}}, "default_return_url": "ftp://x"},
         "default_return_url"),
        ({"features": {"subscription_update": {"enabled": True, "products": [
            {"product": "prod_missing", "prices": ["price_missing"]}]}}},
         "features[subscription_update][products][0][product]"),
    ],
)  # fmt: skip
def test_bad_configurations_are_refused_naming_the_parameter(
    client: Client, params: Any, param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.configurations.create(params=params, options=key())
    assert refused.value.param == param
    listed = client.v1.billing_portal.configurations.list(params={"is_default": False})
    assert listed.data == [], "nothing written"


def test_subscription_update_is_stored_as_sent(client: Client) -> None:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Basic"},
        }
    )
    configuration = _configuration(
        client,
        subscription_update={
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "proration_behavior": "always_invoice",
            "products": [{"product": str(price.product), "prices": [price.id]}],
        },
    )
    update = configuration.features.subscription_update
    assert update.enabled and update.default_allowed_updates == ["price", "quantity"]
    assert update.proration_behavior == "always_invoice"
    assert update.products is not None
    assert [(p.product, p.prices) for p in update.products] == [(price.product, [price.id])]


# --- sessions -------------------------------------------------------------------------------------


def test_a_session_answers_with_the_portal_url(client: Client, server: KassaServer) -> None:
    customer, _ = _subscribed(client)
    session = _session(client, customer, locale="fr", expand=["configuration"])
    assert session.id.startswith("bps_")
    assert session.url.startswith(f"{server.url}/kassa/portal/{session.id}?secret=")
    assert (session.customer, session.return_url, session.locale) == (
        customer,
        RETURN_URL,
        "fr",
    )
    assert isinstance(session.configuration, stripe.billing_portal.Configuration)
    assert session.configuration.is_default
    assert session.flow is None and session.on_behalf_of is None
    event = client.v1.events.list(params={"type": "billing_portal.session.created"}).data[0]
    assert event.data.object["id"] == session.id
    with_default_url = client.v1.billing_portal.configurations.create(
        params={
            "features": {"invoice_history": {"enabled": True}},
            "default_return_url": RETURN_URL,
        }
    )
    taken = client.v1.billing_portal.sessions.create(
        params={"customer": customer, "configuration": with_default_url.id}
    )
    assert taken.return_url == RETURN_URL


def test_bad_sessions_are_refused_naming_the_parameter(client: Client) -> None:
    customer, _ = _subscribed(client)
    inactive = _configuration(client)
    client.v1.billing_portal.configurations.update(inactive.id, params={"active": False})
    refusals = [
        ({"return_url": RETURN_URL}, "customer"),
        ({"customer": "cus_missing", "return_url": RETURN_URL}, "customer"),
        ({"customer": customer, "configuration": inactive.id, "return_url": RETURN_URL},
         "configuration"),
        ({"customer": customer, "configuration": "bpc_missing", "return_url": RETURN_URL},
         "configuration"),
        ({"customer": customer}, "return_url"),
        ({"customer": customer, "return_url": RETURN_URL,
          "flow_data": {"type": "subscription_pause"}}, "flow_data[type]"),
        ({"customer": customer, "return_url": RETURN_URL, "on_behalf_of": "acct_x"},
         "on_behalf_of"),
        ({"customer": customer, "return_url": RETURN_URL, "locale": "xx"}, "locale"),
    ]  # fmt: skip
    for params, param in refusals:
        assert _refused_session(client, params).param == param, params
    created = client.v1.events.list(params={"type": "billing_portal.session.created"})
    assert created.data == [], "nothing written"


# --- the page over HTTP ---------------------------------------------------------------------------


def test_the_page_shows_subscriptions_invoices_and_the_card(client: Client) -> None:
    customer, subscription = _subscribed(client)
    session = _session(client, customer)
    page = loopback.get(session.url, timeout=30)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text and "script" not in page.headers["content-security-policy"]
    assert "Ada Lovelace" in page.text and "ada@example.com" in page.text
    assert f'data-id="{subscription}"' in page.text
    assert "Pro plan: $15.00 / month" in page.text
    invoice = client.v1.invoices.list(params={"customer": customer}).data[0]
    assert invoice.hosted_invoice_url is not None and invoice.number is not None
    assert invoice.hosted_invoice_url.replace("&", "&amp;") in page.text
    assert invoice.number in page.text
    assert "Visa ending in 4242" in page.text
    assert f'href="{RETURN_URL}"' in page.text


def test_a_wrong_secret_or_id_is_404(client: Client, server: KassaServer) -> None:
    customer, _ = _subscribed(client)
    url = _session(client, customer).url
    with loopback.Client(timeout=30) as http:
        for refused in (
            url.replace("secret=", "secret=x"),
            url.split("?")[0],
            re.sub(r"bps_\w+", "bps_missing", url),
        ):
            answer = http.get(refused)
            assert answer.status_code == 404, refused
            assert "Ada" not in answer.text


def test_a_cross_site_form_is_refused(client: Client, server: KassaServer) -> None:
    customer, subscription = _subscribed(client)
    url = _session(client, customer).url
    target = url.replace("?", "/cancel?", 1)
    form = {"subscription": subscription}
    with loopback.Client(timeout=30) as http:
        for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
            refused = http.post(target, data=form, headers=headers)
            assert refused.status_code == 403, headers
            assert "another site" in refused.text
        assert http.get(target).status_code == 405
    assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is False


def test_cancel_at_period_end(client: Client, server: KassaServer) -> None:
    customer, subscription = _subscribed(client)
    url = _session(client, customer).url
    answer = _post(url, "cancel", {"subscription": subscription}, server)
    assert answer.status_code == 303
    canceled = client.v1.subscriptions.retrieve(subscription)
    assert canceled.status == "active" and canceled.cancel_at_period_end is True
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    updated = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.object["id"] == subscription
    assert updated.data.object["cancel_at_period_end"] is True
    page = loopback.get(url, timeout=30)
    assert 'data-canceling="true"' in page.text and 'data-testid="cancel-button"' not in page.text


def test_cancel_now_with_a_reason(client: Client, server: KassaServer) -> None:
    configuration = _configuration(
        client,
        subscription_cancel={
            "enabled": True,
            "mode": "immediately",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "unused"]},
        },
    )
    customer, subscription = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    assert 'value="too_expensive"' in shown and 'value="low_quality"' not in shown
    wrong = _post(url, "cancel", {"subscription": subscription, "feedback": "low_quality"}, server)
    assert wrong.status_code == 400
    form = {"subscription": subscription, "feedback": "unused"}
    assert _post(url, "cancel", form, server).status_code == 303
    canceled = client.v1.subscriptions.retrieve(subscription)
    assert canceled.status == "canceled"
    assert canceled.cancellation_details is not None
    details = canceled.cancellation_details
    assert (details.reason, details.feedback) == ("cancellation_requested", "unused")
    deleted = client.v1.events.list(params={"type": "customer.subscription.deleted"}).data
    assert [e.data.object["id"] for e in deleted] == [subscription]
    assert f'data-id="{subscription}"' not in loopback.get(url, timeout=30).text
    again = _post(url, "cancel", form, server)
    assert again.status_code == 400, "a canceled subscription is no longer the portal's"


def test_another_customers_subscription_is_not_canceled(
    client: Client, server: KassaServer
) -> None:
    customer, _ = _subscribed(client)
    _, someone_elses = _subscribed(client)
    url = _session(client, customer).url
    assert _post(url, "cancel", {"subscription": someone_elses}, server).status_code == 400
    assert client.v1.subscriptions.retrieve(someone_elses).cancel_at_period_end is False


def test_a_new_card_becomes_the_default(client: Client, server: KassaServer) -> None:
    customer, _ = _subscribed(client)
    url = _session(client, customer).url
    assert _post(url, "card", _card(VISA_DEBIT), server).status_code == 303
    default = _default_payment_method(client, customer)
    method = client.v1.payment_methods.retrieve(default)
    assert method.customer == customer and method.card is not None
    assert method.card.last4 == "5556"
    assert "ending in 5556" in loopback.get(url, timeout=30).text
    refused = _post(url, "card", _card(THREE_D_SECURE), server)
    assert refused.status_code == 400 and "3-D Secure" in refused.text
    missing = _post(url, "card", {"number": VISA_DEBIT}, server)
    assert missing.status_code == 400
    assert _default_payment_method(client, customer) == default


def test_a_card_form_sent_twice_saves_one_card(client: Client, server: KassaServer) -> None:
    customer, _ = _subscribed(client)
    url = _session(client, customer).url
    before = client.v1.payment_methods.list(params={"customer": customer, "type": "card"}).data
    form = {**_card(VISA_DEBIT), "attempt": "one-page-view"}
    assert _post(url, "card", form, server).status_code == 303
    default = _default_payment_method(client, customer)
    assert _post(url, "card", form, server).status_code == 303  # the same form again
    assert _default_payment_method(client, customer) == default
    after = client.v1.payment_methods.list(params={"customer": customer, "type": "card"}).data
    assert len(after) == len(before) + 1
    another_view = {**_card(VISA_DEBIT), "attempt": "another-page-view"}
    assert _post(url, "card", another_view, server).status_code == 303
    assert _default_payment_method(client, customer) != default


def test_disabled_features_hide_their_sections_and_refuse_their_forms(
    client: Client, server: KassaServer
) -> None:
    configuration = _configuration(client, invoice_history={"enabled": False})
    customer, subscription = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    for hidden in ("cancel-form", "card-form", 'data-testid="invoices"'):
        assert hidden not in shown
    assert f'data-id="{subscription}"' in shown, "subscriptions are always listed"
    assert _post(url, "cancel", {"subscription": subscription}, server).status_code == 400
    assert _post(url, "card", _card(VISA_DEBIT), server).status_code == 400
    assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is False
    card = client.v1.payment_methods.retrieve(_default_payment_method(client, customer)).card
    assert card is not None and card.last4 == "4242"


def test_a_plan_switch_that_always_invoices(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    euros = _price(client, 2_500, currency="eur")
    archived = _price(client, 4_000)
    client.v1.prices.update(archived.id, params={"active": False})
    configuration = _switching(client, [team, euros, archived], proration_behavior="always_invoice")
    customer, subscription = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    assert 'data-testid="switch-form"' in shown
    assert f'value="{team.id}"' in shown and "Team plan: $30.00 / month" in shown
    assert euros.id not in shown and archived.id not in shown, "other currency, archived"
    form = {"subscription": subscription, "price": team.id, "quantity": "1"}
    assert _post(url, "update", form, server).status_code == 303
    assert _item(client, subscription).price.id == team.id
    invoice = client.v1.invoices.list(params={"customer": customer}).data[0]
    assert invoice.billing_reason == "subscription_update"
    assert invoice.status == "paid" and invoice.amount_paid > 0
    assert len(proration_amounts(invoice)) == 2, "the unused Pro time back, Team's to come"
    charge = client.v1.charges.list(params={"customer": customer}).data[0]
    assert charge.payment_method == _default_payment_method(client, customer)
    assert charge.amount == invoice.amount_paid
    updated = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.object["id"] == subscription
    assert "Team plan: $30.00 / month" in loopback.get(url, timeout=30).text


def test_a_plan_switch_without_prorations(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    configuration = _switching(client, [team], proration_behavior="none")
    customer, subscription = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    form = {"subscription": subscription, "price": team.id}
    assert _post(url, "update", form, server).status_code == 303
    assert _item(client, subscription).price.id == team.id
    assert len(client.v1.invoices.list(params={"customer": customer}).data) == 1
    pending = client.v1.invoice_items.list(params={"customer": customer}).data
    assert pending == [], "no proration line"


def test_a_quantity_change(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    configuration = _switching(
        client, [team], proration_behavior="create_prorations", allowed=("quantity",)
    )
    customer, subscription = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    assert 'data-testid="switch-quantity"' in shown and 'data-testid="switch-price"' not in shown
    for quantity in ("0", "100", "-1", "two"):
        refused = _post(url, "update", {"subscription": subscription, "quantity": quantity}, server)
        assert refused.status_code == 400, quantity
    with_price = {"subscription": subscription, "price": team.id, "quantity": "3"}
    assert _post(url, "update", with_price, server).status_code == 400, "price not allowed"
    assert _item(client, subscription).quantity == 1
    form = {"subscription": subscription, "quantity": "3"}
    assert _post(url, "update", form, server).status_code == 303
    item = _item(client, subscription)
    assert (item.quantity, item.price.unit_amount) == (3, 1_500)
    pending = client.v1.invoice_items.list(params={"customer": customer}).data
    assert pending and all(p.proration for p in pending), "prorations wait for the next invoice"
    assert "Pro plan x 3" in loopback.get(url, timeout=30).text


def test_plan_switches_that_are_refused(client: Client, server: KassaServer) -> None:
    team = _price(client, 3_000)
    elsewhere = _price(client, 2_000)
    configuration = _switching(client, [team], proration_behavior="always_invoice")
    customer, subscription = _subscribed(client)
    _, someone_elses = _subscribed(client)
    extra = _price(client, 500)
    several = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": team.id}, {"price": extra.id}]},
        options=key(),
    )
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    assert shown.count('data-testid="switch-form"') == 1
    assert "several items" in shown
    refusals = [
        {"subscription": subscription, "price": elsewhere.id},
        {"subscription": several.id, "price": team.id},
        {"subscription": someone_elses, "price": team.id},
        {"subscription": "sub_missing", "price": team.id},
    ]
    for form in refusals:
        assert _post(url, "update", form, server).status_code == 400, form
    assert _item(client, subscription).price.unit_amount == 1_500
    assert _item(client, someone_elses).price.unit_amount == 1_500
    kept = client.v1.subscriptions.retrieve(several.id)["items"].data
    assert sorted(i.price.id for i in kept) == sorted([team.id, extra.id])
    client.v1.subscriptions.cancel(subscription)
    canceled = _post(url, "update", {"subscription": subscription, "price": team.id}, server)
    assert canceled.status_code == 400
    disabled = _session(client, customer, configuration=_configuration(client).id).url
    assert 'data-testid="switch-form"' not in loopback.get(disabled, timeout=30).text
    forged = _post(disabled, "update", {"subscription": several.id, "quantity": "2"}, server)
    assert forged.status_code == 400
    assert len(client.v1.invoices.list(params={"customer": customer}).data) == 2, "two creations"


def test_a_switch_ends_a_trial(client: Client, server: KassaServer) -> None:
    """Stripe's `trial_update_behavior` default, `end_trial`: the new plan is billed now."""
    team = _price(client, 3_000)
    configuration = _switching(client, [team])
    customer, first = _subscribed(client)
    trialing = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": team.id}], "trial_period_days": 14},
        options=key(),
    )
    client.v1.subscriptions.cancel(first)
    url = _session(client, customer, configuration=configuration.id).url
    pro = client.v1.subscriptions.retrieve(first)["items"].data[0].price
    form = {"subscription": trialing.id, "price": pro.id}
    assert _post(url, "update", form, server).status_code == 400, "Pro is not offered"
    assert (
        _post(url, "update", {"subscription": trialing.id, "quantity": "2"}, server).status_code
        == 303
    )
    ended = client.v1.subscriptions.retrieve(trialing.id)
    assert ended.status == "active" and ended.trial_end is not None
    invoice = client.v1.invoices.list(params={"subscription": trialing.id}).data[0]
    assert (invoice.status, invoice.amount_paid) == ("paid", 6_000)


def test_the_customer_edits_their_details(client: Client, server: KassaServer) -> None:
    configuration = _configuration(
        client, customer_update={"enabled": True, "allowed_updates": ["email", "name", "address"]}
    )
    customer, _ = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    shown = loopback.get(url, timeout=30).text
    assert 'name="email"' in shown and 'value="ada@example.com"' in shown
    assert 'name="address[line1]"' in shown
    assert 'name="phone"' not in shown and 'name="shipping[name]"' not in shown
    before = len(client.v1.events.list(params={"type": "customer.updated"}).data)
    bad = _post(url, "details", {"email": "not-an-email", "name": "Ada"}, server)
    assert bad.status_code == 400 and "Invalid email address: not-an-email" in bad.text
    form = {
        "email": "ada@lovelace.example",
        "name": "Ada King",
        "phone": "+44 20 7946 0000",
        "address[line1]": "12 St James's Square",
        "address[city]": "London",
        "address[postal_code]": "SW1Y 4JH",
        "address[country]": "GB",
    }
    assert _post(url, "details", form, server).status_code == 303
    updated = client.v1.customers.retrieve(customer)
    assert (updated.email, updated.name, updated.phone) == (
        "ada@lovelace.example",
        "Ada King",
        None,
    )
    assert updated.address is not None
    assert updated.address.to_dict() == {
        "line1": "12 St James's Square",
        "line2": None,
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "state": None,
        "country": "GB",
    }
    events = client.v1.events.list(params={"type": "customer.updated"}).data
    assert events[0].data.object["email"] == "ada@lovelace.example"
    assert len(events) == before + 1, "the refused form changed nothing"
    off = _session(client, customer, configuration=_configuration(client).id).url
    assert 'data-testid="details-form"' not in loopback.get(off, timeout=30).text
    assert _post(off, "details", {"name": "Mallory"}, server).status_code == 400
    assert client.v1.customers.retrieve(customer).name == "Ada King"


def test_shipping_details(client: Client, server: KassaServer) -> None:
    configuration = _configuration(
        client, customer_update={"enabled": True, "allowed_updates": ["shipping", "phone"]}
    )
    customer, _ = _subscribed(client)
    url = _session(client, customer, configuration=configuration.id).url
    form = {
        "email": "mallory@example.com",
        "phone": "+1 555 0100",
        "shipping[name]": "Ada Lovelace",
        "shipping[address][line1]": "1 Main St",
        "shipping[address][country]": "US",
    }
    assert _post(url, "details", form, server).status_code == 303
    updated = client.v1.customers.retrieve(customer)
    assert updated.email == "ada@example.com", "email is not allowed here: ignored"
    assert updated.phone == "+1 555 0100"
    assert updated.shipping is not None and updated.shipping.name == "Ada Lovelace"
    assert updated.shipping.address is not None
    shipped_to = updated.shipping.address.to_dict()
    assert {k: v for k, v in shipped_to.items() if v} == {"line1": "1 Main St", "country": "US"}
    nameless = {"shipping[name]": "", "shipping[address][line1]": "2 Main St"}
    assert _post(url, "details", nameless, server).status_code == 400


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def test_cancel_in_the_browser(page: Page, client: Client) -> None:
    customer, subscription = _subscribed(client)
    page.goto(_session(client, customer).url)
    row = page.get_by_test_id("subscription")
    expect(row.get_by_test_id("subscription-item")).to_have_text("Pro plan: $15.00 / month")
    row.get_by_test_id("cancel-button").click()
    expect(page.get_by_test_id("canceling")).to_contain_text("Cancels on")
    expect(page.get_by_test_id("cancel-button")).to_have_count(0)
    assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is True


def test_switch_a_plan_in_the_browser(page: Page, client: Client) -> None:
    team = _price(client, 3_000)
    configuration = _switching(client, [team], proration_behavior="always_invoice")
    customer, subscription = _subscribed(client)
    page.goto(_session(client, customer, configuration=configuration.id).url)
    row = page.get_by_test_id("subscription")
    row.get_by_test_id("switch-price").select_option(team.id)
    row.get_by_test_id("switch-button").click()
    expect(page.get_by_test_id("subscription-item")).to_have_text("Team plan: $30.00 / month")
    assert _item(client, subscription).price.id == team.id
    invoice = client.v1.invoices.list(params={"customer": customer}).data[0]
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
