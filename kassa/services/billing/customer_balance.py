"""Customer balance (Stripe's invoice credit balance): the customer balance transactions under
`/v1/customers/{id}/balance_transactions`, the customer's `balance` parameter, and the
functions invoices call to apply the balance.

The balance
- A customer's `balance` is an integer in its `currency`'s minor unit: negative is credit (the
  merchant owes it, and it lowers the next invoice), positive a debit (the customer owes it,
  and it is added to the next invoice). Every change is a transaction (`cbtxn_...`) whose
  `amount` is the change and whose `ending_balance` is the balance after it.
- The customer's row is read for update before its balance is read (`get_object` locks it in
  a write unit on PostgreSQL; SQLite has one writer), so concurrent transactions on one
  customer are serialized and each `ending_balance` is exact. Every function here changes the
  customer object it is given; the public operations store it and announce `customer.updated`
  (Stripe's only event for a balance change: it has none for balance transactions).
- Currency: a transaction in a customer without a currency sets it (as Stripe does), and so
  does its first finalized invoice, its first subscription's included (`adopt_currency`,
  called where finalization stores the customer's invoice numbering). After
  that, Kassa refuses transactions in another currency (`currency`): Stripe keeps such credit
  in per-currency balances (`invoice_credit_balance`), where Kassa holds the one balance,
  shown there as `{currency: -balance}` (`customers._invoice_credit_balance`).
- Drafts: Stripe shows a draft invoice's `starting_balance` as "the current customer
  balance", and its `amount_due` with it. Every change of the balance refreshes the
  customer's drafts (`refresh_drafts`, which announces `invoice.updated` for each draft
  whose amounts moved, as any other change of a draft's amounts does); a draft also takes
  the balance as it is whenever its lines are worked out again (`invoice_lines.refresh`),
  and finalization applies the balance as it then is. A change the merchant makes (a
  transaction, the customer's `balance`) locks the drafts before the customer
  (`lock_drafts`). A change an invoice makes (applied at finalization, given back at void,
  carried: `apply_to_invoice`, `unapply_from_invoice`, `record_for_invoice`) comes on a
  path that holds its invoice and then the customer: it locks the customer's other drafts
  skipping those another unit holds (`_other_drafts`), since waiting for one could
  deadlock with that draft's own finalization. A skipped draft is being changed by that
  unit: finalized (it waits for the customer, then applies the balance as this change left
  it), refreshed by a merchant's change (which waits for this one's customer), or having
  its lines worked out (which reads the balance without waiting, and so may show the one
  from before this change until the draft's next change). A change that leaves the balance
  as it was refreshes nothing: an invoice of a customer without a balance costs no
  statement more.
- Types: `initial` (a customer created with `balance`), `adjustment` (created through the API,
  or a customer update's `balance`: the difference), and the invoice types written by
  `apply_to_invoice`, `unapply_from_invoice` and `record_for_invoice`.

The ledger (the books say what the merchant owes, not what it holds)
- A customer's credit is a claim on its merchant: the ledger account
  `cus_X:customer_balance:usd` (in the merchant's books) holds the credit, so its balance is
  always minus the customer's `balance`. Each transaction's posting moves minus its `amount`
  into it; a zero amount posts nothing.
- The other side is never cash: an adjustment (`adjustment`, `initial`) is a promise, posted
  against the merchant's `credit_granted` bucket; balance carried onto or off an invoice
  (`applied_to_invoice`, `unapplied_from_invoice`, `invoice_overpaid`, `invoice_too_small`,
  `invoice_too_large`) against its `credit_applied` bucket. Neither is in the merchant's
  Stripe balance, and neither posting is a Stripe balance transaction. Cash an invoice
  collects is posted by its payment, as for every charge.
- `kassa ledger verify` checks that each transaction's posting moved minus its amount into
  the customer's balance, and that each customer's `balance` is the sum of its transactions'
  amounts: together, that `balance` is minus the customer's ledger balance.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.ledger import postings
from kassa.ledger.accounts import CREDIT_APPLIED, CREDIT_GRANTED
from kassa.params import (
    Integer,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    apply_metadata,
    parse_params,
)
from kassa.services import events
from kassa.services.billing import invoice_amounts, invoice_documents
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    could_be_object_id,
    list_page_with,
)
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMER_BALANCE_TRANSACTIONS, CUSTOMERS, INVOICES

OBJECT_NAME = "customer_balance_transaction"
ID_PREFIX = "cbtxn"
BALANCE_MAX = 99_999_999_999
"""The largest balance, credit or debit, a customer may hold (Stripe's bound on the
customer's `balance` parameter); a transaction taking it further is refused."""
DESCRIPTION_MAX_CHARS = 350
DRAFTS_REFRESHED_MAX = 100
"""A customer's draft invoices (newest first) a balance change refreshes: more drafts than
this at once is not a billing pattern; the older ones show the balance of their last change
until they change again or are finalized (which applies the balance as it then is)."""
INVOICE_TRANSACTIONS_MAX = 100
"""Balance transactions one invoice has at most: an application, its reversal, and the few
carries an overpayment or a too small amount adds. Read in one page."""
LEDGER_TYPE_PREFIX = "customer_balance."
"""Ledger transactions of customer balance transactions are typed `customer_balance.{type}`."""

TYPES = (
    "adjustment",
    "applied_to_invoice",
    "checkout_session_subscription_payment",
    "checkout_session_subscription_payment_canceled",
    "credit_note",
    "initial",
    "invoice_overpaid",
    "invoice_too_large",
    "invoice_too_small",
    "migration",
    "unapplied_from_invoice",
    "unspent_receiver_credit",
)
"""Every type Stripe lists; Kassa writes `initial`, `adjustment`, the invoice types and
`credit_note` (`record_for_credit_note`)."""
INVOICE_TYPES = frozenset(
    {
        "applied_to_invoice",
        "unapplied_from_invoice",
        "invoice_overpaid",
        "invoice_too_large",
        "invoice_too_small",
    }
)
"""Balance carried onto or off an invoice: posted against the merchant's `credit_applied`."""
CARRIED_BY_INVOICE_TYPES = frozenset({"invoice_overpaid", "invoice_too_large", "invoice_too_small"})
"""What `record_for_invoice` writes: an invoice's overpayment credited to the balance, or an
amount it could not charge moved onto it."""
_APPLICATION_TYPES = frozenset({"applied_to_invoice", "unapplied_from_invoice"})

BALANCE_AMOUNT = Integer(minimum=-BALANCE_MAX, maximum=BALANCE_MAX)
CREATE_PARAMS: dict[str, Param] = {
    "amount": BALANCE_AMOUNT,
    "currency": money.Currency(),
    "description": String(max_chars=DESCRIPTION_MAX_CHARS),
    "metadata": Metadata(),
}
UPDATE_PARAMS: dict[str, Param] = {
    "description": String(max_chars=DESCRIPTION_MAX_CHARS),
    "metadata": Metadata(),
}
LIST_PARAMS: dict[str, Param] = {**PAGINATION_PARAMS, "invoice": String(max_chars=255)}


@dataclass(frozen=True)
class CreateBalanceTransaction:
    customer: str
    amount: int
    """Negative: credit for the customer; positive: a debit."""
    currency: str
    description: str | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class UpdateBalanceTransaction:
    customer: str
    transaction: str
    description: str | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class BalanceTransactionRef:
    customer: str
    transaction: str


@dataclass(frozen=True)
class ListBalanceTransactions:
    customer: str
    params: Mapping[str, Any]
    """Pagination, `created` and the `invoice` filter, parsed."""


@dataclass(frozen=True, kw_only=True)
class BalanceChange:
    """One change to a customer's balance, before it is recorded."""

    amount: int
    currency: str
    type: str
    invoice: str | None = None
    credit_note: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    """None: the transaction shows `metadata: null`, as Stripe's do when none was given."""


# -- the core: one transaction, its posting, the customer's new balance ---------------------


async def _live_customer(ctx: Context, customer_id: str) -> ApiObject:
    """The customer, locked in a write unit; a deleted or unknown one is missing."""
    found = (
        await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
        if could_be_object_id(customer_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("customer", customer_id, param="customer")
    customer = found[0]
    ctx.remember_customer(customer)
    return customer


def _check_currency(customer: ApiObject, currency: str) -> None:
    if customer["currency"] not in (None, currency):
        raise InvalidParameter(
            f"The currency {currency} does not match the customer's currency "
            f"{customer['currency']}: customer {customer['id']}'s balance is in "
            f"{customer['currency']}.",
            param="currency",
        )


def _check_limit(ending_balance: int) -> None:
    if abs(ending_balance) > BALANCE_MAX:
        raise InvalidParameter(
            f"This transaction would take the customer's balance to {ending_balance}, beyond "
            f"the limit of {BALANCE_MAX} either way.",
            param="amount",
        )


def _counterpart(transaction_type: str) -> str:
    """The merchant bucket a type's posting moves against (see the module docstring)."""
    return CREDIT_APPLIED if transaction_type in INVOICE_TYPES else CREDIT_GRANTED


async def _record(ctx: Context, customer: ApiObject, change: BalanceChange) -> ApiObject:
    """Write `change` for `customer` (loaded locked, its currency checked): the transaction
    and its ledger posting. Sets the customer's new `balance` (and `currency`, if it had
    none) in `customer`, which the caller stores."""
    ensure(change.type in TYPES, f"{change.type} is a customer balance transaction type")
    ensure(customer["currency"] in (None, change.currency), "one currency per customer balance")
    ending_balance = customer["balance"] + change.amount
    _check_limit(ending_balance)
    transaction = _transaction_object(ctx, customer, change, ending_balance)
    if change.amount != 0:
        await postings.record_customer_credit(
            ctx.tx,
            postings.Movement(
                account_id=ctx.account_id,
                created=transaction["created"],
                type=LEDGER_TYPE_PREFIX + change.type,
                reporting_category="customer_balance",
                source=transaction["id"],
                currency=change.currency,
            ),
            customer_id=customer["id"],
            credit=-change.amount,
            counterpart=_counterpart(change.type),
        )
    await ctx.tx.insert_object(CUSTOMER_BALANCE_TRANSACTIONS, ctx.account_id, transaction)
    customer["balance"] = ending_balance
    customer["currency"] = change.currency
    return transaction


def _transaction_object(
    ctx: Context, customer: ApiObject, change: BalanceChange, ending_balance: int
) -> ApiObject:
    return {
        "id": new_id(ID_PREFIX),
        "object": OBJECT_NAME,
        "amount": change.amount,
        "checkout_session": None,
        "created": ctx.now(),
        "credit_note": change.credit_note,
        "currency": change.currency,
        "customer": customer["id"],
        "customer_account": None,
        "description": change.description,
        "ending_balance": ending_balance,
        "invoice": change.invoice,
        "livemode": ctx.livemode,
        "metadata": change.metadata,
        "type": change.type,
    }


async def _store_customer(ctx: Context, customer: ApiObject, before: ApiObject) -> None:
    """Store the customer a change was recorded for, announcing `customer.updated` when its
    balance (or currency) moved."""
    if customer == before:
        return
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    await events.announce(ctx, "customer.updated", customer, previous=before)


# -- the API: /v1/customers/{id}/balance_transactions ---------------------------------------


async def create_balance_transaction(ctx: Context, request: CreateBalanceTransaction) -> ApiObject:
    drafts = await lock_drafts(ctx, request.customer)
    customer = await _live_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    _check_currency(customer, request.currency)
    before = copy.deepcopy(customer)
    transaction = await _record(
        ctx,
        customer,
        BalanceChange(
            amount=request.amount,
            currency=request.currency,
            type="adjustment",
            description=request.description,
            metadata=None if request.metadata is None else apply_metadata({}, request.metadata),
        ),
    )
    await refresh_drafts(ctx, drafts, customer)
    await _store_customer(ctx, customer, before)
    return transaction


async def _transaction_of(ctx: Context, customer_id: str, transaction_id: str) -> ApiObject:
    """The customer's transaction (locked in a write unit); another customer's is missing."""
    customer = await _live_customer(ctx, customer_id)
    found = (
        await ctx.tx.get_object(CUSTOMER_BALANCE_TRANSACTIONS, ctx.account_id, transaction_id)
        if could_be_object_id(transaction_id)
        else None
    )
    if found is None or found[0]["customer"] != customer["id"]:
        raise ResourceMissing(OBJECT_NAME, transaction_id, param="transaction")
    return found[0]


async def retrieve_balance_transaction(ctx: Context, request: BalanceTransactionRef) -> ApiObject:
    return await _transaction_of(ctx, request.customer, request.transaction)


async def update_balance_transaction(ctx: Context, request: UpdateBalanceTransaction) -> ApiObject:
    """Only `description` and `metadata` change: a transaction's amount is history (a
    correction is a new transaction)."""
    transaction = await _transaction_of(ctx, request.customer, request.transaction)
    before = copy.deepcopy(transaction)
    if request.description is not None:
        transaction["description"] = request.description
    if request.metadata is not None:
        transaction["metadata"] = apply_metadata(transaction["metadata"] or {}, request.metadata)
    if transaction != before:
        await ctx.tx.update_object(CUSTOMER_BALANCE_TRANSACTIONS, ctx.account_id, transaction)
    return transaction


async def list_balance_transactions(ctx: Context, request: ListBalanceTransactions) -> ApiObject:
    customer = await _live_customer(ctx, request.customer)
    params = request.params
    equals = {"customer": customer["id"]}
    if params.get("invoice"):
        equals["invoice"] = params["invoice"]
    query = ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals=equals,
        created=params.get("created", {}),
    )
    page = await list_page_with(ctx, RESOURCE, params, query)
    return list_envelope(page, f"/v1/customers/{customer['id']}/balance_transactions")


def _parse_reference(ids: RouteIds, form: Form) -> BalanceTransactionRef:
    parse_params({}, form)
    return BalanceTransactionRef(route_id(ids, 0), route_id(ids, 1))


def _parse_list(ids: RouteIds, form: Form) -> ListBalanceTransactions:
    return ListBalanceTransactions(route_id(ids), parse_params(LIST_PARAMS, form))


# -- the customer's `balance` parameter -----------------------------------------------------


async def set_balance(
    ctx: Context,
    customer: ApiObject,
    balance: int,
    *,
    creating: bool,
    drafts: Sequence[ApiObject] = (),
) -> None:
    """A customer create's or update's `balance`: record the difference from the current
    balance as one transaction (`initial` on create, `adjustment` on update; none when
    equal) in the customer's currency, or the account's default currency when it has none
    yet (which becomes the customer's), and show it on the customer's `drafts` (from
    `lock_drafts`, taken before the customer). `customer` is changed, not stored: the
    customer operation stores it and announces the create or update once."""
    if balance == customer["balance"]:
        return
    currency = customer["currency"] or await _default_currency(ctx)
    await _record(
        await ctx.governed_by(customer),
        customer,
        BalanceChange(
            amount=balance - customer["balance"],
            currency=currency,
            type="initial" if creating else "adjustment",
        ),
    )
    # The whole customer as it now is: the details an update changed with the balance show
    # in the same `invoice.updated` (`draft_customer_details` then finds nothing to change).
    details = await invoice_documents.copied_customer_details(ctx, customer) if drafts else None
    await refresh_drafts(ctx, drafts, customer, details)


async def lock_drafts(ctx: Context, customer_id: str) -> list[ApiObject]:
    """The customer's draft invoices (at most `DRAFTS_REFRESHED_MAX`, newest first), locked
    in a write unit: taken before the customer's row, in the order every invoice path locks
    (the invoice, then its customer), so a balance change never deadlocks with a draft's
    finalization on PostgreSQL."""
    if not could_be_object_id(customer_id):
        return []
    query = ObjectListQuery(
        limit=DRAFTS_REFRESHED_MAX, equals={"customer": customer_id, "status": "draft"}
    )
    page = await ctx.tx.list_objects(INVOICES, ctx.account_id, query)
    drafts = []
    for listed in page.objects:
        found = await ctx.tx.get_object(INVOICES, ctx.account_id, listed["id"])
        if found is not None and not found[1] and found[0]["status"] == "draft":
            drafts.append(found[0])
    return drafts


async def refresh_drafts(
    ctx: Context,
    drafts: Sequence[ApiObject],
    customer: ApiObject,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Show the customer as it is now on its drafts (from `lock_drafts`, `_other_drafts` or
    `draft_customer_details`): its balance, as `starting_balance` (0 on a draft in another
    currency, which the balance does not apply to) and `amount_due` as finalization would
    leave it before any payment, and `details` when given (what a draft copies of its
    customer: `invoice_documents.copied_customer_details`). Each draft that changes is
    stored and announced with `invoice.updated` once, whatever changed on it."""
    for draft in drafts[:DRAFTS_REFRESHED_MAX]:
        balance = int(customer["balance"]) if draft["currency"] == customer["currency"] else 0
        due = invoice_amounts.apply_customer_balance(int(draft["total"]), balance).amount_due
        shown = {
            "starting_balance": balance,
            "amount_due": due,
            "amount_remaining": due - int(draft["amount_paid"]),
            **(details or {}),
        }
        if all(draft.get(name) == value for name, value in shown.items()):
            continue
        before = invoice_documents.view(draft)
        draft.update(copy.deepcopy(shown))
        await invoice_documents.save(ctx, draft)
        await invoice_documents.announce(ctx, "invoice.updated", draft, before=before)


async def _other_drafts(ctx: Context, customer: ApiObject, invoice_id: str) -> list[ApiObject]:
    """The customer's drafts besides `invoice_id` that a change an invoice made to the
    balance refreshes, locked after the customer (see the module docstring): the ones no
    other unit holds."""
    return await ctx.tx.unheld_drafts(
        ctx.account_id, customer["id"], invoice_id, DRAFTS_REFRESHED_MAX
    )


async def _record_for_invoice(
    ctx: Context, customer: ApiObject, change: BalanceChange, invoice_id: str
) -> ApiObject:
    """Record a change an invoice makes to the balance (`_record`), show it on the
    customer's other drafts, and store the customer."""
    before = copy.deepcopy(customer)
    transaction = await _record(ctx, customer, change)
    await refresh_drafts(ctx, await _other_drafts(ctx, customer, invoice_id), customer)
    await _store_customer(ctx, customer, before)
    return transaction


def adopt_currency(customer: ApiObject, currency: str) -> ApiObject | None:
    """Give a customer without a currency `currency` (its first finalized invoice's): Stripe's
    `currency` is "the currency the customer can be charged in for recurring billing
    purposes", set by the first subscription or invoice whether or not the balance moves.
    Returns the customer as it was, for the caller's `customer.updated` once it stores it;
    None, changing nothing, when it has a currency (every renewal after the first)."""
    if customer["currency"] is not None:
        return None
    before = copy.deepcopy(customer)
    customer["currency"] = currency
    return before


async def _default_currency(ctx: Context) -> str:
    account = await ctx.tx.get_account(ctx.account_id)
    ensure(account is not None, "a request's account exists")
    return str(account["default_currency"]) if account else ""


# -- what invoices call ----------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedBalance:
    """What the customer's balance did to one invoice."""

    starting_balance: int
    """The customer's balance before, in the invoice's currency: the invoice's
    `starting_balance` (0 when the customer's balance is in another currency)."""
    ending_balance: int
    """The customer's balance after: the invoice's `ending_balance`."""
    amount_due: int
    """What the invoice asks after the balance: never negative."""
    transaction: ApiObject | None
    """The `applied_to_invoice` transaction (its `amount` is `ending_balance -
    starting_balance`); None when the balance did not move."""


def apply_balance(amount_due: int, starting_balance: int) -> tuple[int, int]:
    """(amount due, ending balance) once a balance applies to an invoice asking
    `amount_due`: credit lowers the amount due down to 0 and what is left stays credit; a
    debit is added to it whole; a negative amount due (an invoice of credits) becomes credit.
    Either way the two sum to `amount_due + starting_balance`."""
    carried = amount_due + starting_balance
    return max(0, carried), min(0, carried)


async def current_balance(ctx: Context, customer_id: str, currency: str) -> int:
    """The customer's balance as an invoice in `currency` sees it now (a draft's
    `starting_balance`): 0 when the balance is in another currency. Does not lock."""
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    if found is None or found[0]["currency"] != currency:
        return 0
    return int(found[0]["balance"])


async def apply_to_invoice(
    ctx: Context, customer_id: str, invoice_id: str, currency: str, amount_due: int
) -> AppliedBalance:
    """Apply the customer's balance to an invoice being finalized, as Stripe does.

    `amount_due` is what the invoice asks before the balance (its total; negative for an
    invoice of credits). The customer's balance in `currency` applies whole (see
    `apply_balance`): credit is spent up to the amount due, a debit is added to it, and a
    negative amount due becomes credit. The movement is one `applied_to_invoice`
    transaction with `invoice` set, posted to the ledger, the customer's other drafts show
    the new balance (`_record_for_invoice`), and the customer is stored with
    `customer.updated`. A balance in another currency does not apply (Stripe applies only
    a balance in the invoice's currency); an invoice of credits in another currency is
    refused (`currency`). A customer without a currency takes the invoice's when the
    invoice leaves it a balance.

    Call it in the invoice's write unit, with the invoice already locked: this locks the
    customer (so invoices and balance transactions on one customer are serialized)."""
    customer = await _live_customer(ctx, customer_id)
    ctx = await ctx.governed_by(customer)
    if customer["currency"] not in (None, currency):
        if amount_due < 0:
            _check_currency(customer, currency)
        return AppliedBalance(0, 0, amount_due, None)
    starting_balance = int(customer["balance"])
    due, ending_balance = apply_balance(amount_due, starting_balance)
    ensure(
        due + ending_balance == amount_due + starting_balance,
        "applying a balance neither creates nor loses money",
    )
    if ending_balance == starting_balance:
        return AppliedBalance(starting_balance, ending_balance, due, None)
    transaction = await _record_for_invoice(
        ctx,
        customer,
        BalanceChange(
            amount=ending_balance - starting_balance,
            currency=currency,
            type="applied_to_invoice",
            invoice=invoice_id,
        ),
        invoice_id,
    )
    return AppliedBalance(starting_balance, ending_balance, due, transaction)


async def unapply_from_invoice(ctx: Context, customer_id: str, invoice_id: str) -> ApiObject | None:
    """Give back what an invoice took from (or added to) the balance, when it is voided: one
    `unapplied_from_invoice` transaction reversing its `applied_to_invoice` ones, or None
    when nothing is left to give back (calling it twice gives back once). Same unit of work
    and locking as `apply_to_invoice`."""
    customer = await _live_customer(ctx, customer_id)
    ctx = await ctx.governed_by(customer)
    page = await ctx.tx.list_objects(
        CUSTOMER_BALANCE_TRANSACTIONS,
        ctx.account_id,
        ObjectListQuery(
            limit=INVOICE_TRANSACTIONS_MAX,
            equals={"customer": customer["id"], "invoice": invoice_id},
        ),
    )
    ensure(not page.has_more, f"an invoice has at most {INVOICE_TRANSACTIONS_MAX} transactions")
    applications = [t for t in page.objects if t["type"] in _APPLICATION_TYPES]
    applied = sum(int(t["amount"]) for t in applications)
    if applied == 0:
        return None
    return await _record_for_invoice(
        ctx,
        customer,
        BalanceChange(
            amount=-applied,
            currency=applications[0]["currency"],
            type="unapplied_from_invoice",
            invoice=invoice_id,
        ),
        invoice_id,
    )


async def record_for_invoice(
    ctx: Context,
    customer_id: str,
    invoice_id: str,
    *,
    currency: str,
    amount: int,
    transaction_type: str,
) -> ApiObject:
    """Move an amount between an invoice and the customer's balance for the other reasons
    Stripe has: `invoice_overpaid` (the excess of a payment becomes credit: `amount`
    negative), `invoice_too_small` and `invoice_too_large` (an amount due Stripe could not
    charge moves onto the balance as a debit: `amount` positive). Refused (`currency`) when
    the customer's balance is in another currency. Same unit of work and locking as
    `apply_to_invoice`."""
    ensure(
        transaction_type in CARRIED_BY_INVOICE_TYPES,
        f"record_for_invoice writes {sorted(CARRIED_BY_INVOICE_TYPES)}",
    )
    ensure(amount != 0, "an invoice carries a nonzero amount to the balance")
    customer = await _live_customer(ctx, customer_id)
    ctx = await ctx.governed_by(customer)
    _check_currency(customer, currency)
    return await _record_for_invoice(
        ctx,
        customer,
        BalanceChange(amount=amount, currency=currency, type=transaction_type, invoice=invoice_id),
        invoice_id,
    )


async def record_for_credit_note(
    ctx: Context, invoice: Mapping[str, Any], credit_note_id: str, amount: int
) -> ApiObject:
    """A credit note's `credit_amount` credited to the customer's balance (`amount`
    negative), or given back when the note is voided (positive): one `credit_note`
    transaction naming the note and its invoice, posted against the merchant's
    `credit_granted` (credit the merchant grants, not cash). Refused (`credit_amount`) when
    the customer's balance is in another currency than the invoice. Same unit of work and
    locking as `apply_to_invoice`."""
    ensure(amount != 0, "a credit note moves a nonzero amount to the balance")
    customer = await _live_customer(ctx, str(invoice["customer"]))
    ctx = await ctx.governed_by(customer)
    currency = str(invoice["currency"])
    if customer["currency"] not in (None, currency):
        raise InvalidParameter(
            f"Customer {customer['id']}'s balance is in {customer['currency']}, the invoice "
            f"in {currency}: Kassa keeps one balance per customer, so this credit note cannot "
            "credit it. Refund it or record it out of band instead.",
            param="credit_amount",
        )
    return await _record_for_invoice(
        ctx,
        customer,
        BalanceChange(
            amount=amount,
            currency=currency,
            type="credit_note",
            invoice=str(invoice["id"]),
            credit_note=credit_note_id,
        ),
        str(invoice["id"]),
    )


RESOURCE = Resource(
    object_name=OBJECT_NAME,
    id_prefix=ID_PREFIX,
    collection="balance_transactions",
    table=CUSTOMER_BALANCE_TRANSACTIONS,
    create=Operation(
        request_parser(
            CreateBalanceTransaction,
            CREATE_PARAMS,
            ids=("customer",),
            required=("amount", "currency"),
        ),
        create_balance_transaction,
        writes=True,
    ),
    retrieve=Operation(_parse_reference, retrieve_balance_transaction, writes=False),
    update=Operation(
        request_parser(UpdateBalanceTransaction, UPDATE_PARAMS, ids=("customer", "transaction")),
        update_balance_transaction,
        writes=True,
    ),
    lister=Operation(_parse_list, list_balance_transactions, writes=False),
    expandable={
        "checkout_session": "checkout.session",
        "credit_note": "credit_note",
        "customer": "customer",
        "invoice": "invoice",
    },
)
"""Nested under the customer (`customers.RESOURCE.nested`): its routes carry both ids."""
