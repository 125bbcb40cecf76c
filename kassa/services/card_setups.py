"""Cards set up for off-session payments. Stripe asks a card's issuer for 3-D Secure on an
off-session payment (nobody there to answer, so it declines `authentication_required`)
unless the card was set up for such payments: a SetupIntent with usage `off_session` that
succeeded, or an on-session payment that saved it with `setup_future_usage=off_session`.
Its test cards differ in this (`cards.TestBehavior.off_session_authentication`)."""

from __future__ import annotations

from kassa import cards
from kassa.services.context import Context
from kassa.services.resource import ApiObject


async def record(ctx: Context, payment_method: ApiObject) -> None:
    """The card is now set up for off-session payments."""
    await ctx.tx.record_card_setup(ctx.account_id, str(payment_method["id"]), ctx.now())


async def spares_off_session(
    ctx: Context, payment_method: ApiObject, behavior: cards.TestBehavior
) -> bool:
    """Whether an off-session payment with this card (which requires authentication
    on-session) goes without: always, never, or once the card is set up."""
    if behavior.off_session_authentication == cards.OFF_SESSION_NEVER:
        return True
    if behavior.off_session_authentication == cards.OFF_SESSION_UNLESS_SET_UP:
        return await ctx.tx.card_is_set_up(ctx.account_id, str(payment_method["id"]))
    return False
