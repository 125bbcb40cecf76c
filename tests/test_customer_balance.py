"""Customer balance transactions through the official SDK against a live server, on SQLite
and PostgreSQL (`/v1/customers/{id}/balance_transactions` and a customer's `balance`), and
the functions invoices call (`apply_to_invoice`, `unapply_from_invoice`,
`record_for_invoice`) in process, through Kassa's own store on the same database. The
ledger is verified after every test that moves credit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from kassa.clock import SystemClock
from kassa.errors import InvalidParameter
from kassa.ledger import accounts
from kassa.ledger.verify import customer_balance_findings
from kassa.services import customers
from kassa.services.billing import customer_balance
from kassa.services.billing.customer_balance import AppliedBalance, apply_balance
from kassa.services.context import Context
from kassa.store import Store
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, create_account

T = TypeVar("T")

CONCURRENT_TRANSACTIONS = 24
CONCURRENT_THREADS = 8
FIXTURE_FIELDS = {
    "amount",
    "checkout_session",
    "created",
    "credit_note",
    "currency",
    "customer",
    "customer_account",
    "description",
    "ending_balance",
    "id",
    "invoice",
    "livemode",
    "metadata",
    "object",
    "type",
}
"""The fields of Stripe's own example object (`fixtures3.json`)."""


