"""3-D Secure on PaymentIntents, and publishable keys, through the official SDK against a live
server on SQLite and PostgreSQL: `requires_action` and its `next_action`, finishing the
challenge through the test helper and through the hosted test page, off-session declines,
and what a publishable key may do with an intent's client secret.

Expected fees are computed here (2.9% rounded half up, plus 30 cents), never read back."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from kassa.services.payment_intents import PUBLISHABLE_FIELDS as PAYMENT_INTENT_PUBLISHABLE_FIELDS
from tests import loopback
from tests.harness import Account, KassaServer
from tests.test_async_capture import posted

pytestmark = pytest.mark.usefixtures("ledger_verified")

RETURN_URL = "https://shop.example/return?order=7"
AUTHENTICATION_CARDS = [
    pytest.param({"payment_method": "pm_card_threeDSecure2Required"}, "3220", id="3ds2"),
    pytest.param({"payment_method": "pm_card_authenticationRequired"}, "3184", id="auth"),
    pytest.param(
        {
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": "4000000000003220",
                    "exp_month": "12",
                    "exp_year": "2034",
                    "cvc": "123",
                },
            }
        },
        "3220",
        id="raw-3220",
    ),
]


def usd_card_fee(amount: int) -> int:
    variable = (Decimal(amount) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(variable) + 30


def pending_usd(client: stripe.StripeClient) -> tuple[int, int]:
    balance = client.v1.balance.retrieve()
    available = sum(f.amount for f in balance.available if f.currency == "usd")
    pending = sum(f.amount for f in balance.pending if f.currency == "usd")
    return available, pending


def start(
    client: stripe.StripeClient, card: dict[str, Any], amount: int = 2500, **extra: Any
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": "usd",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **card,
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def authenticate(server: KassaServer, account: Account, intent_id: str, outcome: str) -> Any:
    """The test helper the SDK has no method for."""
    with server.http(account.secret_key) as http:
        response = http.post(
            f"/v1/test_helpers/payment_intents/{intent_id}/authenticate",
            data={"outcome": outcome},
        )
    assert response.status_code == 200, response.text
    return response.json()


def charges_of(client: stripe.StripeClient, intent_id: str) -> list[stripe.Charge]:
    return list(client.v1.charges.list(params={"payment_intent": intent_id}).data)


@pytest.mark.parametrize(("card", "last4"), AUTHENTICATION_CARDS)
def test_requires_action_then_completed_authentication_charges(
    server: KassaServer, account: Account, client: stripe.StripeClient, card: Any, last4: str
) -> None:
    intent = start(client, card)
    assert intent.status == "requires_action"
    assert intent.amount_received == 0
    assert intent.latest_charge is None
    action = intent.next_action
    assert action is not None
    assert action.type == "use_stripe_sdk"
    assert "redirect_to_url" not in action
    assert charges_of(client, intent.id) == []
    assert pending_usd(client) == (0, 0)

    done = authenticate(server, account, intent.id, "complete")
    assert done["id"] == intent.id
    assert done["status"] == "succeeded"
    assert done["next_action"] is None
    assert done["amount_received"] == 2500
    # Captured asynchronously (the default): the posting comes a moment later.
    charge = posted(client, done["latest_charge"])
    assert charge.status == "succeeded"
    assert charge.captured is True
    details = charge.payment_method_details
    assert details is not None and details.card is not None
    assert details.card.last4 == last4
    assert details.card.three_d_secure is not None
    assert details.card.three_d_secure.result == "authenticated"
    fee = usd_card_fee(2500)
    transaction = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (transaction.amount, transaction.fee, transaction.net) == (2500, fee, 2500 - fee)
    assert pending_usd(client) == (0, 2500 - fee)
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_return_url_gives_a_redirect_next_action(client: stripe.StripeClient) -> None:
    intent = start(
        client, {"payment_method": "pm_card_threeDSecure2Required"}, return_url=RETURN_URL
    )
    assert intent.status == "requires_action"
    action = intent.next_action
    assert action is not None and action.type == "redirect_to_url"
    assert action.redirect_to_url is not None
    assert action.redirect_to_url.return_url == RETURN_URL
    assert action.redirect_to_url.url is not None
    assert action.redirect_to_url.url.startswith("http")


def test_failed_authentication_makes_no_charge(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = start(client, {"payment_method": "pm_card_threeDSecure2Required"})
    failed = authenticate(server, account, intent.id, "fail")
    assert failed["status"] == "requires_payment_method"
    assert failed["next_action"] is None
    assert failed["payment_method"] is None
    assert failed["latest_charge"] is None
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert failed["last_payment_error"]["payment_method"]["id"] == intent.payment_method
    stored = client.v1.payment_intents.retrieve(intent.id)
    assert stored.status == "requires_payment_method"
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.code == "payment_intent_authentication_failure"
    assert charges_of(client, intent.id) == []
    assert client.v1.balance_transactions.list().data == []
    assert pending_usd(client) == (0, 0)

    retried = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert retried.status == "succeeded"
    assert retried.last_payment_error is None
    assert pending_usd(client) == (0, 2500 - usd_card_fee(2500))


def test_authenticating_an_intent_that_needs_none_is_refused(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = start(client, {"payment_method": "pm_card_visa"}, amount=1000)
    with server.http(account.secret_key) as http:
        response = http.post(
            f"/v1/test_helpers/payment_intents/{intent.id}/authenticate",
            data={"outcome": "complete"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert len(charges_of(client, intent.id)) == 1
    assert pending_usd(client) == (0, 1000 - usd_card_fee(1000))


def _page_url(intent: stripe.PaymentIntent) -> str:
    assert intent.next_action is not None and intent.next_action.redirect_to_url is not None
    url = intent.next_action.redirect_to_url.url
    assert url is not None
    return url


def test_hosted_page_shows_the_challenge_to_the_client_secret_only(
    client: stripe.StripeClient,
) -> None:
    intent = start(
        client, {"payment_method": "pm_card_threeDSecure2Required"}, return_url=RETURN_URL
    )
    assert intent.client_secret is not None
    url = _page_url(intent)
    assert parse_qs(urlsplit(url).query)["client_secret"] == [intent.client_secret]
    page = loopback.get(url, timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="complete"' in page.text
    assert 'id="fail"' in page.text
    assert intent.id in page.text

    # The address holds the client secret: kept by no cache, sent on by no link.
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"

    base = url.split("?")[0]
    assert loopback.get(base, timeout=30).status_code == 404
    # A wrong secret answers as a missing intent does: the page tells no one which ids exist.
    for wrong_secret in (f"{intent.id}_secret_wrong", "\u00e9"):
        wrong = loopback.get(base, params={"client_secret": wrong_secret}, timeout=30)
        assert wrong.status_code == 404, wrong_secret
        assert 'id="complete"' not in wrong.text
    missing = loopback.get(f"{base}x", params={"client_secret": "\u00e9"}, timeout=30)
    assert (missing.status_code, missing.text) == (404, wrong.text)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_action"
    assert charges_of(client, intent.id) == []


@pytest.mark.parametrize(
    ("outcome", "redirect_status", "status"),
    [("complete", "succeeded", "succeeded"), ("fail", "failed", "requires_payment_method")],
)
def test_hosted_page_answer_returns_the_browser(
    client: stripe.StripeClient, outcome: str, redirect_status: str, status: str
) -> None:
    intent = start(
        client, {"payment_method": "pm_card_threeDSecure2Required"}, return_url=RETURN_URL
    )
    assert intent.client_secret is not None
    url = _page_url(intent)
    answer = loopback.post(
        url,
        data={"client_secret": intent.client_secret, "outcome": outcome},
        follow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://shop.example/return"
    query = parse_qs(location.query)
    assert query["order"] == ["7"]
    assert query["payment_intent"] == [intent.id]
    assert query["payment_intent_client_secret"] == [intent.client_secret]
    assert query["redirect_status"] == [redirect_status]

    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == status
    charges = charges_of(client, intent.id)
    if outcome == "complete":
        [charge] = charges
        assert charge.payment_method_details is not None
        assert charge.payment_method_details.card is not None
        assert charge.payment_method_details.card.three_d_secure is not None
        assert charge.payment_method_details.card.three_d_secure.result == "authenticated"
        assert pending_usd(client) == (0, 2500 - usd_card_fee(2500))
    else:
        assert charges == []
        assert after.last_payment_error is not None
        assert after.last_payment_error.code == "payment_intent_authentication_failure"
        assert pending_usd(client) == (0, 0)

    answered_again = loopback.post(
        url,
        data={"client_secret": intent.client_secret, "outcome": "complete"},
        follow_redirects=False,
        timeout=30,
    )
    assert answered_again.status_code == 400
    assert len(charges_of(client, intent.id)) == len(charges)


def test_hosted_page_refuses_an_answer_with_a_wrong_client_secret(
    client: stripe.StripeClient,
) -> None:
    intent = start(
        client, {"payment_method": "pm_card_threeDSecure2Required"}, return_url=RETURN_URL
    )
    for wrong_secret in (f"{intent.id}_secret_wrong", "\u00e9"):
        posted = loopback.post(
            _page_url(intent).split("?")[0],
            data={"client_secret": wrong_secret, "outcome": "complete"},
            follow_redirects=False,
            timeout=30,
        )
        assert posted.status_code == 404, wrong_secret
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_action"
    assert charges_of(client, intent.id) == []


def test_off_session_authentication_required_declines(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    saved = client.v1.payment_methods.attach(
        "pm_card_authenticationRequired", params={"customer": customer.id}
    )
    assert saved.customer == customer.id
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": saved.id,
                "confirm": True,
                "off_session": True,
            }
        )
    error = raised.value
    assert error.http_status == 402
    assert error.code == "authentication_required"
    assert error.error is not None
    assert error.error.decline_code == "authentication_required"
    failed = error.error.payment_intent
    assert failed is not None
    assert failed.status == "requires_payment_method"
    assert failed.next_action is None
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == "authentication_required"
    assert pending_usd(client) == (0, 0)
    assert client.v1.balance_transactions.list().data == []
    for charge in charges_of(client, failed.id):
        assert (charge.status, charge.paid, charge.balance_transaction) == ("failed", False, None)

    on_session = client.v1.payment_intents.confirm(
        failed.id, params={"payment_method": saved.id, "return_url": RETURN_URL}
    )
    assert on_session.status == "requires_action"


def test_error_on_requires_action_refuses_instead_of_waiting(client: stripe.StripeClient) -> None:
    """The attempt fails as a decline would (Stripe: "fail the payment attempt if the
    PaymentIntent transitions into requires_action"): 402, a failed charge, no money."""
    with pytest.raises(stripe.CardError) as raised:
        start(
            client,
            {"payment_method": "pm_card_threeDSecure2Required"},
            error_on_requires_action=True,
        )
    assert raised.value.http_status == 402
    assert raised.value.code == "authentication_required"
    assert raised.value.error is not None
    intent = raised.value.error.payment_intent
    assert intent is not None and intent.status == "requires_payment_method"
    (charge,) = client.v1.charges.list().data
    assert (charge.status, charge.paid, charge.balance_transaction) == ("failed", False, None)
    assert pending_usd(client) == (0, 0)


def test_requested_challenge_then_manual_capture(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = start(
        client,
        {"payment_method": "pm_card_visa"},
        capture_method="manual",
        payment_method_options={"card": {"request_three_d_secure": "any"}},
    )
    assert intent.status == "requires_action"
    held = authenticate(server, account, intent.id, "complete")
    assert held["status"] == "requires_capture"
    assert held["amount_capturable"] == 2500
    charge = client.v1.charges.retrieve(held["latest_charge"])
    assert charge.captured is False
    assert charge.balance_transaction is None
    assert charge.payment_method_details is not None
    assert charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.three_d_secure is not None
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"
    assert pending_usd(client) == (0, 0)
    captured = client.v1.payment_intents.capture(intent.id)
    assert captured.amount_received == 2500
    assert pending_usd(client) == (0, 2500 - usd_card_fee(2500))


def test_cancel_while_waiting_for_authentication(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = start(client, {"payment_method": "pm_card_threeDSecure2Required"})
    canceled = client.v1.payment_intents.cancel(intent.id)
    assert canceled.status == "canceled"
    assert canceled.next_action is None
    with server.http(account.secret_key) as http:
        response = http.post(
            f"/v1/test_helpers/payment_intents/{intent.id}/authenticate",
            data={"outcome": "complete"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert charges_of(client, intent.id) == []
    assert pending_usd(client) == (0, 0)


# --- Publishable keys -----------------------------------------------------------------------


def test_publishable_key_reads_and_confirms_only_with_the_client_secret(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    secret = intent.client_secret
    assert secret is not None
    browser = server.client(account.publishable_key)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        browser.v1.payment_intents.retrieve(intent.id)
    assert missing.value.http_status == 400
    assert missing.value.param == "client_secret"
    other = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        browser.v1.payment_intents.retrieve(
            intent.id, params={"client_secret": str(other.client_secret)}
        )
    assert wrong.value.http_status == 400
    assert wrong.value.param == "client_secret"
    # Compared as bytes: a str with non-ASCII characters made hmac.compare_digest raise (500).
    accented_secret: Any = {"client_secret": "\u00e9"}
    for call in (browser.v1.payment_intents.retrieve, browser.v1.payment_intents.confirm):
        with pytest.raises(stripe.InvalidRequestError) as accented:
            call(intent.id, params=accented_secret)
        assert (accented.value.http_status, accented.value.param) == (400, "client_secret")

    seen = browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": secret})
    assert seen.id == intent.id
    assert seen.status == "requires_payment_method"

    with pytest.raises(stripe.InvalidRequestError) as unconfirmed:
        browser.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert unconfirmed.value.param == "client_secret"
    with pytest.raises(stripe.InvalidRequestError) as misconfirmed:
        # stripe-python's confirm parameters leave out client_secret (a browser-side one).
        wrong_secret: Any = {"payment_method": "pm_card_visa", "client_secret": f"{intent.id}_x"}
        browser.v1.payment_intents.confirm(intent.id, params=wrong_secret)
    assert misconfirmed.value.param == "client_secret"
    assert charges_of(client, intent.id) == []
    assert pending_usd(client) == (0, 0)

    right_secret: Any = {"payment_method": "pm_card_visa", "client_secret": secret}
    confirmed = browser.v1.payment_intents.confirm(intent.id, params=right_secret)
    assert confirmed.status == "succeeded"
    assert pending_usd(client) == (0, 1000 - usd_card_fee(1000))

    with pytest.raises(stripe.AuthenticationError):
        browser.v1.payment_intents.capture(intent.id)
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})


def test_publishable_key_sees_only_the_publishable_fields_of_an_intent(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """Stripe's "retrievable with publishable key" fields: never the customer or metadata,
    and only those may be expanded (Stripe.js expands `payment_method`)."""
    customer = client.v1.customers.create(
        params={"email": "private@example.com", "name": "Private", "metadata": {"tier": "vip"}}
    )
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "metadata": {"o": "7"},
            "allowed_payment_method_types": ["card"],
        }
    )
    path = f"/v1/payment_intents/{intent.id}"
    secret = {"client_secret": str(intent.client_secret)}
    visa = {**secret, "payment_method": "pm_card_visa"}

    def call(method: str, suffix: str, params: dict[str, str]) -> httpx.Response:
        return server.as_stripe_js(account.publishable_key, method, path + suffix, params)

    seen = call("GET", "", secret)
    refused = [
        call("GET", "", {**secret, "expand[]": "customer"}),
        call("POST", "/confirm", {**visa, "expand[]": "customer"}),
        call("POST", "/confirm", {**visa, "expand[]": "payment_method.customer"}),
    ]
    confirmed = call("POST", "/confirm", {**visa, "expand[]": "payment_method"})

    assert seen.status_code == 200, seen.text
    assert set(seen.json()) <= PAYMENT_INTENT_PUBLISHABLE_FIELDS
    assert {"id", "status", "client_secret", "amount"} <= set(seen.json())
    assert not {"customer", "metadata"} & set(seen.json())
    for response in refused:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "expand"
    assert confirmed.status_code == 200, confirmed.text
    answer = confirmed.json()
    assert set(answer) <= PAYMENT_INTENT_PUBLISHABLE_FIELDS
    assert (answer["status"], answer["payment_method"]["object"]) == ("succeeded", "payment_method")
    assert "private@example.com" not in seen.text + confirmed.text
    full = client.v1.payment_intents.retrieve(intent.id)
    assert (full.customer, full.metadata["o"]) == (customer.id, "7")


def test_a_decline_shows_a_publishable_key_only_the_publishable_fields(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "metadata": {"order": "secret-8"},
            "allowed_payment_method_types": ["card"],
        }
    )
    declined = server.as_stripe_js(
        account.publishable_key,
        "POST",
        f"/v1/payment_intents/{intent.id}/confirm",
        {"client_secret": str(intent.client_secret), "payment_method": "pm_card_chargeDeclined"},
    )
    assert declined.status_code == 402, declined.text
    carried = declined.json()["error"]["payment_intent"]
    assert set(carried) <= PAYMENT_INTENT_PUBLISHABLE_FIELDS
    assert carried["last_payment_error"]["code"] == "card_declined"
    assert "secret-8" not in declined.text


def test_secret_key_may_pass_the_client_secret_too(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    assert intent.client_secret is not None
    seen = client.v1.payment_intents.retrieve(
        intent.id, params={"client_secret": intent.client_secret}
    )
    assert seen.id == intent.id
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        client.v1.payment_intents.retrieve(intent.id, params={"client_secret": "nope"})
    assert wrong.value.param == "client_secret"


# --- cards set up for off-session payments ------------------------------------------------------


def saved_card(client: stripe.StripeClient, test_id: str) -> tuple[str, str]:
    """A customer, and the test card `test_id` attached to it (not set up)."""
    customer = client.v1.customers.create(params={"email": "grace@example.com"})
    saved = client.v1.payment_methods.attach(test_id, params={"customer": customer.id})
    return customer.id, saved.id


def set_up(
    server: KassaServer, account: Account, client: stripe.StripeClient, test_id: str
) -> tuple[str, str]:
    """A customer, and the test card `test_id` set up for it by a SetupIntent whose 3-D
    Secure challenge was completed."""
    customer = client.v1.customers.create(params={"email": "grace@example.com"})
    intent = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method": test_id,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "requires_action"
    with server.http(account.secret_key) as http:
        done = http.post(
            f"/v1/test_helpers/setup_intents/{intent.id}/authenticate",
            data={"outcome": "complete"},
        )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded"
    return customer.id, str(intent.payment_method)


def pay(
    client: stripe.StripeClient, customer_id: str, payment_method: str, **extra: Any
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": 2000,
        "currency": "usd",
        "customer": customer_id,
        "payment_method": payment_method,
        # Posted in the request: these tests read the charge's balance transaction at once
        # (the default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def declined_off_session(
    client: stripe.StripeClient, customer_id: str, payment_method: str
) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as raised:
        pay(client, customer_id, payment_method, off_session=True)
    return raised.value


@pytest.mark.parametrize(
    "test_id", ["pm_card_authenticationRequiredOnSetup", "pm_card_authenticationRequired"]
)
def test_a_card_not_set_up_is_declined_off_session(
    client: stripe.StripeClient, test_id: str
) -> None:
    customer_id, payment_method = saved_card(client, test_id)
    assert declined_off_session(client, customer_id, payment_method).code == (
        "authentication_required"
    )


def test_a_card_set_up_by_a_setup_intent_pays_off_session(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """4000002500003155 (Stripe: "authenticate unless set up"): once a SetupIntent has set it
    up, off-session payments need no authentication; on-session ones still do."""
    customer_id, payment_method = set_up(
        server, account, client, "pm_card_authenticationRequiredOnSetup"
    )
    paid = pay(client, customer_id, payment_method, off_session=True)
    assert paid.status == "succeeded"
    assert paid.amount_received == 2000
    charge = client.v1.charges.retrieve(str(paid.latest_charge))
    assert (charge.status, charge.paid) == ("succeeded", True)
    on_session = pay(client, customer_id, payment_method, return_url=RETURN_URL)
    assert on_session.status == "requires_action"


def test_a_card_saved_by_an_authenticated_payment_pays_off_session(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """Saving the card with an on-session payment (`setup_future_usage`) sets it up too."""
    customer = client.v1.customers.create(params={"email": "grace@example.com"})
    first = pay(
        client,
        customer.id,
        "pm_card_authenticationRequiredOnSetup",
        setup_future_usage="off_session",
    )
    assert first.status == "requires_action"
    assert authenticate(server, account, first.id, "complete")["status"] == "succeeded"
    payment_method = str(first.payment_method)
    assert client.v1.payment_methods.retrieve(payment_method).customer == customer.id
    paid = pay(client, customer.id, payment_method, off_session=True)
    assert paid.status == "succeeded"


def test_an_always_authenticate_card_declines_off_session_even_set_up(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """4000002760003184 (Stripe: "always authenticate") asks on every payment, however it
    was set up."""
    customer_id, payment_method = set_up(server, account, client, "pm_card_authenticationRequired")
    error = declined_off_session(client, customer_id, payment_method)
    assert (error.http_status, error.code) == (402, "authentication_required")


def test_an_already_set_up_card_pays_off_session_without_set_up(
    client: stripe.StripeClient,
) -> None:
    """4000003800000446 (Stripe: "already set up"): off-session payments succeed as if it had
    been set up; one-time and on-session payments authenticate."""
    customer_id, payment_method = saved_card(
        client, "pm_card_authenticationRequiredSetupForOffSession"
    )
    paid = pay(client, customer_id, payment_method, off_session=True)
    assert paid.status == "succeeded"
    on_session = pay(client, customer_id, payment_method)
    assert on_session.status == "requires_action"


def test_a_set_up_insufficient_funds_card_declines_for_its_funds_off_session(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """4000008260003178: declined with `insufficient_funds` even when set up."""
    customer_id, payment_method = set_up(
        server, account, client, "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds"
    )
    error = declined_off_session(client, customer_id, payment_method)
    assert error.code == "card_declined"
    assert error.error is not None and error.error.decline_code == "insufficient_funds"
