"""Currency conversion through the official SDK against a live `kassa serve` (SQLite and
PostgreSQL): charges in a currency the account does not settle in, converted at the rate in
force with the fee on the converted amount; refunds and disputes converted back at the rate
in force when they happen (Stripe's rule, https://docs.stripe.com/currencies/disputes-refunds);
chains through a third currency; Stripe's exchange rate objects; `kassa fx load` and
`kassa fx check`. Every figure is worked out here by hand, and every test leaves a ledger
that `kassa ledger verify` accepts."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kassa.fx import BUILT_IN_RATES
from kassa.services import currency_conversion, exchange_rates
from kassa.store import migrate, open_store
from tests.dashboard_session import signed_in_client
from tests.harness import Account, KassaServer, assert_ledger_whole, create_account, run_coroutine
from tests.settlement import settle_in

pytestmark = pytest.mark.usefixtures("ledger_verified")

TABLE = [("eur", "usd", "1.10"), ("jpy", "eur", "0.0062"), ("gbp", "usd", "1.25")]
"""The rates every test starts from: no direct JPY rate to USD, so yen go through euros."""
DISPUTE_FEE_USD = 1500


def helper(client: stripe.StripeClient, method: str, path: str, **params: Any) -> Any:
    """A Kassa test helper the SDK has no method for, through its raw request."""
    response = client.raw_request(method, path, **params)
    return client.deserialize(response, api_mode="V1")


def set_rates(client: stripe.StripeClient, rates: list[tuple[str, str, str]]) -> Any:
    """Replace the installation's rate table (Kassa's test helper)."""
    given = [{"base": base, "quote": quote, "rate": rate} for base, quote, rate in rates]
    return helper(client, "post", "/v1/test_helpers/exchange_rates", rates=given, replace=True)


def change_rate(client: stripe.StripeClient, base: str, quote: str, rate: str) -> Any:
    given = [{"base": base, "quote": quote, "rate": rate}]
    return helper(client, "post", "/v1/test_helpers/exchange_rates", rates=given)


def settling(server: KassaServer, extra: tuple[str, ...] = ()) -> stripe.StripeClient:
    """A client of a new account settling in USD (and `extra`): other currencies convert."""
    return server.client(settling_account(server, extra).secret_key)


def settling_account(server: KassaServer, extra: tuple[str, ...] = ()) -> Account:
    """A new account settling in USD (and `extra`), the rate table set to `TABLE`."""
    account = create_account(server.database_url)

    async def run() -> None:
        store = await open_store(server.database_url)
        try:
            async with store.write() as tx:
                await currency_conversion.set_settlement_currencies(tx, account.id, extra)
        finally:
            await store.close()

    run_coroutine(run)
    set_rates(server.client(account.secret_key), TABLE)
    return account


def pay(
    client: stripe.StripeClient, amount: int, currency: str, payment_method: str = "pm_card_visa"
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        # Posted in the request: these tests read the charge's balance transaction at once
        # (the default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    return client.v1.payment_intents.create(
        params=params, options={"idempotency_key": str(uuid.uuid4())}
    )


def charge_of(client: stripe.StripeClient, intent: stripe.PaymentIntent) -> stripe.Charge:
    assert isinstance(intent.latest_charge, str)
    return client.v1.charges.retrieve(intent.latest_charge)


def transaction(client: stripe.StripeClient, transaction_id: Any) -> stripe.BalanceTransaction:
    assert isinstance(transaction_id, str)
    return client.v1.balance_transactions.retrieve(transaction_id)


def refund(client: stripe.StripeClient, charge: str, amount: int | None = None) -> stripe.Refund:
    params: Any = {"charge": charge} if amount is None else {"charge": charge, "amount": amount}
    return client.v1.refunds.create(params=params, options={"idempotency_key": str(uuid.uuid4())})


def balances(client: stripe.StripeClient) -> dict[str, dict[str, int]]:
    balance = client.v1.balance.retrieve()
    return {
        "available": {funds.currency: funds.amount for funds in balance.available},
        "pending": {funds.currency: funds.amount for funds in balance.pending},
    }


# -- charges ----------------------------------------------------------------------------------


@pytest.fixture
def usd_account(server: KassaServer) -> stripe.StripeClient:
    return settling(server)


def test_a_eur_charge_settles_in_usd_with_its_rate_and_the_fee_after_conversion(
    usd_account: stripe.StripeClient,
) -> None:
    client = usd_account
    charge = charge_of(client, pay(client, 10_000, "eur"))  # €100.00
    assert (charge.amount, charge.currency) == (10_000, "eur")
    txn = transaction(client, charge.balance_transaction)
    # €100.00 at 1.10 is $110.00; the fee is 2.9% of that (319) plus 30 cents.
    assert (txn.currency, txn.amount, txn.exchange_rate) == ("usd", 11_000, 1.1)
    assert (txn.fee, txn.net) == (349, 10_651)
    assert [(d.amount, d.currency) for d in txn.fee_details] == [(349, "usd")]
    assert (txn.type, txn.source, txn.status) == ("charge", charge.id, "pending")
    assert balances(client) == {"available": {"usd": 0}, "pending": {"usd": 10_651}}


def test_a_currency_the_account_settles_in_is_not_converted(server: KassaServer) -> None:
    client = settling(server, extra=("eur",))
    eur = transaction(client, charge_of(client, pay(client, 10_000, "eur")).balance_transaction)
    # Settled as charged: Stripe's euro pricing, 2.9% (290) plus 25 cents.
    assert (eur.currency, eur.amount, eur.exchange_rate, eur.fee) == ("eur", 10_000, None, 315)
    # A currency it does not settle in goes to the default one, USD: £20.00 at 1.25.
    gbp = transaction(client, charge_of(client, pay(client, 2_000, "gbp")).balance_transaction)
    assert (gbp.currency, gbp.amount, gbp.exchange_rate, gbp.fee) == ("usd", 2_500, 1.25, 103)
    usd = transaction(client, charge_of(client, pay(client, 2_000, "usd")).balance_transaction)
    assert (usd.currency, usd.amount, usd.exchange_rate) == ("usd", 2_000, None)
    assert balances(client)["pending"] == {"eur": 10_000 - 315, "usd": 2_397 + 2_000 - 88}


def test_a_new_account_converts_every_other_currency_into_its_own(server: KassaServer) -> None:
    """Conversion is on from the start: a US account settles in USD only, as on Stripe.
    The other tests here replace the installation's table, so this one puts Kassa's
    built-in rates back first."""
    client = server.client(create_account(server.database_url).secret_key)
    set_rates(client, [(base, quote, str(rate)) for (base, quote), rate in BUILT_IN_RATES.items()])
    eur = transaction(client, charge_of(client, pay(client, 10_000, "eur")).balance_transaction)
    assert (eur.currency, eur.amount, eur.exchange_rate) == ("usd", 11_000, 1.1)
    # A currency from the far end of the built-in table: 10,000 Kenyan shillings at 0.0078.
    kes = transaction(client, charge_of(client, pay(client, 1_000_000, "kes")).balance_transaction)
    assert (kes.currency, kes.amount, kes.exchange_rate) == ("usd", 7_800, 0.0078)
    assert set(balances(client)["pending"]) == {"usd"}


def test_a_bank_account_in_a_currency_makes_the_account_settle_in_it(
    server: KassaServer,
) -> None:
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    settle_in(client, account.id, "eur")
    eur = transaction(client, charge_of(client, pay(client, 10_000, "eur")).balance_transaction)
    assert (eur.currency, eur.amount, eur.exchange_rate) == ("eur", 10_000, None)
    gbp = transaction(client, charge_of(client, pay(client, 1_000, "gbp")).balance_transaction)
    assert (gbp.currency, gbp.amount) == ("usd", 1_250)


def test_a_charge_too_small_once_converted_is_refused_before_anything_is_written(
    usd_account: stripe.StripeClient,
) -> None:
    """Stripe's minimum for a converted charge: the equivalent of $0.50 in the settlement
    currency. ¥60 through euros is 60 * 0.0062 * 1.10 = $0.41."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        pay(usd_account, 60, "jpy")
    error = refused.value.error
    assert error is not None
    assert (error.code, error.param) == ("amount_too_small", "amount")
    assert error.message == (
        "Amount must convert to at least $0.50. ¥60 converts to approximately $0.41."
    )
    assert usd_account.v1.payment_intents.list().data == []
    pay(usd_account, 80, "jpy")  # $0.55: accepted


