"""The caller's own account (`GET /v1/account`) through the SDK, and two wire habits of
Stripe's API that scripts rely on: bodies indented as Stripe indents them, and Stripe.js's
publishable key sent as a `key` form parameter instead of a header (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import stripe

from tests.direct_store import logged_request, wait_for_request_log
from tests.harness import Account, KassaServer

FAILING_BANK_ACCOUNT = {
    "object": "bank_account",
    "country": "US",
    "currency": "usd",
    "routing_number": "110000000",
    "account_number": "000111111116",
}


def test_the_account_is_the_key_s_own(client: stripe.StripeClient, account: Account) -> None:
    own = client.v1.accounts.retrieve_current()
    assert (own.id, own.object, own.country, own.default_currency) == (
        account.id,
        "account",
        "US",
        "usd",
    )
    assert (own.charges_enabled, own.payouts_enabled) == (True, True)
    assert own.requirements is not None and own.requirements.currently_due == []
    assert own.settings is not None and own.settings.dashboard.timezone == "Etc/UTC"


def test_the_account_shows_its_bank_accounts_and_payout_schedule(
    client: stripe.StripeClient, account: Account
) -> None:
    added = client.v1.accounts.external_accounts.create(
        account.id,
        params={"external_account": FAILING_BANK_ACCOUNT},  # type: ignore[typeddict-item]
    )
    client.v1.balance_settings.update(
        params={
            "payments": {
                "payouts": {"schedule": {"interval": "weekly", "weekly_payout_days": ["friday"]}}
            }
        }
    )
    own = client.v1.accounts.retrieve_current()
    assert own.external_accounts is not None
    assert added.id in [bank.id for bank in own.external_accounts.data]
    assert own.settings is not None and own.settings.payouts is not None
    schedule = own.settings.payouts.schedule
    assert (schedule.interval, schedule.weekly_payout_days) == ("weekly", ["friday"])


def test_the_account_s_payout_settings_follow_the_balance_settings(
    client: stripe.StripeClient,
) -> None:
    """Stripe's `settings.payouts` shows the balance settings: the schedule with its delay
    in force and its anchor, the payout descriptor, whether negative balances are debited;
    a change of them that shows there sends `account.updated`."""
    client.v1.balance_settings.update(
        params={
            "payments": {
                "debit_negative_balances": False,
                "payouts": {
                    "statement_descriptor": "KASSASHOP",
                    "schedule": {
                        "interval": "weekly",
                        "weekly_payout_days": ["thursday", "monday"],
                    },
                },
                "settlement_timing": {"delay_days_override": 5},
            }
        }
    )
    own = client.v1.accounts.retrieve_current()
    assert own.settings is not None and own.settings.payouts is not None
    payouts = own.settings.payouts
    assert (payouts.debit_negative_balances, payouts.statement_descriptor) == (False, "KASSASHOP")
    assert payouts.schedule.to_dict() == {
        "delay_days": 5,
        "interval": "weekly",
        "weekly_anchor": "monday",
        "weekly_payout_days": ["thursday", "monday"],
    }
    updated = client.v1.events.list(params={"type": "account.updated"}).data
    assert len(updated) == 1
    assert updated[0].data.to_dict()["object"]["settings"]["payouts"] == payouts.to_dict()
    previous = updated[0].data.previous_attributes
    assert previous is not None
    assert previous["settings"]["payouts"]["statement_descriptor"] is None
    assert previous["settings"]["payouts"]["debit_negative_balances"] is True

    client.v1.balance_settings.update(
        params={
            "payments": {
                "payouts": {"schedule": {"interval": "monthly", "monthly_payout_days": [15, 1]}}
            }
        }
    )
    schedule = client.v1.accounts.retrieve_current().settings
    assert schedule is not None and schedule.payouts is not None
    assert schedule.payouts.schedule.to_dict() == {
        "delay_days": 5,
        "interval": "monthly",
        "monthly_anchor": 1,
        "monthly_payout_days": [15, 1],
    }
    client.v1.balance_settings.update(
        params={"payments": {"payouts": {"statement_descriptor": "KASSASHOP"}}}
    )
    assert len(client.v1.events.list(params={"type": "account.updated"}).data) == 2


def test_bodies_are_indented_as_stripe_indents_them(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        made = http.post("/v1/customers", data={"email": "jenny@example.com"})
        missing = http.get("/v1/customers/cus_missing")
    assert made.status_code == 200
    assert made.text.startswith('{\n  "id": "cus_')
    assert '\n  "email": "jenny@example.com",\n' in made.text
    assert missing.status_code == 404
    assert missing.text.startswith('{\n  "error": {\n    ')


def test_a_publishable_key_in_the_form_authenticates_as_stripe_js_sends_it(
    server: KassaServer, account: Account
) -> None:
    card = {
        "type": "card",
        "card[number]": "4242424242424242",
        "card[exp_month]": "12",
        "card[exp_year]": "2034",
        "card[cvc]": "123",
    }
    with server.http() as http:
        made = http.post("/v1/payment_methods", data={**card, "key": account.publishable_key})
        secret_only = http.post(
            "/v1/customers", data={"key": account.publishable_key, "email": "x@example.com"}
        )
        wrong = http.post("/v1/payment_methods", data={**card, "key": "pk_test_unknown"})
    assert made.status_code == 200, made.text
    assert made.json()["card"]["last4"] == "4242"
    # A publishable key stays a publishable key, wherever it is sent.
    assert secret_only.status_code == 401
    assert "publishable API key" in secret_only.json()["error"]["message"]
    assert wrong.status_code == 401
    assert "Invalid API Key" in wrong.json()["error"]["message"]


def test_a_secret_key_in_the_form_works_and_is_not_logged(
    server: KassaServer, account: Account
) -> None:
    with server.http() as http:
        made = http.post("/v1/customers", data={"key": account.secret_key, "name": "Jenny"})
    assert made.status_code == 200, made.text
    request_id = made.headers["request-id"]
    wait_for_request_log(server.database_url, account.id, {request_id})
    entry = logged_request(server.database_url, account.id, request_id)
    assert entry is not None and entry.request_body == '{"name":"Jenny"}'


def test_a_header_wins_over_a_form_key(server: KassaServer, account: Account) -> None:
    other = uuid.uuid4().hex
    with server.http(account.secret_key) as http:
        made = http.post("/v1/customers", data={"key": "pk_test_unknown", "description": other})
    assert made.status_code == 200, made.text
    assert made.json()["description"] == other
