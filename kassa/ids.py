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


_ACCEPTED_BYTE_MAX = _BASE * (256 // _BASE)
"""248: bytes below it map onto the 62 characters evenly (4 each); larger ones are dropped,
so every character is equally likely (rejection sampling, no modulo bias)."""
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % _BASE]) for b in range(_ACCEPTED_BYTE_MAX)).ljust(256)
_REJECTED_BYTES = bytes(range(_ACCEPTED_BYTE_MAX, 256))
RANDOM_DRAWS_MAX = 64
"""Draws for one string; each keeps 97% of its bytes, so a second draw is rare and a 64th
would mean the random source is broken."""


def random_base62(length: int) -> str:
    # One C-level `translate` maps random bytes to characters and drops the biased ones: far
    # cheaper than Python arithmetic per character.
    chars = b""
    for _ in range(RANDOM_DRAWS_MAX):
        missing = length - len(chars)
        if missing <= 0:
            return chars[:length].decode("ascii")
        drawn = _pool.take(missing + missing // 8 + 2)
        chars += drawn.translate(_BYTE_TO_CHAR, _REJECTED_BYTES)
    raise RuntimeError("the random source keeps yielding rejected bytes")


def random_hex_upper(length: int) -> str:
    """`length` random uppercase hex digits (a customer's `invoice_prefix`), from the pool:
    `secrets.token_hex` would make a system call for each."""
    return _pool.take((length + 1) // 2).hex()[:length].upper()


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(OBJECT_ID_RANDOM_CHARS)}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{random_base62(SECRET_RANDOM_CHARS)}"
