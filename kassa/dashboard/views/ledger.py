"""What the dashboard's ledger page shows: this account's ledger accounts and their
balances, and `kassa ledger verify` on demand (it reads the whole journal, so it runs only
when asked, one at a time)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kassa.errors import InvalidRequest
from kassa.fx import check
from kassa.ledger import accounts as ledger
from kassa.ledger.verify import verify_ledger
from kassa.services import currency_conversion, exchange_rates
from kassa.services.context import Context

# One verify at a time per process: it reads every ledger row, and clicks piling up would
# multiply that cost.
_VERIFY_LOCK = asyncio.Lock()


@dataclass(frozen=True)
class LedgerAccount:
    name: str
    """`acct_X:available:usd`."""
    bucket: str
    currency: str
    amount: int


async def ledger_accounts(ctx: Context) -> list[LedgerAccount]:
    """The ledger accounts in the account's books (its balances, and its customers' credit
    balances once it has any), by currency, `available` first."""
    rows = await ctx.tx.owner_balances(ctx.account_id)
    accounts = [
        LedgerAccount(name, ledger.LedgerAccount.parse(name).bucket.name, currency, amount)
        for name, currency, amount in rows
    ]
    return sorted(accounts, key=lambda a: (a.currency, a.bucket != ledger.AVAILABLE, a.name))


@dataclass(frozen=True)
class ExchangeRates:
    """The rate table in force (installation-wide) and what this account settles in."""

    version: int
    """0: Kassa's built-in fixed test rates."""
    created: int
    origin: str
    rates: list[tuple[str, str, str]]
    """(base, quote, rate as exact text), as given (inverses and chains are derived)."""
    settlement_currencies: list[str]
    """Its default currency first; a charge in any other is converted into it."""
    problems: list[str]
    """What `kassa fx check` finds in the table."""


async def exchange_rate_table(ctx: Context) -> ExchangeRates:
    table = await exchange_rates.rate_table(ctx.tx)
    given = sorted(table.graph.rates.items())
    found = check(table.graph)
    settles = await currency_conversion.settlement_currencies(ctx.tx, ctx.account_id)
    return ExchangeRates(
        version=table.version,
        created=table.created,
        origin=table.origin,
        rates=[(base, quote, str(rate)) for (base, quote), rate in given],
        settlement_currencies=settles,
        problems=[str(problem) for problem in [*found.cycles, *found.unreachable]],
    )


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    """True when the whole installation's ledger is consistent."""
    transactions: int
    entries: int
    ledger_accounts: int
    own_problems: list[str]
    """What is wrong in this account's books (its ledger transactions, ledger accounts and
    objects), as sentences."""
    other_problems: int
    """Problems elsewhere (other accounts, platform accounts): counted, never shown."""
    seconds: float


async def verify(ctx: Context) -> VerifyOutcome:
    """`kassa ledger verify`: it checks the whole installation (its queries take no account),
    so problems are split into this account's and a count of the rest."""
    if _VERIFY_LOCK.locked():
        raise InvalidRequest("A ledger verify is already running; try again when it finishes.")
    async with _VERIFY_LOCK:
        started = time.perf_counter()
        report = await verify_ledger(ctx.tx)
        own = [
            finding.message for finding in report.problems if finding.account_id == ctx.account_id
        ]
        elapsed = time.perf_counter() - started
    return VerifyOutcome(
        ok=not report.problems,
        transactions=report.transactions,
        entries=report.entries,
        ledger_accounts=report.accounts,
        own_problems=own,
        other_problems=len(report.problems) - len(own),
        seconds=elapsed,
    )