def test_a_charge_settling_over_the_maximum_amount_is_made_and_refunded(
    usd_account: stripe.StripeClient,
) -> None:
    """Stripe's maximum amount (99999999 minor units) limits the `amount` a charge asks for,
    in its own currency, not what it settles as: EUR 990,000.00 at 1.10 settles as
    $1,089,000.00, and a full refund withdraws as much."""
    client = usd_account
    intent = pay(client, 99_000_000, "eur")
    assert intent.status == "succeeded"
    charge = charge_of(client, intent)
    made = transaction(client, charge.balance_transaction)
    assert (made.amount, made.currency, made.status) == (108_900_000, "usd", "pending")
    back = refund(client, charge.id)
    assert back.status == "succeeded"
    assert transaction(client, back.balance_transaction).amount == -108_900_000


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def test_an_invoice_settling_over_the_maximum_amount_is_finalized_and_paid(
    usd_account: stripe.StripeClient,
) -> None:
    """An invoice of EUR 990,000.00 settles in dollars over 99999999 cents: its finalization
    and payment go through (a refusal would leave it, and every renewal after, a draft)."""
    client = usd_account
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        },
        options=key(),
    )
    item: Any = {"customer": customer.id, "amount": 99_000_000, "currency": "eur"}
    client.v1.invoice_items.create(params=item, options=key())
    draft: Any = {
        "customer": customer.id,
        "currency": "eur",
        "pending_invoice_items_behavior": "include",
        "auto_advance": False,
    }
    invoice = client.v1.invoices.create(params=draft, options=key())
    assert invoice.id is not None and invoice.amount_due == 99_000_000
    finalized = client.v1.invoices.finalize_invoice(invoice.id, options=key())
    assert finalized.status == "open" and finalized.last_finalization_error is None
    paid = client.v1.invoices.pay(invoice.id, options=key())
    assert paid.status == "paid"
    [charge] = client.v1.charges.list(params={"customer": customer.id}).data
    assert transaction(client, charge.balance_transaction).amount == 108_900_000


