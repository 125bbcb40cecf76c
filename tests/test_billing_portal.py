"""The customer portal end to end through the official SDK against a live `kassa serve`
(SQLite and PostgreSQL, one server per module): configurations (create, retrieve, update,
list with its filters, the account's default one) and their refusals; sessions and their
refusals, each naming its parameter with nothing written; then the hosted portal page over
plain HTTP (its subscriptions and invoices, a wrong secret, a cross-site form, cancellation
at the period's end and at once, a new default card, features turned off) and once in
Chromium."""

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
          "flow_data": {"type": "payment_method_update"}}, "flow_data"),
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
