"""Capturing a charge and capturing its PaymentIntent at the same moment: one wins, the other
is told, Stripe-style, that there is nothing left to capture. Neither may fail with a 500.
(It runs on both engines; only PostgreSQL has concurrent writers to deadlock.)

On PostgreSQL each locks both rows (`FOR UPDATE`); taken in opposite orders (charge then
intent, intent then charge) they deadlock, and PostgreSQL aborts one of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests import loopback
from tests.harness import Account, KassaServer, run_coroutine

ROUNDS = 25
ROUNDS_SECONDS_MAX = 25.0
ALREADY_CAPTURED_CODES = {"charge_already_captured", "payment_intent_unexpected_state"}


async def _authorized(http: httpx.AsyncClient) -> tuple[str, str]:
    """(intent id, charge id) of a card payment held for capture."""
    response = await http.post(
        "/v1/payment_intents",
        data={
            "amount": "1500",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "allowed_payment_method_types[]": "card",
            "capture_method": "manual",
        },
    )
    assert response.status_code == 200, response.text
    intent = response.json()
    assert intent["status"] == "requires_capture"
    return intent["id"], intent["latest_charge"]


async def _race(http: httpx.AsyncClient) -> list[httpx.Response]:
    intent_id, charge_id = await _authorized(http)
    return list(
        await asyncio.gather(
            http.post(f"/v1/charges/{charge_id}/capture"),
            http.post(f"/v1/payment_intents/{intent_id}/capture"),
        )
    )


async def _races(server: KassaServer, account: Account) -> list[list[httpx.Response]]:
    auth = (account.secret_key, "")
    async with loopback.AsyncClient(base_url=server.url, auth=auth, timeout=30) as http:
        return [await _race(http) for _ in range(ROUNDS)]


def test_capturing_a_charge_and_its_intent_at_once_never_fails(
    server: KassaServer, account: Account
) -> None:
    rounds = run_coroutine(lambda: asyncio.wait_for(_races(server, account), ROUNDS_SECONDS_MAX))
    statuses = Counter(tuple(sorted(r.status_code for r in responses)) for responses in rounds)
    assert statuses == {(200, 400): ROUNDS}, f"(statuses of both captures): rounds {statuses}"
    for responses in rounds:
        (refused,) = [r for r in responses if r.status_code == 400]
        assert refused.json()["error"]["code"] in ALREADY_CAPTURED_CODES, refused.text
