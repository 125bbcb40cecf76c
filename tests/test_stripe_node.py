"""The official Stripe SDK for Node (stripe-node) against a real `kassa serve`, on both engines:
customers, payments, errors, billing on a test clock and a webhook verified by the SDK's own
signature check. The scenarios are `tests/node/scenarios.mjs`; each prints what it saw, and
these tests assert on it and on what the server stored.

stripe-node is pinned in `tests/node/package.json` (23.1.0, whose API version is Kassa's) and
installed with `npm ci` into `tests/node/node_modules` on first use. Without Node.js 20 or
newer, or when npm cannot install it, the tests skip and say why, except under CI=true,
where they must run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import (
    Account,
    KassaServer,
    assert_ledger_whole,
    create_account,
    unavailable,
)

NODE_DIR = Path(__file__).resolve().parent / "node"
STRIPE_NODE_VERSION = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["stripe"]
NODE_MAJOR_MIN = 20
"""stripe-node 23 declares `engines.node >= 20`."""
INSTALL_TIMEOUT_SECONDS = 300
SCENARIO_TIMEOUT_SECONDS = 120
"""A scenario's own polls give up after 30 s; this bounds a hung process."""

node_server = module_server("stripe-node", KassaServer)


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "stripe" / "package.json"
    if not manifest.exists():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


@pytest.fixture(scope="module")
def node() -> str:
    """The `node` executable, with stripe-node installed beside the scenarios."""
    executable = shutil.which("node")
    npm = shutil.which("npm")
    if executable is None or npm is None:
        unavailable(
            "stripe-node", "Node.js and npm are not on PATH (Debian: apt-get install nodejs npm)"
        )
    version = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < NODE_MAJOR_MIN:
        unavailable(
            "stripe-node",
            f"Node.js {version} is older than stripe-node's minimum, {NODE_MAJOR_MIN}",
        )
    if _installed_version() != STRIPE_NODE_VERSION:
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            check=False,
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        if installed.returncode != 0:
            unavailable(
                "stripe-node",
                f"`npm ci` in {NODE_DIR} exited {installed.returncode} (is the npm registry "
                f"reachable?): {installed.stderr.strip()[-500:]}",
            )
    return executable


@pytest.fixture
def account(node_server: KassaServer) -> Account:
    return create_account(node_server.database_url)


