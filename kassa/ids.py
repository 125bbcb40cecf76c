"""Stripe-style identifiers and secrets: a prefix, an underscore, random base62."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
OBJECT_ID_RANDOM_CHARS = 14
"""Stripe's object ids carry 14 random characters (`cus_QXg1o8vcGmoR32`)."""
SECRET_RANDOM_CHARS = 32
"""API keys and client secrets: 32 base62 characters is about 190 bits."""


def random_base62(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(OBJECT_ID_RANDOM_CHARS)}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{random_base62(SECRET_RANDOM_CHARS)}"
