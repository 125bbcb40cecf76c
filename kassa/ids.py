"""Stripe-style identifiers and secrets: a prefix, an underscore, random base62."""

from __future__ import annotations

import os

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(_ALPHABET)
OBJECT_ID_RANDOM_CHARS = 14
"""Stripe's object ids carry 14 random characters (`cus_QXg1o8vcGmoR32`): about 83 bits."""
SECRET_RANDOM_CHARS = 32
"""API keys and client secrets: 32 base62 characters, about 190 bits."""


def random_base62(length: int) -> str:
    # One read of the OS's CSPRNG, with 16 spare bits so that the modulo bias of the last
    # digit is negligible; much cheaper than one `secrets.choice` call per character.
    bits_needed = length * 6 + 16
    number = int.from_bytes(os.urandom((bits_needed + 7) // 8), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, _BASE)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(OBJECT_ID_RANDOM_CHARS)}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{random_base62(SECRET_RANDOM_CHARS)}"