def test_a_charge_past_what_the_ledger_holds_is_a_400_naming_the_amount(
    usd_account: stripe.StripeClient,
) -> None:
    """A chain of the highest rates Kassa takes (yen to euros to dollars at 10^9 each) could
    settle past a 64-bit integer: refused as `amount_too_large` naming `amount` before
    anything is written, whether the rates were in force when the intent was made or came
    in before its confirmation."""
    client = usd_account
    waiting = client.v1.payment_intents.create(
        params={
            "amount": 2_000_000,
            "currency": "jpy",
            "payment_method": "pm_card_visa",
            "allowed_payment_method_types": ["card"],
        },
        options={"idempotency_key": str(uuid.uuid4())},
    )
    change_rate(client, "eur", "usd", "1e9")
    change_rate(client, "jpy", "eur", "1e9")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        pay(client, 2_000_000, "jpy")
    assert (refused.value.http_status, refused.value.param) == (400, "amount")
    assert refused.value.code == "amount_too_large"
    with pytest.raises(stripe.InvalidRequestError) as at_confirm:
        client.v1.payment_intents.confirm(
            waiting.id, options={"idempotency_key": str(uuid.uuid4())}
        )
    assert (at_confirm.value.http_status, at_confirm.value.param) == (400, "amount")
    assert client.v1.payment_intents.retrieve(waiting.id).status != "succeeded"
    assert client.v1.charges.list().data == []


def test_a_yen_charge_converts_through_euros(usd_account: stripe.StripeClient) -> None:
    client = usd_account
    # No JPY rate to USD: the chain jpy -> eur -> usd, 0.0062 * 1.10 = 0.00682.
    big = transaction(client, charge_of(client, pay(client, 10_000, "jpy")).balance_transaction)
    assert (big.currency, big.amount, big.exchange_rate) == ("usd", 6_820, 0.00682)
    assert (big.fee, big.net) == (228, 6_592)  # 197.78 -> 198, plus 30
    # ¥1234 is $8.41588: rounded to 842 cents (half to even never arises here).
    odd = transaction(client, charge_of(client, pay(client, 1_234, "jpy")).balance_transaction)
    assert (odd.amount, odd.fee, odd.net) == (842, 54, 788)
    assert balances(client)["pending"] == {"usd": 6_592 + 788}


def test_a_charge_with_no_chain_of_rates_is_refused(usd_account: stripe.StripeClient) -> None:
    client = usd_account
    with pytest.raises(stripe.InvalidRequestError) as raised:
        pay(client, 5_000, "chf")
    assert raised.value.code == "currency_conversion_unavailable"
    assert "chf" in str(raised.value.user_message)


# -- money going back -------------------------------------------------------------------------


