"""Raw card numbers are never stored or logged (DESIGN.md section 8).

A dedicated `kassa serve` (debug and trace logging) on a fresh SQLite file and a fresh PostgreSQL
database takes raw card numbers through every door that accepts one: PaymentMethod create,
`payment_method_data` on a PaymentIntent (confirmed, captured later, declined), idempotent
retries, and invalid numbers. Then the database files (main file, WAL and shared memory, both
while the server runs and after it stops), a `pg_dump` of the PostgreSQL data and the server
log are searched as bytes for every number. Each search is first shown able to find what
Kassa does keep (a customer email, the PaymentMethod ids, the last four digits).
"""

from __future__ import annotations

import functools
import struct
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe.params import (
    PaymentIntentCreateParams,
    PaymentMethodCreateParams,
    PaymentMethodCreateParamsCard,
)

from kassa.store import Store, sqlite_path_from_url
from kassa.store.dashboard_queries import LoggedRequest, RequestLogFilter
from tests.conftest import require_postgres
from tests.direct_store import raw_row, with_store
from tests.harness import KassaServer, create_account, fresh_postgres_database

PG_DUMP_TIMEOUT_SECONDS = 60
EXP_MONTH = 12
EXP_YEAR = 2034

# Stripe's test numbers whose digit runs would not appear in a database by accident.
VISA_DEBIT = "4000056655665556"
MASTERCARD_DEBIT = "5200828282828210"
AMEX = "378282246310005"
DISCOVER = "6011000990139424"
DECLINED = "4000000000000002"
FAILS_LUHN = "4000056655665557"
"""VISA_DEBIT with its check digit changed: a well-formed number Kassa must reject."""
FAILS_LUHN_MASTERCARD = "5200828282828211"
SPACED_VISA_DEBIT = "4000 0566 5566 5556"
"""Stripe rejects separators rather than strip them; the rejected text must not be kept."""
TOO_LONG = VISA_DEBIT * 3
"""Over `card[number]`'s 40-character limit: the error echoes the start of the value, and
that response must not be kept either."""

NUMBERS = (
    VISA_DEBIT,
    MASTERCARD_DEBIT,
    AMEX,
    DISCOVER,
    DECLINED,
    FAILS_LUHN,
    FAILS_LUHN_MASTERCARD,
)


@dataclass
class Stored:
    """What the run created that Kassa does keep: the positive controls."""

    email: str
    payment_method_ids: list[str] = field(default_factory=list)
    last4s: list[str] = field(default_factory=list)


def _card(number: str, cvc: str = "123") -> PaymentMethodCreateParamsCard:
    return {"number": number, "exp_month": EXP_MONTH, "exp_year": EXP_YEAR, "cvc": cvc}


def _pay_with_raw_card(
    client: stripe.StripeClient,
    number: str,
    cvc: str = "123",
    *,
    customer: str | None = None,
    manual_capture: bool = False,
) -> stripe.PaymentIntent:
    params: PaymentIntentCreateParams = {
        "amount": 4321,
        "currency": "usd",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        # The SDK's types leave out raw card data here (Stripe gates it), but the API takes it.
        "payment_method_data": {"type": "card", "card": _card(number, cvc)},  # type: ignore[typeddict-unknown-key]
        "capture_method": "manual" if manual_capture else "automatic",
    }
    if customer is not None:
        params["customer"] = customer
    return client.v1.payment_intents.create(
        params=params, options={"idempotency_key": f"secrecy-{uuid.uuid4().hex}"}
    )


def _expect_card_error(call: Callable[[], object], code: str) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as raised:
        call()
    assert raised.value.http_status == 402
    assert raised.value.code == code
    return raised.value


