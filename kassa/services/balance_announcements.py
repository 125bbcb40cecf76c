"""`balance.available`, announced with the balance as it then stands: when funds settle
(their `available_on` has come) and when a capture's funds skip the pending balance. Its own
module because both `balance` and `capture_postings` announce it, and `balance` imports
`capture_postings` (a read of the balance posts the captures still to come first)."""

from __future__ import annotations

from kassa.ledger.views import balance_object
from kassa.services import events
from kassa.services.context import Context


async def announce_available(ctx: Context) -> None:
    balance = await balance_object(ctx.tx, ctx.account_id, ctx.livemode)
    await events.announce(ctx, "balance.available", balance)