def declared_fields(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(a for a in getattr(klass, "__annotations__", {}) if not a.startswith("_"))
    return names - {"OBJECT_NAME"}


def new_customer(client: stripe.StripeClient, **params: Any) -> stripe.Customer:
    return client.v1.customers.create(params=params)  # type: ignore[arg-type]


def transact(
    client: stripe.StripeClient, customer_id: str, amount: int, currency: str = "usd", **more: Any
) -> dict[str, Any]:
    params: Any = {"amount": amount, "currency": currency, **more}
    created = client.v1.customers.balance_transactions.create(customer_id, params=params)
    return created.to_dict()


def transactions(client: stripe.StripeClient, customer_id: str) -> list[dict[str, Any]]:
    listed = client.v1.customers.balance_transactions.list(customer_id, params={"limit": 100})
    return [t.to_dict() for t in listed.data]


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def customer_events(client: stripe.StripeClient, customer_id: str) -> list[dict[str, Any]]:
    listed = client.v1.events.list(params={"limit": 100})
    return [
        e.to_dict()
        for e in reversed(listed.data)
        if e.data.object.to_dict().get("id") == customer_id
    ]


# -- the API ---------------------------------------------------------------------------------


def test_credit_and_debit_move_the_customer_s_balance(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    customer = new_customer(client, email="ada@example.com")
    assert (customer.balance, customer.currency) == (0, None)

    credit = transact(client, customer.id, -500, description="Goodwill", metadata={"case": "7"})
    assert credit == {
        "id": credit["id"],
        "object": "customer_balance_transaction",
        "amount": -500,
        "checkout_session": None,
        "created": credit["created"],
        "credit_note": None,
        "currency": "usd",
        "customer": customer.id,
        "customer_account": None,
        "description": "Goodwill",
        "ending_balance": -500,
        "invoice": None,
        "livemode": False,
        "metadata": {"case": "7"},
        "type": "adjustment",
    }
    assert credit["id"].startswith("cbtxn_")
    assert set(credit) == FIXTURE_FIELDS == declared_fields(stripe.CustomerBalanceTransaction)
    after_credit = client.v1.customers.retrieve(customer.id)
    assert (after_credit.balance, after_credit.currency) == (-500, "usd")

    debit = transact(client, customer.id, 200)
    assert (debit["amount"], debit["ending_balance"]) == (200, -300)
    assert (debit["description"], debit["metadata"]) == (None, None)
    assert client.v1.customers.retrieve(customer.id).balance == -300

    updates = [e for e in customer_events(client, customer.id) if e["type"] == "customer.updated"]
    assert [e["data"]["previous_attributes"] for e in updates] == [
        {"balance": 0, "currency": None},
        {"balance": -500},
    ]
    assert [e["data"]["object"]["balance"] for e in updates] == [-500, -300]
    types = {e["type"] for e in client.v1.events.list(params={"limit": 100}).data}
    assert not any("balance_transaction" in t for t in types)  # Stripe announces none


def test_a_transaction_in_another_currency_is_refused(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    customer = new_customer(client)
    transact(client, customer.id, -1000, "eur")  # sets the customer's currency
    assert client.v1.customers.retrieve(customer.id).currency == "eur"
    error = refused(lambda: transact(client, customer.id, -100, "usd"))
    assert (error.http_status, error.param) == (400, "currency")
    assert error.user_message is not None
    assert "eur" in error.user_message and "usd" in error.user_message
    assert client.v1.customers.retrieve(customer.id).balance == -1000
    assert len(transactions(client, customer.id)) == 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"currency": "usd"}, "amount"),
        ({"amount": "-100"}, "currency"),
        ({"amount": "-100", "currency": "xyz"}, "currency"),
        ({"amount": "1.5", "currency": "usd"}, "amount"),
        ({"amount": "100000000000", "currency": "usd"}, "amount"),
        ({"amount": "-1", "currency": "usd", "description": "x" * 351}, "description"),
        ({"amount": "-1", "currency": "usd", "type": "initial"}, "type"),
        ({"amount": "-1", "currency": "usd", "invoice": "in_1"}, "invoice"),
    ],
)
def test_create_refusals_name_the_parameter(
    client: stripe.StripeClient, params: dict[str, str], param: str
) -> None:
    customer = new_customer(client)
    error = refused(
        lambda: client.v1.customers.balance_transactions.create(customer.id, params=params)  # type: ignore[arg-type]
    )
    assert (error.http_status, error.param) == (400, param)
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_the_balance_stays_within_its_limit(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    customer = new_customer(client, balance=-customer_balance.BALANCE_MAX)
    error = refused(lambda: transact(client, customer.id, -1))
    assert (error.http_status, error.param) == (400, "amount")
    assert transact(client, customer.id, 1)["ending_balance"] == 1 - customer_balance.BALANCE_MAX


def test_update_retrieve_and_list(client: stripe.StripeClient, ledger_verified: None) -> None:
    customer = new_customer(client)
    other = new_customer(client)
    created = [transact(client, customer.id, amount) for amount in (-100, -200, 50, -25, 10)]
    transact(client, other.id, -999)

    first = created[0]
    service = client.v1.customers.balance_transactions
    updated = service.update(
        customer.id,
        first["id"],
        params={"description": "Refund of order 7", "metadata": {"a": "1"}},
    ).to_dict()
    assert updated == first | {"description": "Refund of order 7", "metadata": {"a": "1"}}
    merged = service.update(customer.id, first["id"], params={"metadata": {"a": "", "b": "2"}})
    assert merged.to_dict()["metadata"] == {"b": "2"}
    assert service.retrieve(customer.id, first["id"]).to_dict() == merged.to_dict()
    immutable: Any = {"amount": 5}
    error = refused(lambda: service.update(customer.id, first["id"], params=immutable))
    assert error.param == "amount"

    page = service.list(customer.id, params={"limit": 2})
    assert page.url == f"/v1/customers/{customer.id}/balance_transactions"
    assert [t.id for t in page.data] == [created[4]["id"], created[3]["id"]]
    assert page.has_more
    listed = [t.id for t in page.auto_paging_iter()]
    assert listed == [t["id"] for t in reversed(created)]
    assert [t.ending_balance for t in page.auto_paging_iter()] == [-265, -275, -250, -300, -100]
    assert service.list(customer.id, params={"invoice": "in_none"}).data == []
    created_at = created[0]["created"]
    assert len(service.list(customer.id, params={"created": {"gte": created_at}}).data) == 5

    # Another customer's transaction is not this customer's.
    error = refused(lambda: service.retrieve(other.id, first["id"]))
    assert (error.http_status, error.code) == (404, "resource_missing")
    error = refused(lambda: service.update(other.id, first["id"], params={"description": "x"}))
    assert error.http_status == 404


def test_the_customer_expands(client: stripe.StripeClient, ledger_verified: None) -> None:
    customer = new_customer(client, name="Grace")
    created = transact(client, customer.id, -300)
    expanded = client.v1.customers.balance_transactions.retrieve(
        customer.id, created["id"], params={"expand": ["customer"]}
    ).to_dict()
    assert expanded["customer"]["name"] == "Grace"
    assert expanded["customer"]["balance"] == -300
    listed = client.v1.customers.balance_transactions.list(
        customer.id, params={"expand": ["data.customer"]}
    )
    assert listed.data[0].to_dict()["customer"]["id"] == customer.id


def test_invoice_credit_balance_is_the_credit_per_currency(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    """Stripe's `invoice_credit_balance`: "If positive in a currency, the customer has a
    credit to apply to their next invoice denominated in that currency. If negative, the
    customer has an amount owed": minus Kassa's `balance` (negative is credit), in the
    customer's currency; no entry while the balance is 0."""
    customer = new_customer(client)

    def credit_balance() -> Any:
        expanded = client.v1.customers.retrieve(
            customer.id, params={"expand": ["invoice_credit_balance"]}
        )
        return expanded.to_dict()["invoice_credit_balance"]

    assert credit_balance() == {}
    transact(client, customer.id, -500, "eur")
    assert credit_balance() == {"eur": 500}
    transact(client, customer.id, 800, "eur")
    assert credit_balance() == {"eur": -300}
    transact(client, customer.id, -300, "eur")
    assert credit_balance() == {}
    listed = client.v1.customers.list(params={"expand": ["data.invoice_credit_balance"]})
    assert listed.data[0].to_dict()["invoice_credit_balance"] == {}


def test_unknown_deleted_and_other_accounts_customers_are_missing(
    client: stripe.StripeClient, server: KassaServer, ledger_verified: None
) -> None:
    service = client.v1.customers.balance_transactions
    error = refused(lambda: service.create("cus_missing", params={"amount": -1, "currency": "usd"}))
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "customer")

    theirs = server.client(create_account(server.database_url).secret_key)
    their_customer = new_customer(theirs)
    their_transaction = transact(theirs, their_customer.id, -700)
    for call in (
        lambda: service.create(their_customer.id, params={"amount": -1, "currency": "usd"}),
        lambda: service.list(their_customer.id),
        lambda: service.retrieve(their_customer.id, their_transaction["id"]),
    ):
        assert refused(call).http_status == 404
    assert theirs.v1.customers.retrieve(their_customer.id).balance == -700

    gone = new_customer(client)
    client.v1.customers.delete(gone.id)
    error = refused(lambda: service.create(gone.id, params={"amount": -1, "currency": "usd"}))
    assert error.http_status == 404


def test_a_balance_given_to_the_customer_is_a_transaction(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    customer = new_customer(client, balance=-1000, email="c@example.com")
    assert (customer.balance, customer.currency) == (-1000, "usd")
    [initial] = transactions(client, customer.id)
    assert (initial["type"], initial["amount"], initial["ending_balance"]) == (
        "initial",
        -1000,
        -1000,
    )
    assert initial["currency"] == "usd"

    client.v1.customers.update(customer.id, params={"balance": -400})
    client.v1.customers.update(customer.id, params={"balance": -400, "name": "Same balance"})
    newest = transactions(client, customer.id)
    assert [(t["type"], t["amount"], t["ending_balance"]) for t in newest] == [
        ("adjustment", 600, -400),
        ("initial", -1000, -1000),
    ]
    types = [e["type"] for e in customer_events(client, customer.id)]
    assert types == ["customer.created", "customer.updated", "customer.updated"]

    without = new_customer(client, balance=0)
    assert (without.balance, without.currency) == (0, None)
    assert transactions(client, without.id) == []


def test_concurrent_transactions_keep_the_balance_exact(
    server: KassaServer, account: Account, ledger_verified: None
) -> None:
    client = server.client(account.secret_key)
    customer = new_customer(client)
    # All credits: the balance only falls, so no two transactions start at the same balance.
    amounts = [-(i * 37 + 11) for i in range(CONCURRENT_TRANSACTIONS)]

    def create(amount: int) -> dict[str, Any]:
        return transact(server.client(account.secret_key), customer.id, amount)

    with ThreadPoolExecutor(CONCURRENT_THREADS) as pool:
        created = list(pool.map(create, amounts))

    assert client.v1.customers.retrieve(customer.id).balance == sum(amounts)
    # The transactions form one chain: each starts where exactly one other ended.
    by_start = {t["ending_balance"] - t["amount"]: t for t in created}
    assert len(by_start) == CONCURRENT_TRANSACTIONS
    balance = 0
    for _ in created:
        balance = by_start.pop(balance)["ending_balance"]
    assert (balance, by_start) == (sum(amounts), {})


# -- what invoices call, in process through Kassa's store -------------------------------------


def in_process(server: KassaServer, account: Account, work: Callable[[Context], Awaitable[T]]) -> T:
    """`work` in one write unit of Kassa's own store, on the server's database."""

    async def run(store: Store) -> T:
        async with store.write() as tx:
            return await work(Context(account_id=account.id, tx=tx, clock=SystemClock()))

    return with_store(server.database_url, run)


def apply(
    server: KassaServer,
    account: Account,
    customer_id: str,
    invoice_id: str,
    due: int,
    currency: str = "usd",
) -> AppliedBalance:
    return in_process(
        server,
        account,
        lambda ctx: customer_balance.apply_to_invoice(ctx, customer_id, invoice_id, currency, due),
    )


def test_credit_applies_to_invoices_and_comes_back_when_one_is_voided(
    server: KassaServer, account: Account, ledger_verified: None
) -> None:
    client = server.client(account.secret_key)
    customer = new_customer(client, balance=-1500)

    first = apply(server, account, customer.id, "in_first", 1000)
    assert (first.starting_balance, first.ending_balance, first.amount_due) == (-1500, -500, 0)
    assert first.transaction is not None
    assert first.transaction["type"] == "applied_to_invoice"
    assert (first.transaction["amount"], first.transaction["invoice"]) == (1000, "in_first")

    second = apply(server, account, customer.id, "in_second", 800)
    assert (second.starting_balance, second.ending_balance, second.amount_due) == (-500, 0, 300)
    nothing_left = apply(server, account, customer.id, "in_third", 700)
    assert (nothing_left.starting_balance, nothing_left.amount_due) == (0, 700)
    assert nothing_left.transaction is None

    returned = in_process(
        server,
        account,
        lambda ctx: customer_balance.unapply_from_invoice(ctx, customer.id, "in_first"),
    )
    assert returned is not None
    assert (returned["type"], returned["amount"], returned["ending_balance"]) == (
        "unapplied_from_invoice",
        -1000,
        -1000,
    )
    again = in_process(
        server,
        account,
        lambda ctx: customer_balance.unapply_from_invoice(ctx, customer.id, "in_first"),
    )
    assert again is None
    assert client.v1.customers.retrieve(customer.id).balance == -1000
    listed = client.v1.customers.balance_transactions.list(
        customer.id, params={"invoice": "in_first"}
    )
    assert [t.type for t in listed.data] == ["unapplied_from_invoice", "applied_to_invoice"]
    updates = [e for e in customer_events(client, customer.id) if e["type"] == "customer.updated"]
    assert [e["data"]["object"]["balance"] for e in updates] == [-500, 0, -1000]


def test_a_draft_shows_the_customer_s_balance_as_it_is_now(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    """Stripe's `starting_balance`: "If the invoice has not been finalized yet, this will be
    the current customer balance"; `amount_due` follows it."""
    customer = new_customer(client)
    draft = client.v1.invoices.create(params={"customer": customer.id, "currency": "usd"})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 1000, "currency": "usd"}
    )

    def figures() -> tuple[int | None, int, int]:
        shown = client.v1.invoices.retrieve(draft.id)
        return shown.starting_balance, shown.amount_due, shown.amount_remaining

    assert figures() == (0, 1000, 1000)
    transact(client, customer.id, -300)
    assert figures() == (-300, 700, 700)
    client.v1.customers.update(customer.id, params={"balance": 200})
    assert figures() == (200, 1200, 1200)
    listed = client.v1.invoices.list(params={"customer": customer.id}).data[0]
    assert (listed.starting_balance, listed.amount_due) == (200, 1200)
    finalized = client.v1.invoices.finalize_invoice(draft.id)
    assert (finalized.starting_balance, finalized.amount_due) == (200, 1200)


def draft_of(client: stripe.StripeClient, customer_id: str, amount: int) -> str:
    """A `send_invoice` draft of one item of `amount` usd (nothing is charged at finalize)."""
    draft = client.v1.invoices.create(
        params={
            "customer": customer_id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "days_until_due": 3,
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer_id, "invoice": draft.id, "amount": amount, "currency": "usd"}
    )
    return draft.id


def test_an_invoice_moving_the_balance_refreshes_the_customer_s_other_drafts(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    """A draft's `starting_balance` is "the current customer balance" whatever changed it:
    credit another invoice applied at finalization, or gave back when voided."""
    customer = new_customer(client)
    transact(client, customer.id, -500)
    spent, partly_paid, waiting = (
        draft_of(client, customer.id, amount) for amount in (300, 1000, 1000)
    )

    def figures(invoice_id: str) -> tuple[int | None, int, int]:
        shown = client.v1.invoices.retrieve(invoice_id)
        return shown.starting_balance, shown.amount_due, shown.amount_remaining

    assert figures(waiting) == (-500, 500, 500)
    client.v1.invoices.finalize_invoice(spent)  # takes 300 of the credit: paid at once
    assert figures(partly_paid) == figures(waiting) == (-200, 800, 800)
    opened = client.v1.invoices.finalize_invoice(partly_paid)  # takes the last 200
    assert (opened.starting_balance, opened.amount_due) == (-200, 800)
    assert figures(waiting) == (0, 1000, 1000)
    client.v1.invoices.void_invoice(partly_paid)  # gives the 200 back
    assert figures(waiting) == (-200, 800, 800)

    updates = client.v1.events.list(params={"type": "invoice.updated", "limit": 100}).data
    shown_by_update = [
        (e.data.object.starting_balance, e.data.object.amount_due)
        for e in reversed(updates)
        if e.data.object.id == waiting
    ]
    # The item's own update (-500), then each balance change the draft showed.
    assert shown_by_update[-3:] == [(-200, 800), (0, 1000), (-200, 800)]
    last = next(e for e in updates if e.data.object.id == waiting).to_dict()
    assert last["data"]["previous_attributes"] == {
        "amount_due": 1000,
        "amount_remaining": 1000,
        "starting_balance": 0,
    }
    assert client.v1.invoices.finalize_invoice(waiting).amount_due == 800


def test_an_amount_too_small_to_charge_shows_on_the_other_drafts(
    client: stripe.StripeClient, ledger_verified: None
) -> None:
    """An amount due below the minimum charge is carried onto the balance (a debit), which
    the customer's next invoice shows while it is a draft."""
    customer = new_customer(client)
    small, next_one = draft_of(client, customer.id, 30), draft_of(client, customer.id, 1000)
    client.v1.invoices.finalize_invoice(small)
    assert client.v1.customers.retrieve(customer.id).balance == 30
    shown = client.v1.invoices.retrieve(next_one)
    assert (shown.starting_balance, shown.amount_due) == (30, 1030)


def test_a_debit_is_added_to_the_next_invoice_and_credits_carry_over(
    server: KassaServer, account: Account, ledger_verified: None
) -> None:
    client = server.client(account.secret_key)
    customer = new_customer(client)
    transact(client, customer.id, 250)
    debited = apply(server, account, customer.id, "in_debit", 1000)
    assert (debited.starting_balance, debited.ending_balance, debited.amount_due) == (250, 0, 1250)
    assert debited.transaction is not None and debited.transaction["amount"] == -250

    credited = apply(server, account, customer.id, "in_credit_note", -300)
    assert (credited.starting_balance, credited.ending_balance, credited.amount_due) == (0, -300, 0)

    # A balance in another currency does not apply; credit in it cannot be kept.
    foreign = apply(server, account, customer.id, "in_eur", 900, "eur")
    assert (foreign.starting_balance, foreign.ending_balance, foreign.amount_due) == (0, 0, 900)
    with pytest.raises(InvalidParameter) as raised:
        apply(server, account, customer.id, "in_eur_credit", -100, "eur")
    assert raised.value.param == "currency"

    overpaid = in_process(
        server,
        account,
        lambda ctx: customer_balance.record_for_invoice(
            ctx,
            customer.id,
            "in_debit",
            currency="usd",
            amount=-50,
            transaction_type="invoice_overpaid",
        ),
    )
    assert (overpaid["type"], overpaid["ending_balance"]) == ("invoice_overpaid", -350)
    assert client.v1.customers.retrieve(customer.id).balance == -350

    async def read(ctx: Context) -> tuple[int, int]:
        return (
            await customer_balance.current_balance(ctx, customer.id, "usd"),
            await customer_balance.current_balance(ctx, customer.id, "eur"),
        )

    assert in_process(server, account, read) == (-350, 0)


def test_the_ledger_owes_the_customer_its_credit(
    server: KassaServer, account: Account, ledger_verified: None
) -> None:
    """Credit granted by adjustment sits against `credit_granted`, credit spent on invoices
    against `credit_applied`, and the customer's ledger balance is minus its `balance`."""
    client = server.client(account.secret_key)
    customer = new_customer(client, balance=-1200)
    transact(client, customer.id, 200)
    apply(server, account, customer.id, "in_ledger", 700)
    assert client.v1.customers.retrieve(customer.id).balance == -300

    async def books(store: Store) -> dict[str, int]:
        async with store.read() as tx:
            owned = await tx.owner_balances(account.id)
            problems = await customer_balance_findings(tx)
        assert [p for p in problems if p.account_id == account.id] == []
        return {name: amount for name, _, amount in owned}

    balances = with_store(server.database_url, books)
    assert balances == {
        accounts.customer_balance(customer.id, "usd").name: 300,
        accounts.merchant(account.id, accounts.CREDIT_GRANTED, "usd").name: -1000,
        accounts.merchant(account.id, accounts.CREDIT_APPLIED, "usd").name: 700,
    }


def test_the_customer_declares_its_balance_transactions() -> None:
    assert customer_balance.RESOURCE in customers.RESOURCE.nested


@given(amount_due=st.integers(-(10**9), 10**9), starting=st.integers(-(10**9), 10**9))
def test_applying_a_balance_neither_creates_nor_loses_money(amount_due: int, starting: int) -> None:
    due, ending = apply_balance(amount_due, starting)
    assert due >= 0 and ending <= 0
    assert due + ending == amount_due + starting
    if starting <= 0 <= amount_due:
        assert starting <= ending  # credit is only spent
        assert due <= amount_due
    if starting >= 0 and amount_due >= 0:
        assert (due, ending) == (amount_due + starting, 0)  # a debit is billed whole