def _use_raw_card_numbers(client: stripe.StripeClient) -> Stored:
    stored = Stored(email=f"secrecy-canary-{uuid.uuid4().hex[:12]}@example.com")
    customer = client.v1.customers.create(params={"email": stored.email})

    # PaymentMethod create, sent twice under one idempotency key (the replay is stored too).
    key = f"secrecy-pm-{uuid.uuid4().hex}"
    pm_params: PaymentMethodCreateParams = {
        "type": "card",
        "card": _card(VISA_DEBIT),
        "billing_details": {"email": stored.email},
    }
    visa = client.v1.payment_methods.create(params=pm_params, options={"idempotency_key": key})
    replayed = client.v1.payment_methods.create(params=pm_params, options={"idempotency_key": key})
    assert replayed.id == visa.id
    assert visa.card is not None and visa.card.last4 == VISA_DEBIT[-4:]
    client.v1.payment_methods.attach(visa.id, params={"customer": customer.id})
    discover = client.v1.payment_methods.create(params={"type": "card", "card": _card(DISCOVER)})
    assert discover.card is not None and discover.card.brand == "discover"
    stored.payment_method_ids += [visa.id, discover.id]
    # A token (`card[number]`) and a card saved on the customer from details (`source[...]`).
    token_params: Any = {"card": _card(MASTERCARD_DEBIT)}
    token = client.v1.tokens.create(params=token_params)
    source_params: Any = {"source": {"object": "card", **_card(AMEX, cvc="1234")}}
    source = client.v1.customers.payment_sources.create(customer.id, params=source_params)
    stored.payment_method_ids += [token.id, source.id]

    paid = _pay_with_raw_card(client, MASTERCARD_DEBIT, customer=customer.id)
    assert paid.status == "succeeded"
    client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1000})
    held = _pay_with_raw_card(client, AMEX, cvc="1234", manual_capture=True)
    assert held.status == "requires_capture"
    assert client.v1.payment_intents.capture(held.id).status == "succeeded"
    for intent in (paid, held):
        assert isinstance(intent.payment_method, str)
        stored.payment_method_ids.append(intent.payment_method)

    # A declined number: the failed charge and the intent's last_payment_error are kept.
    declined_pm = client.v1.payment_methods.create(params={"type": "card", "card": _card(DECLINED)})
    stored.payment_method_ids.append(declined_pm.id)
    _expect_card_error(lambda: _pay_with_raw_card(client, DECLINED), "card_declined")
    _expect_card_error(
        lambda: client.v1.payment_intents.create(
            params={
                "amount": 999,
                "currency": "usd",
                "confirm": True,
                "allowed_payment_method_types": ["card"],
                "payment_method": declined_pm.id,
            }
        ),
        "card_declined",
    )

    # Invalid numbers: rejected, and nothing of them kept.
    for number in (FAILS_LUHN, SPACED_VISA_DEBIT):
        _expect_card_error(
            functools.partial(
                client.v1.payment_methods.create,
                params={"type": "card", "card": _card(number)},
                options={"idempotency_key": f"secrecy-bad-{uuid.uuid4().hex}"},
            ),
            "incorrect_number",
        )
    _expect_card_error(
        lambda: _pay_with_raw_card(client, FAILS_LUHN_MASTERCARD), "incorrect_number"
    )
    with pytest.raises(stripe.InvalidRequestError) as too_long:
        client.v1.payment_methods.create(params={"type": "card", "card": _card(TOO_LONG)})
    assert too_long.value.http_status == 400 and too_long.value.param == "card[number]"

    stored.last4s = [number[-4:] for number in (VISA_DEBIT, DISCOVER, MASTERCARD_DEBIT, AMEX)]
    return stored


def _sqlite_files(database_url: str) -> dict[str, bytes]:
    """The database file and its companions (-wal, -shm, -journal) that exist right now."""
    main = Path(sqlite_path_from_url(database_url))
    return {
        path.name: path.read_bytes()
        for path in sorted(main.parent.iterdir())
        if path.name == main.name or path.name.startswith(main.name + "-")
    }


LOGGED_REQUESTS_MAX = 1_000
"""More than the requests `_use_raw_card_numbers` makes."""
_PACKED_LOG_ROWS = "SELECT count(*) FROM request_log WHERE response_zstd IS NOT NULL"


def _logged_bodies(database_url: str, account_id: str) -> dict[str, bytes]:
    """Every request and response body the request log keeps for the account, unpacked."""

    async def read(store: Store) -> list[LoggedRequest]:
        async with store.read() as tx:
            return await tx.search_request_log(account_id, RequestLogFilter(), LOGGED_REQUESTS_MAX)

    logged = with_store(database_url, read)
    assert len(logged) < LOGGED_REQUESTS_MAX, "the search saw only part of the log"
    return {
        f"request log {row.request_id}": f"{row.request_body}\n{row.response_body}".encode()
        for row in logged
    }