def test_a_full_refund_converts_back_at_the_rate_of_the_day(
    usd_account: stripe.StripeClient,
) -> None:
    client = usd_account
    charge = charge_of(client, pay(client, 10_000, "eur"))
    change_rate(client, "eur", "usd", "1.20")
    back = refund(client, charge.id)
    # The cardholder gets €100.00 back; the merchant pays what that costs now: $120.00.
    assert (back.amount, back.currency, back.status) == (10_000, "eur", "succeeded")
    txn = transaction(client, back.balance_transaction)
    assert (txn.currency, txn.amount, txn.fee, txn.net) == ("usd", -12_000, 0, -12_000)
    assert (txn.exchange_rate, txn.type, txn.source) == (1.2, "refund", back.id)
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 10_000
    assert balances(client) == {"available": {"usd": -12_000}, "pending": {"usd": 10_651}}


def test_partial_refunds_each_convert_at_their_own_rate(usd_account: stripe.StripeClient) -> None:
    client = usd_account
    charge = charge_of(client, pay(client, 10_000, "eur"))
    change_rate(client, "eur", "usd", "1.20")
    first = transaction(client, refund(client, charge.id, 3_000).balance_transaction)
    assert (first.amount, first.exchange_rate) == (-3_600, 1.2)  # €30.00 at 1.20
    change_rate(client, "eur", "usd", "1.05")
    rest = refund(client, charge.id)
    assert rest.amount == 7_000
    second = transaction(client, rest.balance_transaction)
    assert (second.amount, second.exchange_rate) == (-7_350, 1.05)  # €70.00 at 1.05
    updated = client.v1.charges.retrieve(charge.id)
    assert (updated.amount_refunded, updated.refunded) == (10_000, True)
    assert balances(client)["available"] == {"usd": -3_600 - 7_350}


def test_a_dispute_of_a_converted_charge_withdraws_in_the_settlement_currency(
    usd_account: stripe.StripeClient,
) -> None:
    client = usd_account
    charge = charge_of(client, pay(client, 5_000, "eur", "pm_card_createDispute"))
    charged = transaction(client, charge.balance_transaction)
    assert (charged.amount, charged.fee) == (5_500, 190)  # €50.00 at 1.10; 159.5 -> 160 + 30
    dispute = client.v1.disputes.list(params={"charge": charge.id}).data[0]
    assert (dispute.amount, dispute.currency) == (5_000, "eur")
    [withdrawal] = dispute.balance_transactions
    # The disputed €50.00 at today's 1.10, and the US dispute fee.
    assert (withdrawal.currency, withdrawal.exchange_rate) == ("usd", 1.1)
    assert withdrawal.amount == -5_500
    assert (withdrawal.fee, withdrawal.net) == (DISPUTE_FEE_USD, -5_500 - DISPUTE_FEE_USD)
    assert balances(client) == {"available": {"usd": -7_000}, "pending": {"usd": 5_310}}
    # Won with Stripe's test evidence: the withdrawal comes back as it went, in dollars at
    # the rate it was made at, the dispute fee with it.
    won = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    reversal = won.balance_transactions[1]
    assert (reversal.currency, reversal.exchange_rate) == ("usd", 1.1)
    assert (reversal.amount, reversal.fee, reversal.net) == (5_500, -DISPUTE_FEE_USD, 7_000)
    assert balances(client) == {"available": {"usd": 0}, "pending": {"usd": 5_310}}


def test_a_refund_of_a_yen_charge_converts_back_through_euros(
    usd_account: stripe.StripeClient,
) -> None:
    client = usd_account
    charge = charge_of(client, pay(client, 10_000, "jpy"))
    change_rate(client, "jpy", "eur", "0.0060")
    back = refund(client, charge.id, 5_000)
    txn = transaction(client, back.balance_transaction)
    # ¥5000 at 0.0060 * 1.10 = 0.0066: $33.00.
    assert (back.amount, back.currency) == (5_000, "jpy")
    assert (txn.currency, txn.amount, txn.exchange_rate) == ("usd", -3_300, 0.0066)


# -- exchange rates ---------------------------------------------------------------------------


