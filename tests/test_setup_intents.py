"""SetupIntents through the official SDK against a live server on SQLite and PostgreSQL:
saving a card without charging it, declines and `last_setup_error`, 3-D Secure through the
test helper and the hosted test page, publishable keys with the client secret, cancelation,
updates, lists, events, and a trialing subscription's `pending_setup_intent`.

SetupIntents move no money: every test ends with `kassa ledger verify`, and the balance
stays empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from stripe._object_classes import OBJECT_CLASSES

from kassa.services.setup_intents import PUBLISHABLE_FIELDS as SETUP_INTENT_PUBLISHABLE_FIELDS
from tests import loopback
from tests.harness import Account, KassaServer, create_account
from tests.test_subscriptions import advance, events_of

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient
RETURN_URL = "https://shop.example/saved?step=2"
FIXTURES = Path("/work/shared/stripe-openapi/fixtures3.json")
DAY = 86_400
CLOCK_START = 1_800_000_000
NEWER_SUBSCRIPTIONS = 101
"""Newer subscriptions of one customer than the one set up: more than the 100 a scan of
the customer's newest subscriptions would reach."""
RAW_CARD: dict[str, Any] = {
    "type": "card",
    "card": {"number": "4000000000003220", "exp_month": "12", "exp_year": "2034", "cvc": "123"},
}


def customer(client: Client) -> stripe.Customer:
    return client.v1.customers.create(params={"email": "saver@example.com"})


def cards_of(client: Client, customer_id: str) -> list[str]:
    listed = client.v1.payment_methods.list(params={"customer": customer_id, "type": "card"})
    return [payment_method.id for payment_method in listed.data]


def authenticate(server: KassaServer, account: Account, intent_id: str, outcome: str) -> Any:
    """The test helper the SDK has no method for."""
    with server.http(account.secret_key) as http:
        response = http.post(
            f"/v1/test_helpers/setup_intents/{intent_id}/authenticate", data={"outcome": outcome}
        )
    assert response.status_code == 200, response.text
    return response.json()


def assert_no_money_moved(client: Client) -> None:
    balance = client.v1.balance.retrieve()
    assert all(f.amount == 0 for f in balance.available)
    assert all(f.amount == 0 for f in balance.pending)
    assert client.v1.charges.list().data == []
    assert client.v1.balance_transactions.list().data == []


# --- create, retrieve, shape ---------------------------------------------------------------


def test_a_new_setup_intent_has_stripes_fields_and_defaults(client: Client) -> None:
    intent = client.v1.setup_intents.create()
    assert intent.id.startswith("seti_")
    assert intent.object == "setup_intent"
    assert intent.status == "requires_payment_method"
    assert intent.usage == "off_session"
    assert intent.payment_method_types == ["card"]
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    for empty in ("latest_attempt", "mandate", "single_use_mandate", "payment_method"):
        assert intent[empty] is None
    assert intent.last_setup_error is None and intent.next_action is None
    fields = set(intent.to_dict())
    stripe_default = set(json.loads(FIXTURES.read_text())["resources"]["setup_intent"])
    assert stripe_default <= fields
    module, name = OBJECT_CLASSES["setup_intent"]
    declared = set(getattr(__import__(module, fromlist=[name]), name).__annotations__)
    assert fields <= declared
    assert client.v1.setup_intents.retrieve(intent.id).to_dict() == intent.to_dict()
    assert events_of(client, intent.id) == ["setup_intent.created"]