def _pg_dump(database_url: str) -> bytes:
    result = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", f"--dbname={database_url}"],
        capture_output=True,
        timeout=PG_DUMP_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def _forms(number: str) -> list[bytes]:
    """How the number could sit in bytes: as text, and as the big-endian integer SQLite's
    record format would use for an INTEGER column."""
    return [number.encode(), struct.pack(">q", int(number))]


def _leaks(haystack: bytes) -> list[str]:
    """Every card number found in `haystack`, also once spaces and dashes are removed."""
    squeezed = haystack.replace(b" ", b"").replace(b"-", b"")
    return [
        number
        for number in NUMBERS
        if any(form in text for form in _forms(number) for text in (haystack, squeezed))
    ]


def _assert_no_card_numbers(haystacks: dict[str, bytes], must_contain: list[str]) -> None:
    assert haystacks, "nothing to search"
    for name, haystack in haystacks.items():
        assert _leaks(haystack) == [], f"card number found in {name}"
    joined = b"".join(haystacks.values())
    for text in must_contain:
        # The same search finds what Kassa does store, so the check above could fail.
        assert text.encode() in joined, f"{text!r} not found: the search looks in the wrong place"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir()
        yield f"sqlite:///{tmp_path / 'data' / 'kassa.db'}"
        return
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


def test_controls_find_planted_numbers() -> None:
    """The search itself: each form a number could take is found, in context."""
    for number in NUMBERS:
        assert _leaks(b'{"number":"' + number.encode() + b'"}') == [number]
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        assert number in _leaks(b"x" + spaced.encode() + b"x")
        assert _leaks(b"\x00" + struct.pack(">q", int(number)) + b"\x01") == [number]
    assert _leaks(b"4000-0566-5566-5556") == [VISA_DEBIT]
    assert _leaks(SPACED_VISA_DEBIT.encode()) == [VISA_DEBIT]
    assert _leaks(b'"last4":"5556","fingerprint":"x"') == []


@pytest.mark.parametrize("log_level", ["debug", "trace"])
def test_card_numbers_are_never_stored_or_logged(
    fresh_database_url: str, log_level: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "kassa-serve.log"
    server = KassaServer(fresh_database_url, log_path, extra_env={"KASSA_LOG_LEVEL": log_level})
    server.start()
    sqlite = fresh_database_url.startswith("sqlite:")
    try:
        account = create_account(fresh_database_url)
        stored = _use_raw_card_numbers(server.client(account.secret_key))
        # While the server runs, the WAL holds every page version written, including ones a
        # checkpoint on shutdown would leave behind.
        running = _sqlite_files(fresh_database_url) if sqlite else {}
    finally:
        server.stop()

    controls = [stored.email, *stored.payment_method_ids, *stored.last4s]
    if sqlite:
        stopped = _sqlite_files(fresh_database_url)
        assert Path(sqlite_path_from_url(fresh_database_url)).name in stopped
        _assert_no_card_numbers({f"{k} (running)": v for k, v in running.items()}, controls)
        _assert_no_card_numbers({f"{k} (stopped)": v for k, v in stopped.items()}, controls)
    else:
        _assert_no_card_numbers({"pg_dump --data-only": _pg_dump(fresh_database_url)}, controls)

    # Long responses are stored compressed, where a search of the bytes cannot see: the
    # request log is searched again as the store reads it back.
    assert raw_row(fresh_database_url, _PACKED_LOG_ROWS) != (0,), "no compressed row to search"
    _assert_no_card_numbers(
        _logged_bodies(fresh_database_url, account.id), [stored.email, *stored.payment_method_ids]
    )

    log = log_path.read_bytes()
    assert _leaks(log) == [], "card number found in the server log"
    # The log is the one this server wrote: it names the server's own address, and at trace
    # level every request's path.
    assert server.url.encode() in log
    if log_level == "trace":
        assert b"/v1/payment_methods" in log
