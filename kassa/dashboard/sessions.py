"""Dashboard sign-in: an account's secret key buys a session; the browser holds only a random
token (its hash is stored) and every state-changing form carries the session's CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from kassa.clock import Clock
from kassa.errors import NotAuthenticated
from kassa.services import accounts
from kassa.store import Transaction
from kassa.store.dashboard_queries import DashboardSession

SESSION_SECONDS = 12 * 3600
"""A working day: long enough not to interrupt, short enough that a forgotten tab expires."""
TOKEN_BYTES = 32


@dataclass(frozen=True)
class SignedIn:
    token: str
    """For the cookie only; never stored."""
    session: DashboardSession


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(tx: Transaction, clock: Clock, secret_key: str) -> SignedIn:
    """A session for the account whose secret key this is; publishable keys cannot sign in."""
    owner = await accounts.find_key_owner(tx, secret_key.strip())
    if owner is None or owner.kind != "secret":
        raise NotAuthenticated("That is not a secret key of this Kassa (sk_test_...).")
    now_ms = int(clock.now() * 1000)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session = DashboardSession(
        account_id=owner.account_id,
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
        expires_ms=now_ms + SESSION_SECONDS * 1000,
    )
    await tx.insert_dashboard_session(_token_hash(token), session, now_ms)
    return SignedIn(token, session)


async def session_for(tx: Transaction, clock: Clock, token: str) -> DashboardSession | None:
    if not token:
        return None
    return await tx.get_dashboard_session(_token_hash(token), int(clock.now() * 1000))


async def sign_out(tx: Transaction, token: str) -> None:
    await tx.delete_dashboard_session(_token_hash(token))


def csrf_matches(session: DashboardSession, sent: str) -> bool:
    return hmac.compare_digest(session.csrf_token.encode(), sent.encode())
