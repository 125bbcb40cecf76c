"""API keys from `Authorization: Bearer sk_...` or HTTP Basic (key as the user name), or, as
Stripe.js sends a publishable key, from a `key` parameter of a request with no header."""

from __future__ import annotations

import base64
import binascii

from kassa.errors import NotAuthenticated
from kassa.services import accounts
from kassa.services.accounts import ApiKeyOwner
from kassa.store import Store

KEY_CACHE_ENTRIES_MAX = 10_000
"""Known keys kept in memory; keys are never edited, so a cached owner cannot go stale."""


def key_from_header(header: str | None, form_key: str | None = None) -> str:
    if not header and form_key:
        return form_key
    if not header:
        raise NotAuthenticated(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). `kassa accounts create --json` makes an account with keys."
        )
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("Invalid Basic authorization header.") from None
        user, _, _password = decoded.partition(":")
        if user:
            return user
    raise NotAuthenticated(
        "Invalid Authorization header: use 'Bearer sk_test_...' or Basic auth with the key "
        "as the user name."
    )


def _masked(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


class Authenticator:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[str, ApiKeyOwner] = {}

    async def owner_of(self, header: str | None, form_key: str | None = None) -> ApiKeyOwner:
        key = key_from_header(header, form_key)
        owner = self._known.get(key)
        if owner is not None:
            return owner
        async with self._store.read() as tx:
            owner = await accounts.find_key_owner(tx, key)
        if owner is None:
            raise NotAuthenticated(f"Invalid API Key provided: {_masked(key)}")
        if len(self._known) >= KEY_CACHE_ENTRIES_MAX:
            self._known.clear()
        self._known[key] = owner
        return owner