def test_create_takes_stripes_parameters(client: Client) -> None:
    owner = customer(client)
    params: Any = {
        "customer": owner.id,
        "usage": "on_session",
        "description": "card for later",
        "metadata": {"order": "7"},
        "flow_directions": ["inbound"],
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "payment_method_options": {"card": {"request_three_d_secure": "any"}},
    }
    intent = client.v1.setup_intents.create(params=params)
    assert intent.customer == owner.id
    assert intent.usage == "on_session"
    assert intent.description == "card for later"
    assert intent.metadata is not None and intent.metadata.to_dict() == {"order": "7"}
    assert intent.flow_directions == ["inbound"]
    assert intent.automatic_payment_methods is not None
    assert intent.automatic_payment_methods.enabled is True
    assert intent.automatic_payment_methods.allow_redirects == "never"
    options = intent.payment_method_options
    assert options is not None and options.card is not None
    assert options.card.request_three_d_secure == "any"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"usage": "sometimes"}, "usage"),
        ({"allowed_payment_method_types": ["sepa_debit"]}, "allowed_payment_method_types[0]"),
        ({"customer": "cus_missing"}, "customer"),
        ({"payment_method": "pm_missing"}, "payment_method"),
        ({"flow_directions": ["sideways"]}, "flow_directions[0]"),
        ({"payment_method_data": {"type": "card"}}, "payment_method_data[card]"),
        (
            {"automatic_payment_methods": {"allow_redirects": "never"}},
            "automatic_payment_methods[enabled]",
        ),
        (
            {
                "automatic_payment_methods": {"enabled": True},
                "allowed_payment_method_types": ["card"],
            },
            "allowed_payment_method_types",
        ),
    ],
)
def test_bad_create_parameters_are_named(client: Client, params: Any, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.create(params=params)
    assert refused.value.http_status in (400, 404)
    assert refused.value.param == param
    assert client.v1.setup_intents.list().data == []


def test_attach_to_self_cannot_go_with_a_customer(client: Client) -> None:
    owner = customer(client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.create(params={"customer": owner.id, "attach_to_self": True})
    assert refused.value.param == "attach_to_self"
    alone = client.v1.setup_intents.create(params={"attach_to_self": True})
    assert alone.attach_to_self is True


# --- confirm ---------------------------------------------------------------------------------


def test_confirming_saves_the_card_to_the_customer(client: Client) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={"customer": owner.id, "allowed_payment_method_types": ["card"]}
    )
    done = client.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert done.next_action is None and done.last_setup_error is None
    payment_method_id = str(done.payment_method)
    saved = client.v1.payment_methods.retrieve(payment_method_id)
    assert saved.customer == owner.id
    assert saved.card is not None and saved.card.last4 == "4242"
    assert cards_of(client, owner.id) == [payment_method_id]
    assert events_of(client, intent.id) == ["setup_intent.created", "setup_intent.succeeded"]
    assert "payment_method.attached" in events_of(client, payment_method_id)
    listed = client.v1.setup_intents.list(params={"customer": owner.id}).data
    assert [i.id for i in listed] == [intent.id]
    by_card = client.v1.setup_intents.list(params={"payment_method": payment_method_id}).data
    assert [i.id for i in by_card] == [intent.id]
    assert_no_money_moved(client)


def test_confirm_on_create_with_card_numbers(client: Client) -> None:
    card: Any = {**RAW_CARD, "card": {**RAW_CARD["card"], "number": "4242424242424242"}}
    intent = client.v1.setup_intents.create(
        params={
            "confirm": True,
            "payment_method_data": card,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "succeeded"
    saved = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert saved.customer is None
    assert saved.card is not None and saved.card.last4 == "4242"
    assert client.v1.setup_intents.retrieve(intent.id).status == "succeeded"
    assert events_of(client, intent.id) == ["setup_intent.created", "setup_intent.succeeded"]


def test_confirming_without_a_payment_method_is_refused(client: Client) -> None:
    intent = client.v1.setup_intents.create(params={"allowed_payment_method_types": ["card"]})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.confirm(intent.id)
    assert refused.value.http_status == 400
    assert refused.value.code == "setup_intent_unexpected_state"
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_payment_method"


@pytest.mark.parametrize(
    ("payment_method", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_a_card_the_issuer_declines_is_not_saved(
    client: Client, payment_method: str, decline_code: str
) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={"customer": owner.id, "allowed_payment_method_types": ["card"]}
    )
    with pytest.raises(stripe.CardError) as declined:
        client.v1.setup_intents.confirm(intent.id, params={"payment_method": payment_method})
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    error = declined.value.error
    assert error is not None and error.type == "card_error"
    assert error.decline_code == decline_code
    assert error.setup_intent is not None and error.setup_intent.id == intent.id
    assert error.doc_url == "https://stripe.com/docs/error-codes/card-declined"
    failed = client.v1.setup_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.payment_method is None
    last = failed.last_setup_error
    assert last is not None and last.code == "card_declined"
    assert last.decline_code == decline_code and last.type == "card_error"
    assert last.doc_url == "https://stripe.com/docs/error-codes/card-declined"
    assert last.payment_method is not None and last.payment_method.customer is None
    assert cards_of(client, owner.id) == []
    assert events_of(client, intent.id) == ["setup_intent.created", "setup_intent.setup_failed"]

    retried = client.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded" and retried.last_setup_error is None
    assert_no_money_moved(client)


def test_a_card_that_attaches_but_fails_charges_is_set_up(client: Client) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={
            "customer": owner.id,
            "payment_method": "pm_card_chargeCustomerFail",
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "requires_confirmation"
    done = client.v1.setup_intents.confirm(intent.id)
    assert done.status == "succeeded"
    assert client.v1.payment_methods.retrieve(str(done.payment_method)).customer == owner.id


# --- 3-D Secure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        pytest.param({"payment_method": "pm_card_authenticationRequired"}, id="auth"),
        pytest.param({"payment_method_data": RAW_CARD}, id="raw-3220"),
    ],
)
def test_authentication_completed_through_the_test_helper(
    server: KassaServer, account: Account, client: Client, card: Any
) -> None:
    owner = customer(client)
    params: Any = {
        "customer": owner.id,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **card,
    }
    intent = client.v1.setup_intents.create(params=params)
    assert intent.status == "requires_action"
    action = intent.next_action
    assert action is not None and action.type == "use_stripe_sdk"
    assert cards_of(client, owner.id) == []

    done = authenticate(server, account, intent.id, "complete")
    assert done["status"] == "succeeded"
    assert done["next_action"] is None
    assert client.v1.payment_methods.retrieve(done["payment_method"]).customer == owner.id
    assert events_of(client, intent.id) == [
        "setup_intent.created",
        "setup_intent.requires_action",
        "setup_intent.succeeded",
    ]
    assert_no_money_moved(client)


def test_failed_authentication_leaves_the_card_unsaved(
    server: KassaServer, account: Account, client: Client
) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={
            "customer": owner.id,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    failed = authenticate(server, account, intent.id, "fail")
    assert failed["status"] == "requires_payment_method"
    assert failed["payment_method"] is None
    assert failed["last_setup_error"]["code"] == "setup_intent_authentication_failure"
    assert failed["last_setup_error"]["payment_method"]["id"] == intent.payment_method
    assert cards_of(client, owner.id) == []
    assert events_of(client, intent.id)[-1] == "setup_intent.setup_failed"
    with server.http(account.secret_key) as http:
        again = http.post(
            f"/v1/test_helpers/setup_intents/{intent.id}/authenticate",
            data={"outcome": "complete"},
        )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "setup_intent_unexpected_state"


def test_the_hosted_page_completes_and_returns_the_browser(client: Client) -> None:
    intent = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    action = intent.next_action
    assert action is not None and action.type == "redirect_to_url"
    assert action.redirect_to_url is not None
    assert action.redirect_to_url.return_url == RETURN_URL
    url = str(action.redirect_to_url.url)
    page = loopback.get(url, timeout=30)
    assert page.status_code == 200
    assert intent.id in page.text and 'id="complete"' in page.text
    base = url.split("?", maxsplit=1)[0]
    wrong = loopback.post(base, data={"client_secret": "nope", "outcome": "complete"}, timeout=30)
    assert wrong.status_code in (400, 404)
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_action"

    secret = parse_qs(urlsplit(url).query)["client_secret"][0]
    answer = loopback.post(base, data={"client_secret": secret, "outcome": "complete"}, timeout=30)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://shop.example/saved"
    query = parse_qs(location.query)
    assert query["setup_intent"] == [intent.id]
    assert query["setup_intent_client_secret"] == [intent.client_secret]
    assert query["redirect_status"] == ["succeeded"]
    assert query["step"] == ["2"]
    assert client.v1.setup_intents.retrieve(intent.id).status == "succeeded"


# --- publishable keys ------------------------------------------------------------------------


def test_publishable_key_needs_the_client_secret(
    server: KassaServer, account: Account, client: Client
) -> None:
    intent = client.v1.setup_intents.create()
    secret = str(intent.client_secret)
    browser = server.client(account.publishable_key)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        browser.v1.setup_intents.retrieve(intent.id)
    assert missing.value.param == "client_secret"
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        browser.v1.setup_intents.retrieve(intent.id, params={"client_secret": f"{intent.id}_x"})
    assert wrong.value.param == "client_secret"
    seen = browser.v1.setup_intents.retrieve(intent.id, params={"client_secret": secret})
    assert seen.status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as unconfirmed:
        browser.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert unconfirmed.value.param == "client_secret"
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.setup_intents.create()
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.setup_intents.cancel(intent.id)
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_payment_method"


def test_publishable_key_sees_only_the_publishable_fields_of_an_intent(
    server: KassaServer, account: Account, client: Client
) -> None:
    customer = client.v1.customers.create(
        params={"email": "private@example.com", "metadata": {"tier": "vip"}}
    )
    intent = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "metadata": {"order": "secret-9"},
            "allowed_payment_method_types": ["card"],
        }
    )
    path = f"/v1/setup_intents/{intent.id}"
    secret = {"client_secret": str(intent.client_secret)}
    browser_key = account.publishable_key
    seen = server.as_stripe_js(browser_key, "GET", path, secret)
    expanded = server.as_stripe_js(browser_key, "GET", path, {**secret, "expand[]": "customer"})
    confirmed = server.as_stripe_js(
        browser_key,
        "POST",
        f"{path}/confirm",
        {**secret, "payment_method": "pm_card_visa", "expand[]": "payment_method"},
    )

    assert seen.status_code == 200, seen.text
    assert set(seen.json()) <= SETUP_INTENT_PUBLISHABLE_FIELDS
    assert {"id", "status", "client_secret"} <= set(seen.json())
    assert not {"customer", "metadata"} & set(seen.json())
    assert expanded.status_code == 400, expanded.text
    assert expanded.json()["error"]["param"] == "expand"
    assert "private@example.com" not in expanded.text
    assert confirmed.status_code == 200, confirmed.text
    answer = confirmed.json()
    assert set(answer) <= SETUP_INTENT_PUBLISHABLE_FIELDS
    assert (answer["status"], answer["payment_method"]["object"]) == ("succeeded", "payment_method")
    assert "secret-9" not in seen.text + confirmed.text
    assert client.v1.setup_intents.retrieve(intent.id).customer == customer.id


def test_stripe_js_confirms_with_the_key_form_parameter(
    server: KassaServer, account: Account, client: Client
) -> None:
    """Stripe.js sends no Authorization header: its key and the client secret are form fields."""
    intent = client.v1.setup_intents.create(params={"allowed_payment_method_types": ["card"]})
    with server.http() as http:
        response = http.post(
            f"/v1/setup_intents/{intent.id}/confirm",
            data={
                "key": account.publishable_key,
                "client_secret": str(intent.client_secret),
                "use_stripe_sdk": "true",
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": "4242424242424242",
                "payment_method_data[card][exp_month]": "4",
                "payment_method_data[card][exp_year]": "2042",
                "payment_method_data[card][cvc]": "242",
                "payment_method_data[billing_details][address][postal_code]": "42424",
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "succeeded"
        declined = client.v1.setup_intents.create(params={"allowed_payment_method_types": ["card"]})
        refused = http.post(
            f"/v1/setup_intents/{declined.id}/confirm",
            data={
                "key": account.publishable_key,
                "client_secret": str(declined.client_secret),
                "payment_method": "pm_card_visa_chargeDeclined",
            },
        )
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "card_error"
    assert refused.json()["error"]["setup_intent"]["id"] == declined.id


# --- cancel, update ----------------------------------------------------------------------------


def test_cancel_then_nothing_more(client: Client) -> None:
    intent = client.v1.setup_intents.create(params={"payment_method": "pm_card_visa"})
    canceled = client.v1.setup_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError) as unconfirmable:
        client.v1.setup_intents.confirm(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as uncancelable:
        client.v1.setup_intents.cancel(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as unchangeable:
        client.v1.setup_intents.update(intent.id, params={"payment_method": "pm_card_visa"})
    done_forms = ("confirmed", "canceled", "updated")
    for refused, done in zip((unconfirmable, uncancelable, unchangeable), done_forms, strict=True):
        assert refused.value.code == "setup_intent_unexpected_state"
        assert f"may be {done}: " in str(refused.value.user_message)
    assert events_of(client, intent.id) == ["setup_intent.created", "setup_intent.canceled"]
    with pytest.raises(stripe.InvalidRequestError) as bad_reason:
        other = client.v1.setup_intents.create()
        reason: Any = {"cancellation_reason": "fraudulent"}
        client.v1.setup_intents.cancel(other.id, params=reason)
    assert bad_reason.value.param == "cancellation_reason"


def test_a_succeeded_intent_cannot_be_canceled(client: Client) -> None:
    intent = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.cancel(intent.id)
    assert refused.value.code == "setup_intent_unexpected_state"
    assert client.v1.setup_intents.retrieve(intent.id).status == "succeeded"


def test_update_changes_the_card_and_the_description(client: Client) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={"description": "first", "allowed_payment_method_types": ["card"]}
    )
    updated = client.v1.setup_intents.update(
        intent.id,
        params={
            "customer": owner.id,
            "payment_method": "pm_card_mastercard",
            "metadata": {"step": "2"},
            "description": "",
        },
    )
    assert updated.status == "requires_confirmation"
    assert updated.customer == owner.id and updated.description is None
    assert updated.metadata is not None and updated.metadata.to_dict() == {"step": "2"}
    done = client.v1.setup_intents.confirm(intent.id)
    assert done.status == "succeeded"
    saved = client.v1.payment_methods.retrieve(str(done.payment_method))
    assert saved.customer == owner.id
    assert saved.card is not None and saved.card.brand == "mastercard"


def test_a_card_of_another_customer_is_refused(client: Client) -> None:
    first, second = customer(client), customer(client)
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": first.id})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.create(params={"customer": second.id, "payment_method": card.id})
    assert refused.value.param == "payment_method"


def test_a_card_of_another_customer_cannot_follow_a_change_of_customer(client: Client) -> None:
    """Stripe: payment methods attached to other customers cannot be used with the
    SetupIntent, whichever parameter made them another's."""
    first, second = customer(client), customer(client)
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": first.id})
    intent = client.v1.setup_intents.create(
        params={
            "customer": first.id,
            "payment_method": card.id,
            "allowed_payment_method_types": ["card"],
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.update(intent.id, params={"customer": second.id})
    assert refused.value.http_status == 400
    assert refused.value.param == "customer"
    kept = client.v1.setup_intents.retrieve(intent.id)
    assert (kept.customer, kept.payment_method) == (first.id, card.id)
    assert client.v1.setup_intents.confirm(intent.id).status == "succeeded"
    assert cards_of(client, second.id) == []


def test_a_card_attached_elsewhere_after_it_was_given_is_refused_at_confirm(
    client: Client,
) -> None:
    first, second = customer(client), customer(client)
    intent = client.v1.setup_intents.create(
        params={
            "customer": second.id,
            "payment_method": "pm_card_visa",
            "allowed_payment_method_types": ["card"],
        }
    )
    client.v1.payment_methods.attach(str(intent.payment_method), params={"customer": first.id})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.confirm(intent.id)
    assert refused.value.param == "payment_method"
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_confirmation"
    assert cards_of(client, second.id) == []


def test_confirming_for_a_deleted_customer_is_refused(client: Client) -> None:
    """Stripe: "No such customer"; the card is not attached to the deleted customer."""
    gone = customer(client)
    intent = client.v1.setup_intents.create(
        params={
            "customer": gone.id,
            "payment_method": "pm_card_visa",
            "allowed_payment_method_types": ["card"],
        }
    )
    client.v1.customers.delete(gone.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.setup_intents.confirm(intent.id)
    assert refused.value.http_status == 400
    assert refused.value.param == "customer"
    assert "No such customer" in str(refused.value.user_message)
    assert client.v1.setup_intents.retrieve(intent.id).status == "requires_confirmation"
    card = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert card.customer is None
    attached = client.v1.events.list(params={"type": "payment_method.attached"}).data
    assert attached == []


def test_another_accounts_setup_intent_is_missing(server: KassaServer, client: Client) -> None:
    intent = client.v1.setup_intents.create()
    stranger = server.client(create_account(server.database_url).secret_key)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stranger.v1.setup_intents.retrieve(intent.id)
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


# --- a trialing subscription's pending_setup_intent -------------------------------------------


def trial_price(client: Client) -> stripe.Price:
    """$15.00 a month, for the subscriptions on trial below."""
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Trial plan"},
        }
    )


def test_a_trial_without_a_card_gets_a_pending_setup_intent(client: Client) -> None:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_START})
    owner = client.v1.customers.create(params={"test_clock": clock.id})
    price = trial_price(client)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": owner.id,
            "items": [{"price": price.id}],
            "trial_period_days": 7,
            "expand": ["pending_setup_intent"],
        }
    )
    assert subscription.status == "trialing"
    pending = subscription.pending_setup_intent
    assert isinstance(pending, stripe.SetupIntent)
    assert pending.customer == owner.id
    assert pending.usage == "off_session"
    assert pending.status == "requires_payment_method"
    assert pending.created == CLOCK_START

    done = client.v1.setup_intents.confirm(pending.id, params={"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.pending_setup_intent is None
    assert after.default_payment_method == done.payment_method
    assert client.v1.payment_methods.retrieve(str(done.payment_method)).customer == owner.id

    advance(client, clock.id, CLOCK_START + 8 * DAY)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "active"
    invoice = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert invoice.status == "paid"
    assert invoice.amount_paid == 1500


def test_a_trial_set_up_with_3d_secure_renews_off_session(
    server: KassaServer, account: Account, client: Client
) -> None:
    """A card that authenticates unless set up (4000002500003155), set up through the
    trial's `pending_setup_intent`, pays the first invoice off-session at the trial's end."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_START})
    owner = client.v1.customers.create(params={"test_clock": clock.id})
    subscription = client.v1.subscriptions.create(
        params={
            "customer": owner.id,
            "items": [{"price": trial_price(client).id}],
            "trial_period_days": 7,
        }
    )
    pending = client.v1.setup_intents.confirm(
        str(subscription.pending_setup_intent),
        params={"payment_method": "pm_card_authenticationRequiredOnSetup"},
    )
    assert pending.status == "requires_action"
    assert authenticate(server, account, pending.id, "complete")["status"] == "succeeded"

    advance(client, clock.id, CLOCK_START + 8 * DAY)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "active"
    invoice = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 1500)


def test_the_setup_intent_finds_its_subscription_among_many(client: Client) -> None:
    """The subscription a SetupIntent was opened for takes the card however many newer
    subscriptions its customer has (more than a page of them); the others keep theirs."""
    owner = client.v1.customers.create()
    price = trial_price(client)
    params: Any = {"customer": owner.id, "items": [{"price": price.id}], "trial_period_days": 7}
    oldest = client.v1.subscriptions.create(params=params)
    newer = [client.v1.subscriptions.create(params=params) for _ in range(NEWER_SUBSCRIPTIONS)]
    done = client.v1.setup_intents.confirm(
        str(oldest.pending_setup_intent), params={"payment_method": "pm_card_visa"}
    )
    after = client.v1.subscriptions.retrieve(oldest.id)
    assert (after.pending_setup_intent, after.default_payment_method) == (
        None,
        done.payment_method,
    )
    newest = client.v1.subscriptions.retrieve(newer[-1].id)
    assert newer[-1].pending_setup_intent is not None
    assert newest.pending_setup_intent == newer[-1].pending_setup_intent
    assert newest.default_payment_method is None


def test_a_trial_with_a_default_card_needs_no_setup(client: Client) -> None:
    owner = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = trial_price(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": owner.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    assert subscription.status == "trialing"
    assert subscription.pending_setup_intent is None
    assert client.v1.setup_intents.list().data == []


# --- setup attempts ----------------------------------------------------------------------------


def attempts_of(client: Client, intent_id: str) -> list[stripe.SetupAttempt]:
    """The intent's attempts, oldest first."""
    listed = client.v1.setup_attempts.list(params={"setup_intent": intent_id})
    return list(listed.data)[::-1]


def test_each_confirmation_is_a_setup_attempt(client: Client) -> None:
    owner = customer(client)
    intent = client.v1.setup_intents.create(
        params={"customer": owner.id, "allowed_payment_method_types": ["card"]}
    )
    with pytest.raises(stripe.CardError):
        client.v1.setup_intents.confirm(
            intent.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    done = client.v1.setup_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    failed, succeeded = attempts_of(client, intent.id)
    assert done.latest_attempt == succeeded.id
    assert succeeded.id.startswith("setatt_")
    assert (failed.status, succeeded.status) == ("failed", "succeeded")
    assert failed.setup_error is not None and failed.setup_error.code == "card_declined"
    assert succeeded.setup_error is None
    assert succeeded.setup_intent == intent.id and succeeded.customer == owner.id
    assert succeeded.payment_method == done.payment_method
    assert succeeded.usage == "off_session"
    details = succeeded.payment_method_details.card
    assert details is not None and details.last4 == "4242" and details.three_d_secure is None
    stripe_default = set(json.loads(FIXTURES.read_text())["resources"]["setup_attempt"])
    assert stripe_default <= set(succeeded.to_dict())
    expanded = client.v1.setup_intents.retrieve(intent.id, params={"expand": ["latest_attempt"]})
    assert isinstance(expanded.latest_attempt, stripe.SetupAttempt)
    assert expanded.latest_attempt.id == succeeded.id


def test_an_attempt_follows_its_3d_secure_challenge(
    server: KassaServer, account: Account, client: Client
) -> None:
    intent = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    (waiting,) = attempts_of(client, intent.id)
    assert waiting.status == "requires_action" and intent.latest_attempt == waiting.id
    authenticate(server, account, intent.id, "fail")
    (failed,) = attempts_of(client, intent.id)
    assert failed.status == "failed"
    assert failed.setup_error is not None
    assert failed.setup_error.code == "setup_intent_authentication_failure"
    card = failed.payment_method_details.card
    assert card is not None and card.three_d_secure is not None
    assert card.three_d_secure.result == "failed"

    client.v1.setup_intents.confirm(
        intent.id, params={"payment_method": "pm_card_authenticationRequired"}
    )
    authenticate(server, account, intent.id, "complete")
    _, succeeded = attempts_of(client, intent.id)
    assert succeeded.status == "succeeded"
    card = succeeded.payment_method_details.card
    assert card is not None and card.three_d_secure is not None
    assert card.three_d_secure.result == "authenticated"

    abandoned = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    client.v1.setup_intents.cancel(abandoned.id)
    assert [a.status for a in attempts_of(client, abandoned.id)] == ["abandoned"]


def test_setup_attempts_are_listed_by_setup_intent_only(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        response = http.get("/v1/setup_attempts")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "setup_intent"