def test_exchange_rates_in_stripes_shape(usd_account: stripe.StripeClient) -> None:
    client = usd_account
    usd = client.v1.exchange_rates.retrieve("usd")
    assert (usd.id, usd.object) == ("usd", "exchange_rate")
    rates = usd.rates.to_dict()
    assert sorted(rates) == ["eur", "gbp", "jpy"]
    assert rates["gbp"] == 0.8  # the inverse of 1.25
    assert rates["eur"] == pytest.approx(1 / 1.1, rel=1e-12)
    assert rates["jpy"] == pytest.approx(1 / 1.1 / 0.0062, rel=1e-12)
    assert client.v1.exchange_rates.retrieve("jpy").rates.to_dict()["usd"] == 0.00682
    listed = client.v1.exchange_rates.list(params={"limit": 2})
    assert [rate.id for rate in listed.data] == ["eur", "gbp"]
    assert listed.has_more is True
    after = client.v1.exchange_rates.list(params={"starting_after": "gbp"})
    assert [rate.id for rate in after.data] == ["jpy", "usd"]
    assert after.has_more is False
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.exchange_rates.retrieve("chf")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_the_rate_helper_refuses_bad_rates_naming_the_parameter(
    usd_account: stripe.StripeClient,
) -> None:
    client = usd_account
    refused = ("-1", "abc", "1e400", "99999999999999999999999", "1e-400", "0.0000000001")
    for rate in (*refused, "1.23456789012345678901"):  # the last: too many digits
        with pytest.raises(stripe.InvalidRequestError) as raised:
            change_rate(client, "eur", "usd", rate)
        assert (raised.value.http_status, raised.value.param) == (400, "rates[0][rate]")
    assert client.v1.exchange_rates.retrieve("eur").rates["usd"] == 1.1
    with pytest.raises(stripe.InvalidRequestError) as raised:
        change_rate(client, "usd", "usd", "1")
    assert raised.value.param == "rates[0]"
    changed = change_rate(client, "chf", "usd", "1.12")
    assert changed.object == "exchange_rate_table"
    table = changed.to_dict()["rates"]
    assert {"base": "chf", "quote": "usd", "rate": "1.12"} in table
    assert {"base": "eur", "quote": "usd", "rate": "1.10"} in table


# -- the command line -------------------------------------------------------------------------


def kassa(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", *args, "--database", database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fx_load_then_check(server: KassaServer, tmp_path: Path) -> None:
    inconsistent = tmp_path / "inconsistent.csv"
    inconsistent.write_text(
        "base,quote,rate\nusd,eur,0.90\neur,gbp,0.90\ngbp,usd,1.30\nchf,sek,11.5\n"
    )
    loaded = kassa(server.database_url, "fx", "load", str(inconsistent))
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 4 rates" in loaded.stdout
    checked = kassa(server.database_url, "fx", "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "inconsistent cycle gbp -> usd -> eur -> gbp" in checked.stdout
    assert "unreachable pair chf -> eur" in checked.stdout
    assert "fx check FAILED" in checked.stdout

    consistent = tmp_path / "consistent.csv"
    consistent.write_text("# test rates\neur,usd,1.10\ngbp,usd,1.25\nusd,jpy,150\n")
    assert kassa(server.database_url, "fx", "load", str(consistent)).returncode == 0
    checked = kassa(server.database_url, "fx", "check")
    assert checked.returncode == 0, checked.stdout
    assert "fx check OK" in checked.stdout
    assert "3 rates" in checked.stdout

    broken = tmp_path / "broken.csv"
    broken.write_text("eur,usd,1.10\ngbp,usd\n")
    refused = kassa(server.database_url, "fx", "load", str(broken))
    assert refused.returncode == 2
    assert "line 2" in refused.stderr


def test_fx_settle_makes_an_account_convert(server: KassaServer) -> None:
    account = create_account(server.database_url)
    settled = kassa(server.database_url, "fx", "settle", account.id, "gbp")
    assert settled.returncode == 0, settled.stderr
    assert f"{account.id} settles in usd, gbp" in settled.stdout
    client = server.client(account.secret_key)
    set_rates(client, TABLE)
    eur = transaction(client, charge_of(client, pay(client, 1_000, "eur")).balance_transaction)
    gbp = transaction(client, charge_of(client, pay(client, 1_000, "gbp")).balance_transaction)
    assert (eur.currency, eur.amount) == ("usd", 1_100)
    assert (gbp.currency, gbp.amount) == ("gbp", 1_000)


# -- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_shows_the_rates_and_the_converted_balance(server: KassaServer) -> None:
    converting = settling_account(server)
    pay(server.client(converting.secret_key), 10_000, "eur")
    with signed_in_client(server, converting.secret_key) as browser:
        page = browser.get("/dashboard/ledger")
        assert page.status_code == 200
        assert "This account settles in\n  USD;" in page.text
        assert 'data-testid="rate-jpy-eur"' in page.text
        assert "0.0062" in page.text
        assert "POST /v1/test_helpers/exchange_rates" in page.text
        # The converted charge sits in USD; no EUR balance appears.
        assert 'data-testid="balance-pending-usd">$106.51<' in page.text
        assert "balance-pending-eur" not in page.text


# -- random sequences ---------------------------------------------------------------------------

EUR_USD_RATES = ("1.05", "1.10", "1.20")
EXPONENTS = {"usd": 2, "eur": 2, "gbp": 2, "jpy": 0}
SEQUENCE_STEPS_MAX = 8
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("charge"),
            st.sampled_from(("usd", "eur", "gbp", "jpy")),
            st.integers(min_value=100, max_value=500_000),
        ),
        st.tuples(st.just("refund"), st.integers(min_value=0), st.integers(min_value=1)),
        st.tuples(st.just("rate"), st.sampled_from(EUR_USD_RATES), st.just(0)),
    ),
    min_size=1,
    max_size=SEQUENCE_STEPS_MAX,
)


