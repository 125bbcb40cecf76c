"""What every service call gets: whose request it is, the unit of work, the clock, and the
installation's payment settings.

Time: `ctx.now()` is the installation's clock, right for objects no test clock governs
(webhook endpoints, the request log). An operation on an object that hangs off a customer
asks `await ctx.now_for_customer(customer_id)` (or `now_for(obj)`): a customer attached to a
Stripe test clock lives at that clock's frozen time, and so do its payment intents,
invoices, subscriptions and payouts. Workers build the same Context and ask the same way.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kassa.clock import Clock, unix_seconds, utc_date
from kassa.invariants import ensure
from kassa.money import DEFAULT_PRICING_TABLE, PricingTable
from kassa.store import Transaction
from kassa.store.tables import CUSTOMERS, TEST_CLOCKS

_TEST_CLOCK_OF_CUSTOMER = "context.test_clock_of_customer"
_FROZEN_TIME = "context.frozen_time"

DEFAULT_SETTLEMENT_DELAY_DAYS = 2
"""Stripe's standard delay for US accounts: card funds are available two business days on."""


@dataclass(frozen=True)
class PaymentConfig:
    card_fingerprint_key: bytes = b""
    """Keys card fingerprints; loaded from the database at startup (one per installation)."""
    pricing: PricingTable = DEFAULT_PRICING_TABLE
    settlement_delay_days: int = DEFAULT_SETTLEMENT_DELAY_DAYS
    account_country: str = "US"
    """Whose bank holidays delay settlement."""
    public_url: str = "http://127.0.0.1:4242"
    """Where Kassa's own pages (the test 3-D Secure page) are reached from a browser."""
    reminder_offsets_days: tuple[int, ...] = (-7, 0, 7, 14, 30)
    """Days relative to an invoice's due date on which reminders go out
    (`KASSA_INVOICE_REMINDER_DAYS`, read by `kassa.config.invoice_reminder_days`)."""
    subscription_final_action: str = "cancel"
    """A subscription whose renewal's last retry failed: `cancel`, `unpaid` or `past_due`
    (`KASSA_SUBSCRIPTION_FINAL_ACTION`)."""
    subscription_final_invoice: str = "open"
    """That renewal's invoice: `open` or `uncollectible` (`KASSA_SUBSCRIPTION_FINAL_INVOICE`)."""
    upcoming_renewal_days: int | None = 7
    """Days before a subscription's renewal that `invoice.upcoming` is sent; None: never
    (`KASSA_UPCOMING_RENEWAL_DAYS`, read by `kassa.config.upcoming_renewal_days`)."""