def run_scenario(node: str, server: KassaServer, account: Account, scenario: str) -> Any:
    """What the scenario printed, as JSON; its stderr in the failure if it exits non-zero."""
    done = subprocess.run(
        [node, str(NODE_DIR / "scenarios.mjs"), scenario],
        check=False,
        env={
            **os.environ,
            "KASSA_URL": server.url,
            "KASSA_SECRET_KEY": account.secret_key,
            "KASSA_PUBLISHABLE_KEY": account.publishable_key,
        },
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, f"scenario {scenario} exited {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout)


def test_customers_nested_params_expand_pagination_search_and_delete(
    node: str, node_server: KassaServer, account: Account
) -> None:
    seen = run_scenario(node, node_server, account, "customers")
    assert seen["address_city"] == "Springfield"
    assert seen["custom_fields"] == [{"name": "PO", "value": "42"}]
    # An empty string unsets a metadata key, as on Stripe.
    assert seen["metadata"] == {"tag": seen["metadata"]["tag"]}
    assert seen["name"] == "Ada Node"
    assert seen["expanded_default_payment_method"] == "payment_method"
    # The scenario's own customer and five more, two a page: every one once.
    assert seen["iterated"] == seen["iterated_distinct"] == seen["collected"] == 6
    assert seen["searched"] == [seen["id"]]
    assert seen["deleted"] is True
    assert seen["after_delete"]["class"] == "StripeInvalidRequestError"
    assert seen["after_delete"]["status"] == 404
    assert seen["after_delete"]["code"] == "resource_missing"
    deleted = node_server.client(account.secret_key).v1.customers.retrieve(seen["id"])
    assert getattr(deleted, "deleted", False) is True


def test_payments_refund_3ds_decline_and_capture(
    node: str, node_server: KassaServer, account: Account
) -> None:
    seen = run_scenario(node, node_server, account, "payments")
    assert seen["paid"] == {"status": "succeeded", "amount_received": 2000}
    assert seen["refund"]["status"] == "succeeded"
    assert seen["refund"]["amount"] == 500
    assert seen["refund"]["charge"] == seen["charge"]["id"]
    # Stripe's US card pricing: 2.9% + 30 cents of 2000.
    assert seen["charge"]["fee"] == 88
    assert seen["charge"]["net"] == 1912
    assert seen["charge"]["amount_refunded"] == 500
    assert seen["charge"]["balance_transaction"] == "balance_transaction"
    assert seen["authenticate"]["status"] == "requires_action"
    assert seen["authenticate"]["next_action"] == "redirect_to_url"
    assert seen["authenticate"]["redirect_url"].startswith(node_server.url)
    declined = seen["declined"]
    assert declined["class"] == "StripeCardError"
    assert declined["status"] == 402
    assert declined["code"] == "card_declined"
    assert declined["decline_code"] == "insufficient_funds"
    assert declined["request_id"].startswith("req_")
    assert seen["held"] == "requires_capture"
    assert seen["captured"] == {"status": "succeeded", "amount_received": 2500}
    assert_ledger_whole(node_server.database_url)


def test_errors_name_their_class_parameter_and_request(
    node: str, node_server: KassaServer, account: Account
) -> None:
    seen = run_scenario(node, node_server, account, "errors")
    assert {key: seen["invalid_email"][key] for key in ("class", "status", "code", "param")} == {
        "class": "StripeInvalidRequestError",
        "status": 400,
        "code": "email_invalid",
        "param": "email",
    }
    assert seen["unknown"]["code"] == "parameter_unknown"
    assert seen["unknown"]["param"] == "favourite_colour"
    assert seen["missing"]["status"] == 404
    assert seen["missing"]["code"] == "resource_missing"
    for refused in (seen["bad_key"], seen["publishable"]):
        assert refused["class"] == "StripeAuthenticationError"
        assert refused["status"] == 401
    assert seen["replay"]["id"] == seen["first"]["id"]
    assert seen["replay"]["replayed"] == "true"
    # stripe-node's `lastResponse.idempotencyKey` is the key Kassa reflects back.
    assert seen["first"]["idempotency_key"] == seen["replay"]["idempotency_key"] == seen["key"]
    assert seen["first"]["request_id"].startswith("req_")
    assert seen["reused"]["class"] == "StripeIdempotencyError"
    assert seen["reused"]["status"] == 400
    made = node_server.client(account.secret_key).v1.customers.list(params={"limit": 10})
    assert [customer.id for customer in made.data] == [seen["first"]["id"]]


def test_billing_on_a_test_clock(node: str, node_server: KassaServer, account: Account) -> None:
    seen = run_scenario(node, node_server, account, "billing")
    january_31 = 1_769_860_800  # 2026-01-31 12:00 UTC, the clock's start and the anchor
    february_28 = 1_772_280_000  # the anchor's day clamped to February's last
    march_31 = 1_774_958_400
    assert seen["subscription"] == {
        "status": "active",
        "latest_invoice": {
            "status": "paid",
            "total": 2400,  # two at 1500, 20% off once
            "billing_reason": "subscription_create",
        },
        "period_end": february_28,
    }
    assert seen["advanced"] == "advancing"
    assert seen["ready"] == january_31 + 70 * 86_400
    assert seen["invoices"] == [
        {
            "status": "paid",
            "billing_reason": "subscription_create",
            "amount_paid": 2400,
            "period_start": january_31,
        },
        {
            "status": "paid",
            "billing_reason": "subscription_cycle",
            "amount_paid": 3000,
            "period_start": february_28,
        },
        {
            "status": "paid",
            "billing_reason": "subscription_cycle",
            "amount_paid": 3000,
            "period_start": march_31,
        },
    ]
    assert seen["preview_total"] == 4500
    assert seen["canceled"] == "canceled"
    assert_ledger_whole(node_server.database_url)


def test_a_delivery_passes_stripe_node_s_signature_check(
    node: str, node_server: KassaServer, account: Account
) -> None:
    seen = run_scenario(node, node_server, account, "webhooks")
    assert seen["event"] == {
        "type": "customer.created",
        "object_id": seen["customer"],
        "api_version": stripe.api_version,
    }
    assert seen["forged"] == "StripeSignatureVerificationError"
    assert seen["test_header_verifies"] is True