def model_rate(currency: str, eur_usd: str) -> Decimal:
    """The rate the chain rule must pick under `TABLE` with EUR->USD at `eur_usd`."""
    return {
        "usd": Decimal(1),
        "eur": Decimal(eur_usd),
        "gbp": Decimal("1.25"),
        "jpy": Decimal("0.0062") * Decimal(eur_usd),
    }[currency]


def model_convert(amount: int, currency: str, rate: Decimal) -> int:
    exact = Decimal(amount) * rate * Decimal(10) ** (EXPONENTS["usd"] - EXPONENTS[currency])
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=operations)
def test_random_charges_refunds_and_rate_changes_keep_every_currency_balanced(
    server: KassaServer, steps: list[tuple[str, Any, int]]
) -> None:
    client = settling(server)
    eur_usd = "1.10"
    charges: list[tuple[str, str, int]] = []  # (id, currency, unrefunded)
    nets = 0
    for kind, first, second in steps:
        if kind == "rate":
            eur_usd = first
            change_rate(client, "eur", "usd", eur_usd)
        elif kind == "charge":
            charge = charge_of(client, pay(client, second, first))
            txn = transaction(client, charge.balance_transaction)
            expected = model_convert(second, first, model_rate(first, eur_usd))
            assert (txn.currency, txn.amount) == ("usd", expected)
            charges.append((charge.id, first, second))
            nets += txn.net
        elif charges:
            index = first % len(charges)
            charge_id, currency, unrefunded = charges[index]
            if unrefunded == 0:
                continue
            amount = 1 + second % unrefunded
            txn = transaction(client, refund(client, charge_id, amount).balance_transaction)
            expected = model_convert(amount, currency, model_rate(currency, eur_usd))
            assert (txn.currency, txn.amount) == ("usd", -expected)
            charges[index] = (charge_id, currency, unrefunded - amount)
            nets += txn.net
    funds = balances(client)
    assert funds["available"]["usd"] + funds["pending"]["usd"] == nets
    assert set(funds["available"]) == set(funds["pending"]) == {"usd"}
    assert_ledger_whole(server.database_url)


# -- the history of the table -------------------------------------------------------------------


def test_every_change_is_kept_with_its_time(private_database_url: str) -> None:
    """The table in force at any past time can be read back: what explains a past
    balance transaction's rate."""

    async def run() -> list[tuple[int, str, Decimal | None]]:
        store = await open_store(private_database_url)
        try:
            await migrate(store, 1_000)
            async with store.write() as tx:
                await exchange_rates.load_rates(tx, {("eur", "usd"): Decimal("1.10")}, 2_000, "a")
                await exchange_rates.load_rates(tx, {("eur", "usd"): Decimal("1.20")}, 3_000, "b")
            seen = []
            async with store.read() as tx:
                for at in (1_500, 2_000, 2_999, 3_000, None):
                    table = await exchange_rates.rate_table(tx, at)
                    chain = table.graph.best_chain("eur", "usd")
                    rate = None if chain is None else chain.rate
                    seen.append((table.version, table.origin, rate))
            return seen
        finally:
            await store.close()

    builtin = exchange_rates.BUILT_IN_ORIGIN
    assert run_coroutine(run) == [
        (0, builtin, Decimal("1.10")),  # before any change: the built-in fixed rates
        (1, "a", Decimal("1.10")),
        (1, "a", Decimal("1.10")),
        (2, "b", Decimal("1.20")),
        (2, "b", Decimal("1.20")),
    ]