@dataclass(frozen=True)
class Context:
    account_id: str
    tx: Transaction
    clock: Clock
    livemode: bool = False
    publishable_key: bool = False
    """The request came with a publishable key: only what Stripe.js may do is allowed."""
    payments: PaymentConfig = field(default_factory=PaymentConfig)
    request_id: str | None = None
    """The API request this work serves (events record it); None for workers."""
    idempotency_key: str | None = None
    client_ip: str | None = None
    """The address of the HTTP client that made the request (the ASGI scope's `client`, as
    the request log records it); None for work no request made (workers, the CLI). A token
    keeps it as its `client_ip`."""
    governing_time: int | None = None
    """The frozen time of the test clock governing what this operation touches (set by
    `governed_by`); None: the installation's clock governs."""
    governing_clock: str | None = None
    """That test clock's id (its pending funds settle at its time); None with no clock."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Facts kept for the rest of this unit of work (objects already loaded or not yet
    stored, the account's webhook endpoints), so one request reads and writes each row once."""
    _installation_now: list[int] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    """The installation's time as this context first read it (empty until then)."""

    def now(self) -> int:
        """The time of what this operation touches: the governing test clock's frozen time
        once `governed_by` found one, else the installation's. (Webhook deliveries and
        retention read `clock` itself: they happen in real time whatever a test clock says.)"""
        return self._installation_time() if self.governing_time is None else self.governing_time

    def _installation_time(self) -> int:
        """The installation's time, read once per context: one unit of work happens at one
        second, as a Stripe request does (a request that crossed a second boundary had
        stamped a subscription's period start one second before its first invoice)."""
        if not self._installation_now:
            self._installation_now.append(unix_seconds(self.clock))
        return self._installation_now[0]

    def as_of(self, due: int | None) -> int:
        """When a transition due at `due` is recorded as made: `due` itself, however late the
        work making it runs (the real-time job after a server was down for a day); None:
        now. Work is never run before it is due: a `due` after now is a bug."""
        now = self.now()
        if due is None:
            return now
        ensure(int(due) <= now, f"a transition due at {due} is made no earlier (now {now})")
        return int(due)

    def as_of_clamped(self, due: int | None) -> int:
        """`as_of` for the subscription cycle, which has always stamped its transitions no
        later than now rather than refusing a `due` ahead of it."""
        now = self.now()
        return now if due is None else min(int(due), now)

    def today(self) -> datetime.date:
        """`now()`'s UTC date (a card's expiry is checked against it)."""
        return utc_date(self)

    async def governed_by(self, obj: Mapping[str, Any]) -> Context:
        """This context, its `now()` the time that governs `obj` (and so everything an
        operation on `obj` writes: its charges, ledger transactions, events)."""
        governing = await self._test_clock_governing(obj)
        if governing is None:
            return self
        frozen = await self._frozen_time(governing)
        if frozen is None or (governing, frozen) == (self.governing_clock, self.governing_time):
            # A test clock's piece of work is governed by its clock already: no copy.
            return self
        return dataclasses.replace(self, governing_time=frozen, governing_clock=governing)

    async def now_for(self, obj: Mapping[str, Any]) -> int:
        """The time governing `obj`: its own `test_clock` (customers, invoices and
        subscriptions carry one), else its customer's, else the installation's."""
        governing = await self._test_clock_governing(obj)
        frozen = None if governing is None else await self._frozen_time(governing)
        return self._installation_time() if frozen is None else frozen

    async def now_for_customer(self, customer_id: str | None) -> int:
        """Now, for this customer: its test clock's frozen time when it has one."""
        return await self.now_for({"customer": customer_id})

    async def _test_clock_governing(self, obj: Mapping[str, Any]) -> str | None:
        test_clock = obj.get("test_clock")
        if isinstance(test_clock, str):
            return test_clock
        customer = obj.get("customer")
        if isinstance(customer, Mapping):  # expanded
            customer = customer.get("id")
        return await self._test_clock_of(customer) if isinstance(customer, str) else None

    def remember_customer(self, customer: Mapping[str, Any]) -> None:
        """An operation that loaded a customer anyway tells the context its test clock,
        so asking for the customer's time reads nothing more."""
        clocks: dict[str, str | None] = self.memo.setdefault(_TEST_CLOCK_OF_CUSTOMER, {})
        clocks[str(customer["id"])] = customer.get("test_clock")

    async def _test_clock_of(self, customer_id: str) -> str | None:
        clocks: dict[str, str | None] = self.memo.setdefault(_TEST_CLOCK_OF_CUSTOMER, {})
        if customer_id not in clocks:
            found = await self.tx.get_object(CUSTOMERS, self.account_id, customer_id, lock=False)
            clocks[customer_id] = None if found is None else found[0].get("test_clock")
        return clocks[customer_id]

    async def _frozen_time(self, test_clock_id: str) -> int | None:
        """A test clock's frozen time. A clock deleted, or not this account's, governs
        nothing (None): such an object falls back to the installation's time."""
        times: dict[str, int | None] = self.memo.setdefault(_FROZEN_TIME, {})
        if test_clock_id not in times:
            found = await self.tx.get_object(
                TEST_CLOCKS, self.account_id, test_clock_id, lock=False
            )
            live = found is not None and not found[1]
            times[test_clock_id] = int(found[0]["frozen_time"]) if found and live else None
        return times[test_clock_id]
