"""Stripe-style identifiers and secrets: a prefix, an underscore, random base62."""

from __future__ import annotations

import os
import threading

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(_ALPHABET)
OBJECT_ID_RANDOM_CHARS = 14
"""Stripe's object ids carry 14 random characters (`cus_QXg1o8vcGmoR32`): about 83 bits."""
SECRET_RANDOM_CHARS = 32
"""API keys and client secrets: 32 base62 characters, about 190 bits."""


RANDOM_POOL_BYTES = 8_192
"""Bytes read from the OS's CSPRNG at a time: one system call serves hundreds of ids."""


class _RandomPool:
    def __init__(self) -> None:
        self._bytes = b""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._bytes):
                self._bytes = os.urandom(RANDOM_POOL_BYTES)
                self._offset = 0
            chunk = self._bytes[self._offset : self._offset + count]
            self._offset += count
            return chunk


_pool = _RandomPool()


def random_base62(length: int) -> str:
    # 16 spare bits make the modulo bias of the last digit negligible; far cheaper than one
    # `secrets.choice` call (and system call) per character.
    bits_needed = length * 6 + 16
    number = int.from_bytes(_pool.take((bits_needed + 7) // 8), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, _BASE)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(OBJECT_ID_RANDOM_CHARS)}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{random_base62(SECRET_RANDOM_CHARS)}"
